"""``dosewise``: one entry point for data scientists and operators.

Commands that belong to the shared domain live in this package (``simulate``, ``db``). Each service registers its own
commands through the ``dosewise.cli`` entry-point group (a function ``register(app: typer.Typer) -> None``), so this package
never imports a service: dependencies point one way.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

app = typer.Typer(name="dosewise", help="Dosewise: dosing decision support learned on digital twins.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)


def _register_plugins() -> None:
    for ep in sorted(entry_points(group="dosewise.cli"), key=lambda e: e.name):
        ep.load()(app)


def _register_builtin() -> None:
    from dosewise.cli import builtin

    builtin.register(app)


_register_builtin()
_register_plugins()

if __name__ == "__main__":
    app()
