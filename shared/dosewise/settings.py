"""One place for every environment variable.

Defaults give the embedded mode: a SQLite file under ``var/`` and a queue in a database table. Set ``DATABASE_URL`` to
``postgresql+asyncpg://…`` and ``REDIS_URL`` to ``redis://…`` and the same code runs on PostgreSQL and Redis Streams.
Each service builds its own settings object from this class (``get_settings()``); nothing reads ``os.environ`` elsewhere.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VAR_DIR = REPO_ROOT / "var"
DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-change-me"  # placeholder: refused when DOSEWISE_ENV=production


class Settings(BaseSettings):
    """Every setting of every Dosewise service; the README's table is generated from these fields' descriptions."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    environment: Literal["development", "test", "production"] = Field(
        "development", alias="DOSEWISE_ENV", description="development | test | production; production refuses placeholder secrets."
    )
    var_dir: Path = Field(DEFAULT_VAR_DIR, alias="DOSEWISE_VAR_DIR", description="Where embedded-mode files live (SQLite, logs).")
    database_url: str | None = Field(
        None,
        alias="DATABASE_URL",
        description="SQLAlchemy async URL. Unset: sqlite+aiosqlite:///<var>/dosewise.db. PostgreSQL: postgresql+asyncpg://user@host/db.",
    )
    redis_url: str | None = Field(
        None, alias="REDIS_URL", description="redis://host:port/db. Unset: the queue is a table in the database."
    )
    policy_dir: Path = Field(
        REPO_ROOT / "policies",
        alias="DOSEWISE_POLICY_DIR",
        description="Directory of policy artifacts (<therapy>/<version>/policy.onnx + model_card.json).",
    )
    inference_url: str = Field(
        "http://127.0.0.1:8001", alias="DOSEWISE_INFERENCE_URL", description="Base URL the gateway uses to reach inference."
    )
    inference_timeout_s: float = Field(
        5.0, alias="DOSEWISE_INFERENCE_TIMEOUT_S", description="Gateway → inference request timeout, seconds."
    )
    inference_connect_retries: int = Field(
        2, alias="DOSEWISE_INFERENCE_CONNECT_RETRIES", description="Retries on connection failure only (never on a timeout)."
    )
    api_host: str = Field("127.0.0.1", alias="DOSEWISE_API_HOST", description="Gateway bind address.")
    api_port: int = Field(8000, alias="DOSEWISE_API_PORT", description="Gateway port.")
    inference_host: str = Field("127.0.0.1", alias="DOSEWISE_INFERENCE_HOST", description="Inference bind address.")
    inference_port: int = Field(8001, alias="DOSEWISE_INFERENCE_PORT", description="Inference port.")
    max_body_bytes: int = Field(
        4_194_304, alias="DOSEWISE_MAX_BODY_BYTES", description="Largest accepted request body, bytes; larger → 413."
    )
    log_level: str = Field("INFO", alias="DOSEWISE_LOG_LEVEL", description="Log level of every service (JSON logs).")
    queue_block_ms: int = Field(
        1000, alias="DOSEWISE_QUEUE_BLOCK_MS", description="How long a consumer waits for new messages per poll, ms."
    )
    trainer_consumer: str = Field(
        "trainer-1", alias="DOSEWISE_TRAINER_CONSUMER", description="This trainer's consumer name in the consumer group."
    )

    pseudonym_key: str = Field(
        DEV_PSEUDONYM_KEY,
        alias="DOSEWISE_PSEUDONYM_KEY",
        description="Secret key of the HMAC that pseudonymizes patient references before storage. Required in production.",
    )
    policy_refresh_s: float = Field(
        2.0, alias="DOSEWISE_POLICY_REFRESH_S", description="How often inference re-reads the registry for a new active policy, s."
    )

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        if self.environment == "production" and self.pseudonym_key == DEV_PSEUDONYM_KEY:
            raise ValueError("DOSEWISE_PSEUDONYM_KEY must be set to a real secret in production")
        return self

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if self.database_url is None:
            self.database_url = f"sqlite+aiosqlite:///{self.var_dir / 'dosewise.db'}"
        return self

    @property
    def db_url(self) -> str:
        assert self.database_url is not None
        return self.database_url

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
