"""Registers the shared library's own commands. Each command lives in its own module and adds itself here."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    # Each import is local so `dosewise --help` stays fast and a broken optional command cannot break the others.
    for module in ("dosewise.cli.db", "dosewise.cli.simulate", "dosewise.cli.up", "dosewise.cli.policies",
                   "dosewise.cli.keys", "dosewise.cli.audit", "dosewise.cli.patients"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        mod.register(app)
