from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.cds_feedback_response_cds_feedback import CdsFeedbackResponseCdsFeedback
from ...models.feedback_request import FeedbackRequest
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    service_id: str,
    *,
    body: FeedbackRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/cds-services/{service_id}/feedback".format(
            service_id=quote(str(service_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CdsFeedbackResponseCdsFeedback | Problem | None:
    if response.status_code == 200:
        response_200 = CdsFeedbackResponseCdsFeedback.from_dict(response.json())

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

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 408:
        response_408 = Problem.from_dict(response.json())

        return response_408

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

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

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[CdsFeedbackResponseCdsFeedback | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    service_id: str,
    *,
    client: AuthenticatedClient,
    body: FeedbackRequest,
) -> Response[CdsFeedbackResponseCdsFeedback | Problem]:
    """Feedback on cards: into the outcome loop

     `accepted` (the suggestion's uuid in `acceptedSuggestions`) records that the recommended dose was
    given; `overridden` records the drafted dose, with the coded `overrideReason` and the `userComment`.
    Idempotent per card; only the caller the card was shown to. A CDS client authenticates with its JWT
    (CDS Hooks 2.0 §Trusting CDS Clients: `iss` on DOSEWISE_CDS_ISSUERS, `aud` this endpoint's URL,
    `exp`, `iat`, `jti` once); an integration may use a clinician or integrator API key.

    Args:
        service_id (str):
        body (FeedbackRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CdsFeedbackResponseCdsFeedback | Problem]
    """

    kwargs = _get_kwargs(
        service_id=service_id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    service_id: str,
    *,
    client: AuthenticatedClient,
    body: FeedbackRequest,
) -> CdsFeedbackResponseCdsFeedback | Problem | None:
    """Feedback on cards: into the outcome loop

     `accepted` (the suggestion's uuid in `acceptedSuggestions`) records that the recommended dose was
    given; `overridden` records the drafted dose, with the coded `overrideReason` and the `userComment`.
    Idempotent per card; only the caller the card was shown to. A CDS client authenticates with its JWT
    (CDS Hooks 2.0 §Trusting CDS Clients: `iss` on DOSEWISE_CDS_ISSUERS, `aud` this endpoint's URL,
    `exp`, `iat`, `jti` once); an integration may use a clinician or integrator API key.

    Args:
        service_id (str):
        body (FeedbackRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CdsFeedbackResponseCdsFeedback | Problem
    """

    return sync_detailed(
        service_id=service_id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    service_id: str,
    *,
    client: AuthenticatedClient,
    body: FeedbackRequest,
) -> Response[CdsFeedbackResponseCdsFeedback | Problem]:
    """Feedback on cards: into the outcome loop

     `accepted` (the suggestion's uuid in `acceptedSuggestions`) records that the recommended dose was
    given; `overridden` records the drafted dose, with the coded `overrideReason` and the `userComment`.
    Idempotent per card; only the caller the card was shown to. A CDS client authenticates with its JWT
    (CDS Hooks 2.0 §Trusting CDS Clients: `iss` on DOSEWISE_CDS_ISSUERS, `aud` this endpoint's URL,
    `exp`, `iat`, `jti` once); an integration may use a clinician or integrator API key.

    Args:
        service_id (str):
        body (FeedbackRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CdsFeedbackResponseCdsFeedback | Problem]
    """

    kwargs = _get_kwargs(
        service_id=service_id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    service_id: str,
    *,
    client: AuthenticatedClient,
    body: FeedbackRequest,
) -> CdsFeedbackResponseCdsFeedback | Problem | None:
    """Feedback on cards: into the outcome loop

     `accepted` (the suggestion's uuid in `acceptedSuggestions`) records that the recommended dose was
    given; `overridden` records the drafted dose, with the coded `overrideReason` and the `userComment`.
    Idempotent per card; only the caller the card was shown to. A CDS client authenticates with its JWT
    (CDS Hooks 2.0 §Trusting CDS Clients: `iss` on DOSEWISE_CDS_ISSUERS, `aud` this endpoint's URL,
    `exp`, `iat`, `jti` once); an integration may use a clinician or integrator API key.

    Args:
        service_id (str):
        body (FeedbackRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CdsFeedbackResponseCdsFeedback | Problem
    """

    return (
        await asyncio_detailed(
            service_id=service_id,
            client=client,
            body=body,
        )
    ).parsed
