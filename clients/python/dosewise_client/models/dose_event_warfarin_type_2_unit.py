from enum import StrEnum


class DoseEventWarfarinType2Unit(StrEnum):
    MCG = "mcg"
    UG = "ug"

    def __str__(self) -> str:
        return str(self.value)
