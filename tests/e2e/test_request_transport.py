"""How the gateway reads a request body, over real sockets against the real server process (``python -m dosewise_api``, as
`dosewise up` starts it): a chunked body over the limit is a 413 like a declared one (it was a 400: the limit's exception
crossed FastAPI's body reader, which answers any exception there with "There was an error parsing the body"), and a body
that stops arriving, or trickles, is a 408 after DOSEWISE_BODY_READ_TIMEOUT_S and its connection is closed (one that
declared 1,000 bytes and sent 10 held its connection for over 200 s).

Only the gateway runs, on a SQLite file, with a 1 s read timeout; nothing here reaches inference."""

from __future__ import annotations

import json
import os
import select
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dosewise.devstack import LocalStack
from dosewise.storage.migrate import upgrade
from tests.e2e.conftest import free_port, mint_keys

READ_TIMEOUT_S = 1.0
MAX_BODY_BYTES = 4_194_304  # the default limit
SOCKET_TIMEOUT_S = 15.0  # far above READ_TIMEOUT_S: reached only when the server holds a connection it should have freed


@dataclass
class Api:
    port: int
    tokens: dict[str, str]  # role → bearer token
    log: Path


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("transport")
    db_url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
    upgrade(db_url)
    port = free_port()
    env = os.environ.copy() | {
        "DATABASE_URL": db_url,
        "DOSEWISE_VAR_DIR": str(tmp),
        "DOSEWISE_API_PORT": str(port),
        "DOSEWISE_INFERENCE_URL": "http://127.0.0.1:9",
        "DOSEWISE_ENV": "test",
        "DOSEWISE_BODY_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
    }
    env.pop("REDIS_URL", None)
    tokens = {role: new.token for role, new in mint_keys(db_url).items()}
    stack = LocalStack(env=env, log_dir=tmp)
    try:
        stack.start("api")
        stack.wait_ready(f"http://127.0.0.1:{port}/healthz")
        yield Api(port, tokens, tmp / "api.log")
    finally:
        stack.stop_all()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool | None  # the server closed the connection after answering (None: not waited for)

    def json(self) -> dict:
        return json.loads(self.body)


def head(method: str, path: str, token: str, extra: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}",
             "Content-Type: application/json", *(f"{k}: {v}" for k, v in extra.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Transfer-Encoding: chunked framing (RFC 9112 §7.1)."""
    for p in pieces:
        yield f"{len(p):x}\r\n".encode() + p + b"\r\n"
    yield b"0\r\n\r\n"


def exchange(port: int, request_head: bytes, pieces: Iterable[bytes], pause_s: float = 0.0, wait_for_close: bool = False
             ) -> Answer:
    """Send the head, then each piece (``pause_s`` apart) until the server answers or stops reading; read the answer, and
    with ``wait_for_close`` whether the server then closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as s:
        s.sendall(request_head)
        try:
            for piece in pieces:
                if select.select([s], [], [], pause_s)[0]:
                    break  # the server answered before the body was complete
                s.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered and closed: the answer is waiting in the socket
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, f"closed without an answer: {data!r}"
            data += chunk
        raw_head, body = data.split(b"\r\n\r\n", 1)
        status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
        while len(body) < int(headers["content-length"]):
            chunk = s.recv(65536)
            assert chunk, "closed in the middle of the answer"
            body += chunk
        closed = None
        if wait_for_close:
            try:
                closed = select.select([s], [], [], SOCKET_TIMEOUT_S)[0] != [] and s.recv(1) == b""
            except ConnectionResetError:
                closed = True
        return Answer(int(status_line.split()[1]), headers, body, closed)


def assert_problem(answer: Answer, status: int, kind: str) -> None:
    assert answer.status == status, (answer.status, answer.body)
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status and problem["type"].endswith("/" + kind), problem


class TestChunkedBodies:
    def test_ten_megabytes_chunked_is_a_413_problem_not_a_400(self, api: Api) -> None:
        ten_mb = (b"x" * 65536 for _ in range(160))
        answer = exchange(api.port, head("POST", "/v1/recommendations", api.tokens["clinician"],
                                         {"Transfer-Encoding": "chunked"}), chunked(ten_mb),
                          wait_for_close=True)
        assert_problem(answer, 413, "body-too-large")
        assert str(MAX_BODY_BYTES) in answer.json()["detail"]
        assert answer.headers["connection"] == "close" and answer.closed is True

    def test_a_chunked_body_within_the_limit_reaches_the_route(self, api: Api) -> None:
        body = json.dumps({"name": "chunked-key", "role": "auditor"}).encode()
        answer = exchange(api.port, head("POST", "/v1/keys", api.tokens["admin"], {"Transfer-Encoding": "chunked"}),
                          chunked([body[:7], body[7:20], body[20:]]))
        assert answer.status == 201, answer.body
        assert answer.json()["name"] == "chunked-key"

    def test_a_chunked_body_is_checked_like_any_other(self, api: Api) -> None:
        answer = exchange(api.port, head("POST", "/v1/keys", api.tokens["admin"], {"Transfer-Encoding": "chunked"}),
                          chunked([b'{"name": "a", "role": "auditor",', b' "name": "b"}']))
        assert_problem(answer, 422, "validation")
        assert [e["field"] for e in answer.json()["errors"]] == ["name"]


class TestSlowBodies:
    def test_a_body_that_stops_arriving_is_a_408_and_the_connection_is_freed(self, api: Api) -> None:
        """Content-Length 1,000 declared, 10 bytes sent, then silence."""
        answer = exchange(api.port, head("POST", "/v1/recommendations", api.tokens["clinician"],
                                         {"Content-Length": "1000"}) + b'{"therapy"', [],
                          wait_for_close=True)
        assert_problem(answer, 408, "body-timeout")
        assert answer.headers["connection"] == "close" and answer.closed is True
        assert httpx.get(f"http://127.0.0.1:{api.port}/healthz", timeout=5).status_code == 200

    def test_a_body_that_trickles_is_timed_as_a_whole_not_byte_by_byte(self, api: Api) -> None:
        """Each byte comes well within the timeout of the one before; the body as a whole does not."""
        pieces = [b"x"] * int(4 * READ_TIMEOUT_S / 0.2)
        answer = exchange(api.port, head("POST", "/v1/recommendations", api.tokens["clinician"],
                                         {"Content-Length": str(len(pieces) + 10)}), pieces, pause_s=0.2,
                          wait_for_close=True)
        assert_problem(answer, 408, "body-timeout")
        assert answer.closed is True

    def test_a_body_sent_at_once_is_read_as_usual_on_a_kept_alive_connection(self, api: Api) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{api.port}",
                          headers={"Authorization": f"Bearer {api.tokens['admin']}"}) as c:
            for name in ("kept-1", "kept-2"):
                time.sleep(READ_TIMEOUT_S / 2)  # together longer than the read timeout: it runs per request, not per connection
                r = c.post("/v1/keys", json={"name": name, "role": "auditor"})
                assert r.status_code == 201, r.text

    def test_nothing_is_logged_as_an_outage(self, api: Api) -> None:
        log = api.log.read_text()
        assert '"request"' in log and "database unavailable" not in log and "unhandled error" not in log
