"""No patient identifier reaches a log: a whole stack session at DEBUG level, fed the fixture patients' real-looking data.

The synthetic FHIR patients in tests/fixtures/fhir (Synthea; their README says where from) carry names, record numbers,
SSNs, passport and licence numbers, birth dates, addresses and phone numbers. This module sends them where callers might
put them — patient
references (valid and invalid), free-text fields, headers, query strings, paths, bearer tokens — to the gateway running as
real processes, runs `dosewise patients erase` with one of them, then reads every line every process logged (and the CLI
printed) and looks for each identifier. Finding none is the pass. The scan is shown to find a planted identifier, and the
logs are shown to hold a line per request, so an empty or unread log cannot pass.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.storage.migrate import upgrade
from tests.e2e.conftest import Stack, _stack

FHIR_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"


@dataclass(frozen=True)
class FixturePatient:
    resource_id: str
    given: str
    family: str
    identifiers: tuple[str, ...]  # MRN, SSN, driver's licence, passport, Synthea id
    birth_date: str
    address_line: str
    phone: str

    @property
    def needles(self) -> dict[str, str]:
        """What must never appear in a log, by what it is."""
        out = {"given name": self.given, "family name": self.family, "full name": f"{self.given} {self.family}",
               "resource id": self.resource_id, "birth date": self.birth_date, "address": self.address_line,
               "phone": self.phone}
        out |= {f"identifier {i}": v for i, v in enumerate(self.identifiers)}
        return out


def load_patients() -> list[FixturePatient]:
    patients = []
    for path in sorted(FHIR_DIR.glob("*.json")):
        bundle = json.loads(path.read_text())
        p = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        name = next(n for n in p["name"] if n.get("use") == "official")
        patients.append(FixturePatient(
            resource_id=p["id"], given=name["given"][0], family=name["family"],
            identifiers=tuple(i["value"] for i in p.get("identifier", [])), birth_date=p["birthDate"],
            address_line=p["address"][0]["line"][0], phone=p["telecom"][0]["value"]))
    return patients


def find_leaks(text: str, patients: list[FixturePatient]) -> list[str]:
    """Each identifier found, as whole words (so the given name "Max" is not found in "max_examples"), names case-sensitive."""
    found = []
    for p in patients:
        for what, needle in p.needles.items():
            if re.search(rf"(?<![A-Za-z0-9]){re.escape(needle)}(?![A-Za-z0-9])", text):
                found.append(f"{p.given} {p.family}: {what} {needle!r}")
    return found


@pytest.fixture(scope="module")
def patients() -> list[FixturePatient]:
    found = load_patients()
    assert len(found) >= 3 and all(p.identifiers for p in found)
    return found


@pytest.fixture(scope="module")
def debug_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("log-scan")
    url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
    upgrade(url)
    yield from _stack(url, tmp, {"DOSEWISE_LOG_LEVEL": "DEBUG"})  # the most any deployment would log


def state(**changes: object) -> dict:
    return PATIENT_STATE_EXAMPLE | changes


def send_everything(stack: Stack, patients: list[FixturePatient]) -> int:
    """Every place a caller could put an identifier; returns how many requests reached /v1/recommendations."""
    clin, auditor = stack.headers["clinician"], stack.headers["auditor"]
    posts = 0
    with httpx.Client(base_url=stack.api, timeout=30) as c:
        for p in patients:
            mrn, ssn, passport = p.identifiers[1], p.identifiers[2], p.identifiers[-1]
            full = f"{p.given} {p.family}"
            accepted = [
                state(patient_ref=mrn),
                state(patient_ref=f"{p.given}_{p.family}", comorbidities=[f"{full} of {p.address_line}"],
                      co_medications=[p.family.lower()]),
                state(patient_ref=ssn),
            ]
            rejected = [
                state(patient_ref=full),  # a space: not a valid reference
                state(patient_ref=mrn, age_years=p.birth_date),  # a string where a number belongs
                state(patient_ref=mrn, weight={"value": p.phone, "unit": p.address_line}),
            ]
            recs = []
            for body in accepted:
                r = c.post("/v1/recommendations", json=body, headers=clin | {"Idempotency-Key": passport + str(posts)})
                assert r.status_code == 200, r.text
                recs.append(r.json())
                posts += 1
            for body in rejected:
                assert c.post("/v1/recommendations", json=body, headers=clin).status_code == 422
                posts += 1
            batch = {"patients": [state(patient_ref=i) for i in p.identifiers if len(i) >= 4]}
            assert c.post("/v1/recommendations:batch", json=batch, headers=clin).status_code == 200
            outcome = {"recommendation_id": recs[0]["recommendation_id"], "dose_given": recs[0]["recommended_dose"],
                       "feedback": {"decision": "overridden", "reason_code": "other", "reason": f"asked by {full}"},
                       "adverse_events": [{"kind": p.family.lower(), "severity": "mild", "time": "2026-11-23T09:00:00Z"}]}
            c.post("/v1/outcomes", json=outcome, headers=clin | {"Idempotency-Key": ssn})
            c.get(f"/v1/recommendations/{p.resource_id}", headers=clin)
            c.get(f"/v1/recommendations/{mrn}-{p.family}", headers=clin)
            c.get("/v1/audit", params={"patient_ref": mrn, "caller": full}, headers=auditor)
            c.get("/v1/therapies", headers={"Authorization": f"Bearer {p.given}_{p.family}_{ssn}"})  # 401
            c.post("/v1/keys", json={"name": full, "role": "admin"}, headers=stack.headers["admin"])  # 422: not a label
    return posts


def test_no_identifier_or_name_from_the_fixtures_reaches_any_log(
    debug_stack: Stack, patients: list[FixturePatient]
) -> None:
    posts = send_everything(debug_stack, patients)
    mrn = patients[0].identifiers[1]
    env = debug_stack.env | {"DOSEWISE_LOG_LEVEL": "DEBUG"}
    erase = subprocess.run([sys.executable, "-m", "dosewise.cli.main", "patients", "erase", mrn, "--yes"], env=env,
                           capture_output=True, text=True, timeout=120, check=True)
    assert "tombstoned" in erase.stdout
    debug_stack.stop_all()  # flush and close every log

    logs = {name: path.read_text(errors="replace") for name, path in debug_stack.logs.items()}
    logs["cli: dosewise patients erase"] = erase.stdout + erase.stderr
    lines = sum(text.count("\n") for text in logs.values())
    access = [json.loads(line) for line in logs["api"].splitlines() if '"dosewise.api.access"' in line]
    to_recommend = [a for a in access if a["route"].startswith("/v1/recommendations") and a["method"] == "POST"]
    assert len(to_recommend) >= posts, "the gateway must log a line per request, or this scan proves nothing"
    assert find_leaks(f"x {patients[0].family} x", patients), "the scan must find a planted name"

    leaks = {name: find_leaks(text, patients) for name, text in logs.items()}
    leaks = {name: found for name, found in leaks.items() if found}
    needles = sum(len(p.needles) for p in patients)
    print(f"log scan: {len(logs)} sources ({', '.join(sorted(logs))}), {lines} lines, {len(access)} access-log lines; "
          f"{len(patients)} fixture patients × {needles // len(patients)} identifiers searched; leaks: {leaks or 'none'}")
    assert not leaks, leaks


def test_the_scan_reads_the_fixture_identifiers(patients: list[FixturePatient]) -> None:
    """The needles are the fixtures' real values (a scan for nothing would pass trivially)."""
    dirk = next(p for p in patients if p.family == "Kuhlman")
    assert dirk.given == "Dirk" and "999-77-3450" in dirk.identifiers and dirk.birth_date == "1971-12-07"
    assert os.path.basename(next(iter(FHIR_DIR.glob("Dirk_*.json")))).startswith("Dirk_Kuhlman")
