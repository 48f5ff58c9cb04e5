from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.cds_discovery_response_cds_discovery import CdsDiscoveryResponseCdsDiscovery
from ...models.problem import Problem
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/cds-services",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CdsDiscoveryResponseCdsDiscovery | Problem | None:
    if response.status_code == 200:
        response_200 = CdsDiscoveryResponseCdsDiscovery.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[CdsDiscoveryResponseCdsDiscovery | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[CdsDiscoveryResponseCdsDiscovery | Problem]:
    """CDS Hooks discovery: one service per therapy and hook

     Each service's `prefetch` holds R4 search templates (`_sort=-date`) for the patient, the therapy's
    observations (LOINC) and medication records. A CDS client authenticates with its JWT (CDS Hooks 2.0
    §Trusting CDS Clients: `iss` on DOSEWISE_CDS_ISSUERS, `aud` this endpoint's URL, `exp`, `iat`, `jti`
    once); an integration may use a clinician or integrator API key.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CdsDiscoveryResponseCdsDiscovery | Problem]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
) -> CdsDiscoveryResponseCdsDiscovery | Problem | None:
    """CDS Hooks discovery: one service per therapy and hook

     Each service's `prefetch` holds R4 search templates (`_sort=-date`) for the patient, the therapy's
    observations (LOINC) and medication records. A CDS client authenticates with its JWT (CDS Hooks 2.0
    §Trusting CDS Clients: `iss` on DOSEWISE_CDS_ISSUERS, `aud` this endpoint's URL, `exp`, `iat`, `jti`
    once); an integration may use a clinician or integrator API key.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CdsDiscoveryResponseCdsDiscovery | Problem
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
) -> Response[CdsDiscoveryResponseCdsDiscovery | Problem]:
    """CDS Hooks discovery: one service per therapy and hook

     Each service's `prefetch` holds R4 search templates (`_sort=-date`) for the patient, the therapy's
    observations (LOINC) and medication records. A CDS client authenticates with its JWT (CDS Hooks 2.0
    §Trusting CDS Clients: `iss` on DOSEWISE_CDS_ISSUERS, `aud` this endpoint's URL, `exp`, `iat`, `jti`
    once); an integration may use a clinician or integrator API key.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CdsDiscoveryResponseCdsDiscovery | Problem]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
) -> CdsDiscoveryResponseCdsDiscovery | Problem | None:
    """CDS Hooks discovery: one service per therapy and hook

     Each service's `prefetch` holds R4 search templates (`_sort=-date`) for the patient, the therapy's
    observations (LOINC) and medication records. A CDS client authenticates with its JWT (CDS Hooks 2.0
    §Trusting CDS Clients: `iss` on DOSEWISE_CDS_ISSUERS, `aud` this endpoint's URL, `exp`, `iat`, `jti`
    once); an integration may use a clinician or integrator API key.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CdsDiscoveryResponseCdsDiscovery | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
