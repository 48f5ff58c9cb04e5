from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    AUDITOR = "auditor"
    CLINICIAN = "clinician"
    INTEGRATOR = "integrator"

    def __str__(self) -> str:
        return str(self.value)
