from enum import StrEnum


class FhirRecommendationsCreateTherapyType0(StrEnum):
    INSULIN_T2D = "insulin_t2d"
    WARFARIN = "warfarin"

    def __str__(self) -> str:
        return str(self.value)
