"""What one caller's flood of batches does to another caller's single recommendations (issue 24, point 4).

A real stack on loopback (inference and gateway as processes, SQLite in a temporary directory, the gateway's DEFAULT rate
limit and admission settings: the point is what a deployment as shipped does). Two API keys matter:

- caller B (a clinician) sends single POST /v1/recommendations at a fixed open-loop rate (default 5/s, half the default
  request rate per caller), each timed from when it was due (no coordinated omission), first alone, then while
- caller A sends 40 batches of 1,000 patients at once, each on its own connection. A batch answered 429 or 503 is sent
  again after its Retry-After, as the API documents, until every batch was answered 200 or the deadline passed.

Printed first, as the scale for the rest: how long 1, 2, 4 and 8 callers' batches sent at once take to be answered.
Then B's p50/p99 quiet and during the flood, and the statuses A's first tries and all its tries got, with how long the
flood took to be served. The load generator shares the machine's 2 cores with the servers; the bodies are encoded once and
sent over raw asyncio streams (bench/serving.py's helpers) so it costs as little CPU as it can. To compare two versions on
the same machine state, run it twice with PYTHONPATH naming each checkout's packages (shared, services/*): the servers it
starts inherit it, and the first line says which gateway code ran.
Usage: .venv/bin/python bench/flood.py [--batches 40] [--patients 1000] [--rate 5] [--deadline 90]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import serving  # bench/serving.py, beside this script: free_port, pct, cpu_seconds, the raw HTTP/1.1 request helpers

import dosewise_api
from dosewise.devstack import LocalStack
from dosewise.schemas import PATIENT_STATE_EXAMPLE

QUIET_S = 5.0  # caller B alone, before the flood
CAPACITY_CALLERS = (1, 2, 4, 8)  # callers sending one 1,000-patient batch each, at once, before the flood
CONNECT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 60.0  # longer than the gateway's inference timeout: a slow answer is measured, not cut


async def send(host: str, port: int, request: bytes) -> tuple[int, dict[str, str]]:
    """One request on a new connection: (status, lower-cased headers), the body read and dropped; status 0 on a socket
    error or a timeout."""
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
        writer.write(request)
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), ANSWER_TIMEOUT_S)).decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        else:
            await asyncio.wait_for(reader.readexactly(int(fields.get("content-length", "0"))), ANSWER_TIMEOUT_S)
        return int(head[0].split(" ", 2)[1]), fields
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
        return 0, {}
    finally:
        if writer is not None:
            writer.close()


class Singles:
    """Caller B: single recommendations at a fixed rate until ``stop`` is set; latencies from when each was due."""

    def __init__(self, url: str, headers: dict[str, str], rate: float) -> None:
        self.host, self.port, self.request = serving._request_bytes("POST", url, PATIENT_STATE_EXAMPLE, headers)
        self.rate = rate
        self.latencies: list[float] = []
        self.statuses: collections.Counter[int] = collections.Counter()

    async def run(self, stop: asyncio.Event, min_s: float = 0.0) -> None:
        tasks = []
        t0 = time.perf_counter()
        i = 0
        while not stop.is_set() or time.perf_counter() - t0 < min_s:
            due = t0 + i / self.rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(self._one(due)))
            i += 1
        await asyncio.gather(*tasks)

    async def _one(self, due: float) -> None:
        status, _ = await send(self.host, self.port, self.request)
        self.statuses[status] += 1
        if status == 200:
            self.latencies.append(time.perf_counter() - due)


def retry_after(headers: dict[str, str]) -> float:
    try:
        return max(0.0, float(headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


async def flood(url: str, headers: dict[str, str], batches: int, patients: int, deadline_s: float,
                ) -> tuple[collections.Counter[int], collections.Counter[int], float, int]:
    """Caller A: ``batches`` batches at once, each retried after Retry-After until 200 or the deadline. Returns (statuses of
    the first tries, statuses of all tries, seconds until the last batch was answered 200 or given up, batches served)."""
    first: collections.Counter[int] = collections.Counter()
    every: collections.Counter[int] = collections.Counter()
    requests = []
    for b in range(batches):
        body = {"patients": [PATIENT_STATE_EXAMPLE | {"patient_ref": f"flood-{b:03d}-{i:05d}"} for i in range(patients)]}
        requests.append(serving._request_bytes("POST", url, body, headers))
    t0 = time.perf_counter()
    served = 0

    async def one(host: str, port: int, request: bytes) -> None:
        nonlocal served
        tries = 0
        while True:
            status, got = await send(host, port, request)
            every[status] += 1
            if tries == 0:
                first[status] += 1
            tries += 1
            if status == 200:
                served += 1
                return
            wait = retry_after(got) if status in (429, 503) else 1.0
            if time.perf_counter() - t0 + wait > deadline_s:
                return
            await asyncio.sleep(wait)

    await asyncio.gather(*(one(*r) for r in requests))
    return first, every, time.perf_counter() - t0, served


def row(name: str, s: Singles) -> str:
    statuses = ", ".join(f"{k or 'socket error'}: {v}" for k, v in sorted(s.statuses.items()))
    return (f"{name:34s} p50 {serving.pct(s.latencies, 50):8.1f} ms  p99 {serving.pct(s.latencies, 99):8.1f} ms  "
            f"({statuses})")


async def capacity(url: str, keys: list[dict[str, str]], patients: int) -> list[str]:
    """How long K callers' batches sent at once take to be answered, and their statuses: the gateway's batch capacity on
    this machine, which the admission caps are set against (past the batch pool, 503 is the expected answer)."""
    rows = []
    for k in CAPACITY_CALLERS:
        requests = [serving._request_bytes("POST", url, {"patients": [
            PATIENT_STATE_EXAMPLE | {"patient_ref": f"cap{k}-{c}-{i:05d}"} for i in range(patients)]}, keys[c])
            for c in range(k)]
        t = time.perf_counter()
        got = collections.Counter(status for status, _ in await asyncio.gather(*(send(*r) for r in requests)))
        took = time.perf_counter() - t
        rows.append(f"  {k} caller{'s' if k > 1 else ' '} at once: {took:5.2f} s "
                    f"({got[200] * patients / took:,.0f} decisions/s answered; "
                    + ", ".join(f"{s or 'socket error'}: {n}" for s, n in sorted(got.items())) + ")")
    return rows


async def measure(api: str, a: dict[str, str], b: dict[str, str], args: argparse.Namespace, pids: dict[str, int],
                  others: list[dict[str, str]]) -> None:
    rows = await capacity(f"{api}/v1/recommendations:batch", others, args.patients)
    print(f"\nbatches of {args.patients:,} from different callers at once, nothing else running:")
    print("\n".join(rows))
    quiet = Singles(f"{api}/v1/recommendations", b, args.rate)
    stop = asyncio.Event()
    stop.set()
    await quiet.run(stop, min_s=QUIET_S)

    during = Singles(f"{api}/v1/recommendations", b, args.rate)
    flood_over = asyncio.Event()
    cpu0 = serving.cpu_seconds(pids)
    singles = asyncio.create_task(during.run(flood_over, min_s=QUIET_S))
    first, every, took, served = await flood(f"{api}/v1/recommendations:batch", a, args.batches, args.patients,
                                             args.deadline)
    flood_over.set()
    await singles
    cpu = {name: after - cpu0[name] for name, after in serving.cpu_seconds(pids).items()}

    def counts(c: collections.Counter[int]) -> str:
        return ", ".join(f"{k or 'socket error'}: {v}" for k, v in sorted(c.items()))

    print(f"\ncaller B, single recommendations at {args.rate:g}/s open loop (200s timed from when due):")
    print(row("  alone", quiet))
    print(row(f"  during A's flood ({took:.1f} s)", during))
    print(f"\ncaller A, {args.batches} batches of {args.patients:,} patients at once, each resent after Retry-After:")
    print(f"  first tries: {counts(first)}")
    print(f"  all tries:   {counts(every)}; {served} of {args.batches} batches served in {took:.1f} s "
          f"({served * args.patients / took:,.0f} decisions/s)")
    print("server CPU during the flood: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items()))
    if during.latencies and quiet.latencies:
        ratio = statistics.median(during.latencies) / statistics.median(quiet.latencies)
        print(f"\nB's median during the flood / alone: {ratio:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=40, help="caller A's batches sent at once")
    ap.add_argument("--patients", type=int, default=1000, help="patients per batch (the API's maximum is 1,000)")
    ap.add_argument("--rate", type=float, default=5.0, help="caller B's single recommendations per second")
    ap.add_argument("--deadline", type=float, default=90.0, help="A stops resending a refused batch after this, s")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dosewise-flood-"))
    api_port, inf_port = serving.free_port(), serving.free_port()
    env = os.environ.copy() | {
        "DOSEWISE_VAR_DIR": str(tmp), "DOSEWISE_API_PORT": str(api_port), "DOSEWISE_INFERENCE_PORT": str(inf_port),
        "DOSEWISE_INFERENCE_URL": f"http://127.0.0.1:{inf_port}", "DOSEWISE_LOG_LEVEL": "WARNING", "DOSEWISE_ENV": "test",
    }
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}")
    subprocess.run([sys.executable, "-m", "dosewise.cli.main", "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], env=env, check=True, capture_output=True)
    keys = []
    for name in ("flooder", "clinician", *(f"integrator-{k}" for k in range(max(CAPACITY_CALLERS)))):
        made = subprocess.run([sys.executable, "-m", "dosewise.cli.main", "keys", "create", "--role", "clinician",
                               "--name", name], env=env, capture_output=True, text=True, check=True)
        keys.append({"Authorization": f"Bearer {re.search(r'dwk_[A-Za-z0-9_-]+', made.stdout).group(0)}"})  # type: ignore[union-attr]
    stack = LocalStack(env=env, log_dir=tmp)
    try:
        stack.start("inference")
        stack.start("api")
        stack.wait_ready(f"http://127.0.0.1:{inf_port}/readyz")
        stack.wait_ready(f"http://127.0.0.1:{api_port}/readyz")
        limits = {k: v for k, v in sorted(env.items()) if k.startswith(("DOSEWISE_RATE_LIMIT", "DOSEWISE_ADMISSION"))}
        print(f"gateway code: {dosewise_api.__file__}; settings from the environment: "
              f"{json.dumps(limits) if limits else 'defaults'}")
        pids = {"gateway": stack.procs["api"].pid, "inference": stack.procs["inference"].pid}
        asyncio.run(measure(f"http://127.0.0.1:{api_port}", keys[0], keys[1], args, pids, keys[2:]))
    finally:
        stack.stop_all()


if __name__ == "__main__":
    main()
