"""``dosewise db``: bring the database schema to the version this code expects, and show where it is."""

from __future__ import annotations

from typing import Annotated

import typer

db_app = typer.Typer(help="Database schema (Alembic migrations; SQLite or PostgreSQL from DATABASE_URL).", no_args_is_help=True)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="SQLAlchemy async URL; default: DATABASE_URL, else the embedded SQLite file.")
]


@db_app.command("upgrade")
def upgrade(url: UrlOption = None, revision: str = typer.Option("head", help="Target revision.")) -> None:
    """Apply pending migrations (safe to run again, and from several processes at once)."""
    from dosewise.storage import migrate

    migrate.upgrade(url, revision)
    typer.echo(f"at {migrate.current(url)}")


@db_app.command("current")
def current(url: UrlOption = None) -> None:
    """Print the database's revision ("none" if never migrated); exit code 1 if it is behind this code's head."""
    from dosewise.storage import migrate

    revision = migrate.current(url)
    typer.echo(revision or "none")
    if revision != migrate.head():
        raise typer.Exit(1)


@db_app.command("revision")
def revision(
    message: str = typer.Option(..., "-m", "--message", help="What the migration changes."),
    url: UrlOption = None,
    autogenerate: bool = typer.Option(True, help="Diff the models against the database (which must be at head)."),
) -> None:
    """Write a new migration into the package (developers: then read and fix it, like the initial one)."""
    from dosewise.storage import migrate

    migrate.revision(message, url, autogenerate=autogenerate)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
