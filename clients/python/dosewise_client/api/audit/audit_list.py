import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.action import Action
from ...models.audit_events_public import AuditEventsPublic
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    since: datetime.datetime | None | Unset = UNSET,
    until: datetime.datetime | None | Unset = UNSET,
    patient_ref: None | str | Unset = UNSET,
    pseudonym: None | str | Unset = UNSET,
    caller: None | str | Unset = UNSET,
    action: Action | None | Unset = UNSET,
    after_id: int | Unset = 0,
    limit: int | Unset = 100,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_since: None | str | Unset
    if isinstance(since, Unset):
        json_since = UNSET
    elif isinstance(since, datetime.datetime):
        json_since = since.isoformat()
    else:
        json_since = since
    params["since"] = json_since

    json_until: None | str | Unset
    if isinstance(until, Unset):
        json_until = UNSET
    elif isinstance(until, datetime.datetime):
        json_until = until.isoformat()
    else:
        json_until = until
    params["until"] = json_until

    json_patient_ref: None | str | Unset
    if isinstance(patient_ref, Unset):
        json_patient_ref = UNSET
    else:
        json_patient_ref = patient_ref
    params["patient_ref"] = json_patient_ref

    json_pseudonym: None | str | Unset
    if isinstance(pseudonym, Unset):
        json_pseudonym = UNSET
    else:
        json_pseudonym = pseudonym
    params["pseudonym"] = json_pseudonym

    json_caller: None | str | Unset
    if isinstance(caller, Unset):
        json_caller = UNSET
    else:
        json_caller = caller
    params["caller"] = json_caller

    json_action: None | str | Unset
    if isinstance(action, Unset):
        json_action = UNSET
    elif isinstance(action, Action):
        json_action = action.value
    else:
        json_action = action
    params["action"] = json_action

    params["after_id"] = after_id

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/audit",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AuditEventsPublic | Problem | None:
    if response.status_code == 200:
        response_200 = AuditEventsPublic.from_dict(response.json())

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
) -> Response[AuditEventsPublic | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    since: datetime.datetime | None | Unset = UNSET,
    until: datetime.datetime | None | Unset = UNSET,
    patient_ref: None | str | Unset = UNSET,
    pseudonym: None | str | Unset = UNSET,
    caller: None | str | Unset = UNSET,
    action: Action | None | Unset = UNSET,
    after_id: int | Unset = 0,
    limit: int | Unset = 100,
) -> Response[AuditEventsPublic | Problem]:
    """Audit events, oldest first (auditor)

    Args:
        since (datetime.datetime | None | Unset): Events at or after this instant (with time
            zone).
        until (datetime.datetime | None | Unset): Events before this instant (with time zone).
        patient_ref (None | str | Unset): A caller's patient reference (pseudonymized here first).
        pseudonym (None | str | Unset): A stored pseudonymous reference (pz_…); with patient_ref,
            events must match both.
        caller (None | str | Unset): Caller id, e.g. key:1a2b3c4d5e6f or jwt:<subject>.
        action (Action | None | Unset): Only this kind of event.
        after_id (int | Unset): Cursor: events with a larger id. Default: 0.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditEventsPublic | Problem]
    """

    kwargs = _get_kwargs(
        since=since,
        until=until,
        patient_ref=patient_ref,
        pseudonym=pseudonym,
        caller=caller,
        action=action,
        after_id=after_id,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    since: datetime.datetime | None | Unset = UNSET,
    until: datetime.datetime | None | Unset = UNSET,
    patient_ref: None | str | Unset = UNSET,
    pseudonym: None | str | Unset = UNSET,
    caller: None | str | Unset = UNSET,
    action: Action | None | Unset = UNSET,
    after_id: int | Unset = 0,
    limit: int | Unset = 100,
) -> AuditEventsPublic | Problem | None:
    """Audit events, oldest first (auditor)

    Args:
        since (datetime.datetime | None | Unset): Events at or after this instant (with time
            zone).
        until (datetime.datetime | None | Unset): Events before this instant (with time zone).
        patient_ref (None | str | Unset): A caller's patient reference (pseudonymized here first).
        pseudonym (None | str | Unset): A stored pseudonymous reference (pz_…); with patient_ref,
            events must match both.
        caller (None | str | Unset): Caller id, e.g. key:1a2b3c4d5e6f or jwt:<subject>.
        action (Action | None | Unset): Only this kind of event.
        after_id (int | Unset): Cursor: events with a larger id. Default: 0.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditEventsPublic | Problem
    """

    return sync_detailed(
        client=client,
        since=since,
        until=until,
        patient_ref=patient_ref,
        pseudonym=pseudonym,
        caller=caller,
        action=action,
        after_id=after_id,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    since: datetime.datetime | None | Unset = UNSET,
    until: datetime.datetime | None | Unset = UNSET,
    patient_ref: None | str | Unset = UNSET,
    pseudonym: None | str | Unset = UNSET,
    caller: None | str | Unset = UNSET,
    action: Action | None | Unset = UNSET,
    after_id: int | Unset = 0,
    limit: int | Unset = 100,
) -> Response[AuditEventsPublic | Problem]:
    """Audit events, oldest first (auditor)

    Args:
        since (datetime.datetime | None | Unset): Events at or after this instant (with time
            zone).
        until (datetime.datetime | None | Unset): Events before this instant (with time zone).
        patient_ref (None | str | Unset): A caller's patient reference (pseudonymized here first).
        pseudonym (None | str | Unset): A stored pseudonymous reference (pz_…); with patient_ref,
            events must match both.
        caller (None | str | Unset): Caller id, e.g. key:1a2b3c4d5e6f or jwt:<subject>.
        action (Action | None | Unset): Only this kind of event.
        after_id (int | Unset): Cursor: events with a larger id. Default: 0.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditEventsPublic | Problem]
    """

    kwargs = _get_kwargs(
        since=since,
        until=until,
        patient_ref=patient_ref,
        pseudonym=pseudonym,
        caller=caller,
        action=action,
        after_id=after_id,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    since: datetime.datetime | None | Unset = UNSET,
    until: datetime.datetime | None | Unset = UNSET,
    patient_ref: None | str | Unset = UNSET,
    pseudonym: None | str | Unset = UNSET,
    caller: None | str | Unset = UNSET,
    action: Action | None | Unset = UNSET,
    after_id: int | Unset = 0,
    limit: int | Unset = 100,
) -> AuditEventsPublic | Problem | None:
    """Audit events, oldest first (auditor)

    Args:
        since (datetime.datetime | None | Unset): Events at or after this instant (with time
            zone).
        until (datetime.datetime | None | Unset): Events before this instant (with time zone).
        patient_ref (None | str | Unset): A caller's patient reference (pseudonymized here first).
        pseudonym (None | str | Unset): A stored pseudonymous reference (pz_…); with patient_ref,
            events must match both.
        caller (None | str | Unset): Caller id, e.g. key:1a2b3c4d5e6f or jwt:<subject>.
        action (Action | None | Unset): Only this kind of event.
        after_id (int | Unset): Cursor: events with a larger id. Default: 0.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditEventsPublic | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            since=since,
            until=until,
            patient_ref=patient_ref,
            pseudonym=pseudonym,
            caller=caller,
            action=action,
            after_id=after_id,
            limit=limit,
        )
    ).parsed
