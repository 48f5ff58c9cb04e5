from enum import StrEnum


class Action(StrEnum):
    FEEDBACK_RECORD = "feedback.record"
    KEY_CREATE = "key.create"
    KEY_REVOKE = "key.revoke"
    OUTCOME_RECORD = "outcome.record"
    PATIENT_ERASE = "patient.erase"
    POLICY_ACTIVATE = "policy.activate"
    POLICY_ROLLBACK = "policy.rollback"
    RECOMMENDATION_CREATE = "recommendation.create"

    def __str__(self) -> str:
        return str(self.value)
