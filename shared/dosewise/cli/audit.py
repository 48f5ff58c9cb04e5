"""``dosewise audit verify|head``: recompute the audit trail's hash chain and name the first broken link."""

from __future__ import annotations

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import audit_chain
from dosewise.cli.keys import run_db
from dosewise.storage.repositories import AuditRepository

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@audit_app.command()
def verify(
    expect_head: str | None = typer.Option(None, help="A head hash recorded earlier (`dosewise audit head`): "
                                           "also detects removal of the newest events."),
) -> None:
    """Recompute every event's hash in order; exit 1 naming the first event where the chain breaks."""

    async def go(sessions: async_sessionmaker[AsyncSession]) -> audit_chain.Verification:
        verifier = audit_chain.Verifier(expect_head)
        async with sessions() as s:
            async for event in AuditRepository(s).chain():
                if not verifier.add(event):
                    break
        return verifier.result()

    result = run_db(go)
    if result.ok:
        typer.secho(f"audit chain OK: {result.checked} events, head {result.head_id} {result.head_hash}", fg=typer.colors.GREEN)
        return
    assert result.broken is not None
    where = f"event {result.broken.event_id}" if result.broken.event_id is not None else "the head"
    typer.secho(f"audit chain BROKEN at {where}: {result.broken.reason} ({result.checked} events before it verified)",
                fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@audit_app.command()
def head() -> None:
    """Print the newest event's id and hash: record it elsewhere, then `verify --expect-head` proves nothing was cut off."""

    async def go(sessions: async_sessionmaker[AsyncSession]) -> tuple[int | None, str]:
        async with sessions() as s:
            last = await AuditRepository(s).last()
        return (None, audit_chain.GENESIS_HASH) if last is None else (last.id, last.hash)

    event_id, digest = run_db(go)
    typer.echo(f"{event_id if event_id is not None else 'empty'} {digest}")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
