"""Contains all the data models used in inputs/outputs"""

from .action import Action
from .action_public import ActionPublic
from .action_public_kind import ActionPublicKind
from .action_value import ActionValue
from .adverse_event import AdverseEvent
from .adverse_event_severity import AdverseEventSeverity
from .api_key_create import ApiKeyCreate
from .api_key_created import ApiKeyCreated
from .api_key_public import ApiKeyPublic
from .api_keys_public import ApiKeysPublic
from .audit_event_public import AuditEventPublic
from .audit_events_public import AuditEventsPublic
from .batch_recommendation_request import BatchRecommendationRequest
from .batch_recommendation_response import BatchRecommendationResponse
from .dose_event import DoseEvent
from .dose_quantity import DoseQuantity
from .explanation import Explanation
from .explanation_attributions import ExplanationAttributions
from .explanation_forecast_type_0 import ExplanationForecastType0
from .explanation_q_values_item import ExplanationQValuesItem
from .feature_public import FeaturePublic
from .feedback import Feedback
from .feedback_decision import FeedbackDecision
from .feedback_reason_code_type_0 import FeedbackReasonCodeType0
from .field_error import FieldError
from .genotype import Genotype
from .genotype_cyp_2c9_type_0 import GenotypeCyp2C9Type0
from .genotype_vkorc_1_type_0 import GenotypeVkorc1Type0
from .guardrail_firing import GuardrailFiring
from .health_alive_response_health_alive import HealthAliveResponseHealthAlive
from .hyper_score_out import HyperScoreOut
from .hyper_score_out_sub_scores import HyperScoreOutSubScores
from .measure import Measure
from .observation import Observation
from .observation_kind import ObservationKind
from .outcome_batch_item import OutcomeBatchItem
from .outcome_batch_request import OutcomeBatchRequest
from .outcome_batch_response import OutcomeBatchResponse
from .outcome_create import OutcomeCreate
from .outcome_record import OutcomeRecord
from .patient_state import PatientState
from .patient_state_race import PatientStateRace
from .patient_state_sex import PatientStateSex
from .policies_public import PoliciesPublic
from .policy_public import PolicyPublic
from .policy_public_model_card import PolicyPublicModelCard
from .policy_public_status import PolicyPublicStatus
from .policy_ref import PolicyRef
from .policy_ref_status import PolicyRefStatus
from .problem import Problem
from .recommendation import Recommendation
from .role import Role
from .therapies_public import TherapiesPublic
from .therapy_public import TherapyPublic
from .therapy_public_observation_kinds import TherapyPublicObservationKinds

__all__ = (
    "Action",
    "ActionPublic",
    "ActionPublicKind",
    "ActionValue",
    "AdverseEvent",
    "AdverseEventSeverity",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyPublic",
    "ApiKeysPublic",
    "AuditEventPublic",
    "AuditEventsPublic",
    "BatchRecommendationRequest",
    "BatchRecommendationResponse",
    "DoseEvent",
    "DoseQuantity",
    "Explanation",
    "ExplanationAttributions",
    "ExplanationForecastType0",
    "ExplanationQValuesItem",
    "FeaturePublic",
    "Feedback",
    "FeedbackDecision",
    "FeedbackReasonCodeType0",
    "FieldError",
    "Genotype",
    "GenotypeCyp2C9Type0",
    "GenotypeVkorc1Type0",
    "GuardrailFiring",
    "HealthAliveResponseHealthAlive",
    "HyperScoreOut",
    "HyperScoreOutSubScores",
    "Measure",
    "Observation",
    "ObservationKind",
    "OutcomeBatchItem",
    "OutcomeBatchRequest",
    "OutcomeBatchResponse",
    "OutcomeCreate",
    "OutcomeRecord",
    "PatientState",
    "PatientStateRace",
    "PatientStateSex",
    "PoliciesPublic",
    "PolicyPublic",
    "PolicyPublicModelCard",
    "PolicyPublicStatus",
    "PolicyRef",
    "PolicyRefStatus",
    "Problem",
    "Recommendation",
    "Role",
    "TherapiesPublic",
    "TherapyPublic",
    "TherapyPublicObservationKinds",
)
