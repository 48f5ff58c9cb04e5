"""A real stack for end-to-end tests: inference and gateway as separate processes on free loopback ports, migrated database,
bootstrapped policies — exactly what `dosewise up` starts, minus the trainer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dosewise.devstack import LocalStack


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

    @property
    def logs(self) -> dict[str, Path]:
        assert self.log_dir is not None
        return {p.stem: p for p in self.log_dir.glob("*.log")}


def _stack(db_url: str, tmp: Path) -> Iterator[Stack]:
    api_port, inf_port = free_port(), free_port()
    env = os.environ.copy() | {
        "DATABASE_URL": db_url,
        "DOSEWISE_VAR_DIR": str(tmp),
        "DOSEWISE_API_PORT": str(api_port),
        "DOSEWISE_INFERENCE_PORT": str(inf_port),
        "DOSEWISE_INFERENCE_URL": f"http://127.0.0.1:{inf_port}",
        "DOSEWISE_POLICY_REFRESH_S": "0.5",
        "DOSEWISE_ENV": "test",
    }
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], env=env, check=True, capture_output=True)
    stack = Stack(env=env, log_dir=tmp, api=f"http://127.0.0.1:{api_port}", inference=f"http://127.0.0.1:{inf_port}",
                  db_url=db_url)
    try:
        stack.start("inference")
        stack.start("api")
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
