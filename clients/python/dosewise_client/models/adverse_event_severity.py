from enum import StrEnum


class AdverseEventSeverity(StrEnum):
    LIFE_THREATENING = "life_threatening"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"

    def __str__(self) -> str:
        return str(self.value)
