"""A stand-in identity provider for tests: an RSA signing key, its JWKS written to a file, and tokens signed with it.

The gateway reads the JWKS file exactly as it would read the hospital provider's (DOSEWISE_JWT_JWKS_URL accepts a path).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://idp.test.invalid/realms/hospital"
AUDIENCE = "dosewise-api"
KID = "test-key-1"


class TestIssuer:
    __test__ = False  # not a test class, despite the name

    def __init__(self, directory: Path, kid: str = KID) -> None:
        self.kid = kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        self.public_jwk: dict[str, Any] = public_jwk | {"kid": kid, "use": "sig", "alg": "RS256"}
        self.jwks_path = directory / "jwks.json"
        self.jwks_path.write_text(json.dumps({"keys": [self.public_jwk]}))

    def env(self) -> dict[str, str]:
        """The gateway settings that trust this issuer."""
        return {"DOSEWISE_JWT_JWKS_URL": str(self.jwks_path), "DOSEWISE_JWT_ISSUER": ISSUER,
                "DOSEWISE_JWT_AUDIENCE": AUDIENCE}

    def token(self, sub: str = "dr-test", roles: list[str] | str | None = None, *, lifetime_s: int = 3600,
              alg: str = "RS256", key: Any = None, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + lifetime_s}
        if roles is not None:
            body["roles"] = roles
        body.update(claims)
        return jwt.encode(body, key if key is not None else self.private_key, algorithm=alg,
                          headers={"kid": self.kid} | (headers or {}))
