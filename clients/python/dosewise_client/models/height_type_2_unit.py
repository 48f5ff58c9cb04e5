from enum import StrEnum


class HeightType2Unit(StrEnum):
    MM = "mm"

    def __str__(self) -> str:
        return str(self.value)
