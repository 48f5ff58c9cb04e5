"""How fast and how much each caller (API key or JWT subject) may make the gateway do: rates charged by cost, and admission
control on the work in flight, so that one caller's flood can neither starve another caller nor queue more work than
inference can answer within its timeout.

One API key's 40 parallel batches of 1,000 patients, well within a per-request burst of 60, raised another caller's single
recommendation from tens of milliseconds to tens of seconds, and most of the batches ended 503 when inference timed out
(bench/flood.py). A request is not the unit of work: a batch is up to 1,000 patients. So:

1. **Rates** (``TokenBucketLimiter``): a burst may go at once, then the sustained rate. Two buckets per caller: requests
   (every authenticated route, auth.py, cost 1) and patients (the recommendation routes: a batch costs its patients, a single
   recommendation 1). Cost model: one patient is one token. A single is dearer per patient (it is explained: attributions,
   rationale, forecast), but singles are coalesced into shared inference calls and are held to the request rate as well.
2. **Admission** (``Admission``): work in flight, i.e. admitted and not yet answered.
   - patients in batches per caller ≤ ``admission_caller_batch_patients`` (default 1,000: one full batch at a time), else
     429: the caller is over its share;
   - patients in batches, all callers ≤ ``admission_batch_patients`` (default 4,000), else 503: the gateway has as much
     batch work as it can answer in time;
   - single recommendations, all callers ≤ ``admission_singles`` (default 256 requests), else 503. A caller's singles are
     held to its request rate (a burst of 60), not to its batch share: a batch in flight does not block its own singles.
   Batches and singles have separate pools, so no number of batch floods, from any number of keys, keeps a single
   recommendation out: it is admitted while the flooders' batches are refused (429 over their share, 503 over the pool).
   A batch is checked before its body is validated (``check``: validating 1,000 patients holds the gateway's event loop
   tens of milliseconds, which a refused request should not take from the others) and admitted after (``admit``).

One batch per caller, because every batch the gateway holds slows everyone else's requests on its one event loop (its
validation, features and rows are synchronous work between their awaits), and on a clinical decision support service the
clinician waiting for one patient comes before a bulk job. The price is the lone bulk caller's throughput. bench/flood.py
(another caller's singles at 5/s while one caller resends 40 batches of 1,000 after each Retry-After), a quiet hour of
2026-12-06: with one batch per caller the singles' p50 was 44 ms (15 ms alone) and the 40 batches took 65 s; with two per
caller (DOSEWISE_ADMISSION_CALLER_BATCH_PATIENTS=2000), 236 ms and 42 s; with no admission control, 19.6 s and 42 s, 16
batches refused 503 on the way. Set 2,000 where bulk throughput matters more than the others' latency.

Why fixed caps on patients in flight rather than admission from an estimate of service time from recent throughput: the
batch pool is set from the measured capacity (bench/flood.py's first rows, the same quiet hour: one batch alone answered in
0.9 s, four callers' batches at once in 2.6 s, eight in 5.9 s with no pool to refuse half of them; hours when the shared
machine is busy are two to three times slower), so its 4,000 patients are answered well inside the 5 s inference timeout,
which bounds inference's part alone. Inference runs the batches it holds side by side (threads), so everything in flight
finishes late together: 40,000 patients in flight meant most batches timed out, not only the last. Recent throughput
measures demand, not capacity, whenever the gateway is not saturated (after a quiet hour it would have seen 5 singles/s and
refused the first batch: an early version's Retry-After, computed that way, told a flooder to wait 60 s behind nothing), and
it adds a feedback loop to a decision that should be predictable and testable. What is measured is each kind's service time
(from admission to answer, an EWMA), and only for the Retry-After of a refusal, spaced so that successive refusals of one
queue are told successive slots instead of all coming back in the same second.

Why not the ``limits`` library (PyPI, the field's usual choice; measured with bench/ratelimit_cost.py, which prints every
figure below, for issue #23's question whether it should replace this, with Redis storage when REDIS_URL is set):
- it has no token bucket, only fixed, moving and sliding windows. The settings say "a burst, then a sustained rate", which a
  window approximates badly: a burst of B per B/r seconds has the same long-run rate but, once the burst is spent, makes
  the caller wait the whole window (a burst of 3 at 1/minute: Retry-After 180 s instead of the next token's 60 s, which
  tests/integration/test_auth_roles.py holds), and the Retry-After of a cost-N refusal is not exact (the first expiring
  entry, not the N-th);
- its storages read the wall clock (``time.time()``: it jumps with NTP; no clock can be injected, so the rules here could
  not be tested on a fake clock), and its MemoryStorage, while anything is stored, starts a ``threading.Timer`` thread for
  its expiry sweep every 10 ms: a second thread taking the GIL from the event loop that serves every request (the asyncio
  variant sweeps through ``asyncio.to_thread``);
- in memory a check costs about ten times this bucket's CPU (its moving window, which stores an entry per unit of cost,
  far more at a batch's cost of 1,000), and on Redis every request would wait a round trip, hundreds of times the check;
- what Redis storage would add, one quota shared by the replicas, would change what the settings document ("per gateway
  replica"): the bucket is a per-replica guard against a runaway client (with several replicas the effective rate is the
  per-replica rate times the replicas a caller's requests reach), and a Redis outage would become a failure of every
  request's admission. Admission control (work in flight) is not a rate at all, and no rate-limiting library offers it.
Both are in process on purpose: no extra server on the request path, and with one event loop per process no lock is needed
(nothing here awaits).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MAX_TRACKED_CALLERS = 10_000  # least recently seen buckets beyond this are dropped (they would be full again anyway)
SERVICE_EWMA_WEIGHT = 0.2  # of the latest answer in the measured service time (Retry-After): about the last ten count
POOL_SINGLES, POOL_BATCHES = "\x00singles", "\x00batches"  # Retry-After queues of the pools (no caller id starts with NUL)
MAX_RETRY_AFTER_S = 60  # a refusal never asks a caller to wait longer than this
MIN_RETRY_AFTER_S = 1  # Retry-After is in whole seconds (RFC 9110 §10.2.3); 0 would invite an immediate retry


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """A bucket of ``burst`` tokens per caller, refilled at ``per_minute``; ``acquire(caller, cost)`` takes ``cost`` tokens
    or returns the whole seconds until there are that many (Retry-After)."""

    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1 or burst < 1:
            raise ValueError("a rate limit needs per_minute ≥ 1 and burst ≥ 1")
        self.rate_per_s, self.capacity, self.clock = per_minute / 60.0, float(burst), clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, caller: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.pop(caller, None) or _Bucket(tokens=self.capacity, updated=now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        self._buckets[caller] = bucket  # most recently seen last
        if len(self._buckets) > MAX_TRACKED_CALLERS:
            self._buckets.popitem(last=False)
        return bucket

    def _wait_s(self, bucket: _Bucket, cost: int) -> int | None:
        if cost > self.capacity:
            raise ValueError(f"a cost of {cost} can never fit a bucket of {self.capacity:g}")
        if bucket.tokens >= cost:
            return None
        return max(MIN_RETRY_AFTER_S, math.ceil((cost - bucket.tokens) / self.rate_per_s))

    def check(self, caller: str, cost: int = 1) -> int | None:
        """None when ``cost`` tokens are there now (none is taken), else seconds until they are."""
        return self._wait_s(self._refilled(caller), cost)

    def acquire(self, caller: str, cost: int = 1) -> int | None:
        """None when allowed (``cost`` tokens were taken), else seconds to wait. No await inside: atomic on one event loop."""
        bucket = self._refilled(caller)
        wait = self._wait_s(bucket, cost)
        if wait is None:
            bucket.tokens -= cost
        return wait


class Refused(Exception):
    """A request the gateway will not take on now: 429 (this caller is over its share) or 503 (the gateway is full), with the
    seconds after which a retry may succeed. Rendered as problem+json with Retry-After (auth.install)."""

    def __init__(self, status: int, title: str, detail: str, kind: str, retry_after: int) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.kind, self.retry_after = status, title, detail, kind, retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


@dataclass(frozen=True)
class Ticket:
    """Work admitted: ``patients`` of ``caller``'s, a single recommendation or a batch, since ``admitted_at``. Give it back
    with ``release``."""

    caller: str
    patients: int
    single: bool
    admitted_at: float


class Admission:
    """Patients in flight per caller and per pool (see the module docstring), and the per-caller patient rate."""

    def __init__(self, caller_batch_patients: int, batch_patients: int, singles: int, patients_per_minute: int,
                 patient_burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if min(caller_batch_patients, batch_patients, singles) < 1:
            raise ValueError("admission caps must be ≥ 1")
        self.caller_batch_patients, self.batch_patients, self.singles = caller_batch_patients, batch_patients, singles
        self.patient_rate = TokenBucketLimiter(patients_per_minute, patient_burst, clock)
        self.clock = clock
        self.in_flight: dict[str, int] = {}  # caller → patients in its batches admitted and not yet released (absent: 0)
        self.batch_in_flight = 0  # patients, all callers
        self.singles_in_flight = 0  # requests, all callers
        self.service_s: dict[bool, float] = {}  # single? → recent time from admission to answer (EWMA); absent: none yet
        self._next_slot: dict[str, float] = {}  # queue (a caller, or POOL) → when the next refused request is told to retry

    def _retry_after(self, queue: str, single: bool, share: float) -> int:
        """Whole seconds after which a request refused from ``queue`` may be admitted, telling successive refusals
        successive slots: the work ahead ends about one measured service time from now, and after that each refused
        request takes ``share`` of the queue's capacity for a service time. Without the spacing every refused batch came
        back at the same second, was refused again, and each cost the gateway its body's parse once more."""
        service = self.service_s.get(single, float(MIN_RETRY_AFTER_S))
        now = self.clock()
        slot = max(now + service, self._next_slot.get(queue, now))
        self._next_slot[queue] = slot + service * share
        if len(self._next_slot) > MAX_TRACKED_CALLERS:
            self._next_slot.pop(next(iter(self._next_slot)))
        return min(MAX_RETRY_AFTER_S, max(MIN_RETRY_AFTER_S, math.ceil(slot - now)))

    def check(self, caller: str, patients: int, single: bool) -> None:
        """Raise ``Refused`` unless ``patients`` more of ``caller``'s would be admitted now; takes nothing but the slot a
        refusal's Retry-After names."""
        mine = self.in_flight.get(caller, 0)
        if not single and mine + patients > self.caller_batch_patients:
            raise Refused(429, "Too many patients in flight", f"this caller already has {mine} patients in batches in "
                          f"flight; {patients} more would exceed its share of {self.caller_batch_patients}: send the next "
                          "batch once one is answered", "in-flight-limited",
                          self._retry_after(caller, False, patients / self.caller_batch_patients))
        if single and self.singles_in_flight + 1 > self.singles:
            raise Refused(503, "Gateway busy", f"{self.singles_in_flight} single recommendations are in flight, as many as "
                          "can be answered in time; nothing was stored, retry later", "overloaded",
                          self._retry_after(POOL_SINGLES, True, 1 / self.singles))
        if not single and self.batch_in_flight + patients > self.batch_patients:
            raise Refused(503, "Gateway busy", f"{self.batch_in_flight} patients in batches are in flight, as many as can be "
                          "answered within the inference timeout; nothing was stored, retry later", "overloaded",
                          self._retry_after(POOL_BATCHES, False, patients / self.batch_patients))
        wait = self.patient_rate.check(caller, patients)
        if wait is not None:
            raise Refused(429, "Too many patients", f"{patients} patients exceed this caller's rate of "
                          f"{self.patient_rate.rate_per_s * 60:,.0f} patients/minute (burst "
                          f"{self.patient_rate.capacity:,.0f}); retry in {wait} s", "patient-rate-limited", wait)

    def admit(self, caller: str, patients: int, single: bool) -> Ticket:
        """Take on ``patients`` of ``caller``'s (charging its patient rate) or raise ``Refused``. No await: atomic."""
        self.check(caller, patients, single)
        self.patient_rate.acquire(caller, patients)  # cannot fail: check just saw the tokens, and nothing ran in between
        if single:
            self.singles_in_flight += 1
        else:
            self.in_flight[caller] = self.in_flight.get(caller, 0) + patients
            self.batch_in_flight += patients
        return Ticket(caller, patients, single, self.clock())

    def release(self, ticket: Ticket) -> None:
        """The ticket's work was answered (or failed): it leaves the caller's share and its pool, and its duration updates
        the measured service time."""
        if ticket.single:
            self.singles_in_flight -= 1
        else:
            left = self.in_flight.pop(ticket.caller) - ticket.patients
            if left:
                self.in_flight[ticket.caller] = left
            self.batch_in_flight -= ticket.patients
        took = self.clock() - ticket.admitted_at
        last = self.service_s.get(ticket.single)
        self.service_s[ticket.single] = took if last is None else last + SERVICE_EWMA_WEIGHT * (took - last)

    @contextmanager
    def admitted(self, caller: str, patients: int, single: bool) -> Iterator[Ticket]:
        """``admit`` for the duration of the block; released however the block ends."""
        ticket = self.admit(caller, patients, single)
        try:
            yield ticket
        finally:
            self.release(ticket)
