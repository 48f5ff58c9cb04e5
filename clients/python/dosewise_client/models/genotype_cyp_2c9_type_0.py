from enum import StrEnum


class GenotypeCyp2C9Type0(StrEnum):
    VALUE_0 = "*1/*1"
    VALUE_1 = "*1/*2"
    VALUE_2 = "*1/*3"
    VALUE_3 = "*2/*2"
    VALUE_4 = "*2/*3"
    VALUE_5 = "*3/*3"

    def __str__(self) -> str:
        return str(self.value)
