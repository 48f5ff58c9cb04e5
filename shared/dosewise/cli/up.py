"""`dosewise up` (what `make run` calls): migrate, make sure every therapy has a policy, then run the three services as
separate processes, restarting one that exits (``dosewise.devstack.Supervisor``), until Ctrl-C or SIGTERM stops all three.

Once the command runs, a stop by Ctrl-C or SIGTERM exits 0 whatever phase it interrupts (migrations, bootstrap, start,
serving; a second Ctrl-C while stopping too), so `make run` does not end with "Error 130", the code typer gives a
KeyboardInterrupt that escapes a command. Only services that never became ready exit 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

import typer

from dosewise.devstack import SERVICE_MODULES, LocalStack, Supervisor, describe_exit
from dosewise.settings import get_settings


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        skip_bootstrap: bool = typer.Option(False, help="Do not check that every therapy has a policy."),
        ready_timeout_s: float = typer.Option(120.0, min=1.0, help="How long the services may take to become ready."),
    ) -> None:
        """Migrate the database, ensure a policy per therapy, and run gateway (:8000), inference (:8001) and trainer,
        restarting a service that exits."""
        from dosewise.storage.migrate import upgrade

        settings = get_settings()
        # A person reads these services' logs: readable lines, unless DOSEWISE_LOG_FORMAT says otherwise (json).
        stack = LocalStack(env={"DOSEWISE_LOG_FORMAT": "console"} | os.environ)
        sup = Supervisor(stack, SERVICE_MODULES, say=lambda msg: typer.secho(msg, fg=typer.colors.YELLOW))
        # Until the services start, a stop simply interrupts whatever runs (a migration rolls back, the bootstrap child is
        # signalled by the terminal too and reaped by subprocess.run).
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
            typer.echo(f"database: {'SQLite ' + str(settings.var_dir) if settings.is_sqlite else 'external (DATABASE_URL)'}; "
                       f"queue: {'Redis Streams' if settings.redis_url else 'database table'}")
            upgrade(settings.db_url)
            typer.echo("migrations: at head")
            subprocess.run([sys.executable, "-m", "dosewise.cli.main", "keys", "ensure-dev-admin"], check=True)  # prints once
            if not skip_bootstrap:
                subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], check=True)
        except KeyboardInterrupt:
            typer.echo("stopped before the services started")
            return

        # From here a signal only sets a flag, checked between steps: a KeyboardInterrupt raised in the middle of starting a
        # process would lose its handle (and orphan it), and printing from a handler can re-enter a half-done write.
        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            sup.request_stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            sup.start_all()
            api = f"http://{settings.api_host}:{settings.api_port}"
            # The first start is not supervised: a service that cannot come up even once (a taken port, a broken install)
            # is reported now instead of being restarted forever.
            if stack.wait_ready(f"{api}/readyz", timeout_s=ready_timeout_s, should_stop=lambda: sup.stopping):
                typer.secho(f"Dosewise is serving on {api}  (clinician UI: {api}/ui/dose, API docs: {api}/docs)  — a service "
                            "that exits is restarted; Ctrl-C stops all three", fg=typer.colors.GREEN)
                sup.run()
            typer.echo("stopping…")
        except (RuntimeError, TimeoutError) as e:
            typer.secho(f"services did not become ready: {e}", fg=typer.colors.RED)
            raise SystemExit(1) from None
        finally:
            codes = stack.stop_all()
            typer.echo("stopped: " + ", ".join(f"{n} ({describe_exit(c).removeprefix('exited with ')})"
                                               for n, c in codes.items()))
