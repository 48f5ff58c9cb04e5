"""Gateway → inference over HTTP: one pooled httpx client, timeouts, retries only when the connection itself failed."""

from __future__ import annotations

import asyncio

import httpx

from dosewise.keepalive import CLIENT_KEEPALIVE_EXPIRY_S
from dosewise.schemas import InferRequest, InferResponse, RecommendRequest, RecommendResponse

RETRY_BACKOFF_S = 0.05
JSON_HEADERS = {"Content-Type": "application/json"}


class InferenceUnavailable(RuntimeError):
    """Inference could not answer: unreachable, timed out, or no policy. The message is safe to show to callers."""


class InferenceClient:
    def __init__(self, base_url: str, timeout_s: float, connect_retries: int) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32,
                               keepalive_expiry=CLIENT_KEEPALIVE_EXPIRY_S),  # below the server's (keepalive.py)
        )
        self._retries = connect_retries

    async def infer(self, req: InferRequest) -> InferResponse:
        """Q-values for feature vectors (POST /v1/infer)."""
        return InferResponse.model_validate_json(await self._post("/v1/infer", req.model_dump_json()))

    async def recommend(self, req: RecommendRequest) -> RecommendResponse:
        """Masked choices, HyperScores and explanations for patient states (POST /v1/recommend)."""
        return RecommendResponse.model_validate_json(await self._post("/v1/recommend", req.model_dump_json()))

    async def _post(self, path: str, payload: str) -> bytes:
        """POST a JSON body serialized by pydantic (Rust; stdlib json on the dumped dict cost ~0.5 ms per call)."""
        for attempt in range(self._retries + 1):
            try:
                resp = await self._client.post(path, content=payload, headers=JSON_HEADERS)
                break
            except httpx.ConnectError:  # nothing was sent: safe to retry
                if attempt == self._retries:
                    raise InferenceUnavailable("the inference service is unreachable") from None
                await asyncio.sleep(RETRY_BACKOFF_S * (attempt + 1))
            except httpx.TimeoutException:  # it may be working on it: do not pile on
                raise InferenceUnavailable("the inference service did not answer in time") from None
            except httpx.HTTPError as e:
                raise InferenceUnavailable(f"the inference service failed ({type(e).__name__})") from None
        if resp.status_code == 503:
            detail = resp.json().get("detail", "no policy available") if resp.content else "no policy available"
            raise InferenceUnavailable(f"inference cannot serve: {detail}")
        if resp.status_code != 200:
            raise InferenceUnavailable(f"inference answered HTTP {resp.status_code}")
        return resp.content

    async def ready(self) -> bool:
        try:
            r = await self._client.get("/readyz")
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
