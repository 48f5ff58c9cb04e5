"""The clinician's screen, driven in headless Chromium: sign in with a key, enter a warfarin patient, read the recommendation
with its charts, override it with a reason, find the override on the patient's course; field errors; roles; CSRF; no
browser storage; every page free of serious or critical axe-core violations at 1280 and 390 px wide."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from dosewise.fhir.example import FHIR_BUNDLE_EXAMPLE
from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.therapies.registry import PACKS
from tests.e2e.ui.conftest import Ui, dump

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]


def fill_warfarin_patient(ui: Ui, patient_ref: str, **overrides: str) -> None:
    """The docs' warfarin example (schemas.PATIENT_STATE_EXAMPLE), typed into the form as a clinician would."""
    ex = PATIENT_STATE_EXAMPLE
    page = ui.page
    page.goto("/ui/dose?therapy=warfarin")
    values = {
        "f-patient_ref": patient_ref, "f-age_years": str(ex["age_years"]),
        "f-weight-value": str(ex["weight"]["value"]), "f-height-value": str(ex["height"]["value"]),
        "f-current_dose-value": str(ex["current_dose"]["value"]), "f-egfr_ml_min_1_73m2": str(ex["egfr_ml_min_1_73m2"]),
        "f-co_medications": ", ".join(ex["co_medications"]), "f-comorbidities": ", ".join(ex["comorbidities"]),
        "f-as_of": ex["as_of"][:16],
    }
    for field_id, value in values.items():
        page.locator(f"#{field_id}").fill(value)
    page.select_option("#f-sex", ex["sex"])
    page.select_option("#f-race", ex["race"])
    page.select_option("#f-pregnant", "false")
    page.select_option("#f-weight-unit", ex["weight"]["unit"])
    page.select_option("#f-height-unit", ex["height"]["unit"])
    page.select_option("#f-genotype-cyp2c9", ex["genotype"]["cyp2c9"])
    page.select_option("#f-genotype-vkorc1", ex["genotype"]["vkorc1"])
    for i, o in enumerate(ex["observations"]):
        page.select_option(f"#f-observations-{i}-kind", o["kind"])
        page.locator(f"#f-observations-{i}-value").fill(str(o["value"]))
        page.select_option(f"#f-observations-{i}-unit", o["unit"])
        page.locator(f"#f-observations-{i}-time").fill(o["time"][:16])
    for i, d in enumerate(ex["doses"]):
        page.locator(f"#f-doses-{i}-amount").fill(str(d["amount"]))
        page.locator(f"#f-doses-{i}-time").fill(d["time"][:16])
    for field_id, value in overrides.items():
        page.locator(f"#{field_id}").fill(value)


def chart(ui: Ui, canvas_id: str) -> dict[str, Any]:
    """What Chart.js drew on a canvas: its series (label, number of points) and how many pixels are not blank."""
    return ui.page.evaluate("""id => {
        const canvas = document.getElementById(id), c = Chart.getChart(canvas);
        const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 3; i < px.length; i += 4) { if (px[i] > 0) inked++; }
        return {series: c.data.datasets.map(d => ({label: d.label, points: d.data.filter(v => v !== null).length})),
                inked: inked};
    }""", canvas_id)


def assert_accessible(ui: Ui, name: str) -> None:
    ui.screenshot(name)
    violations = ui.axe()
    assert violations == [], f"{name}: serious/critical axe-core violations:\n{dump(violations)}"
    assert not [e for e in ui.console_errors if "Content Security Policy" in e or "Refused" in e], ui.console_errors


def test_sign_in_page_asks_for_a_key_and_says_why_one_is_refused(ui: Ui) -> None:
    ui.page.goto("/ui/dose")
    assert "/ui/sign-in" in ui.page.url  # no session: the sign-in page, which brings the clinician back afterwards
    assert ui.page.get_by_role("note").inner_text().startswith("The clinician decides.")
    assert_accessible(ui, "sign-in")
    ui.page.get_by_label("API key").fill("dwk_" + "0" * 24 + "_notakey")
    ui.page.get_by_role("button", name="Sign in").click()
    assert "Not signed in" in ui.page.get_by_role("alert").inner_text()
    assert not ui.context.cookies() or all(c["name"] != "dosewise_ui" for c in ui.context.cookies())


def test_warfarin_recommendation_overridden_with_a_reason_appears_on_the_course(ui: Ui, browser: Any) -> None:
    ui.sign_in("clinician")
    session = next(c for c in ui.context.cookies() if c["name"] == "dosewise_ui")
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/ui"
    assert "/ui/dose" in ui.page.url
    assert_accessible(ui, "dose-form")

    ref = f"ui-{uuid.uuid4().hex[:10]}"
    fill_warfarin_patient(ui, ref)
    with ui.page.expect_navigation(url="**/ui/recommendations/*") as nav:
        ui.page.get_by_role("button", name="Recommend a dose").click()
    assert nav.value is not None and nav.value.headers["cache-control"] == "no-store"  # not even in the browser's cache
    rec_id = ui.page.url.rsplit("/", 1)[-1]
    # The same recommendation through the API, for the numbers the page must show (same key, so it is this caller's).
    rec = httpx.get(f"{ui.stack.api}/v1/recommendations/{rec_id}", headers=ui.stack.clinician_headers).json()
    assert ui.page.locator("#recommended-dose").inner_text().startswith(f"{rec['recommended_dose']['value']:g} mg")
    assert ui.page.locator("#action-label").inner_text() == rec["action_label"]
    assert ui.page.locator("#hyperscore").inner_text() == f"{rec['score']['hyperscore']:.1f}"
    assert ui.page.locator("#rationale").inner_text() == rec["explanation"]["rationale"]

    q = chart(ui, "q-chart")
    n_actions = len(PACKS["warfarin"].actions)
    # Mean Q of every action, and its ensemble spread wherever the policy has heads to spread over (None: a single network)
    spreads = sum(v["q_sd_across_heads"] is not None for v in rec["explanation"]["q_values"])
    assert [s["points"] for s in q["series"]] == [n_actions, spreads]
    if not spreads:
        assert "no ensemble spread" in ui.page.locator("#q-spread-note").inner_text()
    assert q["inked"] > 1000
    f = chart(ui, "forecast-chart")
    fc = rec["explanation"]["forecast"]
    bands = sum(bool(fc.get(k)) for k in ("recommended_80pct", "keep_dose_80pct"))
    measured = bool((fc.get("measured") or {}).get("values"))
    # target band, each forecast line with its band's two edges, the measurements
    assert len(f["series"]) == 1 + 2 + 2 * bands + measured, dump(f["series"])
    labels = [s["label"] for s in f["series"]]
    assert f"recommended ({rec['action_label']})" in labels and "keep the current dose" in labels
    assert all(s["points"] > 0 for s in f["series"]) and f["inked"] > 1000
    assert_accessible(ui, "recommendation")

    given = rec["current_dose"]["value"] if rec["recommended_dose"]["value"] != rec["current_dose"]["value"] else 4.5
    ui.page.get_by_label("Dose given instead (mg/day)").fill(f"{given:g}")
    ui.page.get_by_label("Reason", exact=True).select_option("bleeding_risk")
    ui.page.get_by_label("In words (optional; no identifiers)").fill("recent nosebleeds")
    ui.page.get_by_role("button", name="Override").click()
    ui.page.wait_for_url(f"**/ui/patients/*?recorded={rec_id}")
    row = ui.page.locator("#decisions tr[aria-current='true']")
    assert "overridden" in row.inner_text() and "bleeding risk: recent nosebleeds" in row.inner_text()
    assert f"{given:g} mg/day" in row.inner_text()
    course = chart(ui, "course-chart")
    by_label = {s["label"]: s["points"] for s in course["series"]}
    assert by_label["recommended, overridden"] == 1 and by_label["INR"] == len(PATIENT_STATE_EXAMPLE["observations"])
    assert by_label["dose given (mg)"] == len(PATIENT_STATE_EXAMPLE["doses"]) + 1  # the record's doses and the one given
    assert_accessible(ui, "patient-course")

    # The course is also found from the reference the clinician typed; the stored outcome is what the API stored.
    ui.page.goto("/ui/patients")
    ui.page.get_by_label("Patient reference (pseudonymous)").fill(ref)
    ui.page.get_by_role("button", name="Show the course").click()
    assert ui.page.locator("#decisions tbody tr").count() == 1
    assert ui.storage() == {"local": 0, "session": 0}  # no patient data (nor anything else) in browser storage

    # Another caller (an integration's key) sees neither the course nor the recommendation: only the caller's own.
    course_url = ui.page.url
    other = Ui(browser, ui.stack, {"width": 1280, "height": 900})
    try:
        other.sign_in("integrator")
        other.page.goto(course_url)
        assert other.page.locator("#no-course").is_visible() and other.page.locator("#decisions").count() == 0
        response = other.page.goto(f"/ui/recommendations/{rec_id}")
        assert response is not None and response.status == 404
    finally:
        other.close()

    ui.page.get_by_role("button", name="Sign out").click()
    assert ui.page.get_by_role("status").inner_text() == "Signed out."
    assert all(c["name"] != "dosewise_ui" for c in ui.context.cookies())
    ui.page.goto(f"/ui/recommendations/{rec_id}")
    assert "/ui/sign-in" in ui.page.url  # the session is gone with the cookie


def test_a_bad_value_is_shown_beside_its_field(ui: Ui) -> None:
    ui.sign_in("clinician")
    fill_warfarin_patient(ui, f"ui-{uuid.uuid4().hex[:10]}", **{"f-age_years": "130", "f-observations-1-value": "40"})
    ui.page.get_by_role("button", name="Recommend a dose").click()
    assert ui.page.locator("#f-age_years").get_attribute("aria-invalid") == "true"
    assert "less than or equal to 120" in ui.page.locator("#f-age_years-error").inner_text()
    # The second INR row: the API's path observations.1.value, placed on the form's row 1
    assert "physiologically impossible" in ui.page.locator("#f-observations-1-error").inner_text()
    assert ui.page.locator("#f-observations-1-value").input_value() == "40"  # what was typed is kept
    assert "2 invalid fields" in ui.page.get_by_role("alert").inner_text()
    assert ui.page.evaluate("() => document.activeElement.id") == "error-summary"  # read first, links to each field
    assert_accessible(ui, "dose-form-errors")


def test_policies_are_for_admins_only(ui: Ui, browser: Any) -> None:
    ui.sign_in("clinician")
    response = ui.page.goto("/ui/policies")
    assert response is not None and response.status == 403
    assert response.headers["content-type"].startswith("text/html")  # a page that says why, not raw JSON
    assert ui.page.get_by_role("heading", level=1).inner_text() == "Not for your role"
    assert_accessible(ui, "forbidden")

    admin = Ui(browser, ui.stack, {"width": 1280, "height": 900})
    try:
        admin.sign_in("admin")
        assert "/ui/policies" in admin.page.url  # an admin key has no dose pages: it lands on the policies
        assert admin.page.locator("text=active").first.is_visible()
        assert_accessible(admin, "policies")
    finally:
        admin.close()


def test_a_clinician_opens_the_model_card_a_cds_card_links_to(ui: Ui) -> None:
    """A CDS Hooks card's source link (/ui/policies/{id}/card) opens for a clinician, who may not use the admin pages: the
    version, its evidence against the guideline from its card, and the card itself."""
    policies = httpx.get(f"{ui.stack.api}/v1/policies", headers=ui.stack.admin_headers).json()["data"]
    active = next(p for p in policies if p["therapy"] == "warfarin" and p["status"] == "active")
    ui.sign_in("clinician")
    response = ui.page.goto(f"/ui/policies/{active['id']}/card")
    assert response is not None and response.status == 200
    assert ui.page.get_by_role("heading", level=1).inner_text().startswith(f"warfarin · {active['version']}")
    runs = (active["model_card"].get("clinic_evaluation") or {}).get("runs") or []
    rows = ui.page.locator("table.metrics tbody tr")
    assert rows.count() == len(runs) + bool(active["model_card"].get("cross_validation"))
    assert json.loads(ui.page.locator("pre.card-json").first.text_content())["therapy"] == "warfarin"  # the card itself
    assert ui.page.goto("/ui/policies/no-such-policy/card").status == 404
    assert_accessible(ui, "policy-card")


def test_a_form_post_without_its_csrf_token_is_refused(ui: Ui) -> None:
    ui.sign_in("clinician")
    fill_warfarin_patient(ui, f"ui-{uuid.uuid4().hex[:10]}")
    ui.page.evaluate("() => document.querySelector('form.patient-form input[name=csrf_token]').value = 'forged'")
    ui.page.get_by_role("button", name="Recommend a dose").click()
    assert ui.page.get_by_role("heading", level=1).inner_text() == "Form expired"
    assert "Nothing was done" in ui.page.get_by_role("alert").inner_text()


def tab_to(ui: Ui, selector: str, presses: int = 120) -> None:
    """Press Tab until ``selector`` has the focus (fails if it never gets it: not reachable by keyboard)."""
    for _ in range(presses):
        if ui.page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
        ui.page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the keyboard focus")


def test_the_pages_work_390_px_wide_and_with_the_keyboard_alone(narrow_ui: Ui) -> None:
    ui = narrow_ui
    ui.page.goto("/ui/sign-in")
    tab_to(ui, "#api_key")
    ui.page.keyboard.type(ui.stack.headers["clinician"]["Authorization"].removeprefix("Bearer "))
    ui.page.keyboard.press("Enter")
    ui.page.wait_for_url("**/ui/dose")
    assert ui.page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert_accessible(ui, "dose-form")
    fill_warfarin_patient(ui, f"ui-{uuid.uuid4().hex[:10]}")
    ui.page.get_by_role("button", name="Recommend a dose").click()
    ui.page.wait_for_url("**/ui/recommendations/*")
    assert ui.page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert chart(ui, "forecast-chart")["inked"] > 1000
    assert_accessible(ui, "recommendation")
    tab_to(ui, "#accept")  # the keyboard alone: Tab to the button, Enter
    ui.page.keyboard.press("Enter")
    ui.page.wait_for_url("**/ui/patients/*")
    assert "accepted" in ui.page.locator("#decisions tr[aria-current='true']").inner_text()
    assert ui.page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert_accessible(ui, "patient-course")


def test_performance_shows_the_stored_evaluation_of_each_policy(ui: Ui) -> None:
    """Each visit policy's clinic evaluation on every held-out model and cadence (its card), each daily one's
    cross-validation: the numbers of the card, never typed in."""
    ui.sign_in("clinician")
    ui.page.goto("/ui/performance")
    policies = httpx.get(f"{ui.stack.api}/v1/policies", headers=ui.stack.admin_headers).json()["data"]
    shown = []
    for p in policies:
        card = p["model_card"]
        for run in (card.get("clinic_evaluation") or {}).get("runs") or []:
            where = f"{run['twin_model']} ({run['role']}) at {run['schedule']} visits"
            shown.append((f"{p['therapy']} · {p['version']} · {where}", run["comparisons"][0], run["comparisons"][0]["welch_p"]))
        if (cv := card.get("cross_validation") or {}).get("pooled_metrics"):
            first = cv["pooled_metrics"][0]
            shown.append((f"{p['therapy']} · {p['version']}", first, first["welch_p"]))
    assert shown, "the bootstrapped registry holds at least one trained policy with its evaluation"
    for heading, first, welch_p in shown:
        section = ui.page.locator("section", has=ui.page.get_by_role("heading", name=heading))
        row = section.locator("tr", has=ui.page.get_by_role("rowheader", name=first["metric"], exact=True))
        cells = row.locator("td").all_inner_texts()
        assert cells[0].startswith(f"{first['policy']['mean']:.2f} (")
        assert cells[1].startswith(f"{first['guideline']['mean']:.2f} (")
        assert cells[3] == f"{welch_p:.2g}"
        assert section.locator("canvas.perf-chart").count() == 2  # the efficacy and the adverse-event metric
    for p in policies:  # each clinic run: the card's algorithm comparison and its patient groups, as stored
        for run in (p["model_card"].get("clinic_evaluation") or {}).get("runs") or []:
            heading = f"{p['therapy']} · {p['version']} · {run['twin_model']} ({run['role']}) at {run['schedule']} visits"
            section = ui.page.locator("section", has=ui.page.get_by_role("heading", name=heading))
            compare = section.locator("table.compare tbody tr")
            assert compare.count() == len(run["means"])
            arm, means = next(iter(run["means"].items()))
            first = compare.first.locator("td").all_inner_texts()[0]
            assert compare.first.locator("th").inner_text() == arm and first == f"{means[run['comparisons'][0]['metric']]:.2f}"
            assert section.locator("table.groups tbody tr").count() == len(run["groups"])
    charts = ui.page.evaluate("""() => Array.from(document.querySelectorAll('canvas.perf-chart'))
        .map(c => Chart.getChart(c).data.datasets.map(d => d.data.length))""")
    assert charts and all(c == [2, 2] for c in charts)  # mean and 95 % CI of the policy and of the guideline
    assert_accessible(ui, "performance")


def test_a_pasted_fhir_bundle_gets_a_recommendation_and_a_bad_one_says_what_it_lacks(ui: Ui) -> None:
    ui.sign_in("clinician")
    ui.page.goto("/ui/dose?therapy=warfarin")
    ui.page.get_by_label("Bundle (JSON)").fill(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}))
    ui.page.get_by_role("button", name="Recommend from the bundle").click()
    assert ui.page.locator("#f-bundle").get_attribute("aria-invalid") == "true"
    assert "Patient" in ui.page.locator("#f-bundle-error").inner_text()  # what the API's 422 names, beside the field

    ui.page.get_by_label("Bundle (JSON)").fill(json.dumps(FHIR_BUNDLE_EXAMPLE))
    ui.page.get_by_role("button", name="Recommend from the bundle").click()
    ui.page.wait_for_url("**/ui/recommendations/*")
    rec_id = ui.page.url.rsplit("/", 1)[-1]
    rec = httpx.get(f"{ui.stack.api}/v1/recommendations/{rec_id}", headers=ui.stack.clinician_headers).json()
    assert rec["therapy"] == "warfarin"
    assert ui.page.locator("#action-label").inner_text() == rec["action_label"]
