"""Named twin models: the published models a policy is trained on ("train") or evaluated on, never trained on ("heldout").

Each entry: name → therapy (a pack id), role, citation, and ``builder(n, seed) -> (ClinicTwin, group data)``, where the group
data are the per-patient values (n,) the pack's ``clinic_groups`` reads beyond the covariates (a model's hidden parameters,
e.g. insulin sensitivity ``si``). Evaluation (``dosewise evaluate --protocol clinic --twin-model NAME``) and training find
models here by name.

A pack's models register themselves from the module ``twin_models`` of the pack's package when it exists (imported
lazily, the first time the registry is read), with one call each::

    register("hamberg2010", "warfarin", "heldout", "Hamberg et al. 2010, Clin Pharmacol Ther 87:727", build_hamberg2010)

``simulator_builder`` makes a pack's own cohort sampler and simulator one (``clinic.SimulatorTwin``): its training model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dosewise.therapies.base import FloatArray, TherapyPack, VectorSimulator
from dosewise.therapies.clinic import ClinicTwin, SimulatorTwin

Role = Literal["train", "heldout"]
Builder = Callable[[int, int], tuple[ClinicTwin, dict[str, FloatArray]]]  # (n, seed) → (twins, group data)
ROLES: tuple[Role, ...] = ("train", "heldout")


@dataclass(frozen=True)
class TwinModel:
    name: str
    therapy: str
    role: Role
    citation: str
    builder: Builder
    description: str = ""

    def build(self, n: int, seed: int) -> tuple[ClinicTwin, dict[str, FloatArray]]:
        """``n`` twins of this model from ``seed`` and their group data."""
        return self.builder(n, seed)


_MODELS: dict[str, TwinModel] = {}
_plugins_loaded = False


def register(name: str, therapy: str, role: Role, citation: str, builder: Builder, description: str = "") -> TwinModel:
    """Add a twin model (a name registered twice must be the same model: re-importing a module is harmless)."""
    if role not in ROLES:
        raise ValueError(f"twin model {name!r}: role must be one of {ROLES}, not {role!r}")
    model = TwinModel(name, therapy, role, citation, builder, description)
    old = _MODELS.get(name)
    if old is not None and (old.therapy, old.role, old.citation) != (therapy, role, citation):
        raise ValueError(f"twin model {name!r} is already registered as a {old.role} model of {old.therapy}")
    _MODELS[name] = model
    return model


def _load_pack_modules() -> None:
    """Import every pack's ``twin_models`` module once (they register their models); a pack without one is fine."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from dosewise.therapies.registry import PACKS

    for pack in PACKS.values():
        module = f"{type(pack).__module__.rpartition('.')[0]}.twin_models"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise


def twin_models(therapy: str | None = None, role: Role | None = None) -> list[TwinModel]:
    """The registered models, optionally of one therapy and role, in registration order."""
    _load_pack_modules()
    return [m for m in _MODELS.values() if (therapy is None or m.therapy == therapy) and (role is None or m.role == role)]


def get_twin_model(name: str) -> TwinModel:
    """The model called ``name``; KeyError names the known ones."""
    _load_pack_modules()
    try:
        return _MODELS[name]
    except KeyError:
        raise KeyError(f"unknown twin model {name!r}; known: {', '.join(_MODELS)}") from None


# ------------------------------------------------------------------------------------ a pack's own simulator as a model


def simulator_builder(
    pack_id: str,
    initial_truth: Callable[[VectorSimulator], Mapping[str, FloatArray]] | None = None,
    group_data: Callable[[Mapping[str, FloatArray]], dict[str, FloatArray]] | None = None,
) -> Builder:
    """A builder of a pack's own cohort sampler and simulator as ClinicTwins (``clinic.SimulatorTwin``); the group data are
    the cohort's hidden parameters (``group_data`` adds or renames some)."""

    def build(n: int, seed: int) -> tuple[ClinicTwin, dict[str, FloatArray]]:
        from dosewise.therapies.registry import get_pack

        pack: TherapyPack = get_pack(pack_id)
        cohort = pack.sample_cohort(n, seed)
        sim_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
        twin = SimulatorTwin(pack, pack.simulator(cohort, sim_seed), cohort.covariates, initial_truth)
        hidden = {k: np.asarray(v) for k, v in cohort.hidden.items()}
        return twin, (group_data(hidden) if group_data is not None else hidden)

    return build
