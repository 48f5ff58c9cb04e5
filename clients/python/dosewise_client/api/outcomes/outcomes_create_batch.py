from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.outcome_batch_request import OutcomeBatchRequest
from ...models.outcome_batch_response import OutcomeBatchResponse
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    *,
    body: OutcomeBatchRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/outcomes:batch",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> OutcomeBatchResponse | Problem | None:
    if response.status_code == 200:
        response_200 = OutcomeBatchResponse.from_dict(response.json())

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

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[OutcomeBatchResponse | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: OutcomeBatchRequest,
) -> Response[OutcomeBatchResponse | Problem]:
    """Record up to 1,000 outcomes in one transaction (each with its own idempotency_key)

     Only the caller that made a recommendation records its outcome: the same API key, or the same JWT
    subject, the rule `GET /v1/recommendations/{id}` follows (there is no organisation rule: a
    colleague's key or a new key of the same integration is another caller). A recommendation of another
    caller is answered exactly like an unknown id, with nothing written and nothing of the
    recommendation shown; so is an idempotent replay of an outcome whose recommendation is not the
    caller's. In a batch, such an item is a 422 entry of type `not_found` at
    `outcomes.<i>.recommendation_id` (the entry an unknown id gets), and nothing of the batch is
    written.

    Args:
        body (OutcomeBatchRequest): Up to 1,000 outcomes recorded in one transaction.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[OutcomeBatchResponse | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: OutcomeBatchRequest,
) -> OutcomeBatchResponse | Problem | None:
    """Record up to 1,000 outcomes in one transaction (each with its own idempotency_key)

     Only the caller that made a recommendation records its outcome: the same API key, or the same JWT
    subject, the rule `GET /v1/recommendations/{id}` follows (there is no organisation rule: a
    colleague's key or a new key of the same integration is another caller). A recommendation of another
    caller is answered exactly like an unknown id, with nothing written and nothing of the
    recommendation shown; so is an idempotent replay of an outcome whose recommendation is not the
    caller's. In a batch, such an item is a 422 entry of type `not_found` at
    `outcomes.<i>.recommendation_id` (the entry an unknown id gets), and nothing of the batch is
    written.

    Args:
        body (OutcomeBatchRequest): Up to 1,000 outcomes recorded in one transaction.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        OutcomeBatchResponse | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: OutcomeBatchRequest,
) -> Response[OutcomeBatchResponse | Problem]:
    """Record up to 1,000 outcomes in one transaction (each with its own idempotency_key)

     Only the caller that made a recommendation records its outcome: the same API key, or the same JWT
    subject, the rule `GET /v1/recommendations/{id}` follows (there is no organisation rule: a
    colleague's key or a new key of the same integration is another caller). A recommendation of another
    caller is answered exactly like an unknown id, with nothing written and nothing of the
    recommendation shown; so is an idempotent replay of an outcome whose recommendation is not the
    caller's. In a batch, such an item is a 422 entry of type `not_found` at
    `outcomes.<i>.recommendation_id` (the entry an unknown id gets), and nothing of the batch is
    written.

    Args:
        body (OutcomeBatchRequest): Up to 1,000 outcomes recorded in one transaction.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[OutcomeBatchResponse | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: OutcomeBatchRequest,
) -> OutcomeBatchResponse | Problem | None:
    """Record up to 1,000 outcomes in one transaction (each with its own idempotency_key)

     Only the caller that made a recommendation records its outcome: the same API key, or the same JWT
    subject, the rule `GET /v1/recommendations/{id}` follows (there is no organisation rule: a
    colleague's key or a new key of the same integration is another caller). A recommendation of another
    caller is answered exactly like an unknown id, with nothing written and nothing of the
    recommendation shown; so is an idempotent replay of an outcome whose recommendation is not the
    caller's. In a batch, such an item is a 422 entry of type `not_found` at
    `outcomes.<i>.recommendation_id` (the entry an unknown id gets), and nothing of the batch is
    written.

    Args:
        body (OutcomeBatchRequest): Up to 1,000 outcomes recorded in one transaction.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        OutcomeBatchResponse | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
