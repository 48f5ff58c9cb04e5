"""An integrator's whole loop through the generated Python client (clients/python, ``make openapi``) and nothing else, against
the real stack: list the therapies, get a recommendation, record its outcome, read the recommendation back, and get a 422
whose field errors arrive as typed objects. Every request and every answer goes through the client's own models, so a
document that does not say what the server sends (a field, a status, a media type) fails here.

The client does not depend on the database, so the stack runs once, on SQLite.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from http import HTTPStatus

import pytest
from dosewise_client import AuthenticatedClient, Client
from dosewise_client.api.health import health_ready
from dosewise_client.api.outcomes import outcomes_create
from dosewise_client.api.recommendations import recommendations_create, recommendations_get
from dosewise_client.api.therapies import therapies_list
from dosewise_client.models import (
    Feedback,
    FeedbackDecision,
    FieldError,
    OutcomeCreate,
    OutcomeRecord,
    PatientStateWarfarin,
    Problem,
    Recommendation,
    TherapiesPublic,
)

from dosewise.schemas import PATIENT_STATE_EXAMPLE
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


@pytest.fixture()
def clinician(stack: Stack) -> Iterator[AuthenticatedClient]:
    token = stack.clinician_headers["Authorization"].removeprefix("Bearer ")
    with AuthenticatedClient(base_url=stack.api, token=token, raise_on_unexpected_status=True) as client:
        yield client


def warfarin_patient(**changes: object) -> PatientStateWarfarin:
    """The README's patient, as the client's model of a warfarin state."""
    return PatientStateWarfarin.from_dict(copy.deepcopy(PATIENT_STATE_EXAMPLE) | changes)


def test_the_probe_answers_through_the_client_without_a_credential(stack: Stack) -> None:
    with Client(base_url=stack.api, raise_on_unexpected_status=True) as client:
        answer = health_ready.sync_detailed(client=client)
    assert answer.status_code == HTTPStatus.OK


def test_an_integrator_recommends_records_the_outcome_and_reads_it_back(clinician: AuthenticatedClient) -> None:
    therapies = therapies_list.sync(client=clinician)
    assert isinstance(therapies, TherapiesPublic)
    warfarin = next(t for t in therapies.data if t.id == "warfarin")
    assert warfarin.dose_unit == "mg" and "inr" in warfarin.observation_kinds.additional_properties

    rec = recommendations_create.sync(client=clinician, body=warfarin_patient(), idempotency_key="client-e2e-rec-1")
    assert isinstance(rec, Recommendation), rec
    assert rec.therapy == "warfarin" and rec.recommended_dose.unit == "mg"
    assert rec.action in {a.id for a in warfarin.actions}
    assert rec.patient_ref != PATIENT_STATE_EXAMPLE["patient_ref"], "the raw reference is never stored"

    # A dose and a lab result are unions of one model per unit family: from_dict picks the one the JSON fits.
    outcome = OutcomeCreate.from_dict({
        "recommendation_id": str(rec.recommendation_id),
        "dose_given": rec.recommended_dose.to_dict(),
        "regimen": rec.plan.dose_per_day.to_dict(),
        "feedback": Feedback(decision=FeedbackDecision.ACCEPTED).to_dict(),
        "observations": [{"kind": "inr", "value": 2.5, "unit": "{INR}", "time": "2026-11-24T08:00:00Z"}],
    })
    recorded = outcomes_create.sync_detailed(client=clinician, body=outcome, idempotency_key="client-e2e-outcome-1")
    assert recorded.status_code == HTTPStatus.CREATED, recorded.content
    assert isinstance(recorded.parsed, OutcomeRecord)
    assert recorded.parsed.recommendation_id == rec.recommendation_id
    assert recorded.parsed.feedback.decision is FeedbackDecision.ACCEPTED
    assert recorded.parsed.dose_given.value == rec.recommended_dose.value

    again = recommendations_get.sync(rec.recommendation_id, client=clinician)
    assert isinstance(again, Recommendation)
    assert again.to_dict() == rec.to_dict()


def test_an_invalid_state_comes_back_as_a_problem_with_typed_field_errors(clinician: AuthenticatedClient) -> None:
    # The client's models do not check ranges: the server does, and says so field by field.
    impossible_inr = copy.deepcopy(PATIENT_STATE_EXAMPLE["observations"])
    impossible_inr[2]["value"] = 40
    refused = recommendations_create.sync_detailed(client=clinician,
                                                   body=warfarin_patient(age_years=200, observations=impossible_inr))
    assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    problem = refused.parsed
    assert isinstance(problem, Problem), refused.content
    assert problem.status == 422 and problem.type_.endswith("/validation")
    assert all(isinstance(e, FieldError) for e in problem.errors)
    by_field = {e.field: e for e in problem.errors}
    assert set(by_field) == {"age_years", "observations.2.value"}, problem.detail
    assert by_field["age_years"].path == ["age_years"] and by_field["age_years"].allowed == "le 120.0"
    assert by_field["observations.2.value"].path == ["observations", 2, "value"]
