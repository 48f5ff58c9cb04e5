"""The gateway's cache of API-key rows (apikeys.KeyCache): a row is reused for ``ttl_s`` at most, forgotten on demand."""

from __future__ import annotations

from dosewise.apikeys import KeyCache
from dosewise.storage.models import ApiKey, utcnow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def key(key_id: str = "0123456789ab") -> ApiKey:
    return ApiKey(id=key_id, name="k", role="clinician", secret_sha256="0" * 64, created_at=utcnow(), created_by="test")


def test_a_row_is_reused_until_its_time_is_up() -> None:
    clock = Clock()
    cache = KeyCache(5.0, clock=clock)
    row = key()
    cache.put(row)
    clock.now += 4.9
    assert cache.get(row.id) is row
    clock.now += 0.1
    assert cache.get(row.id) is None


def test_forget_drops_a_row_at_once_and_unknown_ids_miss() -> None:
    cache = KeyCache(5.0, clock=Clock())
    cache.put(key())
    cache.forget("0123456789ab")
    assert cache.get("0123456789ab") is None
    assert cache.get("ba9876543210") is None
    cache.forget("ba9876543210")  # forgetting what is not there is fine


def test_zero_seconds_keeps_nothing() -> None:
    cache = KeyCache(0.0, clock=Clock())
    cache.put(key())
    assert cache.get("0123456789ab") is None


def test_a_flood_of_keys_never_grows_it_past_its_bound() -> None:
    cache = KeyCache(5.0, max_entries=3, clock=Clock())
    for i in range(10):
        cache.put(key(f"{i:012x}"))
    assert len(cache) <= 3
    assert cache.get(f"{9:012x}") is not None
