from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.policies_public import PoliciesPublic
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    therapy: None | str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_therapy: None | str | Unset
    if isinstance(therapy, Unset):
        json_therapy = UNSET
    else:
        json_therapy = therapy
    params["therapy"] = json_therapy

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/policies",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> PoliciesPublic | Problem | None:
    if response.status_code == 200:
        response_200 = PoliciesPublic.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

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
) -> Response[PoliciesPublic | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    therapy: None | str | Unset = UNSET,
) -> Response[PoliciesPublic | Problem]:
    """The policy registry, newest first

    Args:
        therapy (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PoliciesPublic | Problem]
    """

    kwargs = _get_kwargs(
        therapy=therapy,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    therapy: None | str | Unset = UNSET,
) -> PoliciesPublic | Problem | None:
    """The policy registry, newest first

    Args:
        therapy (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PoliciesPublic | Problem
    """

    return sync_detailed(
        client=client,
        therapy=therapy,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    therapy: None | str | Unset = UNSET,
) -> Response[PoliciesPublic | Problem]:
    """The policy registry, newest first

    Args:
        therapy (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[PoliciesPublic | Problem]
    """

    kwargs = _get_kwargs(
        therapy=therapy,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    therapy: None | str | Unset = UNSET,
) -> PoliciesPublic | Problem | None:
    """The policy registry, newest first

    Args:
        therapy (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        PoliciesPublic | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            therapy=therapy,
        )
    ).parsed
