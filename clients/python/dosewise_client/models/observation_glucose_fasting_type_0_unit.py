from enum import StrEnum


class ObservationGlucoseFastingType0Unit(StrEnum):
    MGDL = "mg/dL"

    def __str__(self) -> str:
        return str(self.value)
