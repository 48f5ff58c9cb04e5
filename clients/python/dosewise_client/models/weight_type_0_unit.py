from enum import StrEnum


class WeightType0Unit(StrEnum):
    KG = "kg"

    def __str__(self) -> str:
        return str(self.value)
