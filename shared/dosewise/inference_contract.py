"""What the gateway sends inference (POST /v1/recommend): the patients' ``ClinicView`` as one float64 matrix.

The gateway validates every ``PatientState`` once, on the way in (schemas.py), and builds the batch's ``ClinicView`` from
them (therapies/base.py): every number a policy, a guardrail, a twin or the HyperScore reads, and nothing else (no
reference, no free text). Inference receives that view, one row per patient and one column per number in the order
``ViewLayout.names`` gives, and checks it by shape, type and range in a few whole-array operations instead of validating
the states again. It still refuses what is malformed: another column layout (a gateway running another version of the
pack), a missing number where one is required, a value outside what the schemas admit, an infinity, a category code that
names nothing, or a measurement without its age.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Annotated, Any

import annotated_types
import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from dosewise.schemas import HEIGHT_CM, MAX_BATCH, OBSERVATION_KINDS, WEIGHT_KG, PatientState
from dosewise.therapies.base import (
    CYP2C9_GENOTYPES,
    DOSE_IMPLAUSIBLE_FACTOR,
    RACES,
    VKORC1_GENOTYPES,
    ClinicView,
    TherapyPack,
)

WIRE_DTYPE = np.dtype("<f8")  # little-endian float64: the view's own dtype, so numbers arrive bit for bit as computed
MAX_REPORTED = 10  # malformed cells named in one refusal


def _field_range(name: str) -> tuple[float, float]:
    """The ``ge``/``le`` bounds PatientState declares for a numeric field: the view admits exactly what the schema does."""
    low, high = -math.inf, math.inf
    for rule in PatientState.model_fields[name].metadata:
        if isinstance(rule, annotated_types.Ge):
            low = float(rule.ge)  # type: ignore[arg-type]
        elif isinstance(rule, annotated_types.Le):
            high = float(rule.le)  # type: ignore[arg-type]
    return low, high


@dataclass(frozen=True)
class Column:
    """One number of a patient's row: its name and what it may hold."""

    name: str
    low: float = 0.0
    high: float = math.inf
    missing: bool = False  # NaN allowed: unknown, or fewer measurements than the history holds
    whole: bool = False  # an integer: a category code or a 0/1 flag


# Covariates with a range or a code; every other COVARIATES entry is a 0/1 flag (therapies/base.py lists them so).
_COVARIATE_COLUMNS: dict[str, Column] = {
    "age_years": Column("age_years", *_field_range("age_years")),
    "weight_kg": Column("weight_kg", *WEIGHT_KG),
    "height_cm": Column("height_cm", *HEIGHT_CM),
    "egfr_ml_min_1_73m2": Column("egfr_ml_min_1_73m2", *_field_range("egfr_ml_min_1_73m2"), missing=True),
    "race": Column("race", -1, len(RACES) - 1, whole=True),
    "cyp2c9": Column("cyp2c9", -1, len(CYP2C9_GENOTYPES) - 1, whole=True),
    "vkorc1": Column("vkorc1", -1, len(VKORC1_GENOTYPES) - 1, whole=True),
}


class MalformedView(ValueError):
    """The view inference received is not one the gateway can have built; ``errors`` in the shape of pydantic's."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["msg"] for e in errors))
        self.errors = errors


def _error(msg: str, field: str = "data") -> dict[str, Any]:
    return {"loc": ("view", field), "msg": msg, "type": "view"}


class ViewLayout:
    """A pack's view as matrix columns: the day of therapy, the current dose, the dose history (yesterday first), each
    observation kind's last values then their ages in days, then the pack's covariates (``pack.covariate_names``)."""

    def __init__(self, pack: TherapyPack) -> None:
        self.pack = pack
        h, k = pack.dose_history_days, pack.obs_history
        columns = [Column("day"), Column("current_dose", 0.0, DOSE_IMPLAUSIBLE_FACTOR * pack.max_dose)]
        columns += [Column(f"dose_history.{j}", missing=True) for j in range(h)]
        self._obs: dict[str, tuple[slice, slice]] = {}
        for kind in pack.observation_kinds:
            spec, start = OBSERVATION_KINDS[kind], len(columns)
            columns += [Column(f"obs.{kind}.{j}", spec.low, spec.high, missing=True) for j in range(k)]
            columns += [Column(f"obs_age_days.{kind}.{j}", missing=True) for j in range(k)]
            self._obs[kind] = slice(start, start + k), slice(start + k, start + 2 * k)
        self._covariates = len(columns)
        self._covariate_names = pack.covariate_names
        columns += [_COVARIATE_COLUMNS.get(c, Column(c, 0.0, 1.0, whole=True)) for c in self._covariate_names]
        self.columns = tuple(columns)
        self.names = tuple(c.name for c in columns)
        self._history = slice(2, 2 + h)
        self._low = np.array([c.low for c in columns])
        self._high = np.array([c.high for c in columns])
        self._missing = np.array([c.missing for c in columns])
        self._whole = np.array([c.whole for c in columns])
        # Every observation column with its age's column, and every one but the last of a kind with its successor.
        self._values = np.array([j for v, _ in self._obs.values() for j in range(v.start, v.stop)], dtype=int)
        self._ages = np.array([j for _, a in self._obs.values() for j in range(a.start, a.stop)], dtype=int)
        self._before = np.array([j for v, _ in self._obs.values() for j in range(v.start, v.stop - 1)], dtype=int)

    def encode(self, view: ClinicView) -> np.ndarray:
        """(n, columns) float64, row-major."""
        parts = [view.day[:, None], view.current_dose[:, None], view.dose_history]
        for kind in self.pack.observation_kinds:
            parts += [view.obs[kind], view.obs_age_days[kind]]
        parts.append(np.column_stack([view.covariates[c] for c in self._covariate_names]))
        return np.concatenate(parts, axis=1, dtype=WIRE_DTYPE)

    def decode(self, x: np.ndarray) -> ClinicView:
        """The view of a matrix ``problems`` found nothing wrong with, its arrays laid out as ``ClinicView.from_states``
        lays them out (C-contiguous: a numpy reduction may round differently over another layout)."""
        by_column = np.ascontiguousarray(x.T, dtype=float)  # one row per column: the 1-D fields are views of it
        first = self._covariates

        def block(s: slice) -> np.ndarray:
            return np.ascontiguousarray(x[:, s], dtype=float)

        return ClinicView(
            day=by_column[0], current_dose=by_column[1], dose_history=block(self._history),
            obs={kind: block(v) for kind, (v, _) in self._obs.items()},
            obs_age_days={kind: block(a) for kind, (_, a) in self._obs.items()},
            covariates={c: by_column[first + j] for j, c in enumerate(self._covariate_names)},
        )

    def problems(self, x: np.ndarray) -> list[dict[str, Any]]:
        """What is malformed in an (n, columns) matrix (at most MAX_REPORTED cells named); empty for a view. A dozen
        whole-array operations, whatever the batch size."""
        nan = np.isnan(x)
        with np.errstate(invalid="ignore"):
            number = np.isfinite(x) & (x >= self._low) & (x <= self._high)
        whole = ~self._whole | (x == np.round(x))
        unpaired = nan[:, self._values] != nan[:, self._ages]
        gap = nan[:, self._before] & ~nan[:, self._before + 1]
        if np.where(nan, self._missing, number & whole).all() and not unpaired.any() and not gap.any():
            return []
        found: list[dict[str, Any]] = []
        reasons = [(nan & ~self._missing, "missing (NaN) where a number is required"),
                   (~nan & ~number, "outside the column's range"),
                   (~nan & number & ~whole, "not a whole number (a code or a 0/1 flag)"),
                   (_cells(unpaired, self._ages, x.shape), "a measurement without its age, or an age without its measurement"),
                   (_cells(gap, self._before + 1, x.shape), "a measurement after a missing one (padding comes last)")]
        for bad, why in reasons:
            for r, c in zip(*(a[:MAX_REPORTED - len(found)].tolist() for a in np.nonzero(bad)), strict=True):
                found.append(_error(f"patient {r}, {self.columns[c].name} = {_shown(x[r, c])}: {why} "
                                    f"({_admits(self.columns[c])})"))
        return found


def _cells(flags: np.ndarray, columns: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(n, len(columns)) flags as an (n, width) mask over the whole matrix."""
    out = np.zeros(shape, dtype=bool)
    out[:, columns] = flags
    return out


def _shown(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:g}"


def _admits(c: Column) -> str:
    kind = "an integer" if c.whole else "a number"
    span = f"≥ {c.low:g}" if math.isinf(c.high) else f"in {c.low:g}–{c.high:g}"
    return f"{kind} {span}" + (", or NaN when unknown" if c.missing else "")


_LAYOUTS: dict[str, ViewLayout] = {}


def layout(pack: TherapyPack) -> ViewLayout:
    """The pack's layout, made once."""
    found = _LAYOUTS.get(pack.id)
    if found is None or found.pack is not pack:
        found = _LAYOUTS[pack.id] = ViewLayout(pack)
    return found


def _from_base64(value: object) -> object:
    """Base64 text (the JSON form) to bytes; bytes as they are (Python callers)."""
    if isinstance(value, str):
        try:  # binascii's strict mode: the check in C (b64decode's validate=True runs a regular expression over it)
            return binascii.a2b_base64(value, strict_mode=True)
        except binascii.Error:
            raise ValueError("not base64 (RFC 4648, standard alphabet, padded)") from None
    return value


Float64Data = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(lambda b: base64.b64encode(b).decode("ascii"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64",
                    "description": "rows × len(columns) IEEE 754 float64 values, little-endian, row after row; NaN marks "
                                   "a missing value where the column allows one"}),
]


class ViewMatrix(BaseModel):
    """A batch's ClinicView: ``rows`` patients × ``columns`` numbers (the layout of the pack's ``ViewLayout``)."""

    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1, max_length=1000,
                               description="Column names in order: day, current_dose, dose_history.<j>, "
                                           "obs.<kind>.<j>, obs_age_days.<kind>.<j>, then the covariates. Must be the "
                                           "therapy's layout exactly.")
    rows: int = Field(ge=1, le=MAX_BATCH)
    data: Float64Data


class RecommendRequest(BaseModel):
    """Gateway → inference: the view of 1–1,000 patients of one therapy, built by the gateway from the PatientStates it
    validated (``as_of`` set by the gateway)."""

    model_config = ConfigDict(extra="forbid")
    therapy: str
    view: ViewMatrix
    explain: bool = Field(True, description="Full explanation per row (attributions, forecast, rationale); costly for batches.")

    @classmethod
    def of(cls, pack: TherapyPack, view: ClinicView, explain: bool) -> RecommendRequest:
        matrix = layout(pack).encode(view)
        return cls(therapy=pack.id, explain=explain,
                   view=ViewMatrix(columns=list(layout(pack).names), rows=view.n, data=matrix.tobytes()))

    def clinic_view(self, pack: TherapyPack) -> ClinicView:
        """The view, checked against ``pack``'s layout; raises ``MalformedView``."""
        shape = layout(pack)
        if tuple(self.view.columns) != shape.names:
            raise MalformedView([_error(f"the columns are not {pack.id}'s layout ({', '.join(shape.names)})", "columns")])
        width = len(shape.names)
        if len(self.view.data) != self.view.rows * width * WIRE_DTYPE.itemsize:
            raise MalformedView([_error(f"{len(self.view.data)} bytes are not {self.view.rows} rows of {width} float64")])
        x = np.frombuffer(self.view.data, dtype=WIRE_DTYPE).reshape(self.view.rows, width)
        if problems := shape.problems(x):
            raise MalformedView(problems)
        return shape.decode(x)
