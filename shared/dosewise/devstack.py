"""Run Dosewise services as local processes: used by `dosewise up`, the end-to-end tests and the benchmarks.

Services are started by module name (``python -m dosewise_api`` …), so this shared package never imports a service.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
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


@dataclass
class LocalStack:
    """Processes sharing one environment. ``log_dir`` None → they inherit this terminal's stdout/stderr."""

    env: dict[str, str]
    log_dir: Path | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_path(self, name: str) -> Path | None:
        return None if self.log_dir is None else self.log_dir / f"{name}.log"

    def start(self, name: str, module: str | None = None, args: list[str] | None = None) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", module or SERVICE_MODULES[name], *(args or [])]
        path = self.log_path(name)
        out: IO[bytes] | None = path.open("ab") if path else None
        try:
            p = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out)
        finally:
            if out is not None:
                out.close()
        self.procs[name] = p
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

    def wait_ready(self, url: str, timeout_s: float = 60.0) -> None:
        """Poll ``url`` until it answers 200; raise with the logs' tails if a process died or time ran out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if dead := self.exited():
                raise RuntimeError(f"exited before ready: {dead}\n{self.log_tails()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{url} not ready after {timeout_s:g} s\n{self.log_tails()}")

    def log_tails(self, chars: int = 1500) -> str:
        if self.log_dir is None:
            return ""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(self.log_dir.glob("*.log")))
