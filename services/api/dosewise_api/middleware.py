"""ASGI middleware: reject a request body before it is read into memory when it is over the configured limit (413) or is
not JSON (415: every body this API takes is JSON; without this, a form-encoded body, curl's default, was a 422 "Input
should be a valid dictionary")."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dosewise import problems


def _is_json(content_type: bytes | None) -> bool:
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


async def _send_problem(send: Send, problem: dict) -> None:
    body = json.dumps(problem).encode()
    await send({"type": "http.response.start", "status": problem["status"],
                "headers": [(b"content-type", problems.PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _reject(self, send: Send) -> None:
        await _send_problem(send, problems.problem(413, "Request body too large",
                                                   f"bodies are limited to {self.max_bytes} bytes", "body-too-large"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return
        has_body = (declared is not None and declared != b"0") or b"transfer-encoding" in headers
        if has_body and not _is_json(headers.get(b"content-type")):
            await _send_problem(send, problems.problem(
                415, "Unsupported Media Type", "send the body as JSON with the header Content-Type: application/json",
                "unsupported-media-type"))
            return
        seen = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    raise _TooLarge
            return msg

        started = False

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)
        if too_large and not started:
            return


class _TooLarge(Exception):
    pass
