"""A real stack for end-to-end tests: inference and gateway as separate processes on free loopback ports, migrated database,
bootstrapped policies — what `dosewise up` starts (the trainer only when a test asks). One API key per role is minted before the
gateway starts (``Stack.headers[role]``): the gateway refuses requests without one."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dosewise import apikeys
from dosewise.apikeys import Role
from dosewise.devstack import LocalStack
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack(LocalStack):
    """The services of one test stack, their URLs and database; each process logs to ``<var>/<name>.log``."""

    api: str = ""
    inference: str = ""
    db_url: str = ""
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # role → {"Authorization": "Bearer dwk_…"}
    key_ids: dict[str, str] = field(default_factory=dict)  # role → key id (the audit trail names the caller key:<id>)

    @property
    def clinician_headers(self) -> dict[str, str]:
        return self.headers["clinician"]

    @property
    def admin_headers(self) -> dict[str, str]:
        return self.headers["admin"]

    @property
    def logs(self) -> dict[str, Path]:
        assert self.log_dir is not None
        return {p.stem: p for p in self.log_dir.glob("*.log")}


def mint_keys(db_url: str) -> dict[str, apikeys.NewKey]:
    """One key per role, made the way `dosewise keys create` makes them."""

    async def go() -> dict[str, apikeys.NewKey]:
        engine = make_engine(Settings(DATABASE_URL=db_url))
        try:
            sessions = make_sessionmaker(engine)
            return {role.value: await apikeys.create(sessions, name=f"e2e-{role.value}", role=role, actor="e2e-fixture",
                                                     actor_role=Role.ADMIN) for role in Role}
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _stack(db_url: str, tmp: Path, extra_env: dict[str, str] | None = None, trainer: bool = False) -> Iterator[Stack]:
    api_port, inf_port = free_port(), free_port()
    env = os.environ.copy() | {
        "DATABASE_URL": db_url,
        "DOSEWISE_VAR_DIR": str(tmp),
        "DOSEWISE_API_PORT": str(api_port),
        "DOSEWISE_INFERENCE_PORT": str(inf_port),
        "DOSEWISE_INFERENCE_URL": f"http://127.0.0.1:{inf_port}",
        "DOSEWISE_POLICY_REFRESH_S": "0.5",
        "DOSEWISE_ENV": "test",
        # Load tests here (hot swap) send hundreds of requests per key; the rate limit has its own tests
        # (tests/integration/test_auth_roles.py) and would otherwise answer them 429.
        "DOSEWISE_RATE_LIMIT_PER_MINUTE": "1000000",
        "DOSEWISE_RATE_LIMIT_BURST": "100000",
    }
    env.pop("REDIS_URL", None)  # the table queue, unless a test sets REDIS_URL in extra_env
    env |= extra_env or {}
    subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], env=env, check=True, capture_output=True)
    stack = Stack(env=env, log_dir=tmp, api=f"http://127.0.0.1:{api_port}", inference=f"http://127.0.0.1:{inf_port}",
                  db_url=db_url)
    for role, new in mint_keys(db_url).items():
        stack.headers[role], stack.key_ids[role] = {"Authorization": f"Bearer {new.token}"}, new.key.id
    try:
        stack.start("inference")
        stack.start("api")
        if trainer:  # the learning loop's tests; its readiness is its log (it serves no HTTP)
            stack.start("trainer")
        stack.wait_ready(stack.inference + "/readyz")
        stack.wait_ready(stack.api + "/readyz")
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack once on an embedded SQLite file and once on the machine's PostgreSQL."""
    tmp = tmp_path_factory.mktemp(f"stack-{request.param}")
    if request.param == "sqlite":
        from dosewise.storage.migrate import upgrade

        url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("pg_url")
    yield from _stack(url, tmp)
