from enum import StrEnum


class DoseEventWarfarinType1Unit(StrEnum):
    G = "g"

    def __str__(self) -> str:
        return str(self.value)
