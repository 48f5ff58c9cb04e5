"""Safety by construction (property-based): for ANY valid patient state and ANY Q-values a network could output, the
recommendation that leaves the gateway never breaks a guardrail.

The invariants below are written out independently of the rule engine (shared/dosewise/guardrails.py): they restate each
pack's documented limits on the recommended regimen itself, so a bug in the mask machinery cannot hide from them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dosewise import decision
from dosewise.medications import generics
from dosewise.schemas import PatientState
from dosewise.therapies.base import GuardrailResult
from dosewise.therapies.registry import get_pack
from dosewise_inference.scoring import masked_argmax

AS_OF = datetime(2026, 11, 23, 8, tzinfo=UTC)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# As EHRs write them: the interaction table's drugs (warfarin/interactions.py) by name, brand and code, and others.
COMEDICATIONS = ["amiodarone", "Cordarone 200 mg", "rxnorm:703", "metoprolol", "rifampin", "Rifadin", "Diflucan",
                 "Bactrim DS", "Flagyl", "Tegretol", "phenytoin sodium", "xyzzolol"]


def _series(draw: st.DrawFn, kind: str, unit: str, lo: float, hi: float) -> list[dict]:
    n = draw(st.integers(0, 6))
    minutes = sorted(draw(st.lists(st.integers(60, 40 * 24 * 60), min_size=n, max_size=n, unique=True)))
    return [{"kind": kind, "unit": unit, "value": draw(st.floats(lo, hi)), "time": AS_OF - timedelta(minutes=m)}
            for m in minutes]


def _doses(draw: st.DrawFn, unit: str, hi: float) -> list[dict]:
    """One dose a day; in some records a day may exceed the pack's maximum ``hi`` (up to 3×: a unit slip)."""
    days = draw(st.integers(0, 30))
    top = draw(st.sampled_from([hi, 3 * hi]))
    return [{"amount": draw(st.floats(0, top)), "unit": unit, "time": AS_OF - timedelta(days=d + 0.5)} for d in range(days)]


def _recent_record_max(state: PatientState, days: float = 13.0) -> float:
    """The largest dose recorded in the last ``days`` (inside the packs' 14-day dose window)."""
    return max((x.amount for x in state.doses if AS_OF - x.time < timedelta(days=days)), default=0.0)


@st.composite
def patient(draw: st.DrawFn, therapy: str) -> PatientState:
    base = {
        "therapy": therapy, "patient_ref": "prop-test-0001", "age_years": draw(st.one_of(st.floats(18, 100), st.floats(0, 18))),
        "sex": draw(st.sampled_from(["female", "male"])), "weight": {"value": draw(st.floats(35, 200)), "unit": "kg"},
        "height": {"value": draw(st.floats(140, 210)), "unit": "cm"},
        "egfr_ml_min_1_73m2": draw(st.one_of(st.none(), st.floats(5, 150))), "pregnant": draw(st.booleans()),
        "co_medications": draw(st.lists(st.sampled_from(COMEDICATIONS), max_size=2)),
        "as_of": AS_OF,
    }
    if draw(st.booleans()):  # a course older than its record (a long-term patient), up to ~3 years, after the birth
        oldest = min(1000.0, 366.0 * (base["age_years"] + 1) - 1)  # schemas: born after as_of − 366·(age + 1) days
        base["therapy_started"] = AS_OF - timedelta(days=draw(st.floats(31, oldest)))
    if therapy == "warfarin":
        base |= {"current_dose": {"value": draw(st.floats(0, 15)), "unit": "mg"},
                 "observations": _series(draw, "inr", "{INR}", 0.8, 9.0), "doses": _doses(draw, "mg", 15),
                 "genotype": draw(st.one_of(st.none(), st.just({"cyp2c9": "*1/*3", "vkorc1": "A/A"})))}
    else:
        base |= {"current_dose": {"value": draw(st.floats(0, 100)), "unit": "U"},
                 "observations": _series(draw, "glucose_fasting", "mg/dL", 40, 400), "doses": _doses(draw, "U", 100)}
    return PatientState.model_validate(base)


KEEP_OR_HOLD = {"keep", "hold2-15%", "hold2-12.5%", "hold1-10%"}  # warfarin: no automatic change but keep or a hold
q_values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=12, max_size=12)  # ≥ every pack's action count


def recommend(state: PatientState, q: list[float]) -> tuple[decision.Decision, float]:
    prep = decision.prepare([state])
    qa = np.array([q[: prep.pack.n_actions]])
    chosen = int(masked_argmax(qa, prep.guard.mask)[0])
    return decision.decide(prep, 0, chosen), float(state.current_dose.value)


def _latest(state: PatientState, kind: str) -> tuple[float | None, float | None]:
    obs = sorted((o for o in state.observations if o.kind == kind), key=lambda o: o.time)
    if not obs:
        return None, None
    return obs[-1].value, (AS_OF - obs[-1].time).total_seconds() / 86400


def _day_of_therapy(state: PatientState) -> float:
    day = max(((AS_OF - x.time).total_seconds() / 86400 for x in state.doses), default=0.0)
    if state.therapy_started is not None:
        day = max(day, (AS_OF - state.therapy_started).total_seconds() / 86400)
    return day


def _last_change(state: PatientState, current: float) -> int:
    """+1 / −1: the regimen in force came from a lower / higher one, by the latest recorded dose of the 14-day record that
    differs from it (0 and held days skipped); 0 where the record shows no other."""
    recent = sorted((x for x in state.doses if AS_OF - x.time < timedelta(days=14) and x.amount > 0
                     and abs(x.amount - current) > 1e-6), key=lambda x: x.time)
    return 0 if not recent else (1 if current > recent[-1].amount else -1)


def _is_hold(d: decision.Decision) -> bool:
    return d.hold_doses > 0 and d.given_dose == 0.0


@example(  # found by this test: a regimen of 1e-119 mg/day was kept at INR 4.0 (a tolerance of 1e-9 in the rule)
    state=PatientState.model_validate({
        "therapy": "warfarin", "patient_ref": "prop-test-0001", "age_years": 18.0, "sex": "female",
        "weight": {"value": 35.0, "unit": "kg"}, "height": {"value": 140.0, "unit": "cm"},
        "current_dose": {"value": 9.1e-119, "unit": "mg"}, "as_of": AS_OF, "doses": [],
        "observations": [{"kind": "inr", "unit": "{INR}", "value": 4.0, "time": AS_OF - timedelta(hours=1)}]}),
    q=[0.0] * 6 + [1.0] + [0.0] * 5)
@SETTINGS
@given(state=patient("warfarin"), q=q_values)
def test_warfarin_recommendations_respect_every_limit(state: PatientState, q: list[float]) -> None:
    d, current = recommend(state, q)
    change = d.regimen_dose - current
    inr, inr_age = _latest(state, "inr")
    day = _day_of_therapy(state)
    assert 0.0 <= d.regimen_dose <= 15.0 + 1e-9 and d.given_dose <= d.regimen_dose + 1e-9
    stale = (inr_age is None and day >= 7) or (inr_age is not None and inr_age > 14)
    if any("No dose change is safe" in w for w in d.warnings):  # hold and refer: only a stale INR beside a forced hold
        assert stale and (state.pregnant or (inr is not None and inr > 4.5)), "every other state keeps an allowed action"
        assert d.action_index == 0 and d.hold_doses >= 1
        return
    if d.started:  # not yet on warfarin: the IWPC start in 0.5 mg steps, or none where a clinician must decide
        assert current == 0.0 and not any(x.amount > 0 for x in state.doses if AS_OF - x.time <= timedelta(days=14))
        if state.pregnant or state.age_years < 18 or (inr is not None and inr >= 1.5):
            assert d.regimen_dose == 0.0, "no automatic start in pregnancy, for a child or on an unexplained high INR"
        else:
            assert 0.5 <= d.regimen_dose <= 15.0 and d.regimen_dose * 2 == round(d.regimen_dose * 2)
        return
    if _is_hold(d) and current > 0:
        assert d.regimen_dose < current, "a hold is followed by a lower weekly dose"
    assert change <= 2.0 + 1e-9, "increases of 2 mg/day at most"
    if inr is not None and inr > 4.5:
        assert _is_hold(d), "INR above 4.5 must hold warfarin (and then lower the dose)"
    if inr is not None and inr > 3.0:
        assert change <= 1e-9, "no increase above the INR target"
    # A supratherapeutic INR is answered: the regimen falls, unless it already fell since that INR was measured.
    if inr is not None and round(inr, 2) > 3.0 and inr_age <= 14 and current > 0 \
            and current >= _regimen_before(state, inr_age) - 1e-9:
        assert change < 0, "an INR above 3 not yet answered: the weekly dose is lowered"
    if state.pregnant:
        assert _is_hold(d), "warfarin is contraindicated in pregnancy"
    last = _last_change(state, current)
    if inr is not None and 2.0 <= round(inr, 2) <= 3.0 and inr_age <= 14 and last and not state.pregnant:
        down = change < -1e-9 or _is_hold(d)
        assert not (last > 0 and down) and not (last < 0 and change > 1e-9), "an in-range INR: the last change stands"
    meds = generics(state.co_medications)
    if meds & {"amiodarone", "fluconazole", "metronidazole", "sulfamethoxazole"}:
        assert change <= 0.5 + 1e-9, "a co-medication that raises INR: increases of 0.5 mg/day at most"
    if meds & {"rifampin", "carbamazepine", "phenytoin"} and (inr is None or inr <= 3.0):
        assert change >= -1e-9 or _is_hold(d), "an enzyme inducer, INR not above 3: no decrease"
    if day < 5:
        assert change <= 1e-9, "no increase in the first days of therapy: INR lags the dose"
    if stale:
        assert abs(change) <= 1e-9 and not _is_hold(d), "no titration without a recent INR (an old one counts from day 0)"
    if inr is None and current > 0:
        assert change <= 1e-9, "no INR on record: no increase"
    if _recent_record_max(state) > 15.0:
        assert abs(change) <= 1e-9 or _is_hold(d), "a recorded day above 15 mg: keep or hold only"
    if state.age_years < 18:
        assert abs(change) <= 1e-9 or _is_hold(d), "a child: keep or hold only (adult models)"


@st.composite
def supratherapeutic_warfarin(draw: st.DrawFn) -> PatientState:
    """Any warfarin patient (child, pregnant, co-medications, ...) put on a steady regimen whose latest INR, measured in
    the last 13 days, is above 3, with or without an earlier in-range one."""
    dose, age = draw(st.floats(0.5, 15)), draw(st.floats(0.0, 13.0))
    inrs = [{"kind": "inr", "value": draw(st.floats(3.01, 9.0)), "unit": "{INR}", "time": AS_OF - timedelta(days=age)}]
    if draw(st.booleans()):
        inrs.append({"kind": "inr", "value": 2.5, "unit": "{INR}", "time": AS_OF - timedelta(days=age + 7)})
    doses = [{"amount": dose, "unit": "mg", "time": AS_OF - timedelta(days=d + 0.5)} for d in range(draw(st.integers(0, 21)))]
    state = draw(patient("warfarin")).model_dump()
    return PatientState.model_validate(state | {"current_dose": {"value": dose, "unit": "mg"}, "observations": inrs,
                                                "doses": doses})


@SETTINGS
@given(state=supratherapeutic_warfarin(), q=q_values)
def test_a_supratherapeutic_warfarin_regimen_always_falls_whatever_the_network_prefers(
        state: PatientState, q: list[float]) -> None:
    """Issue #25's hold that never lowered: for any Q-values, an INR above 3 on the regimen in force lowers it (a hold
    then a lower dose, or a lower dose), never keeps it until the next visit."""
    d, current = recommend(state, q)
    assert d.regimen_dose < current, f"INR {_latest(state, 'inr')[0]:.2f} on {current:g} mg/day kept or raised"


def _regimen_before(state: PatientState, age_days: float) -> float:
    """The dose the patient was on when a reading ``age_days`` old was measured: the latest recorded non-zero dose before
    it within the 14-day record, else the current regimen (guardrails.regimen_at_reading, restated)."""
    cutoff = AS_OF - timedelta(days=float(np.floor(age_days)))
    before = sorted((x for x in state.doses if x.amount > 0 and x.time < cutoff and AS_OF - x.time <= timedelta(days=14)),
                    key=lambda x: x.time)
    return before[-1].amount if before else float(state.current_dose.value)


@SETTINGS
@given(state=patient("insulin_t2d"), q=q_values)
def test_insulin_recommendations_respect_every_limit(state: PatientState, q: list[float]) -> None:
    d, current = recommend(state, q)
    change = d.regimen_dose - current
    weight = state.weight.value
    assert d.action_id != "hold" and d.given_dose == d.regimen_dose, "basal insulin is reduced, never skipped"
    assert 0.0 <= d.regimen_dose <= 100.0 + 1e-9
    readings = [(o.value, (AS_OF - o.time).total_seconds() / 86400) for o in state.observations]
    week = [(g, a) for g, a in readings if a < 7]
    three = [g for g, a in week if a < 3]
    if d.started:  # not yet on insulin: the start rule, 0.1 U/kg/day at most, whole units, at least 4 U
        assert current == 0.0 and not any(x.amount > 0 for x in state.doses if AS_OF - x.time <= timedelta(days=14))
        if d.regimen_dose > 0:
            assert d.regimen_dose == round(d.regimen_dose) and 4.0 <= d.regimen_dose <= max(4.0, round(0.1 * weight))
            assert three and np.mean(three) > 100 and not any(g < 72 for g, _ in week), "a start only when needed"
            assert state.age_years >= 18 and not state.pregnant, "no automatic start for a child or in pregnancy"
        return
    assert change <= 1e-9 or d.regimen_dose <= 1.0 * weight + 1e-9, "no increase past 1 U/kg/day"
    if any(g < 72 for g, _ in week):
        assert change <= 1e-9, "Treat-to-Target: no increase after a glucose < 72 mg/dL in the last week"
    if any(g < 80 for g in three):
        assert change <= 1e-9, "no increase after a reading below the 80–130 mg/dL target in the last 3 days"
    if not three or np.mean(three) <= 100:
        assert change <= 1e-9, "no increase at a 3-day mean ≤ 100 mg/dL (Treat-to-Target, AT.LANTUS) or with none"
    unanswered = [g for g, a in week if g < 70 and current >= _regimen_before(state, a) - 1e-9]
    if unanswered and current > 0:
        assert change < 0, "a fasting glucose < 70 mg/dL not yet answered: the regimen is reduced"
        if min(unanswered) < 54:
            assert d.regimen_dose <= 0.9 * current + 1e-9, "level-2 hypoglycaemia: at least 10 % lower"
    if state.egfr_ml_min_1_73m2 is not None and state.egfr_ml_min_1_73m2 < 30:
        assert change <= 2.0 + 1e-9
    if _recent_record_max(state) > 100.0 or state.pregnant or state.age_years < 18:
        above_cap = current > min(100.0, 1.0 * weight) + 1e-9  # keeping it is not allowed either: the fallback reduces
        assert abs(change) <= 1e-9 or ((unanswered or above_cap) and change < 0), \
            "a record above 100 U, pregnancy, a child: keep, or the reduction a low (or a dose above the cap) requires"


@SETTINGS
@given(state=patient("warfarin"), bad=st.integers(0, 10))
def test_a_forbidden_choice_from_inference_never_leaves_the_gateway(state: PatientState, bad: int) -> None:
    """The gateway's final check: even if inference answers with a masked action (or one the pack does not have), the
    response holds and refers."""
    prep = decision.prepare([state])
    d = decision.decide(prep, 0, bad)
    if d.started:  # not on warfarin yet: the start rule sets the dose whatever inference chose
        assert d.action_id == "start"
    elif bad >= prep.pack.n_actions or not prep.guard.mask[0, bad]:
        assert d.action_id == prep.pack.actions[0].id and d.hold_doses >= 1 and any("refer" in w for w in d.warnings)
    else:
        assert d.action_index == bad


def test_no_safe_action_means_hold_and_refer_never_a_guess() -> None:
    from dosewise.schemas import PATIENT_STATE_EXAMPLE

    prep = decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE)])
    nothing = decision.Prepared(prep.pack, prep.view, prep.features,
                                GuardrailResult(mask=np.zeros_like(prep.guard.mask), firings=[[]]))
    chosen = int(masked_argmax(np.array([[5.0] * prep.pack.n_actions]), nothing.guard.mask)[0])
    assert chosen == -1
    d = decision.decide(nothing, 0, chosen)
    safest = prep.pack.actions[0]
    assert d.action_id == safest.id and d.given_dose == 0.0 and d.hold_doses == safest.doses_held >= 1
    assert any("refer to the clinician" in w for w in d.warnings)
    doses = "dose" if d.hold_doses == 1 else f"{d.hold_doses} doses"
    assert f"Hold: give no dose for the next {doses}, then {d.regimen_dose:g} mg/day." in d.warnings  # how long, what then


def test_a_recorded_day_above_the_maximum_allows_only_keep_or_hold_and_says_why() -> None:
    """A record of 50 mg days beside a 5 mg regimen is a unit slip or a patient the policy never saw: no automatic change."""
    from dosewise.schemas import PATIENT_STATE_EXAMPLE

    slip = PATIENT_STATE_EXAMPLE | {"doses": [d | {"amount": 50} for d in PATIENT_STATE_EXAMPLE["doses"]]}
    prep = decision.prepare([PatientState.model_validate(slip)])
    allowed = {a.id for a, ok in zip(prep.pack.actions, prep.guard.mask[0], strict=True) if ok}
    assert allowed == KEEP_OR_HOLD
    (message,) = [m for rule, m in prep.guard.firings[0] if rule == "dose_record_above_max"]
    assert "50 mg" in message and "units" in message
    clean = decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE)])
    assert "dose_record_above_max" not in [rule for rule, _ in clean.guard.firings[0]]


def test_a_child_gets_no_automatic_dose_change() -> None:
    from dosewise.schemas import PATIENT_STATE_EXAMPLE

    prep = decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"age_years": 9})])
    assert {a.id for a, ok in zip(prep.pack.actions, prep.guard.mask[0], strict=True) if ok} == KEEP_OR_HOLD
    (message,) = [m for rule, m in prep.guard.firings[0] if rule == "child"]
    assert "Age 9 years" in message and "paediatric" in message


def test_an_old_inr_allows_no_change_even_beside_a_short_dose_record() -> None:
    """An EHR that sends only the last days of doses makes a maintenance patient look like one in the first week of
    therapy; an INR from two months ago still does not support titration."""
    from dosewise.schemas import PATIENT_STATE_EXAMPLE

    old = PATIENT_STATE_EXAMPLE | {"observations": [{"kind": "inr", "value": 1.6, "unit": "{INR}",
                                                     "time": "2026-09-22T08:00:00Z"}]}
    prep = decision.prepare([PatientState.model_validate(old)])
    assert prep.view.day[0] < 7  # the record's seven daily doses: day 6.5
    assert {a.id for a, ok in zip(prep.pack.actions, prep.guard.mask[0], strict=True) if ok} == {"keep"}  # no hold: it lowers
    assert "no_recent_inr" in [rule for rule, _ in prep.guard.firings[0]]


def test_a_long_term_patient_with_no_inr_gets_no_change_even_beside_a_short_dose_record() -> None:
    """The record's week of doses alone reads as an initiation (day 6.5, no INR yet: only increases are barred); with the
    course's start sent, it is a year-old course with no INR, and no dose change is made blind."""
    from dosewise.schemas import PATIENT_STATE_EXAMPLE

    no_inr = PATIENT_STATE_EXAMPLE | {"observations": []}
    allowed = []
    for state in (no_inr, no_inr | {"therapy_started": "2025-11-23T08:00:00Z"}):
        prep = decision.prepare([PatientState.model_validate(state)])
        allowed.append({a.id for a, ok in zip(prep.pack.actions, prep.guard.mask[0], strict=True) if ok})
    assert "-10%" in allowed[0] and "+10%" not in allowed[0]
    assert allowed[1] == {"keep"}


def test_simulated_courses_never_fire_the_out_of_range_rules() -> None:
    """Twins are adults whose regimens never exceed the maximum, so these rules leave training's masks as they were: they
    only ever meet real patients."""
    rng = np.random.default_rng(0)
    for therapy in ("warfarin", "insulin_t2d"):
        pack = get_pack(therapy)
        sim = pack.simulator(pack.sample_cohort(100, seed=1), seed=1)
        view = sim.reset()
        for _ in range(40):
            guard = pack.guardrails(view)
            fired = {rule for firings in guard.firings for rule, _ in firings}
            assert not {"dose_record_above_max", "child", "no_inr_on_record"} & fired
            assert therapy == "warfarin" or "pregnancy" not in fired
            if therapy == "warfarin":  # every twin has an INR from day 0: none is stale in the first week
                stale = np.array(["no_recent_inr" in {rule for rule, _ in f} for f in guard.firings])
                assert not (stale & (view.day < 7)).any()
            chosen = np.array([rng.choice(np.flatnonzero(m)) for m in guard.mask])  # any allowed action, the largest too
            view = sim.step(*pack.apply_actions(view.current_dose, chosen)).view


def test_random_network_weights_never_break_a_guardrail(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Real untrained networks (several seeds) over a cohort of simulated clinic states: never a masked action."""
    import onnxruntime as ort

    from dosewise_trainer.export import export_untrained

    pack = get_pack("warfarin")
    cohort = pack.sample_cohort(200, seed=3)
    sim = pack.simulator(cohort, seed=3)
    views = [sim.reset()]
    guide = pack.guideline_policy()
    guide.reset(cohort.n)
    for _ in range(20):
        views.append(sim.step(*guide.act(views[-1])).view)
    for seed in range(3):
        sess = ort.InferenceSession(str(export_untrained(pack, tmp_path / str(seed), seed=seed)))
        for view in views:
            q = sess.run(["q_values"], {"features": pack.features(view)})[0]
            guard = pack.guardrails(view)
            chosen = masked_argmax(q, guard.mask)
            assert guard.mask[np.arange(view.n), chosen].all()
            inr = view.obs["inr"][:, 0]
            holds = np.array([a.kind == "hold" for a in pack.actions])
            assert holds[chosen[~np.isnan(inr) & (inr > 4.5)]].all()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states=st.lists(patient("warfarin"), min_size=1, max_size=5), data=st.data())
def test_a_batch_is_decided_exactly_as_each_patient_alone(states: list[PatientState], data: st.DataObject) -> None:
    """decide_all (the gateway's batch path) gives each row what decide gives that patient alone, forbidden and
    nothing-allowed choices included."""
    chosen = data.draw(st.lists(st.integers(-1, 12), min_size=len(states), max_size=len(states)))
    batch = decision.decide_all(decision.prepare(states), chosen)
    alone = [decision.decide(decision.prepare([s]), 0, c) for s, c in zip(states, chosen, strict=True)]
    assert batch == alone
