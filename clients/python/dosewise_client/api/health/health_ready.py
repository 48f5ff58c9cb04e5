from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/readyz",
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | None:
    if response.status_code == 200:
        return None

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[Any]:
    """Ready: database and inference reachable (Redis down: ready, degraded)

     503 when this replica cannot answer traffic (database or inference unreachable), else 200 — also
    with Redis down.

    Redis (``REDIS_URL``) is off the request path: recommendations never touch it, and outcomes commit
    to the outbox table
    in the database (``dosewise.outbox``); only the trainer's relay needs Redis, to announce them. A
    Kubernetes readiness
    probe that failed on Redis would take every gateway replica out of its Service at once — they share
    the one Redis — and
    turn a delay in learning into an outage of dosing advice. So a Redis outage answers 200 with
    ``status`` "degraded:
    outbox not draining" and the reason in ``checks.queue``, for dashboards and alerts to see; ``ready``
    stays true.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[Any]:
    """Ready: database and inference reachable (Redis down: ready, degraded)

     503 when this replica cannot answer traffic (database or inference unreachable), else 200 — also
    with Redis down.

    Redis (``REDIS_URL``) is off the request path: recommendations never touch it, and outcomes commit
    to the outbox table
    in the database (``dosewise.outbox``); only the trainer's relay needs Redis, to announce them. A
    Kubernetes readiness
    probe that failed on Redis would take every gateway replica out of its Service at once — they share
    the one Redis — and
    turn a delay in learning into an outage of dosing advice. So a Redis outage answers 200 with
    ``status`` "degraded:
    outbox not draining" and the reason in ``checks.queue``, for dashboards and alerts to see; ``ready``
    stays true.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)
