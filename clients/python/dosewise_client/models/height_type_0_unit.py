from enum import StrEnum


class HeightType0Unit(StrEnum):
    CM = "cm"

    def __str__(self) -> str:
        return str(self.value)
