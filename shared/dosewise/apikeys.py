"""API keys: minted once, stored only as a hash, checked in constant time, revoked (never deleted).

A key reads ``dwk_<id>_<secret>``: the id is public (listed, and named in the audit trail as ``key:<id>``), the secret is 32
random bytes shown once at creation. The database keeps sha256(secret): a plain hash suffices because the secret has 256 bits
of entropy (nothing to brute-force, unlike a password), and it keeps every request's check to one fast hash.

Creating and revoking a key are audited in the same transaction as the change. Used by ``dosewise keys`` and the gateway's
``/v1/keys`` routes alike.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.audit_chain import Action, sha256_json
from dosewise.storage.db import transaction
from dosewise.storage.models import ApiKey, utcnow
from dosewise.storage.repositories import ApiKeyRepository, AuditRepository

TOKEN_PREFIX = "dwk_"
KEY_ID_BYTES = 6  # 12 hex characters: enough to never collide among a hospital's keys, short enough to read aloud
SECRET_BYTES = 32
DEV_ADMIN_NAME = "development-admin"
NAME_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"  # a label for a system, not free text: no room for a person's name with spaces


class Role(StrEnum):
    """Who may do what (the gateway's routes each declare the roles they admit)."""

    CLINICIAN = "clinician"  # recommendations, outcomes, feedback, own history
    INTEGRATOR = "integrator"  # the same, machine to machine (an EHR integration)
    AUDITOR = "auditor"  # reads the audit trail
    ADMIN = "admin"  # policies and keys


class KeyAdminError(LookupError):
    """A key operation that cannot be done; ``status`` is the HTTP status that describes it."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class NewKey:
    """A freshly minted key: ``token`` is the only copy of the secret there will ever be."""

    key: ApiKey
    token: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    parts = token.split("_", 2)
    if len(parts) != 3 or len(parts[1]) != 2 * KEY_ID_BYTES or not parts[2]:
        return None
    key_id, secret = parts[1], parts[2]
    if not all(c in "0123456789abcdef" for c in key_id) or len(secret) > 128:
        return None
    return key_id, secret


_DUMMY_HASH = hash_secret("no such key")


def matches(key: ApiKey | None, secret: str, now: datetime | None = None) -> bool:
    """Constant-time check of a presented secret; unknown, revoked and expired keys never match."""
    expected = key.secret_sha256 if key is not None else _DUMMY_HASH  # compare anyway: same work whether the id exists
    ok = hmac.compare_digest(hash_secret(secret), expected)
    if key is None or key.revoked_at is not None:
        return False
    if key.expires_at is not None:
        expires = key.expires_at if key.expires_at.tzinfo else key.expires_at.replace(tzinfo=UTC)  # SQLite reads naive UTC
        if expires <= (now or utcnow()):
            return False
    return ok


class KeyCache:
    """Recently read key rows, so a caller's every request does not read its key again: that read cost the gateway 0.7 ms
    of CPU per request on SQLite (a fifth of a recommendation's), measured. Every request still checks the secret, the
    revocation and the expiry (against the clock) — of the row as read at most ``ttl_s`` ago. So a revocation made
    elsewhere (the CLI, another replica) applies within ``ttl_s``; ``forget`` applies one made here at once. Only keys that
    exist are kept (a new key works at once), at most ``max_entries`` of them."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.max_entries, self._clock = ttl_s, max_entries, clock
        self._rows: dict[str, tuple[float, ApiKey]] = {}

    def get(self, key_id: str) -> ApiKey | None:
        hit = self._rows.get(key_id)
        if hit is None or self._clock() - hit[0] >= self.ttl_s:
            return None
        return hit[1]

    def put(self, key: ApiKey) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._rows) >= self.max_entries:
            self._rows.clear()  # a flood of distinct keys: start over rather than grow (they are re-read on demand)
        self._rows[key.id] = (self._clock(), key)

    def forget(self, key_id: str) -> None:
        self._rows.pop(key_id, None)

    def __len__(self) -> int:
        return len(self._rows)


async def lookup(sessions: async_sessionmaker[AsyncSession], token: str, cache: KeyCache | None = None) -> ApiKey | None:
    """The live key this token belongs to, or None (malformed, unknown, wrong secret, revoked or expired)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    key = cache.get(key_id) if cache is not None else None
    if key is None:
        async with sessions() as s:
            key = await ApiKeyRepository(s).get(key_id)
        if key is not None and cache is not None:
            cache.put(key)
    return key if matches(key, secret) else None


async def create(
    sessions: async_sessionmaker[AsyncSession], *, name: str, role: Role, actor: str, actor_role: str,
    expires_in: timedelta | None = None,
) -> NewKey:
    """Mint a key of ``role`` and audit it (``key.create``, subject = the key id) in one transaction."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise KeyAdminError(f"key names match {NAME_PATTERN}", 422)
    key_id, secret = secrets.token_hex(KEY_ID_BYTES), secrets.token_urlsafe(SECRET_BYTES)
    now = utcnow()
    key = ApiKey(id=key_id, name=name, role=Role(role).value, secret_sha256=hash_secret(secret), created_at=now,
                 created_by=actor, expires_at=now + expires_in if expires_in else None)
    async with transaction(sessions) as s:
        await AuditRepository(s).append(actor=actor, role=actor_role, action=Action.KEY_CREATE, subject_id=key_id,
                                        input_hash=sha256_json({"name": name, "role": key.role}))
        await ApiKeyRepository(s).add(key)
    return NewKey(key=key, token=f"{TOKEN_PREFIX}{key_id}_{secret}")


async def revoke(sessions: async_sessionmaker[AsyncSession], key_id: str, *, actor: str, actor_role: str) -> ApiKey:
    """Revoke a key from now on and audit it (``key.revoke``). Revoking twice is an error (409), not a second event."""
    async with transaction(sessions) as s:
        await AuditRepository(s).append(actor=actor, role=actor_role, action=Action.KEY_REVOKE, subject_id=key_id)
        key = await ApiKeyRepository(s).get(key_id)
        if key is None:
            raise KeyAdminError(f"no API key {key_id!r}", 404)  # rolls the audit event back with it
        if key.revoked_at is not None:
            raise KeyAdminError(f"API key {key_id} was already revoked", 409)
        key.revoked_at, key.revoked_by = utcnow(), actor
    return key


async def list_keys(sessions: async_sessionmaker[AsyncSession], include_revoked: bool = True) -> list[ApiKey]:
    async with sessions() as s:
        return list(await ApiKeyRepository(s).list(include_revoked))


async def ensure_dev_admin(sessions: async_sessionmaker[AsyncSession], actor: str) -> NewKey | None:
    """First start of the embedded mode: mint an admin key if there is no live one. None when one already exists."""
    async with sessions() as s:
        if await ApiKeyRepository(s).count_active(Role.ADMIN) > 0:
            return None
    return await create(sessions, name=DEV_ADMIN_NAME, role=Role.ADMIN, actor=actor, actor_role="system")
