"""The CLI's tables, piped or redirected, print every value whole (a policy id is typed back into ``policies activate``)."""

from __future__ import annotations

import io

from rich.table import Table

from dosewise.cli.console import console

POLICY_ID = "0d3bbc1f-5f7e-4c1e-9a4b-6c1f2a0e9d77"


def test_a_piped_table_keeps_every_value_whole() -> None:
    table = Table("therapy", "version", "status", "id", "sha256", "created", "activated (by)")
    table.add_row("insulin_t2d", "dqn-quick-seed1", "active", POLICY_ID, "6cf87e0b12ab", "2026-11-28 22:44",
                  "2026-11-28 22:44 (bootstrap)")
    out = io.StringIO()
    console(out).print(table)
    text = out.getvalue()
    assert POLICY_ID in text and "dqn-quick-seed1" in text and "(bootstrap)" in text
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) < 200, "as wide as the table, not the console"
