"""Registers the shared library's own commands. Each command lives in its own module and adds itself here."""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES = ("db", "simulate", "up", "policies", "keys", "audit", "patients")


def register(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"dosewise.cli.{name}").register(app)
