"""Held-out twin: the Dalla Man 2007 meal model with its type 2 diabetes parameters, on once-daily insulin glargine.

Why this model: it is a published T2D glucose–insulin model that shares nothing with the training model (Aradóttir 2019 /
Kanderian, model.py) beyond "insulin lowers glucose": two glucose compartments with Michaelis–Menten insulin-dependent
uptake, a liver whose glucose output insulin suppresses through a delayed signal and portal insulin, a β-cell that still
secretes (so endogenous insulin falls as glucose falls), hepatic insulin extraction that depends on secretion, renal glucose
excretion, and three mixed meals a day. A policy trained on the training family never saw it (role "heldout").

Source — Dalla Man C, Rizza RA, Cobelli C. Meal simulation model of the glucose–insulin system. IEEE Trans Biomed Eng
2007;54:1740–9, doi:10.1109/TBME.2007.893506 (BioModels BIOMD0000000379), equations (1)–(27) as summarized below, and its
Table 1 "type 2 diabetic" column. The table's values were checked against a public transcription of it
(GitHub ``evabowe/Insulinpumpe`` ``system_parameters.py``, both columns) [secondary: not read from the paper itself]; the
set is also internally consistent (our check, ``basal_state``): with the table's kp1 and Vm0, the basal equilibrium solves to
a fasting glucose of ≈ 160 mg/dL and EGP ≈ 2.0 mg/kg/min, the ranges the paper's T2D subjects had [unverified, recalled].
The gastric-emptying model is Dalla Man, Camilleri & Cobelli, IEEE TBME 2006;53:2472 (α = 5/(2D(1 − b)), β = 5/(2D·d)).
Time in minutes, masses per kg body weight::

    Glucose      dGp/dt = EGP + Ra − Uii − E − k1·Gp + k2·Gt        G = Gp/VG                          [mg/kg]
                 dGt/dt = −Uid + k1·Gp − k2·Gt                      Uid = (Vm0 + Vmx·X)·Gt/(Km0 + Gt)
    Liver        EGP = max(0, kp1 − kp2·Gp − kp3·Id − kp4·Ipo)      dI1/dt = −ki(I1 − I), dId/dt = −ki(Id − I1)
    Insulin      dIl/dt = −(m1 + m3)·Il + m2·Ip + S                 m3 = HE·m1/(1 − HE), HE = −m5·S + m6
                 dIp/dt = −(m2 + m4)·Ip + m1·Il + Rai               I = Ip/VI                          [pmol/kg]
    Action       dX/dt = −p2U·X + p2U·(I − Ib)
    β-cell       S = γ·Ipo; dIpo/dt = −γ·Ipo + Spo; Spo = Y + K·max(dG/dt, 0) + Sb
                 dY/dt = −α(Y − β(G − Gb))   (−α·Y − α·Sb where β(G − Gb) < −Sb)
    Kidney       E = ke1·max(0, Gp − ke2)
    Gut          dQsto1/dt = −kgri·Qsto1 (+ meal D at its time), dQsto2/dt = −kempt(Qsto)·Qsto2 + kgri·Qsto1,
                 dQgut/dt = −kabs·Qgut + kempt·Qsto2, Ra = f·kabs·Qgut/BW,
                 kempt = kmin + (kmax − kmin)/2·{tanh[α(Qsto − b·D)] − tanh[β(Qsto − d·D)] + 2}

Per-patient basal values, as the paper derives them (its steady-state constraints): from the patient's basal glucose Gb,
Sb = (m6 − HEb)/m5, Ib from the insulin steady state, Gtb from the glucose balance, then Vm0 = (EGPb − Fcns − Eb)·(Km0 +
Gtb)/Gtb and kp1 = EGPb + kp2·Gpb + kp3·Ib + kp4·Ipob, with EGPb solved so the table's mean patient is an equilibrium (see
``basal_state``).

**Exogenous insulin — insulin glargine.** Rai is the plasma appearance of subcutaneous glargine, a two-compartment depot
(the structure of the UVa/Padova simulator's subcutaneous insulin, Dalla Man et al., J Diabetes Sci Technol 2014;8:26):
dose → precipitate P (dissolution k_diss) → soluble depot S (absorption k_abs) → plasma. The published glargine fits
(e.g. Faggionato et al., IEEE EMBC 2021, glargine U100 with between-subject variability) were not available to check, so the
two rates are **[unverified]**, set to the glargine label's qualitative profile: onset within 1–2 h, no pronounced peak,
duration about 24 h, terminal half-life after subcutaneous dosing ≈ 12 h (Lantus prescribing information [unverified,
recalled]): k_diss = 1/(8 h), k_abs = ln 2/(12 h). At steady state on once-daily dosing the appearance then stays within
≈ 0.72–1.17 × its daily mean (peak ≈ 8 h after the injection); a single dose is about 60 % absorbed in 24 h.
1 U of insulin = 6 nmol = 6000 pmol (the international unit of human insulin; glargine's unit is defined equipotent).

Injection at bedtime (22:00), as in Treat-to-Target (Riddle 2003: bedtime glargine) [unverified, recalled]; configurable.

**Renal function (Dosewise's rule, reused).** The paper has no eGFR. As in model.py, exogenous insulin is cleared less in
renal impairment: Rai is divided by ``renal_clearance_factor(egfr)`` (Snyder & Berns 2004 dose rule turned into a relative
clearance, model.py) — the same rule, so the held-out model agrees with the training one on the renal effect's size.

**Between-patient variability — assumptions.** Dalla Man 2007 gives the T2D *mean* only. Each patient gets: a basal glucose
Gb (log-normal, median 185 mg/dL, CV 18 %, clipped 130–320: insulin-naive patients with fasting glucose well above target,
as at basal-insulin initiation [assumption]); an insulin-sensitivity factor ``si`` (log-normal, geometric SD e^0.4,
clipped 0.35–3) multiplying both Vmx (peripheral) and kp3 (hepatic) [assumption; IVGTT minimal-model SI in T2D varies at
least this much]; a β-cell factor (log-normal, geometric SD e^0.3) on K and β [assumption]; glargine absorption rates
× log-normal (geometric SD e^0.2) [assumption]. Day to day: each meal's carbohydrate × log-normal (SD 0.2) and the day's
insulin sensitivity × log-normal (SD 0.1) [assumptions]. ``hidden["si"]`` is the patient's factor, for sensitivity tertiles.

Meals (mixed, as the paper's daily-life simulation: breakfast, lunch, dinner): 45 g at 07:30, 70 g at 12:00, 70 g at
19:00 of carbohydrate [unverified, recalled sizes]. The day runs from the morning fasting reading (07:00) to the next; the
nocturnal minimum ``glucose_night_min_mg_dl`` is the lowest glucose from midnight to that next reading.

Integration: exponential-Euler steps (each state relaxes exactly towards its instantaneous target over the step, the
others frozen), ``dt_minutes`` = 1 by default (fasting and nightly glucose within ≈ 0.6 % of 0.5-minute steps, 2 % at
2 minutes); the fast insulin states (rates up to ~1.4 /min) stay stable at any step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dosewise.therapies.base import FloatArray
from dosewise.therapies.insulin_t2d.cohort import sample_cohort
from dosewise.therapies.insulin_t2d.model import renal_clearance_factor
from dosewise.units import GLUCOSE_MG_DL_PER_MMOL_L

# --- Dalla Man 2007, Table 1, type 2 diabetic column [secondary, module docstring] ----------------------------------------
VG, K1, K2 = 1.49, 0.042, 0.071  # dL/kg, 1/min, 1/min
VI, M1, M2, M4, M5, M6, HEB = 0.04, 0.379, 0.673, 0.269, 0.0526, 0.8118, 0.6  # L/kg, 1/min ×3, min·kg/pmol, –, –
KMAX, KMIN, KABS_GUT, KGRI, F_ABS, B_EMPT, D_EMPT = 0.0465, 0.0076, 0.023, 0.0465, 0.90, 0.68, 0.09  # 1/min ×4, –, –, –
KP1_TABLE, KP2, KP3, KP4, KI = 3.09, 0.0007, 0.005, 0.0786, 0.0066  # mg/kg/min, 1/min, per pmol/L, per pmol/kg, 1/min
FCNS, VM0_TABLE, VMX, KM0 = 1.0, 4.65, 0.034, 466.21  # mg/kg/min, mg/kg/min, mg/kg/min per pmol/L, mg/kg
P2U, K_SEC, ALPHA_SEC, BETA_SEC, GAMMA_SEC = 0.084, 0.99, 0.013, 0.05, 0.5  # 1/min, pmol/kg per mg/dL, 1/min, –, 1/min
KE1, KE2 = 0.0007, 269.0  # 1/min, mg/kg

PMOL_PER_U = 6000.0  # 1 U insulin = 6 nmol
MG_DL_PER_MMOL_L = GLUCOSE_MG_DL_PER_MMOL_L

# --- glargine depot [unverified, module docstring] ------------------------------------------------------------------------
GLARGINE_K_DISS_PER_MIN = 1.0 / 480.0  # precipitate dissolution, 1/(8 h)
GLARGINE_K_ABS_PER_MIN = np.log(2.0) / 720.0  # absorption, half-life 12 h

MEALS: tuple[tuple[float, float], ...] = ((0.5, 45.0), (5.0, 70.0), (12.0, 70.0))  # (hours after 07:00, g carbohydrate)
READING_CLOCK_H = 7.0  # the morning fasting reading; the simulated day starts here
INJECTION_CLOCK_H = 22.0  # bedtime glargine
NIGHT_START_CLOCK_H = 24.0  # midnight


@dataclass(frozen=True)
class DallaManConfig:
    """Population and simulation knobs (all assumptions except the paper's means, see the module docstring)."""

    gb_median_mg_dl: float = 185.0
    gb_cv: float = 0.18
    gb_range_mg_dl: tuple[float, float] = (130.0, 320.0)
    si_log_sd: float = 0.4
    si_range: tuple[float, float] = (0.35, 3.0)
    beta_cell_log_sd: float = 0.3
    glargine_log_sd: float = 0.2
    meal_log_sd: float = 0.2  # day to day, per meal
    si_day_log_sd: float = 0.1  # day to day
    injection_clock_h: float = INJECTION_CLOCK_H
    dt_minutes: float = 1.0
    warmup_days: int = 3  # untreated days with meals before day 0, so day 0's reading is a post-meal-day fasting value


def _sec_steady(sb: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Basal insulin steady state from basal secretion Sb: (Ilb, Ipb, Ipob) in pmol/kg (HE = HEb at S = Sb)."""
    m3 = HEB * M1 / (1.0 - HEB)
    il = sb / (M1 + m3 - M1 * M2 / (M2 + M4))
    ip = M1 * il / (M2 + M4)
    return il, ip, sb / GAMMA_SEC


SB = (M6 - HEB) / M5  # pmol/kg/min, the paper's eq. for basal secretion
_ILB, _IPB, _IPOB = _sec_steady(np.asarray(SB))
IB = float(_IPB / VI)  # pmol/L


def _renal_excretion(gp: FloatArray) -> FloatArray:
    return KE1 * np.maximum(gp - KE2, 0.0)


def _egpb_of_table() -> float:
    """EGPb that makes the table's mean patient (kp1 = 3.09, Vm0 = 4.65) a basal equilibrium: solve for Gpb by bisection
    on the Gt balance, then EGPb = kp1 − kp2·Gpb − kp3·Ib − kp4·Ipob."""
    lo, hi = 50.0, 600.0  # mg/kg
    for _ in range(200):
        gpb = 0.5 * (lo + hi)
        egpb = KP1_TABLE - KP2 * gpb - KP3 * IB - KP4 * float(_IPOB)
        uidb = egpb - FCNS - float(_renal_excretion(np.asarray(gpb)))
        gtb = (K1 * gpb - uidb) / K2
        resid = VM0_TABLE * gtb / (KM0 + gtb) - uidb  # uptake the table's Vm0 gives minus the uptake the balance needs
        lo, hi = (gpb, hi) if resid < 0 else (lo, gpb)
    return egpb


EGPB = _egpb_of_table()  # ≈ 2.0 mg/kg/min


def basal_state(gb_mg_dl: FloatArray, si: FloatArray) -> dict[str, FloatArray]:
    """Each patient's derived parameters (Vm0, kp1) and basal states from its basal glucose, as the paper's constraints."""
    gpb = gb_mg_dl * VG
    uidb = EGPB - FCNS - _renal_excretion(gpb)
    gtb = (K1 * gpb - uidb) / K2
    vm0 = uidb * (KM0 + gtb) / gtb
    kp3 = KP3 * si
    kp1 = EGPB + KP2 * gpb + kp3 * IB + KP4 * _IPOB
    return {"gpb": gpb, "gtb": gtb, "vm0": vm0, "kp1": kp1, "kp3": kp3}


def _relax(x: FloatArray, target: FloatArray, rate: FloatArray | float, dt: float) -> FloatArray:
    """Exact step of dx/dt = −rate·(x − target) with target and rate frozen."""
    return target + (x - target) * np.exp(-np.asarray(rate) * dt)


class DallaManT2DTwin:
    """N T2D patients of Dalla Man 2007 on once-daily glargine, as a ClinicTwin (``advance_day(given U)``)."""

    truth_key = "glucose_fasting_true"

    def __init__(self, n: int, seed: int, config: DallaManConfig | None = None) -> None:
        self.config = c = config or DallaManConfig()
        self.n = n
        cohort = sample_cohort(n, seed)  # the shared clinic-visible population (cohort.py); its hidden params unused
        self.covariates: dict[str, FloatArray] = {k: v.copy() for k, v in cohort.covariates.items()}
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2, 25, 1]))  # this model's stream
        gb = np.clip(c.gb_median_mg_dl * np.exp(np.sqrt(np.log1p(c.gb_cv**2)) * rng.standard_normal(n)), *c.gb_range_mg_dl)
        si = np.clip(np.exp(c.si_log_sd * rng.standard_normal(n)), *c.si_range)
        beta_f = np.exp(c.beta_cell_log_sd * rng.standard_normal(n))
        gla_f = np.exp(c.glargine_log_sd * rng.standard_normal(n))
        self._rng_day = np.random.default_rng(np.random.SeedSequence([seed, 2, 25, 2]))
        egfr = cohort.hidden["egfr_true"]
        self.hidden: dict[str, FloatArray] = {
            "si": si, "gb_mg_dl": gb, "beta_cell": beta_f, "glargine_rate": gla_f, "egfr_true": egfr,
            "clearance": renal_clearance_factor(egfr),
        }
        b = basal_state(gb, si)
        self._p = {**b, "vmx": VMX * si, "k_sec": K_SEC * beta_f, "beta_sec": BETA_SEC * beta_f,
                   "k_diss": GLARGINE_K_DISS_PER_MIN * gla_f, "k_abs": GLARGINE_K_ABS_PER_MIN * gla_f}
        z = np.zeros(n)
        self._x = {
            "gp": b["gpb"].copy(), "gt": b["gtb"].copy(), "il": np.full(n, float(_ILB)), "ip": np.full(n, float(_IPB)),
            "x": z.copy(), "i1": np.full(n, IB), "id": np.full(n, IB), "ipo": np.full(n, float(_IPOB)), "y": z.copy(),
            "qsto1": z.copy(), "qsto2": z.copy(), "qgut": z.copy(), "dep_p": z.copy(), "dep_s": z.copy(),
        }
        self._meal_dose = np.zeros(n)  # D (mg) of the meal being emptied, for kempt's α, β
        self._last_night_min = np.full(n, np.nan)
        for _ in range(c.warmup_days):
            self._run_day(np.zeros(n))

    # --- ClinicTwin -------------------------------------------------------------------------------------------------------
    def truth_now(self) -> dict[str, FloatArray]:
        return {"glucose_fasting_true": self._glucose(), "glucose_night_min_mg_dl": self._last_night_min.copy()}

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        """Give ``given`` U of glargine at the injection time of this day (07:00 → next 07:00); true values of the day."""
        dose = np.clip(np.nan_to_num(np.asarray(given, dtype=float)), 0.0, None)
        return self._run_day(dose)

    # --- model ------------------------------------------------------------------------------------------------------------
    def _glucose(self) -> FloatArray:
        return self._x["gp"] / VG

    def _run_day(self, dose_u: FloatArray) -> dict[str, FloatArray]:
        c, p, s, n = self.config, self._p, self._x, self.n
        dt = c.dt_minutes
        steps = round(24 * 60 / dt)
        bw = self.covariates["weight_kg"]
        meal_steps = {round(h * 60 / dt): g for h, g in MEALS}
        inj_step = round(((c.injection_clock_h - READING_CLOCK_H) % 24) * 60 / dt)
        night_from = round((NIGHT_START_CLOCK_H - READING_CLOCK_H) * 60 / dt)
        meal_f = np.exp(c.meal_log_sd * self._rng_day.standard_normal((len(MEALS), n)))
        si_day = np.exp(c.si_day_log_sd * self._rng_day.standard_normal(n))
        vmx, kp3 = p["vmx"] * si_day, p["kp3"] * si_day
        kp1 = p["kp1"] + (kp3 - p["kp3"]) * IB  # today's kp3 keeps the basal equilibrium (Ib) unchanged
        clearance = self.hidden["clearance"]
        g_sum, g_min, night_min = np.zeros(n), np.full(n, np.inf), np.full(n, np.inf)
        g_prev = self._glucose()
        for k in range(steps):
            if k in meal_steps:
                d_mg = meal_steps[k] * 1000.0 * meal_f[list(meal_steps).index(k)]
                s["qsto1"] = s["qsto1"] + d_mg
                self._meal_dose = d_mg
            if k == inj_step:
                s["dep_p"] = s["dep_p"] + dose_u * PMOL_PER_U / bw  # pmol/kg
            # gut
            qsto = s["qsto1"] + s["qsto2"]
            dd = np.maximum(self._meal_dose, 1.0)
            a_e, b_e = 5.0 / (2.0 * dd * (1.0 - B_EMPT)), 5.0 / (2.0 * dd * D_EMPT)
            kempt = KMIN + 0.5 * (KMAX - KMIN) * (np.tanh(a_e * (qsto - B_EMPT * dd)) - np.tanh(b_e * (qsto - D_EMPT * dd)) + 2.0)
            ra = F_ABS * KABS_GUT * s["qgut"] / bw
            q1 = s["qsto1"] * np.exp(-KGRI * dt)
            s["qsto2"] = _relax(s["qsto2"], (KGRI * s["qsto1"]) / kempt, kempt, dt)
            s["qgut"] = _relax(s["qgut"], kempt * s["qsto2"] / KABS_GUT, KABS_GUT, dt)
            s["qsto1"] = q1
            # glargine depot → plasma appearance (pmol/kg/min), Dosewise renal rule on its clearance
            rai = p["k_abs"] * s["dep_s"] / clearance
            dep_p = s["dep_p"] * np.exp(-p["k_diss"] * dt)
            s["dep_s"] = _relax(s["dep_s"], p["k_diss"] * s["dep_p"] / p["k_abs"], p["k_abs"], dt)
            s["dep_p"] = dep_p
            # β-cell
            g = s["gp"] / VG
            dgdt = (g - g_prev) / dt
            g_prev = g
            spo = s["y"] + p["k_sec"] * np.maximum(dgdt, 0.0) + SB
            sec = GAMMA_SEC * s["ipo"]
            ystar = p["beta_sec"] * (g - self.hidden["gb_mg_dl"])
            s["y"] = _relax(s["y"], np.where(ystar >= -SB, ystar, -SB), ALPHA_SEC, dt)
            s["ipo"] = _relax(s["ipo"], spo / GAMMA_SEC, GAMMA_SEC, dt)
            # insulin kinetics with secretion-dependent hepatic extraction
            he = np.clip(-M5 * sec + M6, 0.0, 0.95)
            m3 = he * M1 / (1.0 - he)
            s["il"] = _relax(s["il"], (M2 * s["ip"] + sec) / (M1 + m3), M1 + m3, dt)
            s["ip"] = _relax(s["ip"], (M1 * s["il"] + rai) / (M2 + M4), M2 + M4, dt)
            ins = s["ip"] / VI
            s["x"] = _relax(s["x"], ins - IB, P2U, dt)
            s["id"] = _relax(s["id"], s["i1"], KI, dt)
            s["i1"] = _relax(s["i1"], ins, KI, dt)
            # glucose
            egp = np.maximum(kp1 - KP2 * s["gp"] - kp3 * s["id"] - KP4 * s["ipo"], 0.0)
            vm = np.maximum(p["vm0"] + vmx * s["x"], 0.0)
            uid_rate = vm / (KM0 + s["gt"])  # Uid = uid_rate·Gt
            e_rate = np.where(s["gp"] > KE2, KE1, 0.0)  # E = ke1·(Gp − ke2) above the threshold
            gp_in = egp + ra - FCNS + e_rate * KE2 + K2 * s["gt"]
            gp_rate = K1 + e_rate
            gt_new = _relax(s["gt"], K1 * s["gp"] / (K2 + uid_rate), K2 + uid_rate, dt)
            s["gp"] = np.maximum(_relax(s["gp"], gp_in / gp_rate, gp_rate, dt), 1.0)
            s["gt"] = gt_new
            g = s["gp"] / VG
            g_sum += g
            np.minimum(g_min, g, out=g_min)
            if k >= night_from:
                np.minimum(night_min, g, out=night_min)
        self._last_night_min = night_min
        return {
            "glucose_fasting_true": self._glucose(),
            "glucose_night_min_mg_dl": night_min,
            "glucose_min_24h_mg_dl": g_min,
            "glucose_mean_24h_mg_dl": g_sum / steps,
        }


def build_dallaman_t2d(n: int, seed: int) -> DallaManT2DTwin:
    """Registry builder: the held-out Dalla Man 2007 T2D twin."""
    return DallaManT2DTwin(n, seed)
