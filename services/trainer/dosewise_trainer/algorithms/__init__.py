"""Learners for dosing policies on the therapy packs' digital twins.

- ``dqn``: Double DQN with an ensemble of bootstrapped Q-heads — the product's policy (exported to ONNX by ``export``).
- ``q_learning``: tabular Q-learning on a discretized clinic view — comparator.
- ``actor_critic``: A2C with masked logits — comparator.
- ``networks``: the torch modules (feature normalization from the pack baked in); ``common``: shared plumbing.

Every learner masks actions with ``pack.guardrails(view).mask`` while acting and while bootstrapping, and returns something
``dosewise.therapies.rollout`` can run: a ``q_fn`` for ``rollout.ActionPolicy`` or a ``DosingPolicy``.
"""
