"""Dosewise's FHIR extensions and identifier systems: every URL of ours that a FHIR answer carries is defined here.

Each extension is a simple (value[x]) extension on MedicationRequest; its StructureDefinition lives under ``BASE``.
"""

from __future__ import annotations

BASE = "https://dosewise.org/fhir"
HYPERSCORE = f"{BASE}/StructureDefinition/hyperscore"  # valueDecimal: the HSDPO HyperScore of the recommendation
NEEDS_REVIEW = f"{BASE}/StructureDefinition/needs-review"  # valueBoolean: the HyperScore asks for a careful review
POLICY_VERSION = f"{BASE}/StructureDefinition/policy-version"  # valueString: the policy version that decided
POLICY_ID = f"{BASE}/StructureDefinition/policy-id"  # valueString: the policy's registry id
RECOMMENDATION_ID = f"{BASE}/StructureDefinition/recommendation-id"  # valueUuid: GET /v1/recommendations/{id}
RECOMMENDATION_SYSTEM = f"{BASE}/sid/recommendation"  # MedicationRequest.identifier: the recommendation id
PATIENT_PSEUDONYM_SYSTEM = f"{BASE}/sid/patient-pseudonym"  # the stored pseudonym, when the FHIR Patient is not known
