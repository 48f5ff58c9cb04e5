"""gc_pauses.startup_heap_frozen: what is alive at startup is out of the collector's way while the service runs, and back in
its care afterwards."""

from __future__ import annotations

import gc

from dosewise.gc_pauses import startup_heap_frozen


def test_the_startup_heap_is_frozen_while_serving_and_thawed_after() -> None:
    alive = [[] for _ in range(100)]  # tracked by the collector
    with startup_heap_frozen():
        assert gc.get_freeze_count() >= len(alive)
    assert gc.get_freeze_count() == 0
