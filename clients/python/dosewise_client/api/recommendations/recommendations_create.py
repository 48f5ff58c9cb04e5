from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.patient_state_immune import PatientStateImmune
from ...models.patient_state_insulin_t2d import PatientStateInsulinT2D
from ...models.patient_state_warfarin import PatientStateWarfarin
from ...models.problem import Problem
from ...models.recommendation import Recommendation
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["idempotency-key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/recommendations",
    }

    if isinstance(body, PatientStateWarfarin):
        _kwargs["json"] = body.to_dict()
    elif isinstance(body, PatientStateInsulinT2D):
        _kwargs["json"] = body.to_dict()
    else:
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
    body: PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Problem | Recommendation]:
    """Recommend the next dose for one patient (stored before it is returned)

    Args:
        idempotency_key (None | str | Unset): Retry-safe key: the same key returns the same
            recommendation and stores nothing new
        body (PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin): Everything a
            dosing decision may look at, for one patient at one time. Never a name: ``patient_ref`` is
            pseudonymous. One variant per therapy (by `therapy`): its dose units and range, its
            observation kinds. Not expressible in the schema, refused with a field-level 422: a time
            in the future; an observation or dose after `as_of`; a dose before `therapy_started`; a
            time before the patient's birth (`as_of` minus `age_years` + 1 years); two results of one
            kind at the same time.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Recommendation]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin,
    idempotency_key: None | str | Unset = UNSET,
) -> Problem | Recommendation | None:
    """Recommend the next dose for one patient (stored before it is returned)

    Args:
        idempotency_key (None | str | Unset): Retry-safe key: the same key returns the same
            recommendation and stores nothing new
        body (PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin): Everything a
            dosing decision may look at, for one patient at one time. Never a name: ``patient_ref`` is
            pseudonymous. One variant per therapy (by `therapy`): its dose units and range, its
            observation kinds. Not expressible in the schema, refused with a field-level 422: a time
            in the future; an observation or dose after `as_of`; a dose before `therapy_started`; a
            time before the patient's birth (`as_of` minus `age_years` + 1 years); two results of one
            kind at the same time.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Recommendation
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Problem | Recommendation]:
    """Recommend the next dose for one patient (stored before it is returned)

    Args:
        idempotency_key (None | str | Unset): Retry-safe key: the same key returns the same
            recommendation and stores nothing new
        body (PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin): Everything a
            dosing decision may look at, for one patient at one time. Never a name: ``patient_ref`` is
            pseudonymous. One variant per therapy (by `therapy`): its dose units and range, its
            observation kinds. Not expressible in the schema, refused with a field-level 422: a time
            in the future; an observation or dose after `as_of`; a dose before `therapy_started`; a
            time before the patient's birth (`as_of` minus `age_years` + 1 years); two results of one
            kind at the same time.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Recommendation]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin,
    idempotency_key: None | str | Unset = UNSET,
) -> Problem | Recommendation | None:
    """Recommend the next dose for one patient (stored before it is returned)

    Args:
        idempotency_key (None | str | Unset): Retry-safe key: the same key returns the same
            recommendation and stores nothing new
        body (PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin): Everything a
            dosing decision may look at, for one patient at one time. Never a name: ``patient_ref`` is
            pseudonymous. One variant per therapy (by `therapy`): its dose units and range, its
            observation kinds. Not expressible in the schema, refused with a field-level 422: a time
            in the future; an observation or dose after `as_of`; a dose before `therapy_started`; a
            time before the patient's birth (`as_of` minus `age_years` + 1 years); two results of one
            kind at the same time.

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
            idempotency_key=idempotency_key,
        )
    ).parsed
