"""`dosewise serve-api`: run the gateway alone (what its container runs)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve-api")
    def serve_api() -> None:
        """Serve the gateway on DOSEWISE_API_HOST:DOSEWISE_API_PORT."""
        from dosewise_api.app import main

        main()
