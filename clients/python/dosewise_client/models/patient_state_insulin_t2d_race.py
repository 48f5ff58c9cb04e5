from enum import StrEnum


class PatientStateInsulinT2DRace(StrEnum):
    ASIAN = "asian"
    BLACK = "black"
    OTHER = "other"
    UNKNOWN = "unknown"
    WHITE = "white"

    def __str__(self) -> str:
        return str(self.value)
