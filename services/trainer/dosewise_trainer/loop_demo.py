"""``dosewise loop demo``: the whole learning loop, driven through the real services.

Simulated clinicians look after a cohort of digital twins, one decision per day:

1. each morning they send every patient's state (covariates, doses given, lab results so far) to ``POST
   /v1/recommendations:batch`` — the serving policy explores (ε-greedy among allowed actions) and logs the probability;
2. a clinician compares the recommendation with the pack's guideline: when it moves the dose another way (up, down, not
   at all) or lands more than 1 dose unit/day away, the clinician usually overrides with the guideline's dose (saying
   why), sometimes accepts anyway;
3. the twin receives the dose actually given, and the outcome — the dose, the feedback and the next morning's lab result
   when the twin's clinic schedule measured one (warfarin: days 0–4, 7, 10, 14, then weekly; other days' outcomes carry
   no lab value and teach only through the dose) — goes to ``POST /v1/outcomes:batch``;
4. the trainer builds transitions, retrains once enough arrived, and the gate publishes or rejects the candidate — the demo
   pauses until it has decided, prints the gate's decision report, and continues with whatever inference now serves.

At the end it prints each policy version's metrics over the days it served (time in range and adverse-event days on the
twins' TRUE values, acceptance rate) and writes ``report.json`` and ``report.md``.

By default the demo starts its own stack (gateway, inference with exploration on, trainer retraining every
``--retrain-every`` outcomes) in a fresh directory: embedded SQLite unless ``DATABASE_URL``/``REDIS_URL`` are set. With
``--api`` it drives a stack you run; that stack's trainer then decides when to retrain (the demo waits for its reports).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import numpy as np
import typer

from dosewise.therapies.base import CYP2C9_GENOTYPES, RACES, VKORC1_GENOTYPES, ClinicView, TherapyPack

DECISION_HOUR = MEASURE_HOUR = 8  # the morning test is what the decision sees: taken "today" (age 0), as in the twins
DOSE_HOUR = 20  # the dose is given in the evening (UTC)
OVERRIDE_WHEN_DISAGREE = 0.7  # how often a clinician overrides a recommendation that differs from the guideline
OVERRIDE_ANYWAY = 0.02  # and how often one that agrees (clinical judgement the guideline does not capture)
DISAGREE_ABOVE = 1.0  # dose units/day between the recommended and the guideline's regimen that count as disagreement
SAME_DIRECTION_BELOW = 0.25  # dose units/day: a smaller regimen change counts as "no change" when comparing directions
WAIT_FOR_GATE_S = 900.0


# ------------------------------------------------------------------------------------------------------ patient states
def patient_states(pack: TherapyPack, view: ClinicView, refs: list[str], day: int, t0: datetime,
                   doses: np.ndarray, obs: np.ndarray) -> list[dict[str, Any]]:
    """PatientState JSON for every twin on ``day``: what a clinic would send (the twins' hidden parameters stay hidden).
    ``doses`` (n, days so far) given each evening; ``obs`` (n, days so far + 1) the primary lab value each morning."""
    c = view.covariates
    kind = pack.observation_kinds[0]
    from dosewise.schemas import OBSERVATION_KINDS
    from dosewise.units import canonical_unit

    unit = canonical_unit(OBSERVATION_KINDS[kind].quantity)
    as_of = t0 + timedelta(days=day, hours=DECISION_HOUR)
    out = []
    for i, ref in enumerate(refs):
        cyp, vk = int(c["cyp2c9"][i]), int(c["vkorc1"][i])
        # A twin's co-medication covariates as a clinic records them (the pack's, where it reads any): one drug each.
        meds = [drug for flag, drug in (("amiodarone", "amiodarone"), ("enzyme_inducer", "rifampin"))
                if flag in c and c[flag][i]]
        egfr = c["egfr_ml_min_1_73m2"][i]
        out.append({
            "therapy": pack.id, "patient_ref": ref, "age_years": round(float(c["age_years"][i]), 1),
            "sex": "female" if c["female"][i] else "male",
            "weight": {"value": round(float(c["weight_kg"][i]), 2), "unit": "kg"},
            "height": {"value": round(float(c["height_cm"][i]), 2), "unit": "cm"},
            "egfr_ml_min_1_73m2": None if np.isnan(egfr) else float(egfr),
            "race": RACES[int(c["race"][i])] if c["race"][i] >= 0 else "unknown",
            "current_dose": {"value": float(view.current_dose[i]), "unit": pack.dose_unit},
            "observations": [{"kind": kind, "value": round(float(v), 3), "unit": unit,
                              "time": (t0 + timedelta(days=k, hours=MEASURE_HOUR)).isoformat()}
                             for k, v in enumerate(obs[i]) if np.isfinite(v)],
            "doses": [{"amount": float(a), "unit": pack.dose_unit, "time": (t0 + timedelta(days=k, hours=DOSE_HOUR)).isoformat()}
                      for k, a in enumerate(doses[i])],
            "genotype": {"cyp2c9": CYP2C9_GENOTYPES[cyp] if cyp >= 0 else None,
                         "vkorc1": VKORC1_GENOTYPES[vk] if vk >= 0 else None},
            "co_medications": meds, "as_of": as_of.isoformat(),
        })
    return out


# ---------------------------------------------------------------------------------------------------------- the stack
@dataclass
class Target:
    api: str
    headers: dict[str, str]
    db_url: str
    inference: str | None = None
    stack: Any = None


def start_stack(var_dir: Path, retrain_every: int, epsilon: float, gradient_steps: int) -> Target:
    """Migrate, bootstrap, mint a clinician key, start inference (exploring), gateway and trainer on free ports."""
    import socket
    import subprocess
    import sys

    from dosewise import apikeys
    from dosewise.apikeys import Role
    from dosewise.devstack import LocalStack
    from dosewise.settings import Settings
    from dosewise.storage.db import make_engine, make_sessionmaker
    from dosewise.storage.migrate import upgrade

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    api_port, inf_port = free_port(), free_port()
    env = os.environ.copy() | {
        "DOSEWISE_VAR_DIR": str(var_dir), "DOSEWISE_API_PORT": str(api_port), "DOSEWISE_INFERENCE_PORT": str(inf_port),
        "DOSEWISE_INFERENCE_URL": f"http://127.0.0.1:{inf_port}", "DOSEWISE_POLICY_REFRESH_S": "0.5",
        "DOSEWISE_EXPLORATION": "epsilon", "DOSEWISE_EXPLORATION_EPSILON": str(epsilon),
        "DOSEWISE_RETRAIN_MIN_TRANSITIONS": str(retrain_every), "DOSEWISE_RETRAIN_INTERVAL_S": "0",
        "DOSEWISE_RETRAIN_GRADIENT_STEPS": str(gradient_steps), "DOSEWISE_RATE_LIMIT_PER_MINUTE": "1000000",
        "DOSEWISE_RATE_LIMIT_BURST": "100000", "DOSEWISE_QUEUE_PREFIX": f"demo-{uuid.uuid4().hex[:8]}:",
    }
    settings = Settings(**{k: v for k, v in env.items() if k.startswith(("DOSEWISE_", "DATABASE_URL", "REDIS_URL"))})
    env["DATABASE_URL"] = settings.db_url
    upgrade(settings.db_url)
    subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], env=env, check=True, capture_output=True)

    async def mint() -> str:
        engine = make_engine(settings)
        try:
            key = await apikeys.create(make_sessionmaker(engine), name="loop-demo-clinicians", role=Role.CLINICIAN,
                                       actor="loop-demo", actor_role="system")
            return key.token
        finally:
            await engine.dispose()

    token = asyncio.run(mint())
    stack = LocalStack(env=env, log_dir=var_dir)
    for name in ("inference", "api", "trainer"):
        stack.start(name)
    stack.wait_ready(f"http://127.0.0.1:{inf_port}/readyz")
    stack.wait_ready(f"http://127.0.0.1:{api_port}/readyz")
    return Target(api=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {token}"}, db_url=settings.db_url,
                  inference=f"http://127.0.0.1:{inf_port}", stack=stack)


async def gate_reports(db_url: str, therapy: str, after_id: int) -> list[Any]:
    from dosewise.settings import Settings
    from dosewise.storage.db import make_engine, make_sessionmaker
    from dosewise.storage.repositories import GateReportRepository

    engine = make_engine(Settings(DATABASE_URL=db_url))
    try:
        async with make_sessionmaker(engine)() as s:
            return list(await GateReportRepository(s).list(therapy, after_id))
    finally:
        await engine.dispose()


# -------------------------------------------------------------------------------------------------------------- the run
@dataclass
class Ledger:
    """Per day and patient: who served, what happened (the twins' truth, which only a simulation knows)."""

    version: list[list[str]] = field(default_factory=list)
    in_range: list[np.ndarray] = field(default_factory=list)
    adverse: list[np.ndarray] = field(default_factory=list)
    accepted: list[np.ndarray] = field(default_factory=list)
    reward: list[np.ndarray] = field(default_factory=list)
    guideline_in_range: list[np.ndarray] = field(default_factory=list)  # the counterfactual guideline arm, same twins
    guideline_adverse: list[np.ndarray] = field(default_factory=list)

    def by_version(self) -> list[dict[str, Any]]:
        """Each version's metrics over the patient-days it served, in order of first service."""
        rows: dict[str, dict[str, Any]] = {}
        for day, versions in enumerate(self.version):
            for i, v in enumerate(versions):
                r = rows.setdefault(v, {"version": v, "first_day": day, "last_day": day, "decisions": 0, "in_range": 0.0,
                                        "adverse": 0.0, "accepted": 0.0, "reward": 0.0, "g_in_range": 0.0, "g_adverse": 0.0})
                r["last_day"] = day
                r["decisions"] += 1
                r["in_range"] += float(self.in_range[day][i])
                r["adverse"] += float(self.adverse[day][i])
                r["accepted"] += float(self.accepted[day][i])
                r["reward"] += float(self.reward[day][i])
                r["g_in_range"] += float(self.guideline_in_range[day][i])
                r["g_adverse"] += float(self.guideline_adverse[day][i])
        out = []
        for r in rows.values():
            n = r["decisions"]
            out.append({"version": r["version"], "days": f"{r['first_day']}–{r['last_day']}", "decisions": n,
                        "time_in_range_pct": 100 * r["in_range"] / n, "adverse_days_per_100": 100 * r["adverse"] / n,
                        "accepted_pct": 100 * r["accepted"] / n, "mean_reward": r["reward"] / n,
                        "guideline_time_in_range_pct": 100 * r["g_in_range"] / n,
                        "guideline_adverse_days_per_100": 100 * r["g_adverse"] / n})
        return out

    def windows(self, size: int) -> list[dict[str, Any]]:
        out = []
        for start in range(0, len(self.version), size):
            days = range(start, min(start + size, len(self.version)))
            served = sorted({v for d in days for v in self.version[d]})
            out.append({"days": f"{days[0]}–{days[-1]}", "versions": served,
                        "time_in_range_pct": 100 * float(np.mean([self.in_range[d] for d in days])),
                        "adverse_days_per_100": 100 * float(np.mean([self.adverse[d] for d in days])),
                        "accepted_pct": 100 * float(np.mean([self.accepted[d] for d in days])),
                        "guideline_time_in_range_pct": 100 * float(np.mean([self.guideline_in_range[d] for d in days])),
                        "guideline_adverse_days_per_100": 100 * float(np.mean([self.guideline_adverse[d] for d in days]))})
        return out


def _direction(regimen: np.ndarray, current: np.ndarray) -> np.ndarray:
    """−1, 0 or +1: which way a new regimen moves the dose (changes under SAME_DIRECTION_BELOW count as none)."""
    change = regimen - current
    return np.where(np.abs(change) < SAME_DIRECTION_BELOW, 0, np.sign(change))


def _post(client: httpx.Client, path: str, body: dict[str, Any], attempts: int = 20) -> dict[str, Any]:
    """POST with the documented retry: 503 (and 429) carry Retry-After; anything else is a bug and stops the demo."""
    for _ in range(attempts):
        r = client.post(path, json=body)
        if r.status_code in (503, 429):
            time.sleep(float(r.headers.get("Retry-After", "1")))
            continue
        if r.status_code >= 400:
            raise RuntimeError(f"{path} → {r.status_code}: {r.text[:500]}")
        return r.json()
    raise RuntimeError(f"{path} still unavailable after {attempts} attempts")


def run_demo(pack: TherapyPack, target: Target, patients: int, days: int, seed: int, retrain_every: int,
             echo: Any = print) -> dict[str, Any]:
    """Drive ``days`` of care for ``patients`` twins through ``target``; returns the report (also echoed as it goes)."""
    from dosewise_trainer.gate import format_report

    kind = pack.observation_kinds[0]
    rng = np.random.default_rng(seed)
    cohort = pack.sample_cohort(patients, seed)
    sim = pack.simulator(cohort, seed + 1)
    view = sim.reset()
    truth_key = f"{kind}_true"
    obs = np.full((patients, days + 1), np.nan)  # the lab values the clinic measured, each morning (NaN: no test)
    obs[:, 0] = np.where(view.obs_age_days[kind][:, 0] == 0, view.obs[kind][:, 0], np.nan)
    doses = np.zeros((patients, 0))
    from dosewise.schemas import OBSERVATION_KINDS, PatientState
    from dosewise.units import canonical_unit

    unit = canonical_unit(OBSERVATION_KINDS[kind].quantity)
    run = uuid.uuid4().hex[:6]
    refs = [f"demo{seed}-{run}-{i:04d}" for i in range(patients)]
    t0 = (datetime.now(UTC) - timedelta(days=days + 2)).replace(hour=0, minute=0, second=0, microsecond=0)
    guideline = pack.guideline_policy()
    guideline.reset(patients)
    # The counterfactual: the same twins (same simulator seed) dosed by the guideline alone, day by day, for a fair
    # baseline next to each version's days (early days of therapy are harder than later ones for any policy).
    cf_sim, cf_policy = pack.simulator(cohort, seed + 1), pack.guideline_policy()
    cf_view = cf_sim.reset()
    cf_policy.reset(patients)
    ledger = Ledger()
    gates: list[dict[str, Any]] = []
    last_report = max((r.id for r in asyncio.run(gate_reports(target.db_url, pack.id, 0))), default=0)
    since_gate = 0
    echo(f"loop demo: {patients} {pack.id} twins × {days} days → {target.api}; a retrain is expected every "
         f"{retrain_every} outcomes")
    with httpx.Client(base_url=target.api, headers=target.headers, timeout=60.0) as client:
        for day in range(days):
            states = patient_states(pack, view, refs, day, t0, doses, obs[:, : day + 1])
            recs = []
            for start in range(0, patients, 1000):
                recs += _post(client, "/v1/recommendations:batch", {"patients": states[start:start + 1000]})["data"]
            # What the clinician sees is what the gateway saw: the same states, through the same ClinicView.
            clinic = ClinicView.from_states(pack, [PatientState.model_validate(s) for s in states])
            g_given, g_regimen = guideline.act(clinic)
            action_ids = [a.id for a in pack.actions]
            rec_actions = np.array([action_ids.index(r["action"]) for r in recs])
            r_given, r_regimen = pack.apply_actions(clinic.current_dose, rec_actions)
            # A clinician disagrees when the recommendation moves the dose another way than the nomogram (up, down or
            # not at all), or lands far from the nomogram's dose.
            disagree = ((_direction(r_regimen, clinic.current_dose) != _direction(g_regimen, clinic.current_dose))
                        | (np.abs(r_regimen - g_regimen) > DISAGREE_ABOVE))
            u = rng.random(patients)
            override = np.where(disagree, u < OVERRIDE_WHEN_DISAGREE, u < OVERRIDE_ANYWAY)
            given = np.where(override, g_given, r_given)
            regimen = np.where(override, g_regimen, r_regimen)
            res = sim.step(given, regimen)
            truth = np.asarray(res.info[truth_key], float)
            measured = np.asarray(res.info.get(f"{kind}_measured", np.full(patients, np.nan)), float)
            obs[:, day + 1] = measured
            doses = np.concatenate([doses, given[:, None]], axis=1)
            measured_at = (t0 + timedelta(days=day + 1, hours=MEASURE_HOUR)).isoformat()
            given_at = (t0 + timedelta(days=day, hours=DOSE_HOUR)).isoformat()
            items = []
            for i, rec in enumerate(recs):
                feedback = ({"decision": "overridden", "reason_code": "guideline",
                             "reason": "the INR nomogram calls for a different dose"} if override[i]
                            else {"decision": "accepted"})
                items.append({
                    "idempotency_key": f"demo-{run}-{day}-{i}", "recommendation_id": rec["recommendation_id"],
                    "dose_given": {"value": float(given[i]), "unit": pack.dose_unit},
                    "regimen": {"value": float(regimen[i]), "unit": pack.dose_unit}, "given_at": given_at,
                    "feedback": feedback,
                    "observations": ([{"kind": kind, "value": round(float(measured[i]), 3), "unit": unit,
                                       "time": measured_at}] if np.isfinite(measured[i]) else []),
                })
            for start in range(0, patients, 1000):
                _post(client, "/v1/outcomes:batch", {"outcomes": items[start:start + 1000]})
            low, high = pack.target_band
            ledger.version.append([r["policy"]["version"] for r in recs])
            ledger.in_range.append((truth >= low) & (truth <= high))
            ledger.adverse.append(np.asarray(res.info.get("r_a", np.zeros(patients))) > 0)
            ledger.accepted.append(~override)
            ledger.reward.append(np.asarray(res.reward, float))
            cf = cf_sim.step(*cf_policy.act(cf_view))
            cf_view, cf_truth = cf.view, np.asarray(cf.info[truth_key], float)
            ledger.guideline_in_range.append((cf_truth >= low) & (cf_truth <= high))
            ledger.guideline_adverse.append(np.asarray(cf.info.get("r_a", np.zeros(patients))) > 0)
            view = res.view
            since_gate += patients
            served = sorted(set(ledger.version[-1]))
            echo(f"day {day:3d}: served by {', '.join(served)}; in range {100 * ledger.in_range[-1].mean():5.1f} %, "
                 f"accepted {100 * (~override).mean():5.1f} %")
            if since_gate >= retrain_every and day < days - 1:
                echo(f"… {since_gate} outcomes since the last decision: waiting for the trainer's gate")
                deadline = time.monotonic() + WAIT_FOR_GATE_S
                new: list[Any] = []
                while time.monotonic() < deadline and not new:
                    time.sleep(1.0)
                    new = asyncio.run(gate_reports(target.db_url, pack.id, last_report))
                    if target.stack is not None and (dead := target.stack.exited()):
                        raise RuntimeError(f"a service exited: {dead}\n{target.stack.log_tails()}")
                if not new:
                    raise TimeoutError(f"no gate decision within {WAIT_FOR_GATE_S:g} s")
                for rep in new:
                    echo(format_report(rep.report))
                    gates.append({"day": day, "version": rep.version, "decision": rep.decision, "reasons": rep.reasons,
                                  "report": rep.report, "text": format_report(rep.report)})
                    last_report = max(last_report, rep.id)
                    if rep.decision == "published":
                        _wait_until_served(target, pack.id, rep.version)
                since_gate = 0
    outcomes, transitions = asyncio.run(_wait_for_transitions(target.db_url))
    echo(f"database: {outcomes} outcomes, {transitions} transitions (one per outcome)")
    return {"therapy": pack.id, "patients": patients, "days": days, "seed": seed, "outcomes": outcomes,
            "transitions": transitions, "by_version": ledger.by_version(), "windows": ledger.windows(10), "gates": gates}


async def _wait_for_transitions(db_url: str, timeout_s: float = 60.0) -> tuple[int, int]:
    """Let the trainer catch up with the last outcomes; (outcomes, transitions) in the database."""
    from sqlalchemy import func, select

    from dosewise.settings import Settings
    from dosewise.storage.db import make_engine, make_sessionmaker
    from dosewise.storage.models import Outcome, Transition

    engine = make_engine(Settings(DATABASE_URL=db_url))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            async with make_sessionmaker(engine)() as s:
                counts = [int((await s.execute(select(func.count()).select_from(t))).scalar_one())
                          for t in (Outcome, Transition)]
            if counts[1] >= counts[0] or time.monotonic() > deadline:
                return counts[0], counts[1]
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


def _wait_until_served(target: Target, therapy: str, version: str, timeout_s: float = 10.0) -> None:
    """Inference swaps on the "policy activated" event (or its periodic registry refresh)."""
    if target.inference is None:
        time.sleep(timeout_s / 2)
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{target.inference}/v1/policies/loaded", timeout=2).json().get(therapy, {}).get("version") == version:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def render(report: dict[str, Any]) -> str:
    lines = [f"# Learning-loop demo: {report['patients']} {report['therapy']} twins × {report['days']} days "
             f"(seed {report['seed']})", "", "## Each policy version's metrics while it served (twins' true values)", "",
             "Guideline columns: the same twins on the same days dosed by the guideline alone (counterfactual arm).", "",
             "| version | days | decisions | time in range % (guideline) | adverse days /100 (guideline) | accepted % | "
             "mean reward |", "|---|---|---|---|---|---|---|"]
    for r in report["by_version"]:
        lines.append(f"| {r['version']} | {r['days']} | {r['decisions']} | {r['time_in_range_pct']:.1f} "
                     f"({r['guideline_time_in_range_pct']:.1f}) | {r['adverse_days_per_100']:.2f} "
                     f"({r['guideline_adverse_days_per_100']:.2f}) | {r['accepted_pct']:.1f} | {r['mean_reward']:.3f} |")
    lines += ["", "## Over time (10-day windows)", "",
              "| days | served by | time in range % (guideline) | adverse days /100 (guideline) | accepted % |",
              "|---|---|---|---|---|"]
    for w in report["windows"]:
        lines.append(f"| {w['days']} | {', '.join(w['versions'])} | {w['time_in_range_pct']:.1f} "
                     f"({w['guideline_time_in_range_pct']:.1f}) | {w['adverse_days_per_100']:.2f} "
                     f"({w['guideline_adverse_days_per_100']:.2f}) | {w['accepted_pct']:.1f} |")
    lines += ["", "## Gate decisions", ""]
    for g in report["gates"]:
        lines += [f"### after day {g['day']}: {g['version']} — {g['decision']}", "", "```", g["text"], "```", ""]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``dosewise loop demo`` to the ``dosewise`` app."""
    loop_app = typer.Typer(help="The learning loop: outcomes → transitions → retraining → gate → publish.",
                           no_args_is_help=True)

    @loop_app.command("demo")
    def demo(
        therapy: Annotated[str, typer.Option(help="Therapy pack with digital twins.")] = "warfarin",
        patients: Annotated[int, typer.Option(min=1, help="Simulated patients.")] = 200,
        days: Annotated[int, typer.Option(min=1, help="Days of care (one decision per patient per day).")] = 60,
        seed: Annotated[int, typer.Option(help="Seed of the cohort, the twins and the clinicians.")] = 1,
        retrain_every: Annotated[int, typer.Option(help="Outcomes between retraining runs (own stack).")] = 3000,
        epsilon: Annotated[float, typer.Option(help="Serving exploration ε (own stack).")] = 0.1,
        gradient_steps: Annotated[int, typer.Option(help="CQL gradient steps per retraining (own stack).")] = 1500,
        api: Annotated[str | None, typer.Option(help="Drive this running gateway instead of starting a stack.")] = None,
        api_key: Annotated[str | None, typer.Option(envvar="DOSEWISE_API_KEY", help="Clinician API key for --api.")] = None,
        var_dir: Annotated[Path | None, typer.Option(help="Directory of the demo's own stack (default: a temp dir).")] = None,
        out: Annotated[Path | None, typer.Option(help="Write report.json and report.md here (default: the var dir).")] = None,
    ) -> None:
        """Simulated clinicians request recommendations, give doses (sometimes overriding), report twin outcomes; the
        trainer retrains; the gate decides; the report shows each policy version's metrics over time."""
        from dosewise.settings import get_settings
        from dosewise.therapies.registry import get_pack

        try:
            pack = get_pack(therapy)
            pack.sample_cohort(1, 0)
        except (KeyError, NotImplementedError) as e:
            raise typer.BadParameter(f"{therapy}: {e}", param_hint="--therapy") from None
        if api is not None:
            if not api_key:
                raise typer.BadParameter("--api needs a clinician key (--api-key or DOSEWISE_API_KEY)")
            target = Target(api=api.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, db_url=get_settings().db_url)
            folder = out or Path(tempfile.mkdtemp(prefix="dosewise-loop-"))
        else:
            folder = var_dir or Path(tempfile.mkdtemp(prefix="dosewise-loop-"))
            folder.mkdir(parents=True, exist_ok=True)
            typer.echo(f"starting gateway, inference (ε = {epsilon:g}) and trainer in {folder}")
            target = start_stack(folder, retrain_every, epsilon, gradient_steps)
        try:
            report = run_demo(pack, target, patients, days, seed, retrain_every, echo=typer.echo)
        finally:
            if target.stack is not None:
                target.stack.stop_all()
        dest = out or folder
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        text = render(report)
        (dest / "report.md").write_text(text + "\n")
        typer.echo("\n" + text.split("## Gate decisions")[0])
        decided = defaultdict(int)
        for g in report["gates"]:
            decided[g["decision"]] += 1
        typer.echo(f"gate: {dict(decided) or 'no decision'}; full report in {dest / 'report.md'}")

    app.add_typer(loop_app, name="loop")
