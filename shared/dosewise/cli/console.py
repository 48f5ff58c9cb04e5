"""Rich output for the CLI that never cuts a value a user has to type back (a policy id for ``policies activate``)."""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console

PIPED_WIDTH = 1000  # columns: a table as wide as its widest row


def console(file: IO[str] | None = None) -> Console:
    """In a terminal, its width; piped or redirected (scripts, grep, CI logs), wide enough for every row. Rich's default
    there is 80 columns, which printed ``dosewise policies list`` ids as "0d3bbc1f…"."""
    out = file or sys.stdout
    return Console(file=file) if out.isatty() else Console(file=file, width=PIPED_WIDTH)
