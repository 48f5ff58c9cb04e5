from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.patient_state_race import PatientStateRace
from ..models.patient_state_sex import PatientStateSex
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.dose_event import DoseEvent
    from ..models.genotype import Genotype
    from ..models.measure import Measure
    from ..models.observation import Observation


T = TypeVar("T", bound="PatientState")


@_attrs_define
class PatientState:
    """Everything a dosing decision may look at, for one patient at one time. Never a name: ``patient_ref`` is
    pseudonymous.

        Attributes:
            age_years (float): Age, years.
            current_dose (Measure): A number with its unit, as EHRs send it.
            height (Measure): A number with its unit, as EHRs send it.
            patient_ref (str): Pseudonymous patient reference (no names, no MRNs); pseudonymized again before storage.
            sex (PatientStateSex): Sex assigned at birth (drives pharmacokinetic covariates).
            therapy (str): Therapy pack id (GET /v1/therapies).
            weight (Measure): A number with its unit, as EHRs send it.
            as_of (datetime.datetime | None | Unset): Decision time; default now. Observations after it are rejected.
            co_medications (list[str] | Unset): As recorded: generic or brand name in any common spelling, salt and strength
                allowed ('Amiodarone HCl 200 mg', 'Cordarone', 'amiodarona'), or an RxNorm code ('rxnorm:703'); matched on its
                letters (dosewise/medications.py). Invisible format characters are removed and control characters refused
                (dosewise/text.py). Every entry the therapy's interaction checks do not know is named in the answer's warnings.
            comorbidities (list[str] | Unset):
            doses (list[DoseEvent] | Unset): Recent doses given.
            egfr_ml_min_1_73m2 (float | None | Unset): Estimated GFR, mL/min/1.73 m² (CKD-EPI); null when unknown.
            genotype (Genotype | None | Unset):
            observations (list[Observation] | Unset): Recent lab results.
            pregnant (bool | None | Unset):
            race (PatientStateRace | Unset): Only because the IWPC dosing equation uses it. Default:
                PatientStateRace.UNKNOWN.
            therapy_started (datetime.datetime | None | Unset): When this therapy began (its first dose ever). Default: the
                first dose in `doses`, i.e. a course that began inside the record. Send it for a patient on long-term therapy
                whose record holds only recent doses: otherwise the decision treats the patient as in the record's first days of
                therapy (initiation rules, a twin started drug-naive).
    """

    age_years: float
    current_dose: Measure
    height: Measure
    patient_ref: str
    sex: PatientStateSex
    therapy: str
    weight: Measure
    as_of: datetime.datetime | None | Unset = UNSET
    co_medications: list[str] | Unset = UNSET
    comorbidities: list[str] | Unset = UNSET
    doses: list[DoseEvent] | Unset = UNSET
    egfr_ml_min_1_73m2: float | None | Unset = UNSET
    genotype: Genotype | None | Unset = UNSET
    observations: list[Observation] | Unset = UNSET
    pregnant: bool | None | Unset = UNSET
    race: PatientStateRace | Unset = PatientStateRace.UNKNOWN
    therapy_started: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.genotype import Genotype  # noqa: PLC0415

        age_years = self.age_years

        current_dose = self.current_dose.to_dict()

        height = self.height.to_dict()

        patient_ref = self.patient_ref

        sex = self.sex.value

        therapy = self.therapy

        weight = self.weight.to_dict()

        as_of: None | str | Unset
        if isinstance(self.as_of, Unset):
            as_of = UNSET
        elif isinstance(self.as_of, datetime.datetime):
            as_of = self.as_of.isoformat()
        else:
            as_of = self.as_of

        co_medications: list[str] | Unset = UNSET
        if not isinstance(self.co_medications, Unset):
            co_medications = self.co_medications

        comorbidities: list[str] | Unset = UNSET
        if not isinstance(self.comorbidities, Unset):
            comorbidities = self.comorbidities

        doses: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.doses, Unset):
            doses = []
            for doses_item_data in self.doses:
                doses_item = doses_item_data.to_dict()
                doses.append(doses_item)

        egfr_ml_min_1_73m2: float | None | Unset
        if isinstance(self.egfr_ml_min_1_73m2, Unset):
            egfr_ml_min_1_73m2 = UNSET
        else:
            egfr_ml_min_1_73m2 = self.egfr_ml_min_1_73m2

        genotype: dict[str, Any] | None | Unset
        if isinstance(self.genotype, Unset):
            genotype = UNSET
        elif isinstance(self.genotype, Genotype):
            genotype = self.genotype.to_dict()
        else:
            genotype = self.genotype

        observations: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.observations, Unset):
            observations = []
            for observations_item_data in self.observations:
                observations_item = observations_item_data.to_dict()
                observations.append(observations_item)

        pregnant: bool | None | Unset
        if isinstance(self.pregnant, Unset):
            pregnant = UNSET
        else:
            pregnant = self.pregnant

        race: str | Unset = UNSET
        if not isinstance(self.race, Unset):
            race = self.race.value

        therapy_started: None | str | Unset
        if isinstance(self.therapy_started, Unset):
            therapy_started = UNSET
        elif isinstance(self.therapy_started, datetime.datetime):
            therapy_started = self.therapy_started.isoformat()
        else:
            therapy_started = self.therapy_started

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "age_years": age_years,
                "current_dose": current_dose,
                "height": height,
                "patient_ref": patient_ref,
                "sex": sex,
                "therapy": therapy,
                "weight": weight,
            }
        )
        if as_of is not UNSET:
            field_dict["as_of"] = as_of
        if co_medications is not UNSET:
            field_dict["co_medications"] = co_medications
        if comorbidities is not UNSET:
            field_dict["comorbidities"] = comorbidities
        if doses is not UNSET:
            field_dict["doses"] = doses
        if egfr_ml_min_1_73m2 is not UNSET:
            field_dict["egfr_ml_min_1_73m2"] = egfr_ml_min_1_73m2
        if genotype is not UNSET:
            field_dict["genotype"] = genotype
        if observations is not UNSET:
            field_dict["observations"] = observations
        if pregnant is not UNSET:
            field_dict["pregnant"] = pregnant
        if race is not UNSET:
            field_dict["race"] = race
        if therapy_started is not UNSET:
            field_dict["therapy_started"] = therapy_started

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dose_event import DoseEvent  # noqa: PLC0415
        from ..models.genotype import Genotype  # noqa: PLC0415
        from ..models.measure import Measure  # noqa: PLC0415
        from ..models.observation import Observation  # noqa: PLC0415

        d = dict(src_dict)
        age_years = d.pop("age_years")

        current_dose = Measure.from_dict(d.pop("current_dose"))

        height = Measure.from_dict(d.pop("height"))

        patient_ref = d.pop("patient_ref")

        sex = PatientStateSex(d.pop("sex"))

        therapy = d.pop("therapy")

        weight = Measure.from_dict(d.pop("weight"))

        def _parse_as_of(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                as_of_type_0 = datetime.datetime.fromisoformat(data)

                return as_of_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        as_of = _parse_as_of(d.pop("as_of", UNSET))

        co_medications = cast(list[str], d.pop("co_medications", UNSET))

        comorbidities = cast(list[str], d.pop("comorbidities", UNSET))

        _doses = d.pop("doses", UNSET)
        doses: list[DoseEvent] | Unset = UNSET
        if _doses is not UNSET:
            doses = []
            for doses_item_data in _doses:
                doses_item = DoseEvent.from_dict(doses_item_data)

                doses.append(doses_item)

        def _parse_egfr_ml_min_1_73m2(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        egfr_ml_min_1_73m2 = _parse_egfr_ml_min_1_73m2(d.pop("egfr_ml_min_1_73m2", UNSET))

        def _parse_genotype(data: object) -> Genotype | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                genotype_type_0 = Genotype.from_dict(data)

                return genotype_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Genotype | None | Unset, data)

        genotype = _parse_genotype(d.pop("genotype", UNSET))

        _observations = d.pop("observations", UNSET)
        observations: list[Observation] | Unset = UNSET
        if _observations is not UNSET:
            observations = []
            for observations_item_data in _observations:
                observations_item = Observation.from_dict(observations_item_data)

                observations.append(observations_item)

        def _parse_pregnant(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        pregnant = _parse_pregnant(d.pop("pregnant", UNSET))

        _race = d.pop("race", UNSET)
        race: PatientStateRace | Unset
        if isinstance(_race, Unset):
            race = UNSET
        else:
            race = PatientStateRace(_race)

        def _parse_therapy_started(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                therapy_started_type_0 = datetime.datetime.fromisoformat(data)

                return therapy_started_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        therapy_started = _parse_therapy_started(d.pop("therapy_started", UNSET))

        patient_state = cls(
            age_years=age_years,
            current_dose=current_dose,
            height=height,
            patient_ref=patient_ref,
            sex=sex,
            therapy=therapy,
            weight=weight,
            as_of=as_of,
            co_medications=co_medications,
            comorbidities=comorbidities,
            doses=doses,
            egfr_ml_min_1_73m2=egfr_ml_min_1_73m2,
            genotype=genotype,
            observations=observations,
            pregnant=pregnant,
            race=race,
            therapy_started=therapy_started,
        )

        return patient_state
