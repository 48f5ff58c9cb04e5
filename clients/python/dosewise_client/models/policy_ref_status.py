from enum import StrEnum


class PolicyRefStatus(StrEnum):
    ACTIVE = "active"
    CANDIDATE = "candidate"
    REJECTED = "rejected"
    RETIRED = "retired"
    UNTRAINED = "untrained"

    def __str__(self) -> str:
        return str(self.value)
