"""The JWKS cache (dosewise_api.auth.Jwks) on a fake clock and a fake identity provider: what it does that PyJWT's
PyJWKClient would not (auth.py says why it is kept): a file source, re-reads on an unknown ``kid`` at most every
JWKS_MIN_REFETCH_S, the keys it has kept through an outage of the provider, a single-key JWKS without ``kid``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from dosewise_api import auth
from dosewise_api.auth import JWKS_MIN_REFETCH_S, JWKS_TTL_S, AuthProblem, Jwks


def public_jwk(kid: str | None) -> dict[str, Any]:
    key = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    return key | ({"kid": kid} if kid else {}) | {"use": "sig"}


class Provider:
    """The identity provider's JWKS endpoint: its current keys, or down (None); counts the reads."""

    def __init__(self, keys: list[dict[str, Any]] | None) -> None:
        self.keys, self.reads = keys, 0

    async def read(self, *_: object) -> dict[str, Any]:
        self.reads += 1
        if self.keys is None:
            raise OSError("connection refused")
        return {"keys": self.keys}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    now = SimpleNamespace(t=1000.0)
    monkeypatch.setattr(auth, "time", SimpleNamespace(monotonic=lambda: now.t))
    return now


def jwks_of(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> Jwks:
    monkeypatch.setattr(Jwks, "_read_jwks", provider.read)
    return Jwks("https://idp.example/jwks")


def kid_of(jwks: Jwks, kid: str) -> str | None:
    return asyncio.run(jwks.key_for(kid)).jwk.key_id


def test_a_rotated_key_is_found_and_an_unknown_kid_rereads_at_most_every_min_refetch(
        monkeypatch: pytest.MonkeyPatch, clock: SimpleNamespace) -> None:
    provider = Provider([public_jwk("k1")])
    jwks = jwks_of(provider, monkeypatch)
    assert kid_of(jwks, "k1") == "k1" and provider.reads == 1
    clock.t += JWKS_MIN_REFETCH_S + 1
    provider.keys = [public_jwk("k1"), public_jwk("k2")]  # the provider rotates in a new key
    assert kid_of(jwks, "k2") == "k2" and provider.reads == 2
    for _ in range(5):  # a flood of tokens naming keys that do not exist: no read until the interval has passed
        with pytest.raises(AuthProblem, match="unknown key"):
            asyncio.run(jwks.key_for("forged"))
    assert provider.reads == 2
    clock.t += JWKS_MIN_REFETCH_S + 1
    with pytest.raises(AuthProblem):
        asyncio.run(jwks.key_for("forged"))
    assert provider.reads == 3


def test_an_outage_of_the_provider_keeps_the_keys_it_had(monkeypatch: pytest.MonkeyPatch, clock: SimpleNamespace) -> None:
    provider = Provider([public_jwk("k1")])
    jwks = jwks_of(provider, monkeypatch)
    assert kid_of(jwks, "k1") == "k1"
    provider.keys = None
    clock.t += JWKS_TTL_S * 3  # long past the cache time: it tries to re-read, fails, and keeps serving
    assert kid_of(jwks, "k1") == "k1" and provider.reads == 2


def test_no_keys_ever_read_is_a_401(monkeypatch: pytest.MonkeyPatch, clock: SimpleNamespace) -> None:
    with pytest.raises(AuthProblem, match="signing keys are unavailable") as e:
        asyncio.run(jwks_of(Provider(None), monkeypatch).key_for("k1"))
    assert e.value.status == 401


def test_a_single_key_jwks_may_omit_kid_and_symmetric_keys_are_never_loaded(
        monkeypatch: pytest.MonkeyPatch, clock: SimpleNamespace) -> None:
    assert asyncio.run(jwks_of(Provider([public_jwk(None)]), monkeypatch).key_for("")).kty == "EC"
    secret = {"kty": "oct", "kid": "hs", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}
    with pytest.raises(AuthProblem, match="unknown key"):
        asyncio.run(jwks_of(Provider([secret, public_jwk("k1")]), monkeypatch).key_for("hs"))


def test_a_file_source_is_read(tmp_path: Path, clock: SimpleNamespace) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [public_jwk("k1")]}))
    assert kid_of(Jwks(str(path)), "k1") == "k1"
    assert kid_of(Jwks(f"file://{path}"), "k1") == "k1"
