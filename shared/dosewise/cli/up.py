"""`dosewise up` (what `make run` calls): migrate, make sure every therapy has a policy, then run the three services as
separate processes until Ctrl-C, which stops all three cleanly.

Services are started by module name (``python -m dosewise_api`` …), so this shared package never imports a service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import typer

from dosewise.settings import get_settings

SERVICES: tuple[tuple[str, str], ...] = (
    ("inference", "dosewise_inference"),
    ("api", "dosewise_api"),
    ("trainer", "dosewise_trainer"),
)
STOP_GRACE_S = 10.0


def _wait_ready(url: str, timeout_s: float, procs: dict[str, subprocess.Popen[bytes]]) -> bool:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs.values()):
            return False
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


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
        if not skip_bootstrap:
            subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], check=True)
        env = os.environ.copy()
        procs: dict[str, subprocess.Popen[bytes]] = {}

        def on_signal(signum: int, _frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_signal)
        try:
            for name, module in SERVICES:
                procs[name] = subprocess.Popen([sys.executable, "-m", module], env=env)
            api = f"http://{settings.api_host}:{settings.api_port}"
            if _wait_ready(f"{api}/readyz", 60.0, procs):
                typer.secho(f"Dosewise is serving on {api}  (API docs: {api}/docs)  — Ctrl-C stops all three services",
                            fg=typer.colors.GREEN)
            else:
                typer.secho("services did not become ready; see the logs above", fg=typer.colors.RED)
            while True:
                for name, p in procs.items():
                    if p.poll() is not None:
                        typer.secho(f"{name} exited with code {p.returncode}; stopping the others", fg=typer.colors.RED)
                        raise SystemExit(1)
                time.sleep(0.5)
        except KeyboardInterrupt:
            typer.echo("stopping…")
        finally:
            _stop(procs)
            typer.echo("stopped: " + ", ".join(f"{n} ({p.returncode})" for n, p in procs.items()))
