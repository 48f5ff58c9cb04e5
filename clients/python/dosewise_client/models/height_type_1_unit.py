from enum import StrEnum


class HeightType1Unit(StrEnum):
    M = "m"

    def __str__(self) -> str:
        return str(self.value)
