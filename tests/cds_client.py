"""A stand-in CDS client (an EHR) for tests: an ES384 signing key, its JWKS in a file, and the JWT CDS Hooks 2.0 asks the
client to send with each call (§Trusting CDS Clients: iss, aud = the endpoint's URL, exp, iat, jti; header alg, kid, typ)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://ehr.test.invalid"
KID = "ehr-key-1"


class CdsClient:
    def __init__(self, directory: Path, issuer: str = ISSUER, kid: str = KID) -> None:
        self.issuer, self.kid = issuer, kid
        self.private_key = ec.generate_private_key(ec.SECP384R1())
        public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key()))
        self.jwks_path = directory / f"cds-jwks-{kid}.json"
        self.jwks_path.write_text(json.dumps({"keys": [public_jwk | {"kid": kid, "use": "sig", "alg": "ES384"}]}))

    def env(self) -> dict[str, str]:
        """The gateway setting that trusts this client."""
        return {"DOSEWISE_CDS_ISSUERS": json.dumps({self.issuer: str(self.jwks_path)})}

    def token(self, aud: str, *, jti: str | None = None, iat_ago_s: int = 0, lifetime_s: int = 300,
              headers: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time()) - iat_ago_s
        body = {"iss": self.issuer, "sub": "ehr-client-7", "aud": aud, "iat": now, "exp": now + lifetime_s,
                "jti": jti or str(uuid.uuid4())} | claims
        return jwt.encode(body, self.private_key, algorithm="ES384",
                          headers={"kid": self.kid, "typ": "JWT"} | (headers or {}))

    def headers(self, aud: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(aud, **kw)}"}
