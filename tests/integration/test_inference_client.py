"""The gateway's inference client (services/api/dosewise_api/inference_client.py) against a real HTTP server on loopback that
answers the way a failing inference service would: every failure becomes InferenceUnavailable with a message safe to show
(the gateway turns it into 503 and stores nothing), and only a connection that never opened is retried."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from dosewise.inference_contract import RecommendRequest
from dosewise.schemas import PATIENT_STATE_EXAMPLE, InferRequest, PatientState
from dosewise.therapies.base import ClinicView
from dosewise.therapies.registry import get_pack
from dosewise_api.inference_client import InferenceClient, InferenceUnavailable
from tests.e2e.conftest import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST = InferRequest(therapy="warfarin", features=[[0.0, 1.0]])


async def serve(handler: Handler) -> tuple[web.AppRunner, str]:
    """An HTTP server on a free loopback port answering every /v1/infer and /readyz with ``handler``."""
    app = web.Application()
    app.router.add_post("/v1/infer", handler)
    app.router.add_get("/readyz", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/"  # a trailing slash, as an operator may write it


@pytest.fixture
async def served() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        runner, url = await serve(handler)
        runners.append(runner)
        return url

    yield start
    for r in runners:
        await r.cleanup()


async def failure(url: str, timeout_s: float = 5.0, retries: int = 0) -> str:
    client = InferenceClient(url, timeout_s=timeout_s, connect_retries=retries)
    try:
        with pytest.raises(InferenceUnavailable) as raised:
            await client.infer(REQUEST)
        return str(raised.value)
    finally:
        await client.aclose()


async def test_a_200_answer_is_parsed_and_the_body_sent_is_the_request(served) -> None:
    seen: list[dict] = []

    async def ok(request: web.Request) -> web.Response:
        if request.method == "GET":  # /readyz
            return web.json_response({"ready": True})
        seen.append(await request.json())
        return web.json_response({"therapy": "warfarin", "q_values": [[1.0, 2.0]], "actions": [1],
                                  "behaviour_probability": [1.0],
                                  "policy": {"id": "p", "therapy": "warfarin", "version": "v1", "status": "active",
                                             "sha256": "0" * 64}})

    url = await served(ok)
    client = InferenceClient(url, timeout_s=5, connect_retries=0)
    try:
        answer = await client.infer(REQUEST)
        assert await client.ready()
    finally:
        await client.aclose()
    assert seen == [REQUEST.model_dump(mode="json")]
    assert (answer.q_values, answer.actions, answer.policy.version) == ([[1.0, 2.0]], [1], "v1")


async def test_a_503_names_inference_s_reason(served) -> None:
    async def no_policy(_: web.Request) -> web.Response:
        return web.json_response({"detail": "no active policy for warfarin"}, status=503)

    assert await failure(await served(no_policy)) == "inference cannot serve: no active policy for warfarin"


async def test_a_503_without_a_json_body_still_gives_a_reason(served) -> None:
    async def bare(_: web.Request) -> web.Response:
        return web.Response(status=503, text="upstream overloaded")

    assert await failure(await served(bare)) == "inference cannot serve: no policy available"


async def test_another_status_is_reported_by_number(served) -> None:
    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=500, text="Traceback (most recent call last): ...")

    message = await failure(await served(broken))
    assert message == "inference answered HTTP 500"  # never the server's own text


async def test_a_slow_answer_times_out_and_is_not_retried(served) -> None:
    calls = 0

    async def slow(_: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(2)
        return web.json_response({})

    assert await failure(await served(slow), timeout_s=0.3, retries=2) == "the inference service did not answer in time"
    assert calls == 1  # it may be working on it: a timeout is not retried


async def test_nothing_listening_is_unreachable_after_the_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert await failure(url, retries=2) == "the inference service is unreachable"
    client = InferenceClient(url, timeout_s=1, connect_retries=0)
    try:
        assert not await client.ready()
    finally:
        await client.aclose()


async def test_a_connection_dropped_mid_answer_is_a_failure_not_a_retry(served) -> None:
    calls = 0

    async def hang_up(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        assert request.transport is not None
        request.transport.close()  # the request was read, then the connection closed without an answer
        return web.Response()

    message = await failure(await served(hang_up), retries=2)
    assert message.startswith("the inference service failed (")
    assert calls == 1  # the request may have been acted on: not sent again


RECOMMEND = RecommendRequest.of(get_pack("warfarin"), ClinicView.from_states(
    get_pack("warfarin"), [PatientState.model_validate(PATIENT_STATE_EXAMPLE)]), explain=True)
RECOMMEND_ANSWER = (b'{"therapy":"warfarin","items":[],"policy":{"id":"p","therapy":"warfarin","version":"v1",'
                    b'"status":"active","sha256":"' + b"0" * 64 + b'"}}')


class HeldAnswer:
    """One HTTP exchange on a plain socket in its own thread, so it runs while the client's event loop is blocked: it
    notes when the request's whole body has arrived, then answers only once ``release`` is set."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.body = b""
        self.body_arrived, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, body = data.split(b"\r\n\r\n", 1)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(body) < length:
                body += conn.recv(65536)
            self.body = body
            self.body_arrived.set()
            self.release.wait(10)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(RECOMMEND_ANSWER)).encode() + b"\r\n\r\n" + RECOMMEND_ANSWER)
        self.listener.close()


async def test_send_recommend_returns_once_the_body_is_out_with_the_answer_still_to_come() -> None:
    server = HeldAnswer()
    client = InferenceClient(server.url, timeout_s=5, connect_retries=0)
    try:
        answering = await client.send_recommend(RECOMMEND)
        assert not answering.done()
        time.sleep(0.3)  # the gateway's own work meanwhile: this event loop does not run
        assert server.body_arrived.is_set(), "the request's body was still in this process"
        server.release.set()
        answer = await answering
    finally:
        server.release.set()
        await client.aclose()
    assert server.body == RECOMMEND.model_dump_json().encode()
    assert (answer.therapy, answer.items, answer.policy.version) == ("warfarin", [], "v1")


async def test_send_recommend_hands_back_a_failure_to_await() -> None:
    client = InferenceClient(f"http://127.0.0.1:{free_port()}", timeout_s=1, connect_retries=0)
    try:
        answering = await client.send_recommend(RECOMMEND)  # nothing listening: the call ended before any body went out
        assert answering.done()
        with pytest.raises(InferenceUnavailable, match="unreachable"):
            await answering
    finally:
        await client.aclose()
