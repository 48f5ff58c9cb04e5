"""``dosewise patients erase REF``: remove one patient's clinical data; the audit chain stays verifiable (tombstones)."""

from __future__ import annotations

import typer

from dosewise import apikeys, erasure
from dosewise.cli.keys import cli_actor, run_db
from dosewise.privacy import pseudonymize
from dosewise.settings import get_settings

patients_app = typer.Typer(help="Patient data requests (erasure).", no_args_is_help=True)


@patients_app.command()
def erase(
    ref: str = typer.Argument(..., help="The patient reference callers sent (pseudonymized here with DOSEWISE_PSEUDONYM_KEY)."),
    pseudonymous: bool = typer.Option(False, "--pseudonymous", help="REF is already the stored pseudonym (pz_…)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete the patient's outcomes and blank the state and response of their recommendations (rows stay as tombstones)."""
    pseudonym = ref if pseudonymous else pseudonymize(ref, get_settings().pseudonym_key)
    if not yes:
        typer.confirm(f"Erase the clinical data of patient {pseudonym}? This cannot be undone", abort=True)
    try:
        done = run_db(lambda s: erasure.erase_patient(s, pseudonym, actor=cli_actor(), actor_role=apikeys.Role.ADMIN))
    except ValueError as e:
        typer.secho(str(e), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    # Never echo REF: it may be a real identifier. The pseudonym is what the audit trail and the tables name.
    typer.echo(f"erased {pseudonym}: {done.recommendations} recommendation(s) tombstoned, {done.outcomes} outcome(s) deleted; "
               f"audit event {done.audit_event_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(patients_app, name="patients")
