from enum import StrEnum


class HeightType3Unit(StrEnum):
    IN = "in"
    VALUE_1 = "[in_i]"

    def __str__(self) -> str:
        return str(self.value)
