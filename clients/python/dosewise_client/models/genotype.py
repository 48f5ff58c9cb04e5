from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.genotype_cyp_2c9_type_0 import GenotypeCyp2C9Type0
from ..models.genotype_vkorc_1_type_0 import GenotypeVkorc1Type0
from ..types import UNSET, Unset

T = TypeVar("T", bound="Genotype")


@_attrs_define
class Genotype:
    """Pharmacogenomic results relevant to dosing; ``None`` means not tested (the policy sees 'unknown').

    Attributes:
        cyp2c19 (None | str | Unset): Recorded, not yet used by any pack
        cyp2c9 (GenotypeCyp2C9Type0 | None | Unset):
        vkorc1 (GenotypeVkorc1Type0 | None | Unset): VKORC1 -1639G>A genotype
    """

    cyp2c19: None | str | Unset = UNSET
    cyp2c9: GenotypeCyp2C9Type0 | None | Unset = UNSET
    vkorc1: GenotypeVkorc1Type0 | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        cyp2c19: None | str | Unset
        if isinstance(self.cyp2c19, Unset):
            cyp2c19 = UNSET
        else:
            cyp2c19 = self.cyp2c19

        cyp2c9: None | str | Unset
        if isinstance(self.cyp2c9, Unset):
            cyp2c9 = UNSET
        elif isinstance(self.cyp2c9, GenotypeCyp2C9Type0):
            cyp2c9 = self.cyp2c9.value
        else:
            cyp2c9 = self.cyp2c9

        vkorc1: None | str | Unset
        if isinstance(self.vkorc1, Unset):
            vkorc1 = UNSET
        elif isinstance(self.vkorc1, GenotypeVkorc1Type0):
            vkorc1 = self.vkorc1.value
        else:
            vkorc1 = self.vkorc1

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if cyp2c19 is not UNSET:
            field_dict["cyp2c19"] = cyp2c19
        if cyp2c9 is not UNSET:
            field_dict["cyp2c9"] = cyp2c9
        if vkorc1 is not UNSET:
            field_dict["vkorc1"] = vkorc1

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_cyp2c19(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        cyp2c19 = _parse_cyp2c19(d.pop("cyp2c19", UNSET))

        def _parse_cyp2c9(data: object) -> GenotypeCyp2C9Type0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                cyp2c9_type_0 = GenotypeCyp2C9Type0(data)

                return cyp2c9_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(GenotypeCyp2C9Type0 | None | Unset, data)

        cyp2c9 = _parse_cyp2c9(d.pop("cyp2c9", UNSET))

        def _parse_vkorc1(data: object) -> GenotypeVkorc1Type0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                vkorc1_type_0 = GenotypeVkorc1Type0(data)

                return vkorc1_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(GenotypeVkorc1Type0 | None | Unset, data)

        vkorc1 = _parse_vkorc1(d.pop("vkorc1", UNSET))

        genotype = cls(
            cyp2c19=cyp2c19,
            cyp2c9=cyp2c9,
            vkorc1=vkorc1,
        )

        return genotype
