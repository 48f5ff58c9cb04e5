from enum import StrEnum


class PatientStateInsulinT2DSex(StrEnum):
    FEMALE = "female"
    MALE = "male"

    def __str__(self) -> str:
        return str(self.value)
