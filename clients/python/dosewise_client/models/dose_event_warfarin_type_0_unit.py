from enum import StrEnum


class DoseEventWarfarinType0Unit(StrEnum):
    MG = "mg"

    def __str__(self) -> str:
        return str(self.value)
