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
    """Each installed service adds its commands; a service that is not installed (a slim image) simply adds none."""
    for ep in sorted(entry_points(group="dosewise.cli"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ModuleNotFoundError as e:
            typer.secho(f"dosewise: commands of {ep.name!r} unavailable ({e.name} not installed)", err=True,
                        fg=typer.colors.YELLOW)
            continue
        register(app)


def _register_builtin() -> None:
    from dosewise.cli import builtin

    builtin.register(app)


_register_builtin()
_register_plugins()

if __name__ == "__main__":
    app()
