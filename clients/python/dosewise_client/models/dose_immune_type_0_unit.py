from enum import StrEnum


class DoseImmuneType0Unit(StrEnum):
    AU = "au"
    A_U = "a.u."
    VALUE_0 = "1"
    VALUE_2 = "{a.u.}"

    def __str__(self) -> str:
        return str(self.value)
