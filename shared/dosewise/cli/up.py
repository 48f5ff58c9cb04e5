"""`dosewise up` (what `make run` calls): migrate, make sure every therapy has a policy, then run the three services as
separate processes until Ctrl-C, which stops all three cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import typer

from dosewise.devstack import SERVICE_MODULES, LocalStack
from dosewise.settings import get_settings


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        skip_bootstrap: bool = typer.Option(False, help="Do not check that every therapy has a policy."),
    ) -> None:
        """Migrate the database, ensure a policy per therapy, and run gateway (:8000), inference (:8001) and trainer."""
        from dosewise.storage.migrate import upgrade

        settings = get_settings()
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        typer.echo(f"database: {'SQLite ' + str(settings.var_dir) if settings.is_sqlite else 'external (DATABASE_URL)'}; "
                   f"queue: {'Redis Streams' if settings.redis_url else 'database table'}")
        upgrade(settings.db_url)
        typer.echo("migrations: at head")
        subprocess.run([sys.executable, "-m", "dosewise.cli.main", "keys", "ensure-dev-admin"], check=True)  # prints it once
        if not skip_bootstrap:
            subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], check=True)

        def on_sigterm(signum: int, _frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_sigterm)
        stack = LocalStack(env=os.environ.copy())
        try:
            for name in SERVICE_MODULES:
                stack.start(name)
            api = f"http://{settings.api_host}:{settings.api_port}"
            stack.wait_ready(f"{api}/readyz")
            typer.secho(f"Dosewise is serving on {api}  (API docs: {api}/docs)  — Ctrl-C stops all three services",
                        fg=typer.colors.GREEN)
            while not (dead := stack.exited()):
                time.sleep(0.5)
            typer.secho(f"exited: {dead}; stopping the others", fg=typer.colors.RED)
            raise SystemExit(1)
        except KeyboardInterrupt:
            typer.echo("stopping…")
        except (RuntimeError, TimeoutError) as e:
            typer.secho(f"services did not become ready: {e}", fg=typer.colors.RED)
            raise SystemExit(1) from None
        finally:
            codes = stack.stop_all()
            typer.echo("stopped: " + ", ".join(f"{n} (exit {c})" for n, c in codes.items()))
