"""FHIR R4 in and out (issue #26): a Bundle → PatientState (``bundle.map_bundle``), a Recommendation → a proposed
MedicationRequest (``out.medication_request``). Parsed and validated with ``fhir.resources`` (its R4B models: the package has
no plain R4, and R4B's Patient, Observation, Condition and Medication* resources are R4's)."""

from dosewise.fhir.bundle import BundleError, Mapped, map_bundle
from dosewise.fhir.out import FHIR_JSON, medication_request

__all__ = ["FHIR_JSON", "BundleError", "Mapped", "map_bundle", "medication_request"]
