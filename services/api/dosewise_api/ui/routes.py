"""The clinician UI's pages: server-rendered HTML (Jinja2) calling the gateway's own use cases, never an HTTP call to itself.

- ``/ui/dose``: the dose decision form of a therapy, drawn from its pack's description (``forms.therapy_form``); posting it
  runs the very flow of ``POST /v1/recommendations`` (the coalescer: validated, computed, persisted and audited before the
  answer), under the same admission control.
- ``/ui/recommendations/{id}``: the answer, with accept / override forms that record the outcome through the outcome use
  case (``outcomes.record_outcomes``: the same validation, idempotency, ownership and audit as ``POST /v1/outcomes``).
- ``/ui/patients/{pseudonym}``: the patient's course (``dosewise.course``), only the caller's own recommendations.
- ``/ui/policies`` (admin): the registry, with activate and roll back.

Every POST checks the form's CSRF token first (session.py). A page never answers with JSON: validation errors are drawn beside
their fields, and anything else on a /ui path is an HTML page saying what happened (``install``).
"""

from __future__ import annotations

import hmac
import math
import secrets
import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter, ValidationError

from dosewise import course, problems, registry
from dosewise.apikeys import Role
from dosewise.fhir import BundleError, map_bundle
from dosewise.forecast import observation_name
from dosewise.forecast_chart import forecast_svg
from dosewise.privacy import pseudonymize
from dosewise.schemas import DISCLAIMER, PatientState, Recommendation
from dosewise.storage.repositories import GateReportRepository, OutcomeRepository, RecommendationRepository
from dosewise.therapies.registry import PACKS
from dosewise_api import outcomes, recommendations
from dosewise_api.auth import AuthProblem, Caller
from dosewise_api.inference_client import InferenceUnavailable
from dosewise_api.middleware import parse_strictly
from dosewise_api.ratelimit import Admission, Refused
from dosewise_api.ui import forms, reports, session, smart
from dosewise_api.ui.session import CSRF_FIELD, PageProblem

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
TEMPLATES.env.globals |= {"DISCLAIMER": DISCLAIMER, "CSRF_FIELD": CSRF_FIELD}

ClinicalPage = Annotated[Caller, Depends(session.page_caller(Role.CLINICIAN, Role.INTEGRATOR))]
AdminPage = Annotated[Caller, Depends(session.page_caller(Role.ADMIN))]
AnyPage = Annotated[Caller, Depends(session.page_caller(*Role))]  # aggregate evaluation only, no patient data

router = APIRouter(include_in_schema=False)
FHIR_THERAPIES = ("warfarin", "insulin_t2d")  # what dosewise.fhir maps (POST /v1/fhir/recommendations' therapy choices)
PATIENT_REF: TypeAdapter[str] = TypeAdapter(Annotated[str, PatientState.model_fields["patient_ref"]])


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    caller = getattr(request.state, "caller", None)
    return TEMPLATES.TemplateResponse(request, template, {"caller": caller, "csrf": getattr(request.state, "csrf", ""),
                                                          **context}, status_code=status_code)


async def posted(request: Request) -> dict[str, str]:
    """The form body (the last value of a repeated name), its CSRF token checked."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    session.check_csrf(request, form.get(CSRF_FIELD, ""))
    return form


# ---------------------------------------------------------------------------------------------------------- sign-in
@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/dose", status_code=303)


def _sign_in_page(request: Request, next_path: str, message: str = "", error: str = "",
                  status_code: int = 200) -> HTMLResponse:
    token = session.new_login_token()
    page = render(request, "sign_in.html", status_code=status_code, next=session.safe_next(next_path), message=message,
                  error=error, login_token=token)
    session.login_page_token(request, page, token)
    return page


@router.get("/ui/sign-in")
async def sign_in_page(request: Request, next: str = "", reason: str = "") -> HTMLResponse:
    return _sign_in_page(request, next, session.SIGN_IN_REASONS.get(reason, ""))


@router.post("/ui/sign-in")
async def sign_in(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    next_path = session.safe_next(form.get("next"))
    if not session.login_token_ok(request, form.get(CSRF_FIELD, "")):
        return _sign_in_page(request, next_path, status_code=403,
                             error="The sign-in form expired (or was sent from another site). Paste the key again.")
    token = form.get("api_key", "").strip()
    if not token:
        return _sign_in_page(request, next_path, status_code=401, error="Paste your API key (dwk_…) to sign in.")
    try:
        caller = await session.credential_caller(request, token)
    except AuthProblem as e:
        return _sign_in_page(request, next_path, status_code=e.status, error=f"Not signed in: {e.detail}.")
    clinical = bool(caller.roles & {Role.CLINICIAN, Role.INTEGRATOR})
    if not clinical and not next_path.startswith(("/ui/policies", "/ui/performance")):  # no dose pages for this key
        next_path = "/ui/policies" if Role.ADMIN in caller.roles else "/ui/performance"
    response = RedirectResponse(next_path, status_code=303)
    session.set_session(response, request, token)
    response.delete_cookie(session.LOGIN_COOKIE, path=session.COOKIE_PATH)
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    if request.cookies.get(session.SESSION_COOKIE):
        session.check_csrf(request, form.get(CSRF_FIELD, ""))
    response = RedirectResponse("/ui/sign-in?reason=signed-out", status_code=303)
    session.clear_session(response)
    return response


# ------------------------------------------------------------------------------------------------------------- dose
def _therapy(therapy: str | None) -> str:
    if therapy and therapy in PACKS:
        return therapy
    if therapy:
        raise PageProblem(404, "Unknown therapy", f"There is no therapy {therapy!r}; choose one of: {', '.join(PACKS)}.")
    return next(iter(PACKS))


def _dose_page(request: Request, therapy: str, values: dict[str, str], errors: dict[str, list[str]],
               status_code: int = 200, message: str = "") -> HTMLResponse:
    packs = [(p.id, p.name) for p in PACKS.values()]
    return render(request, "dose.html", status_code=status_code, therapies=packs, form=forms.therapy_form(PACKS[therapy]),
                  values=values, errors=errors, genotypes=forms.GENOTYPES, observation_rows=forms.OBSERVATION_ROWS,
                  dose_rows=forms.DOSE_ROWS, message=message, fhir=therapy in FHIR_THERAPIES,
                  idempotency_key=values.get("idempotency_key") or uuid.uuid4().hex)


@router.get("/ui/dose")
async def dose_page(request: Request, caller: ClinicalPage, therapy: str | None = None) -> HTMLResponse:
    return _dose_page(request, _therapy(therapy), {}, {})


@router.post("/ui/dose")
async def dose_submit(request: Request, caller: ClinicalPage) -> Response:
    form = await posted(request)
    therapy = _therapy(form.get("therapy"))
    body = forms.state_body(therapy, form)
    try:
        state = PatientState.model_validate(body)
    except ValidationError as e:
        problem = problems.validation_problem(e.errors(), ())  # what POST /v1/recommendations answers, entry for entry
        errors = forms.renumber(forms.field_errors(problem), form)
        return _dose_page(request, therapy, form, errors, status_code=422, message=problem["detail"])
    try:
        return await _recommend(request, caller, state, form.get("idempotency_key") or None)
    except ValueError as e:  # the pack's own checks (e.g. a dose in the wrong unit family), as the API answers them
        return _dose_page(request, therapy, form, {"(body)": [str(e)]}, status_code=422, message=str(e))


async def _recommend(request: Request, caller: Caller, state: PatientState, idempotency_key: str | None,
                     warnings: tuple[str, ...] = ()) -> Response:
    """POST /v1/recommendations' flow (admission, coalescer: validated, computed, persisted, audited), then its page."""
    admission: Admission = request.app.state.auth.admission
    try:
        admission.check(caller.id, 1, single=True)
        with admission.admitted(caller.id, 1, single=True):
            answer = await request.app.state.coalescer.recommend(state, caller, idempotency_key, warnings)
    except Refused as e:
        raise PageProblem(e.status, e.title, e.detail, e.headers) from None
    except InferenceUnavailable as e:
        raise PageProblem(503, "Inference unavailable", f"{e}; nothing was stored. Try again in a few seconds.") from None
    except recommendations.IdempotencyKeyReused:
        raise PageProblem(409, "Already sent", "This form was already submitted with other values; open a new one.") from None
    return RedirectResponse(f"/ui/recommendations/{answer.recommendation.recommendation_id}", status_code=303)


@router.post("/ui/fhir")
async def fhir_submit(request: Request, caller: ClinicalPage) -> Response:
    """A pasted FHIR R4 Bundle, mapped as POST /v1/fhir/recommendations maps it (dosewise.fhir), then the same flow."""
    form = await posted(request)
    therapy = _therapy(form.get("therapy"))
    text = form.get("bundle", "")
    try:
        bundle, duplicates = parse_strictly(text.encode())
    except (ValueError, RecursionError) as e:
        return _dose_page(request, therapy, form, {"bundle": [f"not valid JSON: {e}"]}, status_code=422,
                          message="The bundle is not valid JSON.")
    try:
        if duplicates:
            raise BundleError(duplicates)
        mapped = await run_in_threadpool(map_bundle, bundle, therapy)
    except BundleError as e:
        problem = problems.validation_problem(e.errors, ("body",))
        entries = [f"{x['field']}: {x['message']}" for x in problem["errors"]]
        return _dose_page(request, therapy, form, {"bundle": entries}, status_code=422, message=problem["detail"])
    return await _recommend(request, caller, mapped.state, form.get("idempotency_key") or None, mapped.warnings)


# --------------------------------------------------------------------------------------------------- recommendation
def _q_chart(rec: Recommendation) -> dict[str, Any]:
    """What the Q-value chart draws: per action its mean Q, its spread across the ensemble heads, allowed and chosen."""
    rows = (rec.explanation.q_values if rec.explanation else None) or [
        {"action": a.action, "label": a.label, "q": a.q_value, "allowed": a.allowed, "chosen": a.action == rec.action,
         "q_sd_across_heads": None} for a in rec.action_values]
    return {"actions": [r["action"] for r in rows], "labels": [r["label"] for r in rows],
            "q": [r["q"] for r in rows], "sd": [r.get("q_sd_across_heads") for r in rows],
            "allowed": [bool(r.get("allowed", True)) for r in rows], "chosen": [bool(r.get("chosen")) for r in rows]}


async def _owned(request: Request, caller: Caller, recommendation_id: uuid.UUID) -> Recommendation:
    try:
        rec = await recommendations.get(request.app.state.sessions, recommendation_id, caller_id=caller.id)
    except recommendations.RecommendationErased:
        raise PageProblem(410, "Erased", "This recommendation's clinical content was erased on the patient's request.") from None
    if rec is None:
        raise PageProblem(404, "Not found", "No such recommendation of yours (unknown, or made by another caller).")
    return rec


async def _outcome_of(request: Request, recommendation_id: uuid.UUID) -> dict[str, Any] | None:
    """The recorded outcome of a recommendation (its stored record), or None while pending."""
    async with request.app.state.sessions() as s:
        found = await OutcomeRepository(s).for_recommendation(recommendation_id)
    return None if found is None else found.payload.get("record", {"erased": True})


def _recommendation_page(request: Request, rec: Recommendation, answered: dict[str, Any] | None,
                         values: dict[str, str] | None = None, errors: dict[str, list[str]] | None = None,
                         status_code: int = 200, message: str = "") -> HTMLResponse:
    forecast = rec.explanation.forecast if rec.explanation else None
    return render(request, "recommendation.html", status_code=status_code, rec=rec, q_chart=_q_chart(rec),
                  forecast=forecast, forecast_name=observation_name(forecast["observation"]) if forecast else "",
                  answered=answered, reason_codes=outcomes.REASON_CODES, values=values or {},
                  errors=errors or {}, message=message, idempotency_key=uuid.uuid4().hex,
                  unit=rec.recommended_dose.unit)


@router.get("/ui/recommendations/{recommendation_id}")
async def recommendation_page(request: Request, recommendation_id: uuid.UUID, caller: ClinicalPage,
                              recorded: str = "") -> HTMLResponse:
    rec = await _owned(request, caller, recommendation_id)
    return _recommendation_page(request, rec, await _outcome_of(request, recommendation_id),
                                message="Recorded." if recorded else "")


@router.post("/ui/recommendations/{recommendation_id}/outcome")
async def record_outcome(request: Request, recommendation_id: uuid.UUID, caller: ClinicalPage) -> Response:
    form = await posted(request)
    rec = await _owned(request, caller, recommendation_id)
    decision = form.get("decision", "")
    regimen: Any = None  # an override gives one dose from today on: the regimen is that dose
    if decision == "accepted":
        dose: Any = {"value": rec.recommended_dose.value, "unit": rec.recommended_dose.unit}
        if rec.plan is not None:  # a hold gives 0 today and the plan's regimen after it: both are what was accepted
            regimen = {"value": rec.plan.dose_per_day.value, "unit": rec.plan.dose_per_day.unit}
        feedback: dict[str, Any] = {"decision": "accepted"}
    else:
        raw = form.get("dose_given", "").strip().replace(",", ".")
        try:
            value: float | str = float(raw)
        except ValueError:
            value = raw
        dose = {"value": value, "unit": rec.recommended_dose.unit}
        feedback = {"decision": "overridden", "reason_code": form.get("reason_code") or None,
                    "reason": form.get("reason", "").strip() or None}
    try:
        body = outcomes.OutcomeCreate.model_validate({"recommendation_id": str(recommendation_id), "dose_given": dose,
                                                      "regimen": regimen, "feedback": feedback})
    except ValidationError as e:
        problem = problems.validation_problem(e.errors(), ())
        errors = forms.field_errors(problem)
        return _recommendation_page(request, rec, None, form, errors, status_code=422, message=problem["detail"])
    key = form.get("idempotency_key") or uuid.uuid4().hex
    try:
        await outcomes.record_outcomes([body], [key], caller, request.app.state.sessions, batch=False)
    except outcomes.OutcomeError as e:
        if e.status == 422:
            return _recommendation_page(request, rec, None, form, {"(body)": [e.detail]}, status_code=422, message=e.detail)
        raise PageProblem(e.status, {409: "Already answered", 410: "Erased"}.get(e.status, "Not recorded"), e.detail) from None
    return RedirectResponse(f"/ui/patients/{rec.patient_ref}?recorded={recommendation_id}", status_code=303)


# ----------------------------------------------------------------------------------------------------------- course
@router.get("/ui/patients")
async def find_patient(request: Request, caller: ClinicalPage, ref: str = "") -> Response:
    ref = ref.strip()
    if not ref:
        return render(request, "find_patient.html", error="")
    try:
        PATIENT_REF.validate_python(ref)  # the reference rules of a PatientState
    except ValidationError as e:
        return render(request, "find_patient.html", status_code=422, error=e.errors()[0]["msg"], ref=ref)
    return RedirectResponse(f"/ui/patients/{pseudonymize(ref, request.app.state.settings.pseudonym_key)}", status_code=303)


@router.get("/ui/patients/{pseudonym}")
async def patient_course(request: Request, pseudonym: str, caller: ClinicalPage, recorded: str = "",
                         launched: str = "") -> HTMLResponse:
    async with request.app.state.sessions() as s:
        rows = await RecommendationRepository(s).course(caller.id, pseudonym)
    c = course.build(rows)
    chart = _course_chart(c)
    return render(request, "course.html", pseudonym=pseudonym, course=c, chart=chart, recorded=recorded,
                  launched=bool(launched))


def _course_chart(c: course.Course) -> dict[str, Any]:
    """The course on one time axis (ISO times): doses, measurements by kind, and each decision's recommended dose."""
    kinds = sorted({p.kind for p in c.measurements})
    return {
        "doses": [{"t": p.time.isoformat(), "y": p.value} for p in c.doses],
        "dose_unit": c.doses[0].unit if c.doses else (c.decisions[0].dose_unit if c.decisions else ""),
        "measurements": {k: {"unit": next(p.unit for p in c.measurements if p.kind == k),
                             "points": [{"t": p.time.isoformat(), "y": p.value} for p in c.measurements if p.kind == k]}
                         for k in kinds},
        "decisions": [{"t": d.time.isoformat(), "y": d.recommended_dose, "status": d.status, "label": d.action_label}
                      for d in c.decisions if not math.isnan(d.recommended_dose)],
    }


# --------------------------------------------------------------------------------------------------------- policies
@router.get("/ui/policies")
async def policies_page(request: Request, caller: AdminPage, activated: str = "") -> HTMLResponse:
    rows = [registry.public(p) for p in await registry.list_policies(request.app.state.sessions)]
    done = next((r for r in rows if r["id"] == activated), None)  # what the last action made active (never query text)
    message = f"{done['therapy']}: {done['version']} is {done['status']}." if done else ""
    async with request.app.state.sessions() as s:
        gates = {g.policy_id: g for g in await GateReportRepository(s).list()}  # oldest first: the latest per policy wins
    by_therapy = {t: [r for r in rows if r["therapy"] == t] for t in sorted({r["therapy"] for r in rows})}
    return render(request, "policies.html", by_therapy=by_therapy, gates=gates, evaluations={
        r["id"]: reports.evaluations(r) for r in rows}, algorithm=reports.algorithm, message=message,
        failed_aims=registry.failed_clinic_aims)


@router.get("/ui/policies/{policy_id}/card")
async def policy_card_page(request: Request, policy_id: str, caller: AnyPage) -> HTMLResponse:
    """One policy version's model card and its latest gate report, for any signed-in role: where a CDS Hooks card's
    ``source`` link points (a link opened from the EHR carries no API key, so it is a page, not the admin API route).
    Model cards and gate reports hold aggregate evaluation only, no patient data."""
    p = await registry.get_policy(request.app.state.sessions, policy_id)
    if p is None:
        raise PageProblem(404, "Unknown policy", "There is no policy version with this id.")
    row = registry.public(p)
    async with request.app.state.sessions() as s:
        gate = next((g for g in reversed(await GateReportRepository(s).list(p.therapy)) if g.policy_id == p.id), None)
    return render(request, "policy_card.html", policy=row, gate=gate, evaluations=reports.evaluations(row),
                  algorithm=reports.algorithm)


@router.get("/ui/performance")
async def performance_page(request: Request, caller: AnyPage) -> HTMLResponse:
    """Policy vs guideline per therapy, from each stored policy's evidence (its model card: clinic evaluations on held-out
    twin models, or a cross-validation); active first."""
    rows = [registry.public(p) for p in await registry.list_policies(request.app.state.sessions)]
    order = {"active": 0, "candidate": 1, "retired": 2, "rejected": 3, "untrained": 4}
    evaluations = [e for r in sorted(rows, key=lambda r: (r["therapy"], order.get(r["status"], 9)))
                   for e in reports.evaluations(r)]
    therapies = sorted({r["therapy"] for r in rows})
    return render(request, "performance.html", evaluations=evaluations, therapies=therapies,
                  without=[t for t in therapies if not any(e.therapy == t for e in evaluations)])


@router.post("/ui/policies/{policy_id}/activate")
async def activate_policy(request: Request, policy_id: str, caller: AdminPage) -> Response:
    await posted(request)
    try:
        p = await registry.activate(request.app.state.sessions, request.app.state.queue, policy_id, by=caller.id)
    except registry.RegistryError as e:
        raise PageProblem(e.status, "Not activated", str(e)) from None
    return RedirectResponse(f"/ui/policies?activated={p.id}", status_code=303)


@router.post("/ui/therapies/{therapy}/rollback")
async def rollback_policy(request: Request, therapy: str, caller: AdminPage) -> Response:
    await posted(request)
    if therapy not in PACKS:
        raise PageProblem(404, "Unknown therapy", f"There is no therapy {therapy!r}.")
    try:
        p = await registry.rollback(request.app.state.sessions, request.app.state.queue, therapy, by=caller.id)
    except registry.RegistryError as e:
        raise PageProblem(e.status, "Not rolled back", str(e)) from None
    return RedirectResponse(f"/ui/policies?activated={p.id}", status_code=303)


@router.get("/ui/recommendations/{recommendation_id}/forecast.svg")
async def forecast_image(request: Request, recommendation_id: uuid.UUID, caller: ClinicalPage) -> Response:
    """The forecast as the API's SVG chart (``GET /v1/recommendations/{id}/forecast.svg``), for the session's caller."""
    rec = await _owned(request, caller, recommendation_id)
    if rec.explanation is None or rec.explanation.forecast is None:
        raise PageProblem(404, "No forecast", "This recommendation carries no forecast.")
    svg = await run_in_threadpool(forecast_svg, rec.explanation.forecast, rec.action_label)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------------------------------------ EHR launch (SMART)
def _launch_problem(e: smart.LaunchError) -> PageProblem:
    return PageProblem(e.status, "EHR launch failed", e.detail)


@router.get("/ui/launch")
async def smart_launch(request: Request, iss: str = "", launch: str = "") -> Response:
    """SMART App Launch from the EHR (smart.py): discovery, then the authorization request with PKCE S256."""
    settings = request.app.state.settings
    if not settings.smart_client_id:
        raise PageProblem(404, "EHR launch is not set up", "This gateway has no SMART client id (DOSEWISE_SMART_CLIENT_ID).")
    try:
        if not launch or len(launch) > 2048:
            raise smart.LaunchError(400, "The EHR sent no launch context.")
        issuer = smart.allowed_issuer(iss, settings.smart_issuers)
        config = await smart.discover(issuer)
    except smart.LaunchError as e:
        raise _launch_problem(e) from None
    verifier, challenge = smart.pkce_pair()
    state = secrets.token_urlsafe(32)
    redirect_uri = str(request.url_for("smart_callback"))
    response = RedirectResponse(smart.authorize_url(config, client_id=settings.smart_client_id, redirect_uri=redirect_uri,
                                                    launch=launch, iss=issuer, state=state, challenge=challenge),
                                status_code=303)
    smart.set_state(request, response, settings.pseudonym_key, {"state": state, "verifier": verifier, "iss": issuer,
                                                                "token_endpoint": config.token_endpoint})
    return response


@router.get("/ui/launch/callback", name="smart_callback")
async def smart_callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    """The authorization server's answer: state checked, code exchanged with the PKCE verifier, the access token made the
    session's credential, and the launch's patient opened."""
    settings = request.app.state.settings
    try:
        launched = smart.read_state(request, settings.pseudonym_key)
        if error:
            raise smart.LaunchError(403, f"The EHR's authorization server refused the launch ({error[:100]}).")
        if not code or not hmac.compare_digest(state.encode(), str(launched["state"]).encode()):
            raise smart.LaunchError(400, "The answer of the EHR's authorization server does not match this launch.")
        tokens = await smart.exchange(launched["token_endpoint"], code=code, redirect_uri=str(request.url_for("smart_callback")),
                                      client_id=settings.smart_client_id or "", verifier=launched["verifier"])
    except smart.LaunchError as e:
        raise _launch_problem(e) from None
    token = tokens["access_token"]
    try:
        await session.credential_caller(request, token)
    except AuthProblem as e:
        raise PageProblem(e.status, "EHR launch failed",
                          f"Dosewise does not accept the EHR's access token: {e.detail}.") from None
    patient = tokens.get("patient")
    target = "/ui/dose"
    if isinstance(patient, str):
        try:
            PATIENT_REF.validate_python(patient)
        except ValidationError:
            raise PageProblem(400, "EHR launch failed", "The launch's patient id cannot be a Dosewise patient reference "
                                                        "(4–128 letters, digits, . _ : -).") from None
        target = f"/ui/patients/{pseudonymize(patient, settings.pseudonym_key)}?launched=1"
    # A page, not a redirect: this response ends a navigation that began on another site, so a SameSite=Strict cookie set
    # here is not sent on a redirect it would answer with; the page's own refresh is a same-site navigation, which sends it.
    page = render(request, "launched.html", target=target)
    session.set_session(page, request, token)
    page.delete_cookie(smart.STATE_COOKIE, path=smart.STATE_COOKIE_PATH)
    return page
