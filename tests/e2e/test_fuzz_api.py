"""Schemathesis against the live gateway's own OpenAPI document: every operation, every check, ≥ 1,000 generated cases.

The stack is real (gateway and inference processes, SQLite, bootstrapped policies). Credentials: one bearer JWT from the test
identity provider carrying all four roles, so every operation is exercised past authentication (a JWT, unlike an API key,
cannot be revoked by the fuzzer's own DELETE /v1/keys calls); the `ignored_auth` check separately sends requests without it.
Passing means zero server errors (5xx other than documented 503s) and zero responses that break the documented schema.

One documented relaxation, in the config below: for the recommendation and outcome bodies, a request that satisfies the JSON
Schema may still be a 422. The document states units, value ranges per unit and each therapy's kinds
(dosewise_api/openapi.py; tests/integration/test_openapi_contract.py holds it to that), but not what JSON Schema cannot say:
a time not in the future, the order of a state's times (a sample before the decision time), and an outcome's rules that
need its recommendation (its therapy's units, times after its decision). Every other check, including
`negative_data_rejection` (schema-invalid input must be refused), runs unrelaxed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dosewise.storage.migrate import upgrade
from tests.e2e.conftest import Stack, _stack
from tests.jwt_issuer import TestIssuer

MIN_CASES = 1000
MAX_EXAMPLES = 40  # per operation and phase; with the coverage and stateful phases this yields > 1,000 cases
TIME_LIMIT_S = 240  # the whole run, hard stop
SEED = 20261123

CONFIG = """
# Clinical rules on times and on an outcome's recommendation cannot be expressed in JSON Schema (the module's docstring).
[[operations]]
include-path-regex = "^/v1/(recommendations|outcomes)"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

# CDS Hooks: a schema-valid call may name no service of ours (404), a hook other than the service's or a malformed context
# (400), prefetch missing with no fhirServer (412, the spec's), a card that is not the caller's (404).
[[operations]]
include-path-regex = "^/cds-services/"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "410", "412", "422", "429"]
"""


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> TestIssuer:
    return TestIssuer(tmp_path_factory.mktemp("idp"))


@pytest.fixture(scope="module")
def fuzz_stack(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("fuzz-stack")
    url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
    upgrade(url)
    # The fuzzer is one caller sending thousands of requests: the per-caller rate limit would answer most of them 429.
    env = issuer.env() | {"DOSEWISE_RATE_LIMIT_PER_MINUTE": "1000000", "DOSEWISE_RATE_LIMIT_BURST": "100000"}
    yield from _stack(url, tmp, env)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    fuzz_stack: Stack, issuer: TestIssuer, tmp_path: Path
) -> None:
    token = issuer.token(sub="fuzzer", roles=["clinician", "integrator", "auditor", "admin"], lifetime_s=3600)
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    cli = Path(sys.executable).parent / "schemathesis"
    cmd = [str(cli), "--config-file", str(tmp_path / "schemathesis.toml"), "run", f"{fuzz_stack.api}/openapi.json",
           "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--request-timeout", "30",
           "--generation-database", "none", "--no-color", "-H", f"Authorization: Bearer {token}"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=TIME_LIMIT_S)
    out = done.stdout + done.stderr
    summary = out[out.rfind("SUMMARY"):] if "SUMMARY" in out else out[-3000:]
    print(summary)  # the closing note quotes it (pytest -s)
    cases = re.search(r"(\d+) generated", summary)
    assert done.returncode == 0, out[-12000:]
    assert cases is not None and int(cases.group(1)) >= MIN_CASES, summary
