"""Contains all the data models used in inputs/outputs"""

from .accepted_suggestion import AcceptedSuggestion
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
from .cds_discovery_response_cds_discovery import CdsDiscoveryResponseCdsDiscovery
from .cds_feedback_response_cds_feedback import CdsFeedbackResponseCdsFeedback
from .cds_hook_response_cds_hook import CdsHookResponseCdsHook
from .coding import Coding
from .dose_event_immune_type_0 import DoseEventImmuneType0
from .dose_event_immune_type_0_unit import DoseEventImmuneType0Unit
from .dose_event_insulin_t2d_type_0 import DoseEventInsulinT2DType0
from .dose_event_insulin_t2d_type_0_unit import DoseEventInsulinT2DType0Unit
from .dose_event_warfarin_type_0 import DoseEventWarfarinType0
from .dose_event_warfarin_type_0_unit import DoseEventWarfarinType0Unit
from .dose_event_warfarin_type_1 import DoseEventWarfarinType1
from .dose_event_warfarin_type_1_unit import DoseEventWarfarinType1Unit
from .dose_event_warfarin_type_2 import DoseEventWarfarinType2
from .dose_event_warfarin_type_2_unit import DoseEventWarfarinType2Unit
from .dose_immune_type_0 import DoseImmuneType0
from .dose_immune_type_0_unit import DoseImmuneType0Unit
from .dose_insulin_t2d_type_0 import DoseInsulinT2DType0
from .dose_insulin_t2d_type_0_unit import DoseInsulinT2DType0Unit
from .dose_plan import DosePlan
from .dose_quantity import DoseQuantity
from .dose_warfarin_type_0 import DoseWarfarinType0
from .dose_warfarin_type_0_unit import DoseWarfarinType0Unit
from .dose_warfarin_type_1 import DoseWarfarinType1
from .dose_warfarin_type_1_unit import DoseWarfarinType1Unit
from .dose_warfarin_type_2 import DoseWarfarinType2
from .dose_warfarin_type_2_unit import DoseWarfarinType2Unit
from .explanation import Explanation
from .explanation_attributions import ExplanationAttributions
from .explanation_forecast_type_0 import ExplanationForecastType0
from .explanation_q_values_item import ExplanationQValuesItem
from .feature_public import FeaturePublic
from .feedback import Feedback
from .feedback_decision import FeedbackDecision
from .feedback_item import FeedbackItem
from .feedback_item_outcome import FeedbackItemOutcome
from .feedback_reason_code_type_0 import FeedbackReasonCodeType0
from .feedback_request import FeedbackRequest
from .fhir_authorization import FhirAuthorization
from .fhir_recommendations_create_bundle import FhirRecommendationsCreateBundle
from .fhir_recommendations_create_therapy_type_0 import FhirRecommendationsCreateTherapyType0
from .field_error import FieldError
from .genotype import Genotype
from .genotype_cyp_2c9_type_0 import GenotypeCyp2C9Type0
from .genotype_vkorc_1_type_0 import GenotypeVkorc1Type0
from .guardrail_firing import GuardrailFiring
from .health_alive_response_health_alive import HealthAliveResponseHealthAlive
from .height_type_0 import HeightType0
from .height_type_0_unit import HeightType0Unit
from .height_type_1 import HeightType1
from .height_type_1_unit import HeightType1Unit
from .height_type_2 import HeightType2
from .height_type_2_unit import HeightType2Unit
from .height_type_3 import HeightType3
from .height_type_3_unit import HeightType3Unit
from .hook_request import HookRequest
from .hook_request_context import HookRequestContext
from .hook_request_prefetch_type_0 import HookRequestPrefetchType0
from .hyper_score_out import HyperScoreOut
from .hyper_score_out_sub_scores import HyperScoreOutSubScores
from .observation_glucose_fasting_type_0 import ObservationGlucoseFastingType0
from .observation_glucose_fasting_type_0_unit import ObservationGlucoseFastingType0Unit
from .observation_glucose_fasting_type_1 import ObservationGlucoseFastingType1
from .observation_glucose_fasting_type_1_unit import ObservationGlucoseFastingType1Unit
from .observation_inr_type_0 import ObservationInrType0
from .observation_inr_type_0_unit import ObservationInrType0Unit
from .observation_kind import ObservationKind
from .observation_organ_damage_type_0 import ObservationOrganDamageType0
from .observation_organ_damage_type_0_unit import ObservationOrganDamageType0Unit
from .observation_pathogen_load_type_0 import ObservationPathogenLoadType0
from .observation_pathogen_load_type_0_unit import ObservationPathogenLoadType0Unit
from .outcome_batch_item import OutcomeBatchItem
from .outcome_batch_request import OutcomeBatchRequest
from .outcome_batch_response import OutcomeBatchResponse
from .outcome_create import OutcomeCreate
from .outcome_record import OutcomeRecord
from .override_reason import OverrideReason
from .patient_state_immune import PatientStateImmune
from .patient_state_immune_race import PatientStateImmuneRace
from .patient_state_immune_sex import PatientStateImmuneSex
from .patient_state_insulin_t2d import PatientStateInsulinT2D
from .patient_state_insulin_t2d_race import PatientStateInsulinT2DRace
from .patient_state_insulin_t2d_sex import PatientStateInsulinT2DSex
from .patient_state_warfarin import PatientStateWarfarin
from .patient_state_warfarin_race import PatientStateWarfarinRace
from .patient_state_warfarin_sex import PatientStateWarfarinSex
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
from .weight_type_0 import WeightType0
from .weight_type_0_unit import WeightType0Unit
from .weight_type_1 import WeightType1
from .weight_type_1_unit import WeightType1Unit
from .weight_type_2 import WeightType2
from .weight_type_2_unit import WeightType2Unit

__all__ = (
    "AcceptedSuggestion",
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
    "CdsDiscoveryResponseCdsDiscovery",
    "CdsFeedbackResponseCdsFeedback",
    "CdsHookResponseCdsHook",
    "Coding",
    "DoseEventImmuneType0",
    "DoseEventImmuneType0Unit",
    "DoseEventInsulinT2DType0",
    "DoseEventInsulinT2DType0Unit",
    "DoseEventWarfarinType0",
    "DoseEventWarfarinType0Unit",
    "DoseEventWarfarinType1",
    "DoseEventWarfarinType1Unit",
    "DoseEventWarfarinType2",
    "DoseEventWarfarinType2Unit",
    "DoseImmuneType0",
    "DoseImmuneType0Unit",
    "DoseInsulinT2DType0",
    "DoseInsulinT2DType0Unit",
    "DosePlan",
    "DoseQuantity",
    "DoseWarfarinType0",
    "DoseWarfarinType0Unit",
    "DoseWarfarinType1",
    "DoseWarfarinType1Unit",
    "DoseWarfarinType2",
    "DoseWarfarinType2Unit",
    "Explanation",
    "ExplanationAttributions",
    "ExplanationForecastType0",
    "ExplanationQValuesItem",
    "FeaturePublic",
    "Feedback",
    "FeedbackDecision",
    "FeedbackItem",
    "FeedbackItemOutcome",
    "FeedbackReasonCodeType0",
    "FeedbackRequest",
    "FhirAuthorization",
    "FhirRecommendationsCreateBundle",
    "FhirRecommendationsCreateTherapyType0",
    "FieldError",
    "Genotype",
    "GenotypeCyp2C9Type0",
    "GenotypeVkorc1Type0",
    "GuardrailFiring",
    "HealthAliveResponseHealthAlive",
    "HeightType0",
    "HeightType0Unit",
    "HeightType1",
    "HeightType1Unit",
    "HeightType2",
    "HeightType2Unit",
    "HeightType3",
    "HeightType3Unit",
    "HookRequest",
    "HookRequestContext",
    "HookRequestPrefetchType0",
    "HyperScoreOut",
    "HyperScoreOutSubScores",
    "ObservationGlucoseFastingType0",
    "ObservationGlucoseFastingType0Unit",
    "ObservationGlucoseFastingType1",
    "ObservationGlucoseFastingType1Unit",
    "ObservationInrType0",
    "ObservationInrType0Unit",
    "ObservationKind",
    "ObservationOrganDamageType0",
    "ObservationOrganDamageType0Unit",
    "ObservationPathogenLoadType0",
    "ObservationPathogenLoadType0Unit",
    "OutcomeBatchItem",
    "OutcomeBatchRequest",
    "OutcomeBatchResponse",
    "OutcomeCreate",
    "OutcomeRecord",
    "OverrideReason",
    "PatientStateImmune",
    "PatientStateImmuneRace",
    "PatientStateImmuneSex",
    "PatientStateInsulinT2D",
    "PatientStateInsulinT2DRace",
    "PatientStateInsulinT2DSex",
    "PatientStateWarfarin",
    "PatientStateWarfarinRace",
    "PatientStateWarfarinSex",
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
    "WeightType0",
    "WeightType0Unit",
    "WeightType1",
    "WeightType1Unit",
    "WeightType2",
    "WeightType2Unit",
)
