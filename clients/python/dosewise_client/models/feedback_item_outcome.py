from enum import StrEnum


class FeedbackItemOutcome(StrEnum):
    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"

    def __str__(self) -> str:
        return str(self.value)
