from enum import StrEnum


class WeightType2Unit(StrEnum):
    LB = "lb"
    LBS = "lbs"
    VALUE_1 = "[lb_av]"

    def __str__(self) -> str:
        return str(self.value)
