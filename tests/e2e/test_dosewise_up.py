"""`dosewise up` — what `make run` runs — as a subprocess on its own var dir, ports and SQLite file: a SIGKILLed inference is
restarted (the gateway answers 503 problem+json meanwhile, then serves again), and Ctrl-C or SIGTERM stops all three
services with exit 0 and no restart. Its console is its own lines and, interleaved, its services' logs: readable lines
(DOSEWISE_LOG_FORMAT=console is its default), not JSON."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.storage.migrate import upgrade
from tests.e2e.conftest import free_port, mint_keys

pytestmark = pytest.mark.slow

READY_S = 240.0  # migrations, bootstrap and three services starting, on 2 cores others use too
BACK_S = 120.0  # from the kill to inference serving again: 0.5 s of backoff and a start (seconds)
EXIT_S = 60.0  # stop_all waits at most 10 s per service before SIGKILL
STARTED = re.compile(r"^(\w+) started \(pid (\d+)\)$")
LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (inference|api|trainer) +(DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: ")  # logs.py


@dataclass
class Up:
    """A running `dosewise up`, in its own session (process group) like a terminal's foreground job."""

    proc: subprocess.Popen[bytes]
    api: str
    headers: dict[str, str]
    console: Path
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.proc.stdout is not None
        with self.console.open("w") as copy:
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                copy.write(line + "\n")
                copy.flush()

    def said(self) -> list[str]:
        """`dosewise up`'s own lines (not its services' logs)."""
        return [line for line in list(self.lines) if not LOG_LINE.match(line)]

    def wait_said(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.said():
                if m := re.search(pattern, line):
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"`dosewise up` never said {pattern!r} (exit {self.proc.poll()}); its console:\n{self.tail()}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.api}/readyz", timeout=2).status_code == 200:
                    self.wait_said(r"^Dosewise is serving on ", 10)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        pytest.fail(f"not ready within {READY_S:g} s (exit {self.proc.poll()}); its console:\n{self.tail()}")

    def pids(self) -> dict[str, int]:
        return {m[1]: int(m[2]) for line in self.said() if (m := STARTED.match(line))}

    def recommend(self) -> httpx.Response:
        return httpx.post(f"{self.api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE, headers=self.headers, timeout=15)

    def wait_exit(self) -> int:
        try:
            return self.proc.wait(timeout=EXIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`dosewise up` still running {EXIT_S:g} s after the stop; its console:\n{self.tail()}")

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.lines[-n:])


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    db = tmp_path / "dosewise.db"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)  # `dosewise up` migrates too (a no-op then); the keys need the tables first
    token = mint_keys(url)["clinician"].token
    api_port, inf_port = free_port(), free_port()
    env = os.environ.copy() | {
        "DATABASE_URL": url,
        "DOSEWISE_VAR_DIR": str(tmp_path),
        "DOSEWISE_API_PORT": str(api_port),
        "DOSEWISE_INFERENCE_PORT": str(inf_port),
        "DOSEWISE_INFERENCE_URL": f"http://127.0.0.1:{inf_port}",
        "DOSEWISE_ENV": "test",  # no development admin key printed: this test mints its own
        "DOSEWISE_RATE_LIMIT_PER_MINUTE": "1000000",  # the polling below is not what the rate limit is for
        "DOSEWISE_RATE_LIMIT_BURST": "100000",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "dosewise.cli.main", "up"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    handle = Up(proc=proc, api=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {token}"},
                console=tmp_path / "console.log")
    reader = threading.Thread(target=handle.read, daemon=True)
    reader.start()
    try:
        yield handle
    finally:
        try:  # whatever the test left running, the whole group (a failed test must not leave services behind)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=EXIT_S)
        reader.join(timeout=10)


def assert_all_gone(up: Up) -> None:
    """No process of the group is left (the services were children of `dosewise up`, which reaped them)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(up.proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"processes of `dosewise up`'s group outlived it; its console:\n{up.tail()}")


def test_a_killed_inference_is_restarted_while_the_gateway_answers_503_and_ctrl_c_then_stops_all_with_exit_0(up: Up) -> None:
    up.wait_ready()
    pids = up.pids()
    assert set(pids) == {"inference", "api", "trainer"}, up.said()
    assert up.recommend().status_code == 200

    killed_at = time.monotonic()
    os.kill(pids["inference"], signal.SIGKILL)
    answers: list[tuple[float, httpx.Response]] = []
    while time.monotonic() - killed_at < BACK_S:
        r = up.recommend()
        answers.append((time.monotonic() - killed_at, r))
        if r.status_code == 200:
            break
        time.sleep(0.1)
    assert answers[-1][1].status_code == 200, f"no recommendation within {BACK_S:g} s of the kill:\n{up.tail()}"

    said = up.said()
    exited = [s for s in said if s.startswith("inference exited with signal SIGKILL after ")]
    assert len(exited) == 1 and exited[0].endswith("; restarting in 0.5 s (restart 1)"), said
    restarted = [m for s in said if (m := re.fullmatch(r"inference restarted \(pid (\d+), restart 1\)", s))]
    assert len(restarted) == 1 and int(restarted[0][1]) != pids["inference"], said
    assert said.index(exited[0]) < said.index(restarted[0][0])
    assert not [s for s in said if s.startswith(("api ", "trainer ")) and "started (pid" not in s], "only inference went down"

    down = [r for _, r in answers[:-1]]
    for r in down:  # while inference is down, every answer says so the way the gateway always does
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"] == "5"
        problem = r.json()
        assert problem["status"] == 503 and problem["type"].endswith("/inference-unavailable") and "retry" in problem["detail"]
    # Not a race: the supervisor waits 0.5 s before it restarts anything and inference then needs seconds to start, while
    # the first request leaves milliseconds after the kill.
    assert down, "the first recommendation after the kill was served"
    print(f"\nkill → first successful recommendation: {answers[-1][0]:.2f} s ({len(down)} answers 503 before it, "
          f"the last at {answers[-2][0]:.2f} s)")

    os.killpg(up.proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the services get it too
    assert up.wait_exit() == 0
    said = up.said()
    assert [s for s in said if "restarting in" in s] == exited, "a stop is no crash"
    assert "stopping…" in said and [s for s in said if s.startswith("stopped: ")], said
    assert_all_gone(up)


def test_sigterm_stops_all_three_with_exit_0_and_restarts_none(up: Up) -> None:
    up.wait_ready()
    pids = up.pids()
    up.proc.send_signal(signal.SIGTERM)  # to `dosewise up` alone, as a process manager would: it stops its services
    assert up.wait_exit() == 0
    said = up.said()
    assert not [s for s in said if "restart" in s and not s.startswith("Dosewise is serving")], said
    stopped = [s for s in said if s.startswith("stopped: ")]
    assert len(stopped) == 1 and all(f"{name} (" in stopped[0] for name in pids), said
    assert_all_gone(up)
    logged = [line for line in up.lines if LOG_LINE.match(line)]
    assert [line for line in logged if " uvicorn: Uvicorn running on http://127.0.0.1:" in line], up.tail()
    assert not [line for line in up.lines if line.startswith("{")], "a person's console gets no JSON unless asked"
