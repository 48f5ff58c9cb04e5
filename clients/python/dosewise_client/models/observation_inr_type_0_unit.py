from enum import StrEnum


class ObservationInrType0Unit(StrEnum):
    INR = "INR"
    RATIO = "ratio"
    VALUE_0 = "{INR}"
    VALUE_2 = "1"
    VALUE_4 = "{ratio}"

    def __str__(self) -> str:
        return str(self.value)
