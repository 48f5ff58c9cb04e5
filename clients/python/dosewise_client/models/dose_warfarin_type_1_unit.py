from enum import StrEnum


class DoseWarfarinType1Unit(StrEnum):
    G = "g"

    def __str__(self) -> str:
        return str(self.value)
