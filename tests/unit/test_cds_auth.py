"""The CDS client JWT rules (dosewise_api/cds_auth.py) on their own: the spec's example token verifies by its signature and
is refused as expired; ``none`` and HMAC are refused before any key is read; a ``jku`` elsewhere is never fetched."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jwt
import pytest

from dosewise.settings import Settings
from dosewise_api.auth import AuthProblem, Jwks
from dosewise_api.cds_auth import CdsJwtVerifier

EXAMPLE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "cds_hooks" / "spec_example_jwt.json").read_text())


def verifier(monkeypatch: pytest.MonkeyPatch, reads: list[str]) -> CdsJwtVerifier:
    """Trusting the spec's example client, its JWKS at its jku URL (served from the fixture: no network)."""

    async def read(self: Jwks) -> dict[str, Any]:
        reads.append(self.source)
        return dict(EXAMPLE["jwks"])

    monkeypatch.setattr(Jwks, "_read_jwks", read)
    return CdsJwtVerifier(Settings(DOSEWISE_CDS_ISSUERS=json.dumps({EXAMPLE["iss"]: EXAMPLE["jku"]})))


def refusal(v: CdsJwtVerifier, token: str, aud: str = EXAMPLE["aud"]) -> str:
    with pytest.raises(AuthProblem) as e:
        asyncio.run(v.verify(None, token, aud))  # type: ignore[arg-type]  # refused before the request is used
    assert e.value.status == 401
    return e.value.detail


def test_the_specs_example_token_has_a_valid_signature() -> None:
    key = jwt.PyJWK.from_dict(EXAMPLE["jwks"]["keys"][0])
    claims = jwt.decode(EXAMPLE["token"], key.key, algorithms=["ES384"], audience=EXAMPLE["aud"],
                        options={"verify_exp": False})
    assert claims["iss"] == EXAMPLE["iss"] and claims["jti"] == "ee22b021-e1b7-4611-ba5b-8eec6a33ac1e"


def test_the_specs_example_token_is_refused_as_expired_after_its_signature_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    assert refusal(verifier(monkeypatch, reads), EXAMPLE["token"]) == "token expired"
    assert reads == [EXAMPLE["jku"]], "the configured JWKS, which is the token's jku"


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_none_and_hmac_are_refused_before_any_key_is_read(monkeypatch: pytest.MonkeyPatch, alg: str) -> None:
    reads: list[str] = []
    body = {"iss": EXAMPLE["iss"], "aud": EXAMPLE["aud"], "exp": 2**31, "iat": 2**31 - 60, "jti": "j"}
    token = jwt.encode(body, None if alg == "none" else "a-shared-secret-of-32-characters!", algorithm=alg,
                       headers={"kid": "example-kid"})
    assert "algorithm not accepted" in refusal(verifier(monkeypatch, reads), token)
    assert reads == []


def test_a_jku_that_is_not_the_issuers_jwks_is_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    header = jwt.get_unverified_header(EXAMPLE["token"])
    assert header["jku"] == EXAMPLE["jku"]
    v = verifier(monkeypatch, reads)
    v.issuers[EXAMPLE["iss"]] = Jwks("https://fhir-ehr.example.com/other-jwks")
    assert "jku" in refusal(v, EXAMPLE["token"])
    assert reads == []


def test_a_token_without_its_kid_or_typ_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    body = {"iss": EXAMPLE["iss"], "aud": EXAMPLE["aud"], "exp": 2**31, "iat": 2**31 - 60, "jti": "j"}
    v = verifier(monkeypatch, [])
    assert "kid" in refusal(v, jwt.encode(body, key, algorithm="ES384"))
    assert "typ" in refusal(v, jwt.encode(body, key, algorithm="ES384", headers={"kid": "example-kid", "typ": "at+jwt"}))
