"""Dose history from MedicationStatement (dosewise/fhir/medications.py): a statement's daily dose becomes one dose a day over
its effective period, the latest-begun statement winning a day, an administration winning its day, an entered-in-error
statement ignored. Fixture: tests/fixtures/fhir/bundles/warfarin_home_statements.json, a patient whose warfarin is known
from her home medication list: 5 mg/day (ms-1, completed, 1 Oct to 14 Nov), then 1.5 tablets of 5 mg a day (ms-2, active,
from 12 Nov 08:00), a 10 mg statement entered in error (ms-3), and one dose of 5 mg given in clinic on 20 Nov."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dosewise.fhir import BundleError, map_bundle

BUNDLES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "bundles"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def bundle() -> dict[str, Any]:
    return json.loads((BUNDLES / "warfarin_home_statements.json").read_text())


def by_id(b: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(e["resource"] for e in b["entry"] if e["resource"].get("id") == rid)


def drop(b: dict[str, Any], *ids: str) -> None:
    b["entry"] = [e for e in b["entry"] if e["resource"].get("id") not in ids]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def history(b: dict[str, Any]) -> list[tuple[datetime, float]]:
    return [(d.time, d.amount) for d in map_bundle(b, "warfarin", NOW).state.doses]


class TestStatementsAreTheDoseHistory:
    def test_each_day_of_each_statement_is_a_dose_the_latest_statement_and_an_administration_winning_their_days(
            self) -> None:
        m = map_bundle(bundle(), "warfarin", NOW)
        s = m.state
        expected = ([(at(d, 20), 5.0) for d in (9, 10, 11)]  # ms-1 from 14 days before now, until ms-2 began
                    + [(at(d, 8), 7.5) for d in range(12, 20)]  # ms-2 wins 12 and 13 Nov over ms-1: it began later
                    + [(at(20, 19, 30), 5.0)]  # the clinic's administration, not ms-2's 7.5 mg, on 20 Nov
                    + [(at(d, 8), 7.5) for d in (21, 22)])  # until now (23 Nov 08:00 is not before now)
        assert [(d.time, d.amount) for d in s.doses] == expected
        assert s.current_dose.value == 7.5, "the active statement's dose, 1.5 tablets of 5 mg"
        assert s.therapy_started == datetime(2026, 10, 1, 20, 0, tzinfo=UTC), "ms-1's start: the course began then"
        assert s.co_medications == ["atorvastatin 20 MG Oral Tablet"]
        assert "MedicationStatement/ms-2: 7.5 mg/day taken 2026-11-12 to now read as 10 daily dose(s) of the dose " \
               "history" in m.warnings
        assert "MedicationStatement/ms-1: 5 mg/day taken 2026-10-01 to 2026-11-14 read as 3 daily dose(s) of the dose " \
               "history" in m.warnings

    def test_the_history_reaches_back_as_far_as_the_pack_reads_doses(self) -> None:
        from dosewise.therapies.registry import get_pack

        first = NOW - timedelta(days=get_pack("warfarin").dose_history_days)
        times = [t for t, _ in history(bundle())]
        assert min(times) >= first and min(times) - first < timedelta(days=1)

    def test_the_entered_in_error_statement_is_ignored(self) -> None:
        b = bundle()
        assert all(amount != 10.0 for _, amount in history(b))
        by_id(b, "ms-3")["status"] = "active"  # what it would have done
        s = map_bundle(b, "warfarin", NOW).state
        assert (at(18, 8), 10.0) in [(d.time, d.amount) for d in s.doses]
        assert s.current_dose.value == 10.0, "the latest active statement"

    @pytest.mark.parametrize("order", [("ms-1", "ms-2"), ("ms-2", "ms-1")])
    def test_the_latest_active_statement_gives_the_current_dose_whatever_the_entry_order(
            self, order: tuple[str, str]) -> None:
        b = bundle()
        by_id(b, "ms-1")["status"] = "active"
        del by_id(b, "ms-1")["effectivePeriod"]["end"]
        first, second = (next(e for e in b["entry"] if e["resource"].get("id") == rid) for rid in order)
        b["entry"] = [e for e in b["entry"] if e not in (first, second)] + [first, second]
        assert map_bundle(b, "warfarin", NOW).state.current_dose.value == 7.5

    def test_an_active_statement_with_only_an_effective_date_time_runs_until_now(self) -> None:
        b = bundle()
        drop(b, "ms-1", "ma-clinic")
        ms2 = by_id(b, "ms-2")
        ms2.pop("effectivePeriod")
        ms2["effectiveDateTime"] = "2026-11-20T21:00:00Z"
        assert history(b) == [(at(20, 21), 7.5), (at(21, 21), 7.5), (at(22, 21), 7.5)]


class TestEndedStatements:
    def test_a_stopped_statement_ends_its_days_and_the_current_dose_is_0(self) -> None:
        b = bundle()
        drop(b, "ma-clinic")
        ms2 = by_id(b, "ms-2")
        ms2["status"] = "stopped"
        ms2["effectivePeriod"]["end"] = "2026-11-18T00:00:00Z"
        m = map_bundle(b, "warfarin", NOW)
        assert [t for t, _ in history(b)][-1] == at(17, 8)
        assert m.state.current_dose.value == 0.0
        assert any(w.startswith("current dose: 0, no active order or statement") for w in m.warnings)

    def test_a_completed_statement_without_an_end_is_not_in_the_history(self) -> None:
        b = bundle()
        del by_id(b, "ms-1")["effectivePeriod"]["end"]
        m = map_bundle(b, "warfarin", NOW)
        assert all(t >= at(12, 8) for t, _ in ((d.time, d.amount) for d in m.state.doses))
        assert ("MedicationStatement/ms-1: completed without effectivePeriod.end (when it ended is unknown); not in the "
                "dose history") in m.warnings

    def test_a_statement_that_ended_before_the_history_neither_adds_days_nor_moves_the_start(self) -> None:
        b = bundle()
        by_id(b, "ms-1")["effectivePeriod"] = {"start": "2025-01-01T20:00:00Z", "end": "2025-03-01T00:00:00Z"}
        s = map_bundle(b, "warfarin", NOW).state
        assert s.therapy_started == at(12, 8) and s.doses[0].time == at(12, 8)

    def test_only_ended_statements_and_inrs_still_need_no_order(self) -> None:
        b = bundle()
        drop(b, "ms-2", "ma-clinic")
        s = map_bundle(b, "warfarin", NOW).state
        assert [d.amount for d in s.doses] == [5.0] * 5 and s.current_dose.value == 0.0

    def test_a_history_statement_without_readable_dose_is_a_422_naming_it(self) -> None:
        b = bundle()
        by_id(b, "ms-1")["dosage"][0]["doseAndRate"][0]["doseQuantity"] = {"value": 5}
        with pytest.raises(BundleError) as e:
            map_bundle(b, "warfarin", NOW)
        assert [x["loc"][0] for x in e.value.errors] == ["MedicationStatement/ms-1.dosage[0]"]


class TestAdministrations:
    def test_an_entered_in_error_administration_is_not_a_dose_given(self) -> None:
        b = bundle()
        by_id(b, "ma-clinic")["status"] = "entered-in-error"
        assert (at(20, 8), 7.5) in history(b) and (at(20, 19, 30), 5.0) not in history(b)
