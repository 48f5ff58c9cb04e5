from enum import StrEnum


class FeedbackReasonCodeType0(StrEnum):
    ADHERENCE = "adherence"
    BLEEDING_RISK = "bleeding_risk"
    CLINICAL_JUDGEMENT = "clinical_judgement"
    GUIDELINE = "guideline"
    HYPOGLYCAEMIA_RISK = "hypoglycaemia_risk"
    LAB_ERROR = "lab_error"
    OTHER = "other"
    PATIENT_FACTORS = "patient_factors"
    THROMBOSIS_RISK = "thrombosis_risk"

    def __str__(self) -> str:
        return str(self.value)
