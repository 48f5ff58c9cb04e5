"""Run Dosewise services as local processes: used by `dosewise up`, the end-to-end tests and the benchmarks.

Services are started by module name (``python -m dosewise_api`` …), so this shared package never imports a service.
``LocalStack`` starts and stops processes; ``Supervisor`` (what `dosewise up` runs) also restarts one that exits. Tests and
benchmarks drive ``LocalStack`` alone: a test that kills a process wants it to stay dead until it restarts it itself.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

SERVICE_MODULES: dict[str, str] = {
    "inference": "dosewise_inference",
    "api": "dosewise_api",
    "trainer": "dosewise_trainer",
}
STOP_GRACE_S = 10.0


def _never() -> bool:
    return False


@dataclass
class LocalStack:
    """Processes sharing one environment. ``log_dir`` None → they inherit this terminal's stdout/stderr."""

    env: dict[str, str]
    log_dir: Path | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)  # name → the command it was last started with

    def log_path(self, name: str) -> Path | None:
        return None if self.log_dir is None else self.log_dir / f"{name}.log"

    def start(self, name: str, module: str | None = None, args: list[str] | None = None) -> subprocess.Popen[bytes]:
        return self._spawn(name, [sys.executable, "-m", module or SERVICE_MODULES[name], *(args or [])])

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start ``name`` again with the command it was last started with; its previous process must have exited."""
        old = self.procs.get(name)
        if old is not None and old.poll() is None:
            raise RuntimeError(f"{name} is still running (pid {old.pid})")
        return self._spawn(name, self.commands[name])

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        path = self.log_path(name)
        out: IO[bytes] | None = path.open("ab") if path else None
        try:
            p = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out)
        finally:
            if out is not None:
                out.close()
        self.procs[name], self.commands[name] = p, cmd
        return p

    def stop(self, name: str, sig: int = signal.SIGTERM) -> int:
        p = self.procs.pop(name)
        if p.poll() is None:
            p.send_signal(sig)
        try:
            return p.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def stop_all(self) -> dict[str, int]:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        return {name: self.stop(name) for name in list(self.procs)}

    def exited(self) -> dict[str, int]:
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def wait_ready(self, url: str, timeout_s: float = 60.0, should_stop: Callable[[], bool] = _never) -> bool:
        """Poll ``url`` until it answers 200 (True) or ``should_stop()`` says to give up (False); raise with the logs' tails if
        a process died or time ran out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if should_stop():
                return False
            if dead := self.exited():
                raise RuntimeError(f"exited before ready: {dead}\n{self.log_tails()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{url} not ready after {timeout_s:g} s\n{self.log_tails()}")

    def log_tails(self, chars: int = 1500) -> str:
        if self.log_dir is None:
            return ""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(self.log_dir.glob("*.log")))


# ------------------------------------------------------------------------------------------------------------ supervision
def describe_exit(code: int) -> str:
    """``Popen.returncode`` in words: a negative code is the signal that ended the process."""
    if code < 0:
        try:
            return f"exited with signal {signal.Signals(-code).name}"
        except ValueError:
            return f"exited with signal {-code}"
    return f"exited with code {code}"


def _duration(s: float) -> str:
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


@dataclass(frozen=True)
class Backoff:
    """How long a service that exited stays down: ``first_s`` after its first exit, ``factor`` times longer after each
    further exit, at most ``cap_s``. An exit after at least ``stable_s`` up starts the count again at ``first_s``, so a
    service that crashes once a day is back within a second every time, while one that dies at startup is not restarted
    (and its startup cost paid: inference needs ~5 s of CPU to start) more than about twice a minute."""

    first_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    # Longer than a service needs to start on a busy 2-core laptop (~20 s when all three start at once): one that crashes
    # while still starting never counts as having run well.
    stable_s: float = 60.0
    crash_loop_after: int = 5  # exits in a row, each within stable_s of its start, before the console calls it a crash loop

    def __post_init__(self) -> None:
        if not (0 < self.first_s <= self.cap_s and self.factor >= 1 and self.stable_s > 0 and self.crash_loop_after >= 1):
            raise ValueError(f"inconsistent backoff {self}")

    def delay(self, rapid_failures: int) -> float:
        """Seconds before the restart that follows ``rapid_failures`` exits in a row (1 → ``first_s``)."""
        d = self.first_s
        for _ in range(rapid_failures - 1):  # stops at the cap: a loop of thousands of crashes never overflows a float
            if d >= self.cap_s:
                break
            d *= self.factor
        return min(d, self.cap_s)


@dataclass
class ServiceState:
    """What the supervisor knows of one service."""

    pid: int | None = None
    started_at: float = 0.0
    restarts: int = 0
    rapid_failures: int = 0  # exits in a row, each within Backoff.stable_s of its start
    restart_at: float | None = None  # set while the service is down, waiting out its backoff


class Supervisor:
    """Keeps the services of a ``LocalStack`` running: one that exits (a crash, an OOM kill, a stray ``kill -9``) is started
    again after a ``Backoff`` delay, and each exit and restart is said on the console; nothing is restarted once
    ``request_stop()`` was called (from `dosewise up`'s SIGINT/SIGTERM handler).

    A crash loop never makes it give up: it keeps restarting at the cap (``Backoff.cap_s``) and says once per streak that
    the service is crash-looping. Giving up would turn what usually heals by itself (the database or Redis back after a
    restart, memory freed) into an outage only a human ends, and it would leave the other two services running without it
    anyway: the gateway then answers 503 problem+json with Retry-After for as long as inference is down, which is its
    documented degraded mode. A service that cannot start even once (a taken port, a broken install) is `dosewise up`'s to
    report before supervision begins.

    Why not a library: supervisord and circus are daemons of their own (a configuration file, a control socket; circus
    brings ZeroMQ) to install and run beside three processes this one already starts; honcho (foreman's Python port) stops
    every process when one exits, which is what `dosewise up` did before. Retry libraries (tenacity, backoff) retry one call
    in place, blocking, while here three processes are watched at once. The policy is a few lines, and the clock and sleep are
    injected so that tests drive it without waiting.
    """

    def __init__(self, stack: LocalStack, names: Iterable[str], backoff: Backoff = Backoff(), *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 say: Callable[[str], None] = print, poll_s: float = 0.2) -> None:
        self.stack, self.backoff, self.clock, self.sleep, self.say, self.poll_s = stack, backoff, clock, sleep, say, poll_s
        self.services: dict[str, ServiceState] = {name: ServiceState() for name in names}
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def request_stop(self) -> None:
        """Safe in a signal handler: it only sets a flag, which ``run`` and ``step`` check before anything they do."""
        self._stopping = True

    def start_all(self) -> None:
        for name, st in self.services.items():
            p = self.stack.start(name)
            st.pid, st.started_at = p.pid, self.clock()
            self.say(f"{name} started (pid {p.pid})")

    def run(self) -> None:
        """Supervise until ``request_stop()``; the caller then stops the stack."""
        while not self._stopping:
            self.step()
            self.sleep(self.poll_s)

    def step(self) -> None:
        """Look at each service once: note an exit and schedule its restart, or restart one whose delay is over."""
        for name, st in self.services.items():
            if self._stopping:  # the exits that follow a Ctrl-C (the terminal signals the children too) are no crashes
                return
            now = self.clock()
            if st.restart_at is None:
                code = self.stack.procs[name].poll()
                if code is not None:
                    self._down(name, st, now, f"{describe_exit(code)} after {_duration(now - st.started_at)} up")
            elif now >= st.restart_at:
                self._restart(name, st, now)

    def _down(self, name: str, st: ServiceState, now: float, what: str) -> None:
        st.rapid_failures = st.rapid_failures + 1 if now - st.started_at < self.backoff.stable_s else 1
        delay = self.backoff.delay(st.rapid_failures)
        st.restart_at = now + delay
        self.say(f"{name} {what}; restarting in {delay:.1f} s (restart {st.restarts + 1})")
        if st.rapid_failures == self.backoff.crash_loop_after:
            self.say(f"{name} is crash-looping ({st.rapid_failures} exits in a row, each within "
                     f"{_duration(self.backoff.stable_s)} of starting; its own output above says why): restarting it every "
                     f"{_duration(self.backoff.cap_s)} until it stays up; Ctrl-C stops everything")

    def _restart(self, name: str, st: ServiceState, now: float) -> None:
        st.restart_at, st.started_at = None, now
        try:
            p = self.stack.restart(name)
        except OSError as e:  # the interpreter gone or no file descriptors left: counts as one more exit
            self._down(name, st, now, f"could not be started ({e})")
            return
        st.pid = p.pid
        st.restarts += 1
        self.say(f"{name} restarted (pid {p.pid}, restart {st.restarts})")
