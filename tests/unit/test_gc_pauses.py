"""gc_pauses.startup_heap_frozen: what is alive at startup is out of the collector's way while the service runs, the young
generation is collected less often, and both are undone afterwards."""

from __future__ import annotations

import gc

from dosewise.gc_pauses import YOUNG_THRESHOLD, startup_heap_frozen


def test_the_startup_heap_is_frozen_while_serving_and_thawed_after() -> None:
    alive = [[] for _ in range(100)]  # tracked by the collector
    with startup_heap_frozen():
        assert gc.get_freeze_count() >= len(alive)
    assert gc.get_freeze_count() == 0


def test_young_collections_are_rarer_while_serving_and_the_thresholds_come_back_after() -> None:
    before = gc.get_threshold()
    with startup_heap_frozen():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        assert YOUNG_THRESHOLD > before[0]
    assert gc.get_threshold() == before
