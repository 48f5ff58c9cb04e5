"""The ``dosewise`` command line (typer). Services add their subcommands through the ``dosewise.cli`` entry-point group."""
