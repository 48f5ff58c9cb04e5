"""Warfarin hard limits, for decisions at clinic visits through the pack's percent actions. Each rule cites where it comes
from; product limits say so. "Increase" / "decrease" = an action whose regimen (after any hold) is above / below the current
one; every hold is followed by a lower regimen (pack.py), so "hold" and "lower" are never at odds: a rule that forces a
hold leaves the reduction that follows it open.

An INR above the target is *unanswered* while the regimen is not below the one the patient was on when it was measured
(guardrails.regimen_at_reading: the last dose taken before the INR; the current regimen if the record does not reach
back). Once lowered since, that INR asks for no further reduction (the next INR says whether it was enough), so one high
value is answered once, not at every visit while it is the latest.

- max_dose: no regimen above 15 mg/day unless it lowers the current one (product limit, pack.max_dose).
- max_increase: no increase above 2 mg/day in one decision (product limit; decreases are not capped: CHEST 2012 lowers
  the weekly dose by 10–20 % whatever it is).
- inr_above_4_5: latest INR > 4.5 → hold only, each hold then lowers the weekly dose (the Aurora nomogram holds at
  INR ≥ 4.0 and resumes 10–15 % lower; CHEST 2012, Holbrook et al., Chest 141:e152S, omits one or two doses for INR
  4.5–10 without bleeding and resumes at a lower dose).
- inr_above_3: latest INR > 3.0 → no increase (above the 2–3 target an increase can only raise INR further).
- high_inr_unanswered: an unanswered INR > 3.0 (the latest, at most 14 days old) on a positive regimen → the regimen must
  fall (keep forbidden): with a week between visits a kept regimen keeps the patient above range (issue #25; Aurora
  lowers 7.5–15 % above 3.0).
- pregnancy: pregnant → hold only, refer (warfarin is contraindicated in pregnancy: FDA Coumadin label 2011).
- inr_raising_comedication: takes a drug of the interaction table that raises INR (interactions.py: amiodarone,
  fluconazole, metronidazole, trimethoprim-sulfamethoxazole; CYP2C9 inhibitors rated "highly probable" by Wells 1994) →
  no increase above 0.5 mg/day per decision; decreases stay open (the label advises close INR monitoring and dose
  reduction; the 0.5 mg cap is a Dosewise product limit). The message names the drug.
- inr_lowering_comedication: takes an enzyme inducer of the table (rifampicin, carbamazepine, phenytoin: warfarin's effect
  inhibited, Wells 1994 level 1 for rifampin and carbamazepine; IWPC 2009 covariate for all three) and the latest INR is
  not above the 3.0 target's top (or there is none) → no decrease other than a hold; keeping and increases stay open. The
  inducer keeps pulling INR down (patients on rifampicin needed 3- to 7-fold doses, interactions.py), so a decrease there
  only deepens under-anticoagulation; above 3.0 a decrease is the helpful action and stays allowed. Holds stay open as
  every pack's safe fallback (guardrails.py). Dosewise product limit, from those sources.
- first_week: day < 5 of therapy → no increase (the INR lags the dose by days: Aurora's initiation keeps the start dose
  through day 4, Ravvaz 2017 as coded in ReiL; CHEST 2012 advises against early escalation on a single INR).
- no_reversal_in_range: the latest INR (at most 14 days old) is in the 2.0–3.0 target and the regimen's last change, as
  the dose record shows it, went one way → no change the other way (a hold counts as a decrease). An INR in range is no
  evidence for undoing the last change: reversing there is oscillating on assay noise (issue #25, "steady regimens";
  Aurora keeps the dose in range, Ravvaz 2017). Out of range the reversal stays open (the INR overshot: CHEST 2012);
  in pregnancy (hold only) the rule stands aside so the hold stays open. Dosewise product limit.
- dose_record_above_max: a recorded day above 15 mg → keep or hold only (product limit: outside the policy's dose range;
  often a unit slip in the record). With an unanswered high INR: hold only.
- child: age < 18 y → keep or hold only (FDA Coumadin label 2011, 8.4 Pediatric Use: optimum dosing, safety and efficacy
  in children unknown; the twins are adults, Ravvaz 2017 avatars truncated at 18 y).
- no_inr_on_record: on a regimen with no INR on record at all → no increase (product limit: never titrate up blind; the
  first week's doses are given before INRs are informative, but not titrated without any).
- no_recent_inr: the latest INR is older than 14 days, or day ≥ 7 and no INR at all → keep only (titrating without a
  recent INR is guessing, and every hold here is followed by a lower dose). An old INR counts from day 0: a short dose
  record (the EHR sent a few days) beside a 2-month-old INR was titrated as if in its first week. Where another rule then
  asks for a hold (an old INR above 4.5, pregnancy) nothing is left: the answer is hold and refer (guardrails.py), which
  is what such a patient needs.

Not a rule: Aurora's one increase per 7 days on a regimen. The guideline keeps it (guideline.py), but it is a pacing
heuristic for a nomogram that cannot see the INR's trajectory, not a limit on harm: a model-based controller may raise a
dose 3 days after a change when the INR is still at 1.4 (the first-week rule above covers the INR lag of a start).

Every state with a recent INR keeps an allowed action: the rules that forbid keeping (high_inr_unanswered) leave every
hold open, and only no_recent_inr forbids a hold; a regimen of 0 is never asked to fall.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dosewise.guardrails import (
    DOSE_RECORD_ABOVE_MAX,
    Rule,
    always,
    child_rule,
    forbid_above_unless_lower,
    forbid_all_but_hold,
    forbid_all_but_keep,
    forbid_increase,
    forbid_not_lower,
    is_hold,
    regimen_at_reading,
)
from dosewise.therapies.base import ClinicView, TherapyPack
from dosewise.therapies.clinic import previous_regimen
from dosewise.therapies.warfarin import interactions
from dosewise.therapies.warfarin.interactions import LOWERS_INR, RAISES_INR, Interaction
from dosewise.therapies.warfarin.target import INR_TARGET

HOLD_ABOVE_INR = 4.5  # issue #5; CHEST 2012 omits doses for INR 4.5–10 without bleeding
NO_INCREASE_ABOVE_INR = INR_TARGET[1]  # upper end of the 2–3 target
MAX_STEP_MG = 2.0  # product limit: the largest increase in one decision
RAISES_INR_MAX_INCREASE_MG = 0.5  # product limit: a co-medication that raises INR (amiodarone, fluconazole, ...)
INDUCER_NO_DECREASE_UP_TO_INR = NO_INCREASE_ABOVE_INR  # product limit: with an inducer, no decrease unless INR is above 3
STALE_INR_DAYS = 14.0  # product limit: INR older than this does not support a dose change
STALE_CHECK_FROM_DAY = 7.0  # with no INR at all: the first week's IWPC dose is given before INRs are informative
FIRST_WEEK_NO_INCREASE_DAYS = 5.0  # Aurora initiation keeps the start dose through day 4 (guideline.MAINTENANCE_FROM_DAY)
EPS = 1e-9


def _latest_inr(view: ClinicView) -> np.ndarray:
    return view.obs["inr"][:, 0]


def _inr_above(limit: float):  # type: ignore[no-untyped-def]
    def fires(pack: TherapyPack, view: ClinicView) -> np.ndarray:
        inr = _latest_inr(view)
        return ~np.isnan(inr) & (inr > limit)

    return fires


def _pregnant(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return view.covariates["pregnant"] > 0.5


def _takes_any(rows: tuple[Interaction, ...]):  # type: ignore[no-untyped-def]
    def fires(pack: TherapyPack, view: ClinicView) -> np.ndarray:
        return np.logical_or.reduce([view.covariates[x.id] > 0.5 for x in rows])

    return fires


def _drugs(view: ClinicView, rows: tuple[Interaction, ...], i: int, verb: str) -> str:
    """Patient i's drugs among ``rows`` and what they do: "Co-medication amiodarone (CYP2C9 inhibition) raises INR",
    "Co-medications amiodarone and fluconazole (CYP2C9 inhibition) raise INR"."""
    return _phrase(tuple(interactions.taken(view.covariates, rows, i)), verb)


@lru_cache(maxsize=256)
def _phrase(taken: tuple[Interaction, ...], verb: str) -> str:
    names = [x.name for x in taken]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    mechanisms = "; ".join(dict.fromkeys(x.mechanism for x in taken))
    plural = len(names) > 1
    return f"Co-medication{'s' if plural else ''} {listed} ({mechanisms}) {verb if plural else verb + 's'} INR"


def _inducer_and_inr_not_high(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    inr = _latest_inr(view)
    return _takes_any(LOWERS_INR)(pack, view) & (np.isnan(inr) | (inr <= INDUCER_NO_DECREASE_UP_TO_INR))


def _no_recent_inr(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    age = view.obs_age_days["inr"][:, 0]
    return np.where(np.isnan(age), view.day >= STALE_CHECK_FROM_DAY, age > STALE_INR_DAYS)


def _no_inr_on_record(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return np.isnan(_latest_inr(view)) & (view.current_dose > 0.0)


def _high_inr_unanswered(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """The latest INR, at most STALE_INR_DAYS old, above the target, and the regimen not lowered since it was measured."""
    inr, age = _latest_inr(view), view.obs_age_days["inr"][:, 0]
    high = ~np.isnan(inr) & (np.round(inr, 2) > NO_INCREASE_ABOVE_INR) & (np.nan_to_num(age, nan=np.inf) <= STALE_INR_DAYS)
    not_lowered = view.current_dose >= regimen_at_reading(view, "inr")[:, 0] - EPS
    return high & not_lowered & (view.current_dose > 0.0)


def _first_week(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return view.day < FIRST_WEEK_NO_INCREASE_DAYS


def last_change_direction(view: ClinicView) -> np.ndarray:
    """(n,) +1 / −1 where the dose record shows the regimen in force came from a lower / higher one, 0 where the record
    shows no other regimen (clinic.previous_regimen)."""
    before, found = previous_regimen(view)
    return np.where(found, np.sign(view.current_dose - before), 0.0).astype(np.int64)


def _in_range_after_a_change(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    inr, age = np.round(_latest_inr(view), 2), view.obs_age_days["inr"][:, 0]
    lo, hi = INR_TARGET
    in_range = ~np.isnan(inr) & (inr >= lo) & (inr <= hi) & (np.nan_to_num(age, nan=np.inf) <= STALE_INR_DAYS)
    return in_range & (last_change_direction(view) != 0) & ~_pregnant(pack, view)


def _forbid_reversal(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """Changes opposite to the last one; a hold is a decrease."""
    change = _change(pack, view)
    down = (change < -EPS) | is_hold(pack)[None, :]
    last = last_change_direction(view)[:, None]
    return ((last > 0) & down) | ((last < 0) & (change > EPS))


def _change(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """(n, A) proposed regimen (after any hold) − current regimen."""
    return pack.proposed_regimens(view.current_dose) - view.current_dose[:, None]


def _forbid_increase_above(limit: float):  # type: ignore[no-untyped-def]
    def f(pack: TherapyPack, view: ClinicView) -> np.ndarray:
        return _change(pack, view) > limit + EPS

    return f


def _forbid_decrease(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """A lower regimen, other than a hold (every pack's safe fallback, guardrails.py)."""
    return (_change(pack, view) < -EPS) & ~is_hold(pack)[None, :]


RULES: tuple[Rule, ...] = (
    Rule("max_dose", always, forbid_above_unless_lower(lambda p, v: np.full(v.n, p.max_dose)),
         lambda p, v, i: f"Doses above {p.max_dose:g} mg/day need the clinician's explicit decision.",
         "Dosewise product limit"),
    Rule("max_increase", always, _forbid_increase_above(MAX_STEP_MG),
         lambda p, v, i: f"Increases larger than {MAX_STEP_MG:g} mg/day in one step are not recommended automatically.",
         "Dosewise product limit"),
    Rule("inr_above_4_5", _inr_above(HOLD_ABOVE_INR), forbid_all_but_hold,
         lambda p, v, i: f"Latest INR {_latest_inr(v)[i]:.1f} is above {HOLD_ABOVE_INR:g}: hold warfarin, then resume at a "
                         "lower weekly dose; recheck INR and assess for bleeding.",
         "Aurora anticoagulation nomogram (Ravvaz 2017); Holbrook et al., CHEST 2012;141:e152S"),
    Rule("inr_above_3", _inr_above(NO_INCREASE_ABOVE_INR), forbid_increase,
         lambda p, v, i: f"Latest INR {_latest_inr(v)[i]:.1f} is above the 2–3 target: no dose increase.",
         "INR target 2.0–3.0 (CHEST 2012)"),
    Rule("high_inr_unanswered", _high_inr_unanswered, forbid_not_lower,
         lambda p, v, i: f"Latest INR {_latest_inr(v)[i]:.1f} is above the 2–3 target and the dose has not been lowered "
                         "since: lower the weekly dose (or hold, then lower).",
         "Aurora anticoagulation nomogram (Ravvaz 2017: −7.5 to −15 % above INR 3); CHEST 2012;141:e152S"),
    Rule("pregnancy", _pregnant, forbid_all_but_hold,
         lambda p, v, i: "Warfarin is contraindicated in pregnancy: hold and refer to the treating clinician.",
         "FDA Coumadin label (2011), Contraindications"),
    Rule("inr_raising_comedication", _takes_any(RAISES_INR), _forbid_increase_above(RAISES_INR_MAX_INCREASE_MG),
         lambda p, v, i: f"{_drugs(v, RAISES_INR, i, 'raise')}: increases limited to {RAISES_INR_MAX_INCREASE_MG:g} "
                         "mg/day per step; monitor INR closely.",
         "Wells et al., Ann Intern Med 1994;121:676 (level 1 interactions); FDA Coumadin label (2011), Drug "
         "interactions; step cap is a Dosewise product limit"),
    Rule("inr_lowering_comedication", _inducer_and_inr_not_high, _forbid_decrease,
         lambda p, v, i: f"{_drugs(v, LOWERS_INR, i, 'lower')}: no dose decrease while INR is not above "
                         f"{INDUCER_NO_DECREASE_UP_TO_INR:g}; larger doses than usual are often needed. Monitor INR "
                         "closely, and when it is stopped, for weeks: INR then rises.",
         "Wells et al., Ann Intern Med 1994;121:676 (level 1 interactions); IWPC, NEJM 2009;360:753 (enzyme inducers); "
         "no-decrease rule is a Dosewise product limit"),
    Rule("first_week", _first_week, forbid_increase,
         lambda p, v, i: f"Day {v.day[i]:.0f} of therapy: INR lags the dose by days; no increase before day "
                         f"{FIRST_WEEK_NO_INCREASE_DAYS:g}.",
         "Aurora nomogram initiation (Ravvaz 2017, as coded in ReiL); Holbrook et al., CHEST 2012;141:e152S"),
    Rule("no_reversal_in_range", _in_range_after_a_change, _forbid_reversal,
         lambda p, v, i: f"Latest INR {_latest_inr(v)[i]:.1f} is in the 2–3 target after a dose "
                         f"{'increase' if last_change_direction(v)[i] > 0 else 'decrease'}: keep the dose (or continue "
                         "in the same direction); do not undo the change on an in-range INR.",
         "Aurora nomogram: keep the dose in range (Ravvaz 2017); Dosewise product limit (issue #25, steady regimens)"),
    child_rule("FDA Coumadin label (2011), 8.4 Pediatric Use; adult twins (Ravvaz 2017 avatars, age ≥ 18 y)"),
    DOSE_RECORD_ABOVE_MAX,
    Rule("no_inr_on_record", _no_inr_on_record, forbid_increase,
         lambda p, v, i: "No INR on record: measure INR before increasing the dose.", "Dosewise product limit"),
    Rule("no_recent_inr", _no_recent_inr, forbid_all_but_keep,
         lambda p, v, i: f"No INR in the last {STALE_INR_DAYS:g} days: measure INR before changing the dose.",
         "Dosewise product limit"),
)
