from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.fhir_recommendations_create_bundle import FhirRecommendationsCreateBundle
from ...models.fhir_recommendations_create_therapy_type_0 import FhirRecommendationsCreateTherapyType0
from ...models.problem import Problem
from ...models.recommendation import Recommendation
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: FhirRecommendationsCreateBundle,
    therapy: FhirRecommendationsCreateTherapyType0 | None | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["idempotency-key"] = idempotency_key

    params: dict[str, Any] = {}

    json_therapy: None | str | Unset
    if isinstance(therapy, Unset):
        json_therapy = UNSET
    elif isinstance(therapy, FhirRecommendationsCreateTherapyType0):
        json_therapy = therapy.value
    else:
        json_therapy = therapy
    params["therapy"] = json_therapy

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/fhir/recommendations",
        "params": params,
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | Recommendation | None:
    if response.status_code == 200:
        response_200 = Recommendation.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 408:
        response_408 = Problem.from_dict(response.json())

        return response_408

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | Recommendation]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: FhirRecommendationsCreateBundle,
    therapy: FhirRecommendationsCreateTherapyType0 | None | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Problem | Recommendation]:
    """Recommend the next dose from a FHIR R4 Bundle (stored before it is returned)

     The body is a FHIR R4 Bundle, sent as `application/fhir+json` or `application/json`. Its Patient,
    Observations (LOINC), Conditions and medication resources (RxNorm) become the PatientState of POST
    /v1/recommendations (docs/fhir.md has the mapping); every normalization is listed in the answer's
    `warnings`. With `Accept: application/fhir+json` the answer is the recommendation as a FHIR R4
    MedicationRequest (intent `proposal`, status `draft`): the recommended dose in
    `dosageInstruction[0].doseAndRate[0]`, the rationale in `note`, the HyperScore, policy version and
    recommendation id as extensions (docs/fhir.md).

    Args:
        therapy (FhirRecommendationsCreateTherapyType0 | None | Unset): Therapy pack id; default:
            inferred from the active MedicationRequest's RxNorm code.
        idempotency_key (None | str | Unset): Retry-safe key: the same key returns the same
            recommendation and stores nothing new
        body (FhirRecommendationsCreateBundle): A FHIR R4 Bundle (application/fhir+json or
            application/json).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Recommendation]
    """

    kwargs = _get_kwargs(
        body=body,
        therapy=therapy,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: FhirRecommendationsCreateBundle,
    therapy: FhirRecommendationsCreateTherapyType0 | None | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
) -> Problem | Recommendation | None:
    """Recommend the next dose from a FHIR R4 Bundle (stored before it is returned)

     The body is a FHIR R4 Bundle, sent as `application/fhir+json` or `application/json`. Its Patient,
    Observations (LOINC), Conditions and medication resources (RxNorm) become the PatientState of POST
    /v1/recommendations (docs/fhir.md has the mapping); every normalization is listed in the answer's
    `warnings`. With `Accept: application/fhir+json` the answer is the recommendation as a FHIR R4
    MedicationRequest (intent `proposal`, status `draft`): the recommended dose in
    `dosageInstruction[0].doseAndRate[0]`, the rationale in `note`, the HyperScore, policy version and
    recommendation id as extensions (docs/fhir.md).

    Args:
        therapy (FhirRecommendationsCreateTherapyType0 | None | Unset): Therapy pack id; default:
            inferred from the active MedicationRequest's RxNorm code.
        idempotency_key (None | str | Unset): Retry-safe key: the same key returns the same
            recommendation and stores nothing new
        body (FhirRecommendationsCreateBundle): A FHIR R4 Bundle (application/fhir+json or
            application/json).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Recommendation
    """

    return sync_detailed(
        client=client,
        body=body,
        therapy=therapy,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: FhirRecommendationsCreateBundle,
    therapy: FhirRecommendationsCreateTherapyType0 | None | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Problem | Recommendation]:
    """Recommend the next dose from a FHIR R4 Bundle (stored before it is returned)

     The body is a FHIR R4 Bundle, sent as `application/fhir+json` or `application/json`. Its Patient,
    Observations (LOINC), Conditions and medication resources (RxNorm) become the PatientState of POST
    /v1/recommendations (docs/fhir.md has the mapping); every normalization is listed in the answer's
    `warnings`. With `Accept: application/fhir+json` the answer is the recommendation as a FHIR R4
    MedicationRequest (intent `proposal`, status `draft`): the recommended dose in
    `dosageInstruction[0].doseAndRate[0]`, the rationale in `note`, the HyperScore, policy version and
    recommendation id as extensions (docs/fhir.md).

    Args:
        therapy (FhirRecommendationsCreateTherapyType0 | None | Unset): Therapy pack id; default:
            inferred from the active MedicationRequest's RxNorm code.
        idempotency_key (None | str | Unset): Retry-safe key: the same key returns the same
            recommendation and stores nothing new
        body (FhirRecommendationsCreateBundle): A FHIR R4 Bundle (application/fhir+json or
            application/json).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Recommendation]
    """

    kwargs = _get_kwargs(
        body=body,
        therapy=therapy,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: FhirRecommendationsCreateBundle,
    therapy: FhirRecommendationsCreateTherapyType0 | None | Unset = UNSET,
    idempotency_key: None | str | Unset = UNSET,
) -> Problem | Recommendation | None:
    """Recommend the next dose from a FHIR R4 Bundle (stored before it is returned)

     The body is a FHIR R4 Bundle, sent as `application/fhir+json` or `application/json`. Its Patient,
    Observations (LOINC), Conditions and medication resources (RxNorm) become the PatientState of POST
    /v1/recommendations (docs/fhir.md has the mapping); every normalization is listed in the answer's
    `warnings`. With `Accept: application/fhir+json` the answer is the recommendation as a FHIR R4
    MedicationRequest (intent `proposal`, status `draft`): the recommended dose in
    `dosageInstruction[0].doseAndRate[0]`, the rationale in `note`, the HyperScore, policy version and
    recommendation id as extensions (docs/fhir.md).

    Args:
        therapy (FhirRecommendationsCreateTherapyType0 | None | Unset): Therapy pack id; default:
            inferred from the active MedicationRequest's RxNorm code.
        idempotency_key (None | str | Unset): Retry-safe key: the same key returns the same
            recommendation and stores nothing new
        body (FhirRecommendationsCreateBundle): A FHIR R4 Bundle (application/fhir+json or
            application/json).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Recommendation
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            therapy=therapy,
            idempotency_key=idempotency_key,
        )
    ).parsed
