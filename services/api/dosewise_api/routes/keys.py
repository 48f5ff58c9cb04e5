"""``/v1/keys``: API key administration over HTTP (admin), the same operations as ``dosewise keys``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from dosewise import apikeys
from dosewise.apikeys import Role
from dosewise_api.deps import AdminCaller, SessionsDep
from dosewise_api.middleware import ParsedBodyRoute
from dosewise_api.routes.audit import UtcDatetime

router = APIRouter(prefix="/v1/keys", tags=["keys"], route_class=ParsedBodyRoute)
_PROBLEM = {"content": {"application/problem+json": {}}}


def _whole_number(value: object) -> object:
    """A JSON integer, which may be spelled 30 or 30.0; never a string or a boolean (no silent coercion). Bounds go on the
    ``int`` before this validator (``Annotated[int, Field(ge=…), BeforeValidator(_whole_number)]``): after it, pydantic
    enforces them but writes them into the JSON Schema as the non-keywords ``ge``/``le``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON number, not a string")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be a whole number")
    return int(value)


class ApiKeyCreate(BaseModel):
    """A key to mint."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=apikeys.NAME_PATTERN, description="What the key is for, e.g. epic-integration.")
    role: Role
    expires_in_days: Annotated[int, Field(ge=1, le=3650), BeforeValidator(_whole_number)] | None = Field(
        None, description="Default: never expires.")


class ApiKeyPublic(BaseModel):
    """A key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    role: Role
    created_at: UtcDatetime
    created_by: str
    expires_at: UtcDatetime | None
    revoked_at: UtcDatetime | None
    revoked_by: str | None


class ApiKeyCreated(ApiKeyPublic):
    token: str = Field(description="The key itself (dwk_<id>_<secret>). Shown in this response only: store it now.")


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]
    count: int


KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="The key id (the middle part of dwk_<id>_<secret>).")]


@router.post("", status_code=201, response_model=ApiKeyCreated, operation_id="keys_create",
             summary="Mint an API key (admin); its secret is shown once")
async def create_key(body: ApiKeyCreate, caller: AdminCaller, sessions: SessionsDep) -> ApiKeyCreated:
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    try:
        new = await apikeys.create(sessions, name=body.name, role=body.role, actor=caller.id, actor_role=str(caller.role),
                                   expires_in=expires)
    except apikeys.KeyAdminError as e:
        raise HTTPException(e.status, str(e)) from None
    return ApiKeyCreated(**ApiKeyPublic.model_validate(new.key).model_dump(), token=new.token)


@router.get("", response_model=ApiKeysPublic, summary="API keys, oldest first (admin)", operation_id="keys_list")
async def list_keys(caller: AdminCaller, sessions: SessionsDep,
                    include_revoked: Annotated[bool, Query(description="Also list revoked keys.")] = False) -> ApiKeysPublic:
    data = [ApiKeyPublic.model_validate(k) for k in await apikeys.list_keys(sessions, include_revoked)]
    return ApiKeysPublic(data=data, count=len(data))


@router.delete("/{key_id}", response_model=ApiKeyPublic, summary="Revoke an API key (admin)", operation_id="keys_revoke",
               responses={404: {"description": "No such key", **_PROBLEM},
                          409: {"description": "Already revoked, or the caller's own key", **_PROBLEM}})
async def revoke_key(key_id: KeyId, caller: AdminCaller, sessions: SessionsDep, request: Request) -> ApiKeyPublic:
    if caller.id == f"key:{key_id}":
        raise HTTPException(409, "an admin cannot revoke the key they are calling with; use another admin key or the CLI")
    try:
        key = await apikeys.revoke(sessions, key_id, actor=caller.id, actor_role=str(caller.role))
    except apikeys.KeyAdminError as e:
        raise HTTPException(e.status, str(e)) from None
    request.app.state.auth.keys.forget(key_id)  # refused from this request on here; other replicas: DOSEWISE_API_KEY_CACHE_S
    return ApiKeyPublic.model_validate(key)
