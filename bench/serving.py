"""Serving speed, all figures from one run on this machine (loopback only):

  (a) a raw onnxruntime ``run`` of the warfarin policy (batch 1, in process),
  (b) the inference endpoint POST /v1/infer,
  (c) the gateway's POST /v1/recommendations end to end (validation, features, guardrails, HTTP to inference, commit),
  (d) an empty FastAPI endpoint on the same server stack: the framework's floor,
  (e) a no-op relay: a FastAPI endpoint that sends the request's bytes on to another server over aiohttp and returns its
      answer, parsing nothing: the floor of any gateway that reaches inference over HTTP, as ours must,
  plus the batch endpoint POST /v1/recommendations:batch (1,000 patients per call) in decisions per second, one call at a
  time and two callers at once, and (c)'s latency for an insulin patient at 50 and 100 req/s.

For (b)–(d): closed-loop throughput with C concurrent clients, then p50/p99 latency at a fixed open-loop rate (default 200 req/s).
Throughput is measured with wrk (C, one thread; ``apt-get install wrk``) when it is on PATH, else with Python httpx, which on
these 2 shared cores costs more CPU than the empty endpoint itself and so understates the floor. The open-loop latency rows use
a small generator on raw asyncio streams (wrk cannot hold a fixed rate; httpx spent 2.3 ms of CPU per request, this 0.4 ms),
timing each request from when it was due. Every load generator shares the 2 cores with the servers, so absolute numbers are
pessimistic. The last lines give each server's CPU time per request of (c)'s open-loop run and per batch call (Linux /proc):
steadier between runs than latency. A row before them sends single requests one at a time (nothing coalesced), so its CPU
per request is the single-request figure to compare two versions by: at a fixed rate, a version that falls behind
coalesces more and pays less per request. A line before it gives, in process, the CPU the
Prometheus metrics add per request (HTTP middleware, counting a recommendation) and per batch and scrape.
Usage: .venv/bin/python bench/serving.py [--seconds 5] [--rate 200] [--repeats 3] [--latency-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dosewise.blas_threads import use_one_blas_thread

use_one_blas_thread()  # before numpy loads, as in the services: the in-process stage timings use one core

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from dosewise import decision  # noqa: E402
from dosewise import forecast as twin_forecast  # noqa: E402
from dosewise.devstack import LocalStack  # noqa: E402
from dosewise.schemas import INSULIN_STATE_EXAMPLE, PATIENT_STATE_EXAMPLE, BatchRecommendationRequest, PatientState  # noqa: E402

BATCH_CALLERS, BATCHES_PER_CALLER = 2, 3
EMPTY_APP = """
from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/empty")
async def empty():
    return {}


@app.post("/echo")
async def echo(request: Request):
    await request.body()
    return {}
"""
# (e): what any gateway that reaches inference over HTTP pays before doing anything: the request in, the same bytes out to
# another server over aiohttp (the gateway's client), that server's answer back. No parsing, validation or storage.
RELAY_APP = """
import aiohttp
from fastapi import FastAPI, Request, Response

app = FastAPI()
session = None


@app.post("/relay")
async def relay(request: Request):
    global session
    if session is None:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    body = await request.body()
    async with session.post("{upstream}", data=body, headers={{"Content-Type": "application/json"}}) as answer:
        return Response(await answer.read(), media_type="application/json")
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(env: dict[str, str], name: str) -> dict[str, str]:
    """The Authorization header of a new clinician key named ``name``."""
    made = subprocess.run([sys.executable, "-m", "dosewise.cli.main", "keys", "create", "--role", "clinician", "--name", name],
                          env=env, capture_output=True, text=True, check=True)
    return {"Authorization": f"Bearer {re.search(r'dwk_[A-Za-z0-9_-]+', made.stdout).group(0)}"}  # type: ignore[union-attr]


def batch_body(prefix: str) -> dict:
    """A 1,000-patient batch request; ``prefix`` keeps each caller's patient references its own."""
    return {"patients": [PATIENT_STATE_EXAMPLE | {"patient_ref": f"{prefix}-{i:05d}"} for i in range(1000)]}


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q)) if xs else float("nan")


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU time each process has used so far (Linux /proc; NaN elsewhere). Differences over a run give CPU
    per request, which varies far less between runs on a shared machine than latency does."""
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            out[name] = float("nan")
    return out


def cpu_ms_per(before: dict[str, float], after: dict[str, float], n: int, digits: int = 2) -> str:
    return ", ".join(f"{name} {1000 * (after[name] - before[name]) / max(n, 1):.{digits}f} ms" for name in before)


async def closed_loop(method: str, url: str, body: object, seconds: float, clients: int, headers: dict) -> tuple[float, int]:
    """Requests per second with ``clients`` concurrent callers; returns (rps, errors)."""
    done = errors = 0
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=30, headers=headers, limits=httpx.Limits(max_connections=clients)) as c:

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < stop:
                r = await c.request(method, url, json=body)
                done += 1
                errors += r.status_code != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return done / (time.perf_counter() - t0), errors


def wrk_closed_loop(method: str, url: str, body: object, seconds: float, clients: int, headers: dict,
                    workdir: Path) -> tuple[float, int]:
    """Requests per second from wrk (one thread, ``clients`` connections); returns (rps, non-2xx responses + socket errors)."""
    script = workdir / "wrk_request.lua"
    lines = [f'wrk.method = "{method}"', 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(json.dumps(body))}")
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    bad += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return rps, bad


def _request_bytes(method: str, url: str, body: object, headers: dict) -> tuple[str, int, bytes]:
    """(host, port, the whole HTTP/1.1 request) — encoded once, so the generator spends no CPU building requests."""
    u = httpx.URL(url)
    payload = b"" if body is None else json.dumps(body).encode()
    head = [f"{method} {u.raw_path.decode()} HTTP/1.1", f"Host: {u.host}:{u.port}", "Connection: keep-alive"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return u.host, int(u.port or 80), ("\r\n".join(head) + "\r\n\r\n").encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep-alive) of one HTTP/1.1 response, its body read and dropped (Content-Length or chunked)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    fields = {k.strip().lower(): v.strip().lower() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    if fields.get("transfer-encoding") == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.readexactly(int(fields.get("content-length", "0")))
    return status, fields.get("connection") != "close"


async def open_loop(method: str, url: str, body: object, seconds: float, rate: float, headers: dict) -> tuple[list[float], int]:
    """Latencies at a fixed arrival rate: request i is due at t0 + i/rate and sent then whether or not earlier ones finished
    (on a free keep-alive connection, else a new one), and its latency counts from when it was due, so a generator that
    falls behind adds to the numbers instead of hiding a slow server (no coordinated omission). Raw asyncio streams with
    the request bytes encoded once: about 0.4 ms of CPU per request, where httpx took 2.3 ms of the same 2 cores."""
    host, port, request = _request_bytes(method, url, body, headers)
    lat: list[float] = []
    errors = 0
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def one(due: float) -> None:
        nonlocal errors
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
            writer.write(request)
            status, keep = await asyncio.wait_for(_read_response(reader), 30)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            errors += 1  # overloaded: refused, reset or timed out; counted, not timed
            if writer is not None:
                writer.close()
            return
        lat.append(time.perf_counter() - due)
        errors += status != 200
        if keep:
            idle.append((reader, writer))
        else:
            writer.close()

    tasks = []
    # A pause of this generator's garbage collector would be timed as server latency (wrk, in C, has none).
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for i in range(int(seconds * rate)):
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    finally:
        gc.enable()
        for _, writer in idle:
            writer.close()
    return lat, errors


def sequential(url: str, body: object, headers: dict, servers: dict[str, int], n: int = 300) -> tuple[float, float, str]:
    """``n`` requests one after another on one connection: (p50 ms, p99 ms, each server's CPU per request)."""
    lat = []
    with httpx.Client(timeout=30, headers=headers) as c:
        c.post(url, json=body)
        cpu0 = cpu_seconds(servers)
        for _ in range(n):
            t = time.perf_counter()
            r = c.post(url, json=body)
            lat.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text[:300]
        cpu = cpu_ms_per(cpu0, cpu_seconds(servers), n)
    return pct(lat, 50), pct(lat, 99), cpu


def best_ms(f: object, repeats: int = 5) -> float:
    """The fastest of ``repeats`` calls, ms: the stage's own cost, with as little of the shared machine's noise as we can."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times) * 1000


def batch_stages() -> dict[str, float]:
    """What the stages every 1,000-patient warfarin batch needs cost here, in this process on one core (ms): validating
    the body (the gateway, once), building the patients' view from the states (the gateway), sending it to inference and
    checking it there (inference_contract.py: encode, JSON both ways, the shape and range check), features and guardrail
    masks from the view (both services: inference before the argmax, the gateway for its final check), and the twin
    forecast behind the HyperScore's forecast sub-score (inference). Together they bound the batch rate before anything
    else is counted."""
    from dosewise.inference_contract import RecommendRequest
    from dosewise.therapies.base import ClinicView

    body = json.dumps(batch_body("stage")).encode()
    states = BatchRecommendationRequest.model_validate_json(body).patients
    prep = decision.prepare(states)
    keep = np.zeros(prep.view.n, dtype=int)

    def wire() -> None:
        sent = RecommendRequest.of(prep.pack, prep.view, explain=False).model_dump_json()
        RecommendRequest.model_validate(json.loads(sent)).clinic_view(prep.pack)

    return {"validate": best_ms(lambda: BatchRecommendationRequest.model_validate_json(body)),
            "view": best_ms(lambda: ClinicView.from_states(prep.pack, states)),
            "wire": best_ms(wire),
            "prepare": best_ms(lambda: decision.from_view(prep.pack, prep.view)),
            "forecast": best_ms(lambda: twin_forecast.forecast(prep.pack, prep.view, keep))}


def metrics_stage(recommendation_json: str, calls: int = 20_000, repeats: int = 5) -> dict[str, float]:
    """What the Prometheus metrics add, in this process on one core (CPU, best of ``repeats``): µs per request of the HTTP
    middleware (an ASGI app that answers at once, with and without dosewise.metrics_asgi.HttpMetrics around it) and of
    counting one committed recommendation (dosewise.metrics.record_recommendations); ms per 1,000-patient batch counted,
    and per scrape rendered (without the backlog's queries, which run once per scrape, not per request)."""
    from types import SimpleNamespace

    from dosewise import metrics
    from dosewise.metrics_asgi import HttpMetrics
    from dosewise.schemas import Recommendation

    route = SimpleNamespace(path_format="/v1/recommendations")
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    body = {"type": "http.response.body", "body": b"{}"}

    async def app(scope: dict, receive: object, send: object) -> None:
        scope["route"] = route  # as FastAPI's router leaves it
        await send(start)  # type: ignore[operator]
        await send(body)  # type: ignore[operator]

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(_: dict) -> None:
        return None

    async def per_call_us(asgi: object) -> float:
        scope = {"type": "http", "method": "POST", "path": "/v1/recommendations"}
        best = float("inf")
        for _ in range(repeats):
            t = time.process_time()
            for _ in range(calls):
                await asgi(dict(scope), receive, send)  # type: ignore[operator]
            best = min(best, (time.process_time() - t) / calls * 1e6)
        return best

    def cpu_us(f: object, n: int) -> float:
        best = float("inf")
        for _ in range(repeats):
            t = time.process_time()
            for _ in range(n):
                f()  # type: ignore[operator]
            best = min(best, (time.process_time() - t) / n * 1e6)
        return best

    bare, wrapped = asyncio.run(per_call_us(app)), asyncio.run(per_call_us(HttpMetrics(app)))
    rec = Recommendation.model_validate_json(recommendation_json)
    batch = [rec] * 1000
    return {"bare_us": bare, "middleware_us": wrapped - bare, "count_us": cpu_us(lambda: metrics.record_recommendations([rec]),
                                                                                  calls),
            "batch_ms": cpu_us(lambda: metrics.record_recommendations(batch), 20) / 1000,
            "scrape_ms": cpu_us(metrics.exposition, 50) / 1000}


def onnx_row(policy_path: Path, seconds: float) -> tuple[float, float, float]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(policy_path), sess_options=opts)
    x = decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE)]).features
    lat = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        t = time.perf_counter()
        sess.run(["q_values"], {"features": x})
        lat.append(time.perf_counter() - t)
    return len(lat) / seconds, pct(lat, 50), pct(lat, 99)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement, s")
    ap.add_argument("--rate", type=float, default=200.0, help="open-loop arrival rate for the latency rows, req/s")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients for the throughput rows")
    ap.add_argument("--repeats", type=int, default=3,
                    help="open-loop runs of the gateway at --rate for the p99 aim (each --latency-seconds long)")
    ap.add_argument("--latency-seconds", type=float, default=10.0,
                    help="duration of each of those runs, s: 10 s at 200 req/s puts 20 requests above the p99")
    args = ap.parse_args()
    if args.repeats < 1 or args.latency_seconds <= 0:
        ap.error("--repeats must be at least 1 and --latency-seconds positive")

    tmp = Path(tempfile.mkdtemp(prefix="dosewise-bench-"))
    api_port, inf_port, empty_port, relay_port = free_port(), free_port(), free_port(), free_port()
    env = os.environ.copy() | {
        "DOSEWISE_VAR_DIR": str(tmp), "DOSEWISE_API_PORT": str(api_port), "DOSEWISE_INFERENCE_PORT": str(inf_port),
        "DOSEWISE_INFERENCE_URL": f"http://127.0.0.1:{inf_port}", "DOSEWISE_LOG_LEVEL": "WARNING", "DOSEWISE_ENV": "test",
        # The bench measures serving, not the per-key rate limits (which would answer 429 within a second); admission
        # control keeps its defaults: it is part of what serving does under load.
        "DOSEWISE_RATE_LIMIT_PER_MINUTE": "100000000", "DOSEWISE_RATE_LIMIT_BURST": "1000000",
        "DOSEWISE_RATE_LIMIT_PATIENTS_PER_MINUTE": "100000000", "DOSEWISE_RATE_LIMIT_PATIENT_BURST": "1000000",
    }
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}")
    subprocess.run([sys.executable, "-m", "dosewise.cli.main", "db", "upgrade"], env=env, check=True, capture_output=True)
    boot = subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], env=env, check=True, capture_output=True,
                          text=True)
    (tmp / "empty_app.py").write_text(EMPTY_APP)
    (tmp / "relay_app.py").write_text(RELAY_APP.format(upstream=f"http://127.0.0.1:{empty_port}/echo"))
    # The empty app's module is in tmp; a PYTHONPATH of the caller's (e.g. another checkout's code to compare) still applies.
    stack = LocalStack(env=env | {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp), env.get("PYTHONPATH")]))},
                       log_dir=tmp)
    headers: dict[str, str] = {}
    try:
        stack.start("inference")
        stack.start("api")
        stack.start("empty", module="uvicorn", args=["empty_app:app", "--port", str(empty_port), "--log-level", "warning"])
        stack.start("relay", module="uvicorn", args=["relay_app:app", "--port", str(relay_port), "--log-level", "warning"])
        for url in (f"http://127.0.0.1:{inf_port}/readyz", f"http://127.0.0.1:{api_port}/readyz",
                    f"http://127.0.0.1:{empty_port}/empty", f"http://127.0.0.1:{relay_port}/docs"):
            stack.wait_ready(url)
        headers = bearer(env, "bench")
        api, inf = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{inf_port}"
        servers = {"gateway": stack.procs["api"].pid, "inference": stack.procs["inference"].pid}
        features = decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE)]).features.tolist()
        infer_body = {"therapy": "warfarin", "features": features}
        shipped = [*tmp.glob("policies/warfarin/*/policy.onnx"), *Path("policies").glob("warfarin/*/policy.onnx")]
        if shipped:
            policy = shipped[0]
        else:  # no warfarin network ships (its guideline serves): row (a) times a network of the pack's shape
            from dosewise.therapies.registry import get_pack
            from dosewise_trainer.export import export_untrained

            policy = export_untrained(get_pack("warfarin"), tmp / "row-a-network")
        use_wrk = shutil.which("wrk") is not None
        print(f"policy: {boot.stdout.strip()}  |  throughput load generator: {'wrk' if use_wrk else 'httpx'}, "
              f"{args.clients} connections, {args.seconds:g} s per row")
        rows = []
        cpu_per_request: dict[str, str] = {}  # of the servers, during each row's open-loop run
        cpu_saturated: dict[str, tuple[dict[str, float], dict[str, float], int]] = {}  # ... during its closed-loop run
        rps, p50, p99 = onnx_row(policy, args.seconds)
        rows.append(("(a) onnxruntime run, batch 1", rps, p50, p99, 0))
        for name, method, url, body in (
            ("(b) inference POST /v1/infer", "POST", f"{inf}/v1/infer", infer_body),
            ("(c) gateway POST /v1/recommendations", "POST", f"{api}/v1/recommendations", PATIENT_STATE_EXAMPLE),
            ("(d) empty FastAPI GET", "GET", f"http://127.0.0.1:{empty_port}/empty", None),
            ("(e) no-op relay POST (one HTTP hop)", "POST", f"http://127.0.0.1:{relay_port}/relay", PATIENT_STATE_EXAMPLE),
        ):
            cpu0 = cpu_seconds(servers)
            if use_wrk:
                thr, err1 = wrk_closed_loop(method, url, body, args.seconds, args.clients, headers, tmp)
            else:
                thr, err1 = asyncio.run(closed_loop(method, url, body, args.seconds, args.clients, headers))
            cpu_saturated[name] = (cpu0, cpu_seconds(servers), round(thr * args.seconds))
            cpu0 = cpu_seconds(servers)
            lat, err2 = asyncio.run(open_loop(method, url, body, args.seconds, args.rate, headers))
            cpu_per_request[name] = cpu_ms_per(cpu0, cpu_seconds(servers), len(lat))
            rows.append((name, thr, pct(lat, 50), pct(lat, 99), err1 + err2))
        # One 5 s run at 200 req/s has 1,000 latencies, so its p99 is the 10th slowest: it moved between 17 and 47 ms from
        # run to run on this shared machine. The aim is judged on several longer runs instead, each quoted.
        aim_p99 = []
        for _ in range(args.repeats):
            lat, err = asyncio.run(open_loop("POST", f"{api}/v1/recommendations", PATIENT_STATE_EXAMPLE,
                                             args.latency_seconds, args.rate, headers))
            aim_p99.append((pct(lat, 99), len(lat), err))
        sweep = []
        for rate in (25, 50, 100):  # the gateway's latency below the aim's rate: where it still keeps up
            lat, err = asyncio.run(open_loop("POST", f"{api}/v1/recommendations", PATIENT_STATE_EXAMPLE, args.seconds, rate,
                                             headers))
            sweep.append((rate, pct(lat, 50), pct(lat, 99), err))
        # The table's patient is on warfarin; an insulin patient's twin forecast costs more (its model is stepped hourly).
        insulin = []
        for rate in (50, 100):
            cpu0 = cpu_seconds(servers)
            lat, err = asyncio.run(open_loop("POST", f"{api}/v1/recommendations", INSULIN_STATE_EXAMPLE, args.seconds, rate,
                                             headers))
            insulin.append((rate, pct(lat, 50), pct(lat, 99), err, cpu_ms_per(cpu0, cpu_seconds(servers), len(lat))))
        # One request at a time: nothing to coalesce, so each request pays the whole path alone. Its CPU per request does
        # not depend on how far behind the servers are (at a fixed rate, a server that falls behind coalesces more and
        # pays less per request), the figure to compare two versions' single-request cost by.
        one_by_one = [(name, *sequential(f"{api}/v1/recommendations", body, headers, servers))
                      for name, body in (("warfarin", PATIENT_STATE_EXAMPLE), ("insulin", INSULIN_STATE_EXAMPLE))]
        batch = batch_body("bench")
        times = []
        cpu0 = cpu_seconds(servers)
        with httpx.Client(timeout=120, headers=headers) as c:
            for _ in range(5):
                t = time.perf_counter()
                r = c.post(f"{api}/v1/recommendations:batch", json=batch)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text[:300]
        med = statistics.median(times)
        cpu_batch = cpu_ms_per(cpu0, cpu_seconds(servers), len(times), digits=0)
        # One call at a time leaves a core idle: the gateway validates while inference waits, then inference computes while
        # the gateway waits. Two callers keep both busy; their throughput is the endpoint's capacity on this machine.
        # Each caller with its own key: one key's batches in flight are capped at one batch's patients (admission).
        caller_headers = {f"bench-c{k}": bearer(env, f"bench-c{k}") for k in range(BATCH_CALLERS)}

        def caller(prefix: str) -> int:
            body = batch_body(prefix)
            with httpx.Client(timeout=120, headers=caller_headers[prefix]) as c:
                for _ in range(BATCHES_PER_CALLER):
                    r = c.post(f"{api}/v1/recommendations:batch", json=body)
                    assert r.status_code == 200, r.text[:300]
            return 1000 * BATCHES_PER_CALLER

        t = time.perf_counter()
        with ThreadPoolExecutor(BATCH_CALLERS) as pool:
            decided = sum(pool.map(caller, [f"bench-c{k}" for k in range(BATCH_CALLERS)]))
        concurrent_rate = decided / (time.perf_counter() - t)

        print(f"\n{'what':40s} {'throughput req/s':>17s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s}   "
              f"(latency at {args.rate:g} req/s open loop)")
        for name, thr, p50, p99, err in rows:
            print(f"{name:40s} {thr:17.0f} {p50:8.2f} {p99:8.2f} {err:7d}")
        print("\ngateway POST /v1/recommendations, open loop: " + "; ".join(
            f"{r} req/s p50 {a:.1f} ms p99 {b:.1f} ms ({e} errors)" for r, a, b, e in sweep))
        print("the same for an insulin patient (INSULIN_STATE_EXAMPLE): " + "; ".join(
            f"{r} req/s p50 {a:.1f} ms p99 {b:.1f} ms ({e} errors; CPU per request {c})" for r, a, b, e, c in insulin))
        print("one request at a time (nothing coalesced): " + "; ".join(
            f"{name} p50 {a:.1f} ms p99 {b:.1f} ms, CPU per request {c}" for name, a, b, c in one_by_one))
        gw, empty, relay = rows[2][1], rows[3][1], rows[4][1]
        print(f"\ngateway / empty-endpoint throughput: {gw / empty:.0%}  (aim ≥ 40 %); a gateway that only relays the "
              f"request to another server over HTTP, (e) / (d): {relay / empty:.0%}")
        runs = ", ".join(f"{p:.1f} ms ({n} requests, {e} errors)" for p, n, e in aim_p99)
        print(f"gateway p99 at {args.rate:g} req/s: median {statistics.median(p for p, _, _ in aim_p99):.1f} ms of "
              f"{len(aim_p99)} runs of {args.latency_seconds:g} s: {runs}  (aim ≤ 25 ms)")
        print(f"batch endpoint: 1,000 patients per call, median {med * 1000:.0f} ms (of {len(times)}: "
              f"{', '.join(f'{t * 1000:.0f}' for t in times)}) → {1000 / med:,.0f} decisions/s (aim ≥ 50,000), persisted")
        print(f"batch endpoint, {BATCH_CALLERS} callers at once ({BATCHES_PER_CALLER} calls each): {concurrent_rate:,.0f} "
              "decisions/s, persisted")
        stages = batch_stages()
        floor_cpu = stages["validate"] + stages["view"] + stages["wire"] + 2 * stages["prepare"] + stages["forecast"]
        print(f"batch stages in process, one core, best of 5 per 1,000 warfarin patients: validate {stages['validate']:.1f} ms "
              f"(gateway), the view {stages['view']:.1f} ms (gateway), sent and checked {stages['wire']:.1f} ms, features and "
              f"guardrails {stages['prepare']:.1f} ms (both), twin forecast {stages['forecast']:.1f} ms (inference): "
              f"{floor_cpu:.0f} ms of CPU, at most {2000 / floor_cpu * 1000:,.0f} decisions/s on 2 cores if nothing else "
              "cost anything (50,000/s allows 40 ms of CPU per 1,000)")
        one = httpx.post(f"{api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE, headers=headers, timeout=30)
        m = metrics_stage(one.text)
        print(f"metrics in process, CPU: HTTP middleware {m['middleware_us']:.1f} µs per request (an app answering at once: "
              f"{m['bare_us']:.1f} µs without it), counting a recommendation {m['count_us']:.1f} µs (a 1,000-patient "
              f"batch {m['batch_ms']:.2f} ms), rendering a scrape {m['scrape_ms']:.2f} ms")
        print(f"\nCPU per request at {args.rate:g} req/s, (c): {cpu_per_request[rows[2][0]]}; per 1,000-patient batch: "
              f"{cpu_batch}")
        before, after, n = cpu_saturated[rows[2][0]]
        both_ms = 1000 * sum(after[k] - before[k] for k in before) / max(n, 1)
        print(f"CPU per request in (c)'s closed-loop run: {cpu_ms_per(before, after, n)}: 2 cores give at most "
              f"{2000 / both_ms:,.0f} req/s at that ({2000 / both_ms / empty:.0%} of the empty endpoint)")
    finally:
        stack.stop_all()


if __name__ == "__main__":
    main()
