from enum import StrEnum


class ObservationGlucoseFastingType1Unit(StrEnum):
    MMOLL = "mmol/L"

    def __str__(self) -> str:
        return str(self.value)
