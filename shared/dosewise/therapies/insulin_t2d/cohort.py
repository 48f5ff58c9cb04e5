"""Virtual cohort of insulin-naive adults with type 2 diabetes and elevated fasting glucose, about to start basal insulin.

Hidden (simulator-only) parameters follow the public Aradóttir/Krishnamoorthy code (../shared/clinical.md §2 [checked];
``dinesh-krishnamoorthy/Diabetes-Model-free-Titration`` ``T2D/paper/main_50patients.m``):

| hidden key          | distribution                         | source |
|---------------------|--------------------------------------|--------|
| ``si``              | uniform 1.0–2.4 1/U                  | main_50patients.m |
| ``egp``             | uniform 350–380 mmol/L/day           | main_50patients.m |
| ``b``               | uniform 1.1–1.5                      | main_50patients.m |
| ``sigma``           | abs(2 + N(0, 1)) per patient          | main_50patients.m (``CV = abs(2 + randn)``) |
| ``adherence``       | 0.65 probability of taking each dose | clinical.md §2 / brief; see note |
| ``si_step_day``     | 60 (configurable range, per patient) | mainLS.m (``if sim_k > 60*24``) |
| ``si_step_fraction``| +30 % insulin sensitivity from then  | mainLS.m (``1.8*(1+0.3)``) |
| ``egfr_true``       | the eGFR behind the renal extension  | Dosewise extension (model.py) |
| ``clearance``       | renal_clearance_factor(egfr_true)     | Dosewise extension (model.py) |
| ``smbg_probability``| uniform 0.3–1.0: chance of a fasting reading each day | **assumption**, see note |

Note on adherence: ``mainLS.m`` draws ``round(0.35 + 0.65*rand)``, which is 1 with probability 1 − 0.15/0.65 ≈ 0.77, not the
0.65 its constants suggest. We use the intended 65 % (clinical.md §2) and make it configurable.

Note on readings (``smbg_probability``): the reference code reads fasting glucose every morning, but titration protocols ask
for fewer — Treat-to-Target (Riddle 2003) titrates weekly on the mean of 2 fasting values (≈ 0.3 readings a day), AT.LANTUS
algorithm 2 on 3-day means, INSIGHT daily (clinical.md §2). Each twin takes its morning reading with a probability drawn
uniformly from 0.3–1.0 (our assumption spanning those protocols), so the policy learns from states whose latest reading is
days old, as an EHR sends them: with a reading every day, "days since the latest reading" was 0 in every training state,
and a real patient's yesterday-morning reading put the state farther from training than any training state (novelty 0,
HyperScore pinned at its floor).

With these ranges the untreated fasting glucose spans ≈ 9.5–17 mmol/L (170–308 mg/dL, median 219): all patients start
hyperglycaemic, as in basal-insulin initiation trials (Riddle 2003 baseline fasting plasma glucose ≈ 11 mmol/L
[unverified, recalled]).

Clinic-visible covariates — **assumptions**, chosen to resemble adults starting basal insulin, not fitted to a data set:
age N(58, 10) years clipped 30–85 (Riddle 2003 Treat-to-Target: mean age 55.5 [unverified, recalled]); 45 % female;
height N(176, 7) cm men / N(162, 6.5) cm women (typical adult norms); BMI N(32, 5) kg/m² clipped 22–50 (Riddle 2003 mean BMI
≈ 32 [unverified, recalled]) → weight = BMI·height² (mean ≈ 93 kg); eGFR N(100 − 1.0·(age − 40), 22) clipped 8–130
mL/min/1.73 m² (the −1/year slope is the usual age-related decline, an assumption), which gives ≈ 18 % below 60, ≈ 1.5 %
below 30 and ≈ 0.25 % below 15 — a little above the ≈ 14 % reduced-eGFR prevalence reported for all US adults with
diabetes (NHANES 2009–2014, Afkarian et al. JAMA 2016;316:602 [unverified, recalled]), as patients starting insulin are older
with longer diabetes. eGFR is known for every patient by default (ADA recommends yearly eGFR in type 2 diabetes);
``egfr_unknown_fraction`` hides it from the clinic for a share of patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dosewise.therapies.base import COVARIATES, Cohort
from dosewise.therapies.insulin_t2d.model import renal_clearance_factor


@dataclass(frozen=True)
class CohortConfig:
    """Knobs of the cohort sampler; defaults reproduce the public reference code where it has one."""

    si_range: tuple[float, float] = (1.0, 2.4)  # 1/U, main_50patients.m
    egp_range: tuple[float, float] = (350.0, 380.0)  # mmol/L/day, main_50patients.m
    b_range: tuple[float, float] = (1.1, 1.5)  # main_50patients.m
    sigma_mean: float = 2.0  # process-noise intensity abs(N(2, 1)), main_50patients.m
    sigma_sd: float = 1.0
    adherence: float = 0.65  # probability each daily dose is taken (clinical.md §2)
    si_step_day_range: tuple[int, int] = (60, 60)  # inclusive; day the +30 % SI step starts (mainLS.m: day 60)
    si_step_fraction: float = 0.30  # mainLS.m
    female_fraction: float = 0.45  # assumption
    egfr_unknown_fraction: float = 0.0  # share of patients whose eGFR the clinic does not know
    smbg_probability_range: tuple[float, float] = (0.3, 1.0)  # assumption (module docstring): daily chance of a reading


def sample_cohort(n: int, seed: int, config: CohortConfig | None = None) -> Cohort:
    """N patients; same (n, seed, config) → same cohort. Covariates carry every key of base.COVARIATES."""
    c = config or CohortConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))  # 2: this pack's stream, distinct from other packs
    female = (rng.random(n) < c.female_fraction).astype(float)
    age = np.clip(rng.normal(58.0, 10.0, n), 30.0, 85.0)
    height = np.where(female > 0, rng.normal(162.0, 6.5, n), rng.normal(176.0, 7.0, n))
    bmi = np.clip(rng.normal(32.0, 5.0, n), 22.0, 50.0)
    weight = bmi * (height / 100.0) ** 2
    egfr = np.clip(rng.normal(100.0 - 1.0 * (age - 40.0), 22.0, n), 8.0, 130.0)
    egfr_seen = np.where(rng.random(n) < c.egfr_unknown_fraction, np.nan, egfr)
    cov = {k: np.zeros(n) for k in COVARIATES}
    cov.update(age_years=age, female=female, weight_kg=weight, height_cm=height, egfr_ml_min_1_73m2=egfr_seen)
    for k in ("race", "cyp2c9", "vkorc1"):
        cov[k] = np.full(n, -1.0)  # not recorded / not relevant for insulin
    lo, hi = c.si_step_day_range
    hidden = {
        "si": rng.uniform(*c.si_range, n),
        "egp": rng.uniform(*c.egp_range, n),
        "b": rng.uniform(*c.b_range, n),
        "sigma": np.abs(c.sigma_mean + c.sigma_sd * rng.standard_normal(n)),
        "adherence": np.full(n, c.adherence),
        "si_step_day": rng.integers(lo, hi + 1, n).astype(float),
        "si_step_fraction": np.full(n, c.si_step_fraction),
        "egfr_true": egfr,
        "clearance": renal_clearance_factor(egfr),
        "smbg_probability": rng.uniform(*c.smbg_probability_range, n),  # drawn last: the draws above are unchanged
    }
    return Cohort(covariates=cov, hidden=hidden, seed=seed)
