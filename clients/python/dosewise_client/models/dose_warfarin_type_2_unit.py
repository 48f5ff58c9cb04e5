from enum import StrEnum


class DoseWarfarinType2Unit(StrEnum):
    MCG = "mcg"
    UG = "ug"

    def __str__(self) -> str:
        return str(self.value)
