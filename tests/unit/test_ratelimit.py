"""The gateway's rates and admission control (dosewise_api.ratelimit), on a fake clock: a batch is charged its patients, one
caller's flood is refused past its share (429) or past what the gateway can answer in time (503), and another caller's
single recommendation is admitted all the while."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dosewise.schemas import MAX_BATCH
from dosewise.settings import Settings
from dosewise_api.ratelimit import MAX_RETRY_AFTER_S, Admission, Refused, TokenBucketLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


def admission(clock: FakeClock, caller: int = 1000, batch: int = 4000, singles: int = 4, per_minute: int = 60_000,
              burst: int = 10_000) -> Admission:
    return Admission(caller_batch_patients=caller, batch_patients=batch, singles=singles, patients_per_minute=per_minute,
                     patient_burst=burst, clock=clock)


def refusal(a: Admission, caller: str, patients: int, single: bool = False) -> Refused:
    with pytest.raises(Refused) as refused:
        a.admit(caller, patients, single)
    return refused.value


class TestTokenBucket:
    def test_a_batch_costs_its_size_and_the_wait_is_until_that_many_tokens_are_back(self, clock: FakeClock) -> None:
        bucket = TokenBucketLimiter(per_minute=60, burst=1000, clock=clock)  # one token a second
        assert bucket.acquire("a", 1000) is None
        assert bucket.acquire("a", 500) == 500
        clock.advance(100)
        assert bucket.acquire("a", 500) == 400  # 100 tokens back, 400 to go
        assert bucket.acquire("a", 100) is None

    def test_check_takes_nothing_and_callers_have_their_own_buckets(self, clock: FakeClock) -> None:
        bucket = TokenBucketLimiter(per_minute=60, burst=10, clock=clock)
        assert bucket.check("a", 10) is None
        assert bucket.check("a", 10) is None
        assert bucket.acquire("a", 10) is None
        assert bucket.check("a", 1) == 1
        assert bucket.acquire("b", 10) is None

    def test_the_wait_is_at_least_one_whole_second(self, clock: FakeClock) -> None:
        bucket = TokenBucketLimiter(per_minute=60_000, burst=1, clock=clock)
        assert bucket.acquire("a") is None
        assert bucket.acquire("a") == 1  # a millisecond away, but Retry-After is in whole seconds and 0 means "now"

    def test_a_cost_larger_than_the_burst_is_a_configuration_error_not_a_wait(self, clock: FakeClock) -> None:
        with pytest.raises(ValueError, match="never fit"):
            TokenBucketLimiter(per_minute=60, burst=999, clock=clock).acquire("a", 1000)


class TestShareOfEachCaller:
    def test_a_flooders_batches_past_its_share_get_429_while_another_callers_single_is_admitted(
        self, clock: FakeClock
    ) -> None:
        a = admission(clock, caller=2000)
        a.admit("flooder", 1000, single=False)
        a.admit("flooder", 1000, single=False)
        refused = refusal(a, "flooder", 1000)
        assert (refused.status, refused.kind) == (429, "in-flight-limited")
        assert "2000 patients in batches in flight" in refused.detail and refused.retry_after >= 1
        assert refusal(a, "flooder", 1).status == 429  # a smaller batch too
        assert a.admit("clinician", 1, single=True).patients == 1

    def test_a_callers_batch_in_flight_does_not_block_its_own_singles(self, clock: FakeClock) -> None:
        a = admission(clock, caller=1000)
        a.admit("integrator", 1000, single=False)
        assert a.admit("integrator", 1, single=True).single  # held to its request rate (auth.py) instead

    def test_any_number_of_batch_floods_leaves_the_singles_pool_open(self, clock: FakeClock) -> None:
        a = admission(clock, caller=2000, batch=4000)
        for flooder in ("f1", "f2"):
            a.admit(flooder, 1000, single=False)
            a.admit(flooder, 1000, single=False)
        refused = refusal(a, "f3", 1000)
        assert (refused.status, refused.kind, refused.title) == (503, "overloaded", "Gateway busy")
        assert "4000 patients in batches are in flight" in refused.detail
        assert a.admit("clinician", 1, single=True).single

    def test_a_caller_over_its_share_hears_429_even_when_the_gateway_is_also_full(self, clock: FakeClock) -> None:
        a = admission(clock, caller=2000, batch=2000)
        a.admit("flooder", 1000, single=False)
        a.admit("flooder", 1000, single=False)
        assert refusal(a, "flooder", 1000).status == 429  # its own doing: slowing down helps, not retrying elsewhere
        assert refusal(a, "other", 1000).status == 503

    def test_the_singles_pool_is_bounded_too(self, clock: FakeClock) -> None:
        a = admission(clock, singles=2)
        a.admit("c1", 1, single=True)
        a.admit("c2", 1, single=True)
        refused = refusal(a, "c3", 1, single=True)
        assert (refused.status, refused.kind) == (503, "overloaded")
        assert a.admit("c3", 1000, single=False).patients == 1000  # the batch pool is another pool


class TestReleaseAndRefusalsTakeNothing:
    def test_release_gives_back_the_share_and_the_pool(self, clock: FakeClock) -> None:
        a = admission(clock, caller=1000, batch=1000)
        ticket = a.admit("a", 1000, single=False)
        assert refusal(a, "a", 1).status == 429
        a.release(ticket)
        assert (a.in_flight, a.batch_in_flight, a.singles_in_flight) == ({}, 0, 0)
        a.admit("b", 1000, single=False)

    def test_admitted_releases_when_the_work_fails(self, clock: FakeClock) -> None:
        a = admission(clock)
        with pytest.raises(RuntimeError), a.admitted("a", 1000, single=False):
            raise RuntimeError("inference unreachable")
        with pytest.raises(RuntimeError), a.admitted("a", 1, single=True):
            raise RuntimeError("database down")
        assert (a.in_flight, a.batch_in_flight, a.singles_in_flight) == ({}, 0, 0)

    def test_a_refused_request_is_not_charged_to_the_callers_patient_rate(self, clock: FakeClock) -> None:
        a = admission(clock, caller=1000, batch=4000, per_minute=60, burst=2000)
        first = a.admit("a", 1000, single=False)
        for _ in range(5):
            assert refusal(a, "a", 1000).kind == "in-flight-limited"
        a.release(first)
        a.admit("a", 1000, single=False)  # the 1,000 tokens left were not spent on the refusals

    def test_check_is_admit_without_taking_anything(self, clock: FakeClock) -> None:
        a = admission(clock, caller=1000, burst=1000)
        a.check("a", 1000, single=False)
        a.check("a", 1000, single=False)
        assert (a.in_flight, a.batch_in_flight) == ({}, 0)
        a.admit("a", 1000, single=False)
        with pytest.raises(Refused):
            a.check("a", 1, single=False)


class TestPatientRate:
    def test_a_batch_is_charged_its_patients_and_the_wait_is_exact(self, clock: FakeClock) -> None:
        a = admission(clock, caller=2000, per_minute=6000, burst=2000)  # 100 patients/s
        for _ in range(2):
            a.release(a.admit("a", 1000, single=False))
        refused = refusal(a, "a", 1000)
        assert (refused.status, refused.kind, refused.retry_after) == (429, "patient-rate-limited", 10)
        assert refused.headers == {"Retry-After": "10"}
        assert a.admit("b", 1000, single=False)  # per caller
        clock.advance(10)
        a.admit("a", 1000, single=False)

    def test_a_single_costs_one_patient(self, clock: FakeClock) -> None:
        a = admission(clock, per_minute=60, burst=1000, singles=10)
        a.release(a.admit("a", 999, single=False))
        a.release(a.admit("a", 1, single=True))
        assert refusal(a, "a", 1, single=True).kind == "patient-rate-limited"


class TestRetryAfterOfARefusal:
    def test_successive_refusals_are_told_successive_slots_not_the_same_second(self, clock: FakeClock) -> None:
        a = admission(clock, caller=1000)
        a.admit("a", 1000, single=False)
        # Nothing answered yet: one second is the service time assumed; each refused batch needs a whole share after it.
        assert [refusal(a, "a", 1000).retry_after for _ in range(3)] == [1, 2, 3]
        assert refusal(a, "a", 500).retry_after == 4  # half a share: the slot after it is half a service time later
        assert refusal(a, "a", 1000).retry_after == 5  # ceil(4.5)

    def test_the_slots_are_spaced_by_the_measured_service_time_of_that_kind(self, clock: FakeClock) -> None:
        a = admission(clock, caller=1000, batch=4000, singles=1)
        ticket = a.admit("a", 1000, single=False)
        clock.advance(4)
        a.release(ticket)  # a batch takes 4 s from admission to answer
        a.admit("a", 1000, single=False)
        assert [refusal(a, "a", 1000).retry_after for _ in range(3)] == [4, 8, 12]
        for caller in ("b", "c", "d"):
            a.admit(caller, 1000, single=False)
        # The pool holds four batches: after the first slot, each refused batch is a quarter of a service time later.
        assert [refusal(a, "e", 1000).retry_after for _ in range(3)] == [4, 5, 6]
        a.admit("clinician", 1, single=True)
        assert refusal(a, "other", 1, single=True).retry_after == 1  # singles have their own (unmeasured) service time

    def test_the_service_time_follows_recent_answers_and_old_slots_are_forgotten(self, clock: FakeClock) -> None:
        a = admission(clock, caller=1000)
        for took in (4, 14):
            ticket = a.admit("a", 1000, single=False)
            clock.advance(took)
            a.release(ticket)
        assert a.service_s[False] == pytest.approx(6.0)  # 4 s, then 14 s at a weight of 0.2
        a.admit("a", 1000, single=False)
        assert refusal(a, "a", 1000).retry_after == 6
        clock.advance(60)  # the slot handed out has passed: the next refusal starts over
        assert refusal(a, "a", 1000).retry_after == 6

    def test_a_caller_hammering_regardless_is_told_at_most_a_minute(self, clock: FakeClock) -> None:
        a = admission(clock, caller=1000)
        a.admit("a", 1000, single=False)
        assert max(refusal(a, "a", 1000).retry_after for _ in range(200)) == MAX_RETRY_AFTER_S


class TestSettings:
    @pytest.mark.parametrize("name", ["DOSEWISE_ADMISSION_CALLER_BATCH_PATIENTS", "DOSEWISE_ADMISSION_BATCH_PATIENTS",
                                      "DOSEWISE_RATE_LIMIT_PATIENT_BURST"])
    def test_no_cap_may_refuse_every_full_batch_forever(self, name: str) -> None:
        assert Settings(**{name: str(MAX_BATCH)})
        with pytest.raises(ValidationError):
            Settings(**{name: str(MAX_BATCH - 1)})

    def test_the_defaults_admit_a_full_batch_and_leave_a_flooder_at_most_half_the_batch_pool(self) -> None:
        s = Settings()
        assert MAX_BATCH <= s.admission_caller_batch_patients <= s.admission_batch_patients // 2
        assert s.rate_limit_patient_burst >= MAX_BATCH
