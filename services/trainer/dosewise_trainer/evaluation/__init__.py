"""Honest evaluation of dosing policies against the pack's guideline (issue 4, "Evaluation").

- ``statistics``: per metric mean, SD, 95 % CI, Welch's two-sided t-test (plus the paired test), relative change, targets.
- ``crossval``: held-out evaluation on a cohort, and k-fold cross-validation over virtual-patient splits.
- ``subgroups``: the same comparison inside sex, age, genotype and eGFR groups; flags where the policy is worse.
- ``report``: table.md, results.json and plots. ``cli``: ``dosewise evaluate``.
"""

from dosewise_trainer.evaluation.crossval import CVResult, EvaluationResult, cross_validate, evaluate_on_cohort, fold_indices

__all__ = ["CVResult", "EvaluationResult", "cross_validate", "evaluate_on_cohort", "fold_indices"]
