from enum import StrEnum


class ActionPublicKind(StrEnum):
    CHANGE = "change"
    HOLD = "hold"
    LEVEL = "level"
    SCALE = "scale"

    def __str__(self) -> str:
        return str(self.value)
