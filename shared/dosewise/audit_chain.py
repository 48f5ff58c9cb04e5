"""The audit trail's hash chain as pure functions: canonical event bytes, event hashes, and a verifier that names the first
broken link.

Each event stores ``prev_hash`` (the previous event's ``hash``) and its own ``hash`` = sha256(canonical JSON of its fields +
``prev_hash``). Editing an event's content breaks its own hash; deleting, inserting or reordering events breaks the next
event's ``prev_hash``. Removing the newest events cannot be seen from the chain alone: anchor the head (``dosewise audit
head``) somewhere the database administrator cannot write, and pass it back with ``dosewise audit verify --expect-head``.

No database, no framework: the repository appends with these functions and ``dosewise audit verify`` checks with them, so
there is exactly one definition of what an event's bytes are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

GENESIS_HASH = "0" * 64  # prev_hash of the first event


class Action(StrEnum):
    """What an audit event records. Values are stored; never rename one."""

    RECOMMENDATION_CREATE = "recommendation.create"
    OUTCOME_RECORD = "outcome.record"
    FEEDBACK_RECORD = "feedback.record"
    POLICY_ACTIVATE = "policy.activate"
    POLICY_ROLLBACK = "policy.rollback"
    KEY_CREATE = "key.create"
    KEY_REVOKE = "key.revoke"
    PATIENT_ERASE = "patient.erase"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An event to append, as every writer states it: who acted (the caller's id and acting role), what (an ``Action``
    and the id of what it touched), the pseudonymous patient, the policy version, and sha256 of the input's canonical
    JSON (``sha256_json``), never the input itself, so the trail holds no clinical content and survives erasure. The
    repository adds the time and the hashes (``repositories.append_audit_events``, the one writer)."""

    actor: str
    role: str
    action: str
    patient_ref: str | None = None
    policy_version: str | None = None
    subject_id: str | None = None
    input_hash: str | None = None

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ENTRY_FIELDS}


ENTRY_FIELDS = tuple(f.name for f in fields(AuditEntry))
CHAINED_FIELDS = ("occurred_at", *ENTRY_FIELDS)  # an event's hashed content: the entry and when it was appended


class ChainedEvent(Protocol):
    """What the chain needs of a stored event (``dosewise.storage.models.AuditEvent`` has these attributes)."""

    id: int | None
    occurred_at: datetime
    actor: str
    role: str
    action: str
    patient_ref: str | None
    policy_version: str | None
    subject_id: str | None
    input_hash: str | None
    prev_hash: str
    hash: str


def utc_iso(moment: datetime) -> str:
    """One spelling per instant: SQLite hands back naive UTC datetimes, PostgreSQL aware ones."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept: the same text for the same value wherever it was read back."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_json(value: Any) -> str:
    """The ``input_hash`` of a payload: sha256 of its canonical JSON (lets an auditor check a stored input is unchanged)."""
    return sha256_text(canonical_json(value))


def sha256_text(canonical: str) -> str:
    """``sha256_json`` of the value whose ``canonical_json`` is ``canonical``."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def event_fields(event: ChainedEvent) -> dict[str, Any]:
    """The hashed content of an event: everything but its id and its two hashes."""
    return _hashed({name: getattr(event, name) for name in CHAINED_FIELDS})


def _hashed(values: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: values.get(name) for name in CHAINED_FIELDS}
    fields["occurred_at"] = utc_iso(values["occurred_at"])
    return fields


def row_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    """``event_hash`` of an event given as its column values (a row about to be inserted; absent fields are None)."""
    return hashlib.sha256((canonical_json(_hashed(row)) + prev_hash).encode("utf-8")).hexdigest()


def event_hash(event: ChainedEvent, prev_hash: str) -> str:
    """sha256 over the canonical JSON of the event's fields followed by the previous event's hash."""
    return row_hash({name: getattr(event, name) for name in CHAINED_FIELDS}, prev_hash)


@dataclass(frozen=True)
class BrokenLink:
    """The first event at which the chain stops holding, and why."""

    event_id: int | None
    reason: str


@dataclass(frozen=True)
class Verification:
    checked: int
    head_id: int | None
    head_hash: str
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        return self.broken is None


class Verifier:
    """Checks events one at a time, in insertion (id) order from the genesis hash, so a long trail streams through it.

    Two ways a link breaks: the stored ``hash`` is not the hash of the stored content (the event was edited), or the stored
    ``prev_hash`` is not the previous event's ``hash`` (an event before it was deleted, inserted or moved).
    ``expect_head``: a head hash recorded earlier; if it is no longer anywhere in the chain, events were removed or rewritten.
    """

    def __init__(self, expect_head: str | None = None) -> None:
        self.expect_head = expect_head
        self.prev_hash, self.prev_id, self.checked = GENESIS_HASH, None, 0
        self.seen_expected = expect_head is None
        self.broken: BrokenLink | None = None

    def add(self, event: ChainedEvent) -> bool:
        """Check the next event; False once the chain is broken (further events are not looked at)."""
        if self.broken is not None:
            return False
        if event.prev_hash != self.prev_hash:
            after = "the genesis hash" if self.prev_id is None else f"the hash of event {self.prev_id}"
            self.broken = BrokenLink(event.id, f"prev_hash is not {after}: an event before it was deleted, inserted or reordered")
            return False
        if event_hash(event, event.prev_hash) != event.hash:
            self.broken = BrokenLink(event.id, "stored hash does not match the event's content: the event was altered")
            return False
        self.checked += 1
        self.prev_hash, self.prev_id = event.hash, event.id
        self.seen_expected = self.seen_expected or event.hash == self.expect_head
        return True

    def result(self) -> Verification:
        broken = self.broken
        if broken is None and not self.seen_expected:
            broken = BrokenLink(None, f"the expected head {self.expect_head} is not in the chain: "
                                      "events were removed or rewritten")
        return Verification(self.checked, self.prev_id, self.prev_hash, broken)


def verify(events: Iterable[ChainedEvent], *, expect_head: str | None = None) -> Verification:
    """Verify a whole chain held in memory (``Verifier`` streams)."""
    verifier = Verifier(expect_head)
    for event in events:
        if not verifier.add(event):
            break
    return verifier.result()
