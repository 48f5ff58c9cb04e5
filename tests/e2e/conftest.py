"""A real stack for end-to-end tests: inference and gateway as separate processes on free loopback ports, migrated database,
bootstrapped policies — exactly what `dosewise up` starts, minus the trainer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    api: str
    inference: str
    env: dict[str, str]
    db_url: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def start(self, name: str, module: str) -> None:
        log = self.logs.setdefault(name, Path(self.env["DOSEWISE_VAR_DIR"]) / f"{name}.log")
        with log.open("ab") as out:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", module], env=self.env, stdout=out, stderr=out)

    def stop(self, name: str) -> None:
        p = self.procs.pop(name)
        p.terminate()
        p.wait(timeout=15)

    def wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.logs[name].read_text()[-2000:]}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{url} not ready; logs: " + " | ".join(p.read_text()[-1500:] for p in self.logs.values()))


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
    stack = Stack(api=f"http://127.0.0.1:{api_port}", inference=f"http://127.0.0.1:{inf_port}", env=env, db_url=db_url)
    try:
        stack.start("inference", "dosewise_inference")
        stack.start("api", "dosewise_api")
        stack.wait_ready(stack.inference + "/readyz")
        stack.wait_ready(stack.api + "/readyz")
        yield stack
    finally:
        for name in list(stack.procs):
            stack.stop(name)


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
