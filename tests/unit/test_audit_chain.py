"""The audit chain's pure rules (``dosewise.audit_chain``): canonical bytes, hashes, and which link a verifier names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from dosewise.audit_chain import GENESIS_HASH, Verifier, canonical_json, event_hash, sha256_json, utc_iso, verify


@dataclass
class Event:
    """An in-memory stand-in with exactly the attributes the chain reads (the table row has the same)."""

    id: int | None
    occurred_at: datetime
    actor: str
    role: str
    action: str
    patient_ref: str | None = None
    policy_version: str | None = None
    subject_id: str | None = None
    input_hash: str | None = None
    prev_hash: str = ""
    hash: str = ""


T0 = datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)


def chain(n: int) -> list[Event]:
    """n correctly linked events, the way AuditRepository.append_many builds them."""
    events, prev = [], GENESIS_HASH
    for i in range(1, n + 1):
        e = Event(id=i, occurred_at=T0 + timedelta(seconds=i), actor=f"key:{i:012x}", role="clinician",
                  action="recommendation.create", patient_ref=f"pz_{i:040x}", policy_version="v1", subject_id=str(i),
                  input_hash=sha256_json({"i": i}), prev_hash=prev)
        e.hash = event_hash(e, prev)
        events.append(e)
        prev = e.hash
    return events


class TestCanonicalForm:
    def test_the_same_instant_hashes_the_same_whichever_database_read_it_back(self) -> None:
        """SQLite returns naive UTC datetimes, PostgreSQL aware ones, possibly in another offset: one spelling for all."""
        naive = T0.replace(tzinfo=None)
        plus_two = T0.astimezone(timezone(timedelta(hours=2)))
        assert utc_iso(T0) == utc_iso(naive) == utc_iso(plus_two) == "2026-11-23T08:00:00.123456Z"
        a = chain(1)[0]
        for same_instant in (a.occurred_at.replace(tzinfo=None), a.occurred_at.astimezone(timezone(timedelta(hours=-5)))):
            assert event_hash(dataclasses.replace(a, occurred_at=same_instant), GENESIS_HASH) == a.hash

    def test_canonical_json_ignores_key_order_and_keeps_unicode(self) -> None:
        assert canonical_json({"b": 1, "a": "é"}) == canonical_json({"a": "é", "b": 1}) == '{"a":"é","b":1}'
        assert sha256_json({"b": 1, "a": 2}) == sha256_json({"a": 2, "b": 1})

    def test_every_field_and_the_previous_hash_are_covered(self) -> None:
        e = chain(1)[0]
        original = event_hash(e, GENESIS_HASH)
        for name, value in [("occurred_at", T0 + timedelta(microseconds=1)), ("actor", "mallory"), ("role", "admin"),
                            ("action", "key.create"), ("patient_ref", None), ("policy_version", "v2"),
                            ("subject_id", "x"), ("input_hash", "0" * 64)]:
            assert event_hash(dataclasses.replace(e, **{name: value}), GENESIS_HASH) != original, name
        assert event_hash(e, "1" * 64) != original

    def test_the_id_is_not_hashed(self) -> None:
        """Ids come from a sequence that may skip numbers (rolled-back inserts); order is checked through prev_hash."""
        e = chain(1)[0]
        assert event_hash(dataclasses.replace(e, id=999), GENESIS_HASH) == event_hash(e, GENESIS_HASH)


class TestVerify:
    def test_an_intact_chain_verifies_and_reports_its_head(self) -> None:
        events = chain(5)
        result = verify(events)
        assert result.ok and result.checked == 5
        assert (result.head_id, result.head_hash) == (5, events[-1].hash)

    def test_an_empty_chain_is_intact(self) -> None:
        result = verify([])
        assert result.ok and result.checked == 0 and result.head_hash == GENESIS_HASH

    def test_an_edited_event_is_named(self) -> None:
        events = chain(5)
        events[2].actor = "mallory"  # event 3, edited in place without touching its hash
        result = verify(events)
        assert not result.ok and result.broken is not None
        assert result.broken.event_id == 3 and "altered" in result.broken.reason
        assert result.checked == 2

    def test_an_edit_with_a_recomputed_hash_is_caught_at_the_next_event(self) -> None:
        events = chain(5)
        events[2].actor = "mallory"
        events[2].hash = event_hash(events[2], events[2].prev_hash)  # the forger rehashes the row it changed
        result = verify(events)
        assert result.broken is not None and result.broken.event_id == 4
        assert "event 3" in result.broken.reason

    def test_a_deleted_event_is_named_by_its_successor(self) -> None:
        events = chain(5)
        del events[1]  # event 2
        result = verify(events)
        assert result.broken is not None and result.broken.event_id == 3 and "deleted" in result.broken.reason

    def test_a_chain_that_does_not_start_at_genesis_is_broken_at_its_first_event(self) -> None:
        result = verify(chain(5)[1:])
        assert result.broken is not None and result.broken.event_id == 2 and "genesis" in result.broken.reason

    def test_swapped_events_are_caught(self) -> None:
        events = chain(4)
        events[1], events[2] = events[2], events[1]
        result = verify(events)
        assert result.broken is not None and result.broken.event_id == 3

    def test_cutting_off_the_newest_events_needs_an_anchored_head(self) -> None:
        """A chain alone cannot show that its tail was removed; a head recorded earlier can."""
        events = chain(5)
        anchored = events[-1].hash
        assert verify(events[:3]).ok
        result = verify(events[:3], expect_head=anchored)
        assert not result.ok and result.broken is not None and result.broken.event_id is None
        assert verify(events, expect_head=anchored).ok
        assert verify(events, expect_head=events[2].hash).ok  # an older anchor is still in a longer chain

    def test_the_streaming_verifier_stops_at_the_first_break(self) -> None:
        events = chain(6)
        events[1].role = "admin"
        events[4].role = "admin"
        verifier = Verifier()
        accepted = [verifier.add(e) for e in events]
        assert accepted == [True, False, False, False, False, False]
        assert verifier.result().broken.event_id == 2  # type: ignore[union-attr]
