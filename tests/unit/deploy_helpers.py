"""What the deployment tests (test_deploy_*.py) share: the settings' environment variable names, the settings a given
environment makes, and the routes each service serves."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import pytest

from dosewise.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ALIASES = frozenset(f.alias for f in Settings.model_fields.values() if f.alias)
# Environment variables the manifests may set that are not settings: the Job controller's index (read by the command line
# through $(JOB_COMPLETION_INDEX)).
NOT_SETTINGS = frozenset({"JOB_COMPLETION_INDEX"})
# Stand-ins for the Secret's values, shaped like real ones (the Secret itself is the operator's, never in the repository).
SECRET_STAND_INS = {
    "DATABASE_URL": "postgresql+asyncpg://dosewise@db.example.org:5432/dosewise",
    "REDIS_URL": "redis://redis.example.org:6379/0",
    "DOSEWISE_PSEUDONYM_KEY": "k" * 32,
}


def settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The Settings a process sees with exactly ``env`` (none of the test run's own DOSEWISE_* variables leak in)."""
    for alias in ALIASES:
        monkeypatch.delenv(alias, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


@functools.cache
def routes(service: str) -> frozenset[str]:
    """Every path the service's app serves (the apps are built, not started: no lifespan, no database)."""
    settings = Settings(DOSEWISE_ENV="test")  # type: ignore[call-arg]
    if service == "api":
        from dosewise_api.app import create_app as create_api

        app = create_api(settings)
    else:
        from dosewise_inference.app import create_app as create_inference

        app = create_inference(settings)
    return frozenset(set(app.openapi()["paths"]) | {r.path for r in app.routes if isinstance(getattr(r, "path", None), str)})
