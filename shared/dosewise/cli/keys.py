"""``dosewise keys create|list|revoke|ensure-dev-admin``: API keys from the shell (an operator with shell access is an admin).

Every change is audited as ``cli:<os user>`` in role ``admin``. A key's secret is printed once, at creation; only its hash is
stored, so a lost key is revoked and replaced, never recovered. The key alone goes to stdout and the words around it to
stderr, so ``export DOSEWISE_KEY=$(dosewise keys create ...)`` captures exactly the key while a person still reads the rest.
"""

from __future__ import annotations

import asyncio
import getpass
import shutil
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import apikeys
from dosewise.cli.console import console
from dosewise.settings import get_settings
from dosewise.storage.db import make_engine, make_sessionmaker

T = TypeVar("T")
keys_app = typer.Typer(help="API keys: create (the secret is shown once), list, revoke.", no_args_is_help=True)


def cli_actor() -> str:
    """Who runs this command, as the audit trail names them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"[:128]


def run_db(fn: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """Run one coroutine against the configured database (DATABASE_URL, else the embedded SQLite file)."""

    async def go() -> T:
        engine = make_engine(get_settings())
        try:
            return await fn(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except apikeys.KeyAdminError as e:
        typer.secho(str(e), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def shell_command() -> str:
    """How the person reading this runs ``dosewise``: the bare name when it is on their PATH, else this venv's script as a
    path from the current folder (``.venv/bin/dosewise`` after `make run`), so a printed command can be pasted as it is."""
    script = Path(sys.executable).parent / "dosewise"  # sys.executable unresolved: the venv's bin, not the base Python's
    on_path = shutil.which("dosewise")
    if not script.exists() or (on_path is not None and Path(on_path).resolve() == script.resolve()):
        return "dosewise"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _print_new(new: apikeys.NewKey) -> None:
    """The key on stdout, on a line of its own with nothing around it; what it is and how to use it on stderr."""
    typer.echo(f"key id: {new.key.id}   role: {new.key.role}   name: {new.key.name}", err=True)
    typer.secho(new.token, fg=typer.colors.GREEN, bold=True)  # click drops the colour when stdout is not a terminal
    typer.echo("Shown once: only its hash is stored. Send it as 'Authorization: Bearer <key>'.", err=True)


@keys_app.command()
def create(
    name: str = typer.Option(..., help="What the key is for, e.g. epic-integration (letters, digits, . _ : -)."),
    role: apikeys.Role = typer.Option(..., help="clinician | integrator | auditor | admin."),
    expires_in_days: int | None = typer.Option(None, min=1, help="Expire after this many days (default: never)."),
) -> None:
    """Mint a key of one role and print it once: the key alone on stdout, the rest on stderr."""
    expires = timedelta(days=expires_in_days) if expires_in_days else None
    new = run_db(lambda s: apikeys.create(s, name=name, role=role, actor=cli_actor(), actor_role=apikeys.Role.ADMIN,
                                          expires_in=expires))
    _print_new(new)


@keys_app.command("list")
def list_(all_: bool = typer.Option(False, "--all", help="Include revoked keys.")) -> None:
    """Keys (never their secrets), oldest first."""
    keys = run_db(lambda s: apikeys.list_keys(s, include_revoked=all_))
    table = Table("id", "name", "role", "created (by)", "expires", "revoked")
    for k in keys:
        table.add_row(k.id, k.name, k.role, f"{k.created_at:%Y-%m-%d %H:%M} ({k.created_by})",
                      f"{k.expires_at:%Y-%m-%d}" if k.expires_at else "never",
                      f"{k.revoked_at:%Y-%m-%d %H:%M} ({k.revoked_by})" if k.revoked_at else "")
    console().print(table)


@keys_app.command()
def revoke(key_id: str = typer.Argument(..., help="The key id (dwk_<id>_…), as `dosewise keys list` shows it.")) -> None:
    """Revoke a key: every request with it is refused from now on."""
    key = run_db(lambda s: apikeys.revoke(s, key_id, actor=cli_actor(), actor_role=apikeys.Role.ADMIN))
    typer.echo(f"revoked {key.id} ({key.role}, {key.name})")


@keys_app.command("ensure-dev-admin")
def ensure_dev_admin() -> None:
    """Development only (DOSEWISE_ENV=development, what `make run` uses): mint an admin key on first start and print it once."""
    settings = get_settings()
    if settings.environment != "development":
        typer.echo(f"DOSEWISE_ENV={settings.environment}: no development key; create keys with `dosewise keys create`")
        return
    new = run_db(lambda s: apikeys.ensure_dev_admin(s, actor=cli_actor()))
    cmd = shell_command()
    if new is None:
        typer.echo(f"API keys: an admin key exists (`{cmd} keys list`; lost it? `{cmd} keys create --role admin ...`)")
        return
    typer.secho("First start: a development admin key (it can mint the other roles' keys):", fg=typer.colors.YELLOW)
    _print_new(new)
    typer.echo(f"For recommendations: export DOSEWISE_KEY=$({cmd} keys create --name me --role clinician)")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
