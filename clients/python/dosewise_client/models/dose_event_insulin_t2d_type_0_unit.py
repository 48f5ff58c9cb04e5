from enum import StrEnum


class DoseEventInsulinT2DType0Unit(StrEnum):
    IU = "IU"
    U = "U"
    UNIT = "unit"
    UNITS = "units"
    VALUE_1 = "[IU]"

    def __str__(self) -> str:
        return str(self.value)
