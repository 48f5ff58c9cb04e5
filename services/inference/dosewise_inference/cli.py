"""`dosewise serve-inference`: run the inference service alone (what its container runs)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve-inference")
    def serve_inference() -> None:
        """Serve ONNX policies on DOSEWISE_INFERENCE_HOST:DOSEWISE_INFERENCE_PORT."""
        from dosewise_inference.app import main

        main()
