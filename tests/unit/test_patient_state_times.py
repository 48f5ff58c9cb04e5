"""Timestamps in a patient state: ISO 8601 with a time zone, not in the future beyond the clock skew, not after ``as_of``
— compared correctly whatever offset each one carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from dosewise.schemas import CLOCK_SKEW, PATIENT_STATE_EXAMPLE, PatientState, utc_now


def state_with_dose_at(when: str, as_of: str | None = None) -> dict:
    doses = [{"amount": 5.0, "unit": "mg", "time": when}]
    body = PATIENT_STATE_EXAMPLE | {"doses": doses, "observations": []}
    body.pop("as_of", None)
    return body | ({"as_of": as_of} if as_of else {})


def errors(body: dict) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as e:
        PatientState.model_validate(body)
    return [(err["loc"], err["msg"]) for err in e.value.errors()]


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class TestFutureTimes:
    def test_a_decision_time_within_the_clock_skew_is_accepted(self) -> None:
        """A sender's clock a few minutes ahead of ours is not an impossible state."""
        as_of = datetime.now(UTC) + CLOCK_SKEW - timedelta(minutes=1)
        s = PatientState.model_validate(state_with_dose_at(iso(as_of - timedelta(minutes=1)), as_of=iso(as_of)))
        assert s.as_of == as_of

    def test_a_time_beyond_the_clock_skew_is_rejected(self) -> None:
        ahead = datetime.now(UTC) + CLOCK_SKEW + timedelta(minutes=1)
        assert errors(state_with_dose_at(iso(ahead))) == [(("doses", 0, "time"), "Value error, time lies in the future")]

    def test_a_time_without_a_zone_is_rejected(self) -> None:
        (loc, msg), = errors(state_with_dose_at("2026-11-20T08:00:00"))
        assert loc == ("doses", 0, "time") and "time zone" in msg


class TestOffsets:
    def test_an_offset_is_compared_as_the_instant_it_names(self) -> None:
        """08:30Z written as 10:30+02:00 lies before as_of 09:00Z; 09:30Z written as 11:30+02:00 after it."""
        ok = PatientState.model_validate(state_with_dose_at("2026-11-20T10:30:00+02:00", as_of="2026-11-20T09:00:00Z"))
        assert ok.doses[0].time == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
        assert errors(state_with_dose_at("2026-11-20T11:30:00+02:00", as_of="2026-11-20T09:00:00Z")) == [
            (("doses", 0, "time"), "dose time lies after the decision time as_of")]

    def test_parsed_utc_times_share_the_tzinfo_of_utc_now(self) -> None:
        """What keeps the checks cheap (schemas.UTC_TZ): "Z" and "+00:00" parse to the tzinfo object utc_now() uses, so
        CPython compares them without utcoffset() calls. If pydantic-core changes this, the checks stay correct but slow."""
        s = PatientState.model_validate(state_with_dose_at("2026-11-20T08:00:00Z", as_of="2026-11-20T09:00:00+00:00"))
        assert s.doses[0].time.tzinfo is utc_now().tzinfo is s.as_of.tzinfo  # type: ignore[union-attr]
        assert s.decision_time == datetime(2026, 11, 20, 9, tzinfo=UTC)


class TestTherapyStart:
    """A maintenance patient's EHR often sends only the last days of doses; ``therapy_started`` says the course is older."""

    def test_the_day_of_therapy_counts_from_the_start_when_it_is_sent(self) -> None:
        from dosewise.therapies.base import ClinicView
        from dosewise.therapies.registry import get_pack

        pack = get_pack("warfarin")
        record_only = PatientState.model_validate(PATIENT_STATE_EXAMPLE)
        long_term = PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"therapy_started": "2025-11-23T08:00:00Z"})
        view = ClinicView.from_states(pack, [record_only, long_term])
        assert view.day[0] == pytest.approx(6.5) and view.day[1] == pytest.approx(365.0)
        np.testing.assert_array_equal(view.dose_history[0], view.dose_history[1])  # unrecorded days stay unknown

    def test_a_start_after_the_decision_or_after_a_recorded_dose_is_rejected(self) -> None:
        assert errors(PATIENT_STATE_EXAMPLE | {"therapy_started": "2026-11-23T09:00:00Z"}) == [
            (("therapy_started",), "the therapy start lies after the decision time as_of")]
        [(loc, msg)] = errors(PATIENT_STATE_EXAMPLE | {"therapy_started": "2026-11-18T00:00:00Z"})
        assert loc == ("therapy_started",) and "dose entry 0 precedes the therapy start" in msg
