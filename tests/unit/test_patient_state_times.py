"""Timestamps in a patient state: ISO 8601 with a time zone, not in the future beyond the clock skew, not after ``as_of``,
not before 1900 nor before the patient's birth — compared correctly whatever offset each one carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from dosewise.schemas import CLOCK_SKEW, EARLIEST_CLINICAL_TIME, PATIENT_STATE_EXAMPLE, PatientState, utc_now


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


def inr_at(when: str) -> dict:
    return {"kind": "inr", "value": 2.0, "unit": "{INR}", "time": when}


PLACEHOLDERS = ["0001-01-01T00:00:00Z",  # .NET DateTime.MinValue, Go's zero time
                "1753-01-01T00:00:00Z",  # SQL Server datetime's minimum
                "1899-12-30T00:00:00Z",  # OLE Automation / Excel day 0
                "1900-01-01T00:30:00+01:00"]  # 1899-12-31T23:30Z: the instant counts, not the digits


class TestEarliestTimes:
    """One floor for every clinical time (schemas.EARLIEST_CLINICAL_TIME, 1900-01-01T00:00:00Z), and the patient's birth."""

    @pytest.mark.parametrize("when", PLACEHOLDERS)
    @pytest.mark.parametrize(("field", "loc"), [
        ("observations", ("observations", 0, "time")), ("doses", ("doses", 0, "time")),
        ("therapy_started", ("therapy_started",)), ("as_of", ("as_of",))])
    def test_a_time_before_1900_is_refused_in_every_field_with_one_message(self, when: str, field: str, loc: tuple) -> None:
        body = dict(PATIENT_STATE_EXAMPLE)
        body[field] = {"observations": [inr_at(when)], "doses": [{"amount": 5, "unit": "mg", "time": when}]}.get(field, when)
        if field == "as_of":  # nothing else may lie after the decision time
            body |= {"observations": [], "doses": []}
        [(got_loc, msg)] = errors(body)
        assert got_loc == loc
        assert msg.startswith("time lies before 1900-01-01, the earliest accepted") and "placeholder" in msg

    def test_the_floor_itself_is_a_utc_instant_and_the_error_says_it_as_the_allowed_bound(self) -> None:
        assert EARLIEST_CLINICAL_TIME == datetime(1900, 1, 1, tzinfo=UTC)
        with pytest.raises(ValidationError) as e:
            PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"observations": [inr_at("1899-12-31T23:59:59Z")]})
        [err] = e.value.errors()
        assert err["type"] == "time_too_early" and err["ctx"] == {"ge": "1900-01-01T00:00:00Z"}

    def test_a_time_before_the_patients_birth_is_refused(self) -> None:
        """67 years old on 2026-11-23: born after 1958-10-03 even if the age was rounded; 1900-01-01 (SQL Server's zero) and
        1970-01-01 (Unix time's) are placeholders for a 40-year-old, a real time for a 67-year-old."""
        [(loc, msg)] = errors(PATIENT_STATE_EXAMPLE | {"observations": [inr_at("1900-01-01T00:00:00Z")]})
        assert loc == ("observations", 0, "time")
        assert msg == ("observation time lies before the patient's birth (age_years 67 at the decision time: born after "
                       "1958-10-03)")
        young = PATIENT_STATE_EXAMPLE | {"age_years": 40}
        assert [loc for loc, _ in errors(young | {"doses": [{"amount": 5, "unit": "mg", "time": "1970-01-01T00:00:00Z"}]})] \
            == [("doses", 0, "time")]
        assert [loc for loc, _ in errors(young | {"therapy_started": "1970-01-01T00:00:00Z"})] == [("therapy_started",)]
        assert PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"therapy_started": "1970-01-01T00:00:00Z"})

    def test_the_birth_bound_allows_an_age_rounded_down_or_to_the_nearest_year(self) -> None:
        """A newborn recorded as age 0 may be 11 months old: a sample from the week of birth is real."""
        as_of = datetime(2026, 11, 23, 8, tzinfo=UTC)
        first_week = iso(as_of - timedelta(days=360))
        s = PatientState.model_validate(PATIENT_STATE_EXAMPLE | {
            "age_years": 0, "weight": {"value": 9, "unit": "kg"}, "height": {"value": 74, "unit": "cm"},
            "observations": [inr_at(first_week)], "doses": [], "therapy_started": first_week})
        assert s.observations[0].time == as_of - timedelta(days=360)
        too_early = iso(as_of - timedelta(days=370))
        assert [loc for loc, _ in errors(PATIENT_STATE_EXAMPLE | {
            "age_years": 0, "weight": {"value": 9, "unit": "kg"}, "height": {"value": 74, "unit": "cm"},
            "observations": [inr_at(too_early)], "doses": []})] == [("observations", 0, "time")]
