"""Build the policies the repository ships (`make policies`): what a newcomer's first `make run` serves.

Per therapy: 5-fold cross-validation of the quick DQN config against the guideline (results go into the model card), the
quick-trained policy itself (seeded: the same command gives byte-identical ONNX), the training feature statistics
(``feature_stats.json``, for the novelty sub-score) and the HyperScore calibration (``hyperscore.json``). A committed
artifact is checked against its card by tests/unit/test_shipped_policies.py; `dosewise_trainer.bootstrap` registers it and
activates it only when its card's held-out comparison beats the guideline on adverse events.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from dosewise.artifacts import CARD_FILE
from dosewise.settings import get_settings
from dosewise.therapies.registry import get_pack
from dosewise_trainer.algorithms import dqn
from dosewise_trainer.calibrate_hyperscore import CalibrationArgs, calibrate, print_report
from dosewise_trainer.calibration_plot import CALIBRATION_FIGURE, plot_calibration
from dosewise_trainer.evaluation.crossval import cross_validate, dqn_trainer_fn
from dosewise_trainer.feature_stats import write_feature_stats

SHIPPED_THERAPIES = ("warfarin", "insulin_t2d")  # immune: the quick DQN does not beat its comparator yet (README)
CV_SEED = 7
CV_PATIENTS = 1000
CV_DAYS = 90


def ship(therapy: str, root: Path, seed: int = 1, cv_folds: int = 5) -> Path:
    pack = get_pack(therapy)
    out = root / therapy / f"dqn-quick-seed{seed}"
    if out.exists():
        shutil.rmtree(out)
    cv_summary = None
    if cv_folds:
        cv = cross_validate(pack, CV_PATIENTS, CV_DAYS, CV_SEED, dqn_trainer_fn("quick"), folds=cv_folds)
        cv_summary = cv.card_summary()
        print(f"{therapy}: {cv_folds}-fold CV — targets met in every fold and pooled: {cv.targets_met}")
    dqn.train(dqn.Args.quick(therapy, seed=seed, out_dir=str(out), progress=True), pack=pack)
    card_path = out / CARD_FILE
    card = json.loads(card_path.read_text())
    card["cross_validation"] = cv_summary  # the ONNX bytes (and their sha256) are unchanged by this
    card_path.write_text(json.dumps(card, indent=2, default=str) + "\n")
    write_feature_stats(pack, out)
    report = calibrate(CalibrationArgs(therapy=therapy, policy=str(out)))
    print_report(report)
    plot_calibration(report, out / CALIBRATION_FIGURE)
    print(f"{therapy}: shipped {out}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--therapy", action="append", choices=list(SHIPPED_THERAPIES), help="default: all shipped therapies")
    ap.add_argument("--cv-folds", type=int, default=5, help="0 skips cross-validation")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    for therapy in a.therapy or SHIPPED_THERAPIES:
        ship(therapy, get_settings().policy_dir, a.seed, a.cv_folds)


if __name__ == "__main__":
    main()
