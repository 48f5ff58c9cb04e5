"""`dosewise policies list|activate|rollback`: the registry from the shell (same code as the gateway's admin routes)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.table import Column, Table

from dosewise import registry
from dosewise.cli.console import console
from dosewise.queue.base import Queue
from dosewise.queue.factory import make_queue
from dosewise.settings import get_settings
from dosewise.storage.db import make_engine, make_sessionmaker

T = TypeVar("T")
policies_app = typer.Typer(help="List, activate and roll back policy versions.", no_args_is_help=True)


def _run(fn: Callable[..., Awaitable[T]]) -> T:
    async def go() -> T:
        settings = get_settings()
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        queue: Queue = make_queue(settings, sessions)
        try:
            return await fn(sessions, queue)
        finally:
            await queue.close()
            await engine.dispose()

    try:
        return asyncio.run(go())
    except registry.RegistryError as e:
        typer.secho(str(e), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


@policies_app.command("list")
def list_(therapy: str | None = typer.Option(None, help="Only this therapy.")) -> None:
    """Every registered policy version, newest first."""
    rows = _run(lambda s, q: registry.list_policies(s, therapy))
    table = Table("therapy", "version", "status", Column("id", overflow="fold"), "sha256", "created", "activated (by)")
    for p in rows:
        act = f"{p.activated_at:%Y-%m-%d %H:%M} ({p.activated_by})" if p.activated_at else ""
        table.add_row(p.therapy, p.version, p.status, p.id, p.sha256[:12], f"{p.created_at:%Y-%m-%d %H:%M}", act)
    console().print(table)


@policies_app.command()
def activate(policy_id: str, by: str = typer.Option("cli", help="Who activates (recorded in the registry).")) -> None:
    """Make POLICY_ID the active policy of its therapy; inference swaps to it within seconds."""
    p = _run(lambda s, q: registry.activate(s, q, policy_id, by))
    typer.echo(f"{p.therapy}: {p.version} is active")


@policies_app.command()
def rollback(therapy: str = typer.Option(..., help="Therapy id."), by: str = typer.Option("cli")) -> None:
    """Bring back the previously active policy of THERAPY."""
    p = _run(lambda s, q: registry.rollback(s, q, therapy, by))
    typer.echo(f"{p.therapy}: rolled back to {p.version}")


def register(app: typer.Typer) -> None:
    app.add_typer(policies_app, name="policies")
