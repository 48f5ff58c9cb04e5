from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from attrs import define as _attrs_define

from ..models.patient_state_warfarin_race import PatientStateWarfarinRace
from ..models.patient_state_warfarin_sex import PatientStateWarfarinSex
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.dose_event_warfarin_type_0 import DoseEventWarfarinType0
    from ..models.dose_event_warfarin_type_1 import DoseEventWarfarinType1
    from ..models.dose_event_warfarin_type_2 import DoseEventWarfarinType2
    from ..models.dose_warfarin_type_0 import DoseWarfarinType0
    from ..models.dose_warfarin_type_1 import DoseWarfarinType1
    from ..models.dose_warfarin_type_2 import DoseWarfarinType2
    from ..models.genotype import Genotype
    from ..models.height_type_0 import HeightType0
    from ..models.height_type_1 import HeightType1
    from ..models.height_type_2 import HeightType2
    from ..models.height_type_3 import HeightType3
    from ..models.observation_inr_type_0 import ObservationInrType0
    from ..models.weight_type_0 import WeightType0
    from ..models.weight_type_1 import WeightType1
    from ..models.weight_type_2 import WeightType2


T = TypeVar("T", bound="PatientStateWarfarin")


@_attrs_define
class PatientStateWarfarin:
    """
    Attributes:
        age_years (float): Age, years.
        current_dose (DoseWarfarinType0 | DoseWarfarinType1 | DoseWarfarinType2): A dose of warfarin, 0–60 mg (stored in
            mg). Units match case-insensitively, surrounding spaces ignored; listed as UCUM writes them.
        height (HeightType0 | HeightType1 | HeightType2 | HeightType3): Height, 20–250 cm (stored in cm). Units match
            case-insensitively, surrounding spaces ignored; listed as UCUM writes them.
        patient_ref (str): Pseudonymous patient reference (no names, no MRNs); pseudonymized again before storage.
        sex (PatientStateWarfarinSex): Sex assigned at birth (drives pharmacokinetic covariates).
        therapy (Literal['warfarin']): Therapy pack id (GET /v1/therapies).
        weight (WeightType0 | WeightType1 | WeightType2): Body weight, 0.3–400 kg (stored in kg). Units match case-
            insensitively, surrounding spaces ignored; listed as UCUM writes them.
        as_of (datetime.datetime | None | Unset): Decision time; default now. Observations after it are rejected.
        co_medications (list[str] | Unset): As recorded: generic or brand name in any common spelling, salt and strength
            allowed ('Amiodarone HCl 200 mg', 'Cordarone', 'amiodarona'), or an RxNorm code ('rxnorm:703'); matched on its
            letters (dosewise/medications.py). Invisible format characters are removed and control characters refused
            (dosewise/text.py). Every entry the therapy's interaction checks do not know is named in the answer's warnings.
        comorbidities (list[str] | Unset):
        doses (list[DoseEventWarfarinType0 | DoseEventWarfarinType1 | DoseEventWarfarinType2] | Unset): Recent doses
            given.
        egfr_ml_min_1_73m2 (float | None | Unset): Estimated GFR, mL/min/1.73 m² (CKD-EPI); null when unknown.
        genotype (Genotype | None | Unset):
        observations (list[ObservationInrType0] | Unset): Recent lab results.
        pregnant (bool | None | Unset):
        race (PatientStateWarfarinRace | Unset): Only because the IWPC dosing equation uses it. Default:
            PatientStateWarfarinRace.UNKNOWN.
        therapy_started (datetime.datetime | None | Unset): When this therapy began (its first dose ever). Default: the
            first dose in `doses`, i.e. a course that began inside the record. Send it for a patient on long-term therapy
            whose record holds only recent doses: otherwise the decision treats the patient as in the record's first days of
            therapy (initiation rules, a twin started drug-naive).
    """

    age_years: float
    current_dose: DoseWarfarinType0 | DoseWarfarinType1 | DoseWarfarinType2
    height: HeightType0 | HeightType1 | HeightType2 | HeightType3
    patient_ref: str
    sex: PatientStateWarfarinSex
    therapy: Literal["warfarin"]
    weight: WeightType0 | WeightType1 | WeightType2
    as_of: datetime.datetime | None | Unset = UNSET
    co_medications: list[str] | Unset = UNSET
    comorbidities: list[str] | Unset = UNSET
    doses: list[DoseEventWarfarinType0 | DoseEventWarfarinType1 | DoseEventWarfarinType2] | Unset = UNSET
    egfr_ml_min_1_73m2: float | None | Unset = UNSET
    genotype: Genotype | None | Unset = UNSET
    observations: list[ObservationInrType0] | Unset = UNSET
    pregnant: bool | None | Unset = UNSET
    race: PatientStateWarfarinRace | Unset = PatientStateWarfarinRace.UNKNOWN
    therapy_started: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.dose_event_warfarin_type_0 import DoseEventWarfarinType0  # noqa: PLC0415
        from ..models.dose_event_warfarin_type_1 import DoseEventWarfarinType1  # noqa: PLC0415
        from ..models.dose_warfarin_type_0 import DoseWarfarinType0  # noqa: PLC0415
        from ..models.dose_warfarin_type_1 import DoseWarfarinType1  # noqa: PLC0415
        from ..models.genotype import Genotype  # noqa: PLC0415
        from ..models.height_type_0 import HeightType0  # noqa: PLC0415
        from ..models.height_type_1 import HeightType1  # noqa: PLC0415
        from ..models.height_type_2 import HeightType2  # noqa: PLC0415
        from ..models.observation_inr_type_0 import ObservationInrType0  # noqa: PLC0415
        from ..models.weight_type_0 import WeightType0  # noqa: PLC0415
        from ..models.weight_type_1 import WeightType1  # noqa: PLC0415

        age_years = self.age_years

        current_dose: dict[str, Any]
        if isinstance(self.current_dose, DoseWarfarinType0):
            current_dose = self.current_dose.to_dict()
        elif isinstance(self.current_dose, DoseWarfarinType1):
            current_dose = self.current_dose.to_dict()
        else:
            current_dose = self.current_dose.to_dict()

        height: dict[str, Any]
        if isinstance(self.height, HeightType0):
            height = self.height.to_dict()
        elif isinstance(self.height, HeightType1):
            height = self.height.to_dict()
        elif isinstance(self.height, HeightType2):
            height = self.height.to_dict()
        else:
            height = self.height.to_dict()

        patient_ref = self.patient_ref

        sex = self.sex.value

        therapy = self.therapy

        weight: dict[str, Any]
        if isinstance(self.weight, WeightType0):
            weight = self.weight.to_dict()
        elif isinstance(self.weight, WeightType1):
            weight = self.weight.to_dict()
        else:
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
                doses_item: dict[str, Any]
                if isinstance(doses_item_data, DoseEventWarfarinType0):
                    doses_item = doses_item_data.to_dict()
                elif isinstance(doses_item_data, DoseEventWarfarinType1):
                    doses_item = doses_item_data.to_dict()
                else:
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
                observations_item: dict[str, Any]
                if isinstance(observations_item_data, ObservationInrType0):
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
        from ..models.dose_event_warfarin_type_0 import DoseEventWarfarinType0  # noqa: PLC0415
        from ..models.dose_event_warfarin_type_1 import DoseEventWarfarinType1  # noqa: PLC0415
        from ..models.dose_event_warfarin_type_2 import DoseEventWarfarinType2  # noqa: PLC0415
        from ..models.dose_warfarin_type_0 import DoseWarfarinType0  # noqa: PLC0415
        from ..models.dose_warfarin_type_1 import DoseWarfarinType1  # noqa: PLC0415
        from ..models.dose_warfarin_type_2 import DoseWarfarinType2  # noqa: PLC0415
        from ..models.genotype import Genotype  # noqa: PLC0415
        from ..models.height_type_0 import HeightType0  # noqa: PLC0415
        from ..models.height_type_1 import HeightType1  # noqa: PLC0415
        from ..models.height_type_2 import HeightType2  # noqa: PLC0415
        from ..models.height_type_3 import HeightType3  # noqa: PLC0415
        from ..models.observation_inr_type_0 import ObservationInrType0  # noqa: PLC0415
        from ..models.weight_type_0 import WeightType0  # noqa: PLC0415
        from ..models.weight_type_1 import WeightType1  # noqa: PLC0415
        from ..models.weight_type_2 import WeightType2  # noqa: PLC0415

        d = dict(src_dict)
        age_years = d.pop("age_years")

        def _parse_current_dose(data: object) -> DoseWarfarinType0 | DoseWarfarinType1 | DoseWarfarinType2:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_warfarin_type_0 = DoseWarfarinType0.from_dict(data)

                return componentsschemas_dose_warfarin_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_warfarin_type_1 = DoseWarfarinType1.from_dict(data)

                return componentsschemas_dose_warfarin_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_dose_warfarin_type_2 = DoseWarfarinType2.from_dict(data)

            return componentsschemas_dose_warfarin_type_2

        current_dose = _parse_current_dose(d.pop("current_dose"))

        def _parse_height(data: object) -> HeightType0 | HeightType1 | HeightType2 | HeightType3:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_height_type_0 = HeightType0.from_dict(data)

                return componentsschemas_height_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_height_type_1 = HeightType1.from_dict(data)

                return componentsschemas_height_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_height_type_2 = HeightType2.from_dict(data)

                return componentsschemas_height_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_height_type_3 = HeightType3.from_dict(data)

            return componentsschemas_height_type_3

        height = _parse_height(d.pop("height"))

        patient_ref = d.pop("patient_ref")

        sex = PatientStateWarfarinSex(d.pop("sex"))

        therapy = cast(Literal["warfarin"], d.pop("therapy"))
        if therapy != "warfarin":
            raise ValueError(f"therapy must match const 'warfarin', got '{therapy}'")

        def _parse_weight(data: object) -> WeightType0 | WeightType1 | WeightType2:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_weight_type_0 = WeightType0.from_dict(data)

                return componentsschemas_weight_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_weight_type_1 = WeightType1.from_dict(data)

                return componentsschemas_weight_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_weight_type_2 = WeightType2.from_dict(data)

            return componentsschemas_weight_type_2

        weight = _parse_weight(d.pop("weight"))

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
        doses: list[DoseEventWarfarinType0 | DoseEventWarfarinType1 | DoseEventWarfarinType2] | Unset = UNSET
        if _doses is not UNSET:
            doses = []
            for doses_item_data in _doses:

                def _parse_doses_item(
                    data: object,
                ) -> DoseEventWarfarinType0 | DoseEventWarfarinType1 | DoseEventWarfarinType2:
                    try:
                        if not isinstance(data, dict):
                            raise TypeError()
                        componentsschemas_dose_event_warfarin_type_0 = DoseEventWarfarinType0.from_dict(data)

                        return componentsschemas_dose_event_warfarin_type_0
                    except (TypeError, ValueError, AttributeError, KeyError):
                        pass
                    try:
                        if not isinstance(data, dict):
                            raise TypeError()
                        componentsschemas_dose_event_warfarin_type_1 = DoseEventWarfarinType1.from_dict(data)

                        return componentsschemas_dose_event_warfarin_type_1
                    except (TypeError, ValueError, AttributeError, KeyError):
                        pass
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_dose_event_warfarin_type_2 = DoseEventWarfarinType2.from_dict(data)

                    return componentsschemas_dose_event_warfarin_type_2

                doses_item = _parse_doses_item(doses_item_data)

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
        observations: list[ObservationInrType0] | Unset = UNSET
        if _observations is not UNSET:
            observations = []
            for observations_item_data in _observations:

                def _parse_observations_item(data: object) -> ObservationInrType0:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_observation_inr_type_0 = ObservationInrType0.from_dict(data)

                    return componentsschemas_observation_inr_type_0

                observations_item = _parse_observations_item(observations_item_data)

                observations.append(observations_item)

        def _parse_pregnant(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        pregnant = _parse_pregnant(d.pop("pregnant", UNSET))

        _race = d.pop("race", UNSET)
        race: PatientStateWarfarinRace | Unset
        if isinstance(_race, Unset):
            race = UNSET
        else:
            race = PatientStateWarfarinRace(_race)

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

        patient_state_warfarin = cls(
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

        return patient_state_warfarin
