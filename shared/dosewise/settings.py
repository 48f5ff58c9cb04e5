"""One place for every environment variable.

Defaults give the embedded mode: a SQLite file under ``var/`` and a queue in a database table. Set ``DATABASE_URL`` to
``postgresql+asyncpg://…`` and ``REDIS_URL`` to ``redis://…`` and the same code runs on PostgreSQL and Redis Streams.
Each service builds its own settings object from this class (``get_settings()``); nothing reads ``os.environ`` elsewhere.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VAR_DIR = REPO_ROOT / "var"
DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-change-me"  # placeholder: refused when DOSEWISE_ENV=production
MIN_SECRET_CHARS = 32  # a real HMAC key: at least 32 random characters
# Signature algorithms whose verification key is public: a JWKS can never be used to forge tokens with them.
ASYMMETRIC_JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


def _split_commas(value: object) -> object:
    """``a, b,,c`` → ("a", "b", "c"): the documented format of the list settings, from the environment or a keyword."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# A list setting, written in the environment as comma-separated values. NoDecode stops pydantic-settings from reading the
# variable as JSON (its default for a sequence), so the comma format documented in docs/configuration.md stays the format.
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]


class Settings(BaseSettings):
    """Every setting of every Dosewise service; the README's table is generated from these fields' descriptions."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False,
                                      hide_input_in_errors=True)  # a refused secret is never echoed

    environment: Literal["development", "test", "production"] = Field(
        "development", alias="DOSEWISE_ENV",
        description="development | test | production; production refuses placeholder secrets and an unset DATABASE_URL.",
    )
    var_dir: Path = Field(DEFAULT_VAR_DIR, alias="DOSEWISE_VAR_DIR", description="Where embedded-mode files live (SQLite, logs).")
    database_url: str | None = Field(
        None,
        alias="DATABASE_URL",
        description="SQLAlchemy async URL. Unset: sqlite+aiosqlite:///<var>/dosewise.db (development and test only: "
        "production requires it). PostgreSQL: postgresql+asyncpg://user@host/db.",
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
    body_read_timeout_s: float = Field(
        10.0, gt=0.0, alias="DOSEWISE_BODY_READ_TIMEOUT_S",
        description="Longest a request body may take to arrive in full after its headers, s; slower → 408 and the connection "
        "is closed.",
    )
    log_level: str = Field("INFO", alias="DOSEWISE_LOG_LEVEL", description="Log level of every service.")
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", alias="DOSEWISE_LOG_FORMAT",
        description="Log format of every service: json (one object a line, for a log collector), console (readable lines), "
        "or auto: console when stderr is a terminal, else json. `dosewise up` (make run) makes it console unless set.",
    )
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
        2.0, alias="DOSEWISE_POLICY_REFRESH_S",
        description="How often inference re-reads the registry for a new active policy, s.",
    )

    jwt_jwks_url: str | None = Field(
        None,
        alias="DOSEWISE_JWT_JWKS_URL",
        description="JWKS of the identity provider whose bearer JWTs the gateway accepts: an https:// URL or a file path. "
        "Unset: API keys only.",
    )
    jwt_issuer: str | None = Field(None, alias="DOSEWISE_JWT_ISSUER", description="Required `iss` of JWTs (set with the JWKS).")
    jwt_audience: str | None = Field(
        None, alias="DOSEWISE_JWT_AUDIENCE", description="Required `aud` of JWTs (set with the JWKS)."
    )
    jwt_role_claim: str = Field(
        "roles",
        alias="DOSEWISE_JWT_ROLE_CLAIM",
        description="Claim holding the caller's Dosewise role(s), a string or a list; dots reach into objects "
        "(realm_access.roles).",
    )
    jwt_algorithms: CommaList = Field(
        ("RS256", "PS256", "ES256", "EdDSA"),
        alias="DOSEWISE_JWT_ALGORITHMS",
        description="Comma-separated JWT signature algorithms accepted; asymmetric only (HS*/none are refused).",
    )
    public_url: str | None = Field(
        None,
        alias="DOSEWISE_PUBLIC_URL",
        description="The gateway's URL as clients reach it (https://dosewise.example): the links on CDS Hooks cards and the "
        "`aud` a CDS client's JWT must carry. Unset: the URL the request arrived at.",
    )
    cds_issuers: str = Field(
        "",
        alias="DOSEWISE_CDS_ISSUERS",
        description="CDS Hooks clients trusted, as JSON: {\"<iss>\": \"<JWKS URL or file>\"}. A client's JWT must name one "
        "of them; its `jku` header is used only when it is that JWKS URL. Empty: no CDS client JWT is accepted (API keys "
        "still are).",
    )
    cds_discovery_open: bool = Field(
        False,
        alias="DOSEWISE_CDS_DISCOVERY_OPEN",
        description="Serve CDS Hooks discovery (GET /cds-services) without authentication.",
    )
    cds_fhir_servers: CommaList = Field(
        (),
        alias="DOSEWISE_CDS_FHIR_SERVERS",
        description="Comma-separated FHIR base URLs a CDS client's fhirServer must be one of (or lie under). Empty: any "
        "https server except a private network's IP address.",
    )
    cds_fetch_timeout_s: float = Field(
        3.0, gt=0, le=30, alias="DOSEWISE_CDS_FETCH_TIMEOUT_S",
        description="Timeout of each read from a CDS client's fhirServer when its prefetch is missing, seconds.",
    )
    smart_client_id: str | None = Field(
        None, alias="DOSEWISE_SMART_CLIENT_ID",
        description="The clinician UI's client_id at the EHR's authorization server, for a SMART App Launch from the EHR "
        "(/ui/launch). Unset: no EHR launch.",
    )
    smart_issuers: CommaList = Field(
        (), alias="DOSEWISE_SMART_ISSUERS",
        description="Comma-separated FHIR base URLs (`iss`) that may launch the UI; the only servers whose "
        "SMART configuration the gateway fetches. Empty: none.",
    )
    cors_origins: CommaList = Field(
        (),
        alias="DOSEWISE_CORS_ORIGINS",
        description="Comma-separated browser origins allowed to call the API cross-origin (exact, e.g. https://ehr.example). "
        "Empty: none.",
    )
    rate_limit_per_minute: int = Field(
        600, ge=1, alias="DOSEWISE_RATE_LIMIT_PER_MINUTE",
        description="Sustained requests per minute per API key or JWT subject, per gateway replica; over it → 429.",
    )
    rate_limit_burst: int = Field(
        60, ge=1, alias="DOSEWISE_RATE_LIMIT_BURST", description="Requests a caller may send at once before the rate applies."
    )
    # Recommendations are charged by their patients (a batch of 1,000 costs 1,000) and admitted only while the work in flight
    # can be answered in time: services/api/dosewise_api/ratelimit.py says why these numbers. A cap below one full batch
    # (schemas.MAX_BATCH, 1,000 patients) would refuse every full batch forever, so none may be set lower.
    rate_limit_patients_per_minute: int = Field(
        60_000, ge=1, alias="DOSEWISE_RATE_LIMIT_PATIENTS_PER_MINUTE",
        description="Sustained patients per minute per caller in recommendations (a batch costs its patients, a single 1), "
        "per gateway replica; over it → 429.",
    )
    rate_limit_patient_burst: int = Field(
        10_000, ge=1000, alias="DOSEWISE_RATE_LIMIT_PATIENT_BURST",
        description="Patients a caller may send at once before the patient rate applies (at least one full batch).",
    )
    admission_caller_batch_patients: int = Field(
        1_000, ge=1000, alias="DOSEWISE_ADMISSION_CALLER_BATCH_PATIENTS",
        description="Patients in batches one caller may have in flight (admitted, not yet answered) per gateway replica; "
        "over it → 429. Its single recommendations are held to its request rate instead.",
    )
    admission_batch_patients: int = Field(
        4_000, ge=1000, alias="DOSEWISE_ADMISSION_BATCH_PATIENTS",
        description="Patients in batches in flight, all callers, per gateway replica: at most what inference answers well "
        "within DOSEWISE_INFERENCE_TIMEOUT_S; over it → 503. Single recommendations have their own pool.",
    )
    admission_singles: int = Field(
        256, ge=1, alias="DOSEWISE_ADMISSION_SINGLES",
        description="Single recommendations in flight, all callers, per gateway replica; over it → 503.",
    )
    api_key_cache_s: float = Field(
        5.0, ge=0.0, le=300.0, alias="DOSEWISE_API_KEY_CACHE_S",
        description="How long a gateway replica reuses an API key's stored row (the secret is still checked on every "
        "request): a revocation made elsewhere (the CLI, another replica) applies within this time; one made through this "
        "replica at once. 0: read the key on every request.",
    )

    # --- the learning loop (issue 6): exploration, outbox relay, trainer consumer, retraining ---------------------------
    exploration: Literal["off", "epsilon", "softmax"] = Field(
        "off", alias="DOSEWISE_EXPLORATION",
        description="Inference exploration among ALLOWED actions, logged as the behaviour probability for off-policy "
        "evaluation: off (greedy; production), epsilon or softmax.",
    )
    exploration_epsilon: float = Field(
        0.1, ge=0.0, le=1.0, alias="DOSEWISE_EXPLORATION_EPSILON",
        description="With DOSEWISE_EXPLORATION=epsilon: probability of a uniformly random allowed action instead of the best.",
    )
    exploration_temperature: float = Field(
        0.5, gt=0.0, alias="DOSEWISE_EXPLORATION_TEMPERATURE",
        description="With DOSEWISE_EXPLORATION=softmax: temperature of the softmax over allowed actions' Q-values.",
    )
    queue_prefix: str = Field(
        "dosewise:", min_length=1, max_length=64, alias="DOSEWISE_QUEUE_PREFIX",
        description="Prefix of every Redis stream key (separates deployments sharing a Redis).",
    )
    outbox_relay: bool = Field(
        True, alias="DOSEWISE_OUTBOX_RELAY",
        description="This trainer process also runs the outbox relay (outbox rows → queue). Several relays are safe.",
    )
    outbox_batch: int = Field(
        500, ge=1, alias="DOSEWISE_OUTBOX_BATCH", description="Outbox rows the relay publishes per round."
    )
    outbox_poll_s: float = Field(
        0.2, gt=0.0, alias="DOSEWISE_OUTBOX_POLL_S", description="How often an idle relay looks for unsent outbox rows, s."
    )
    outbox_redrive_s: float = Field(
        60.0, gt=0.0, alias="DOSEWISE_OUTBOX_REDRIVE_S",
        description="An outcome still without a transition this long after it was recorded, while the trainer is idle, "
        "is announced again (a queue that lost messages, e.g. Redis restarted without persistence), s.",
    )
    trainer_claim_idle_ms: int = Field(
        30_000, ge=1, alias="DOSEWISE_TRAINER_CLAIM_IDLE_MS",
        description="A message pending this long belongs to a consumer presumed dead and is claimed by another, ms.",
    )
    trainer_metrics_host: str = Field(
        "127.0.0.1", alias="DOSEWISE_TRAINER_METRICS_HOST", description="Bind address of the trainer's Prometheus metrics."
    )
    trainer_metrics_port: int = Field(
        8002, ge=0, le=65535, alias="DOSEWISE_TRAINER_METRICS_PORT",
        description="Port of the trainer's Prometheus metrics (GET /metrics; the trainer serves no other HTTP). 0: none.",
    )
    retrain: bool = Field(
        True, alias="DOSEWISE_RETRAIN",
        description="This trainer process retrains and gates candidates; replicas take turns under the retraining lease "
        "(DOSEWISE_RETRAIN_LEASE_TTL_S), one retraining at a time.",
    )
    retrain_min_transitions: int = Field(
        5000, ge=0, alias="DOSEWISE_RETRAIN_MIN_TRANSITIONS",
        description="Retrain a therapy once this many new transitions arrived since its last candidate (0: never by count).",
    )
    retrain_interval_s: float = Field(
        86_400.0, ge=0.0, alias="DOSEWISE_RETRAIN_INTERVAL_S",
        description="Also retrain on this schedule when any new transition arrived, s (0: no schedule).",
    )
    retrain_gradient_steps: int = Field(
        3000, ge=1, alias="DOSEWISE_RETRAIN_GRADIENT_STEPS", description="Gradient steps of each conservative retraining run."
    )
    # The lease row (table ``leases``) is renewed every third of this while a replica retrains, so a database blip shorter than
    # two heartbeats does not lose it; a crashed holder's lease lapses after this and another replica retrains instead.
    retrain_lease_ttl_s: float = Field(
        60.0, ge=1.0, alias="DOSEWISE_RETRAIN_LEASE_TTL_S",
        description="Lifetime of the retraining lease (table leases), renewed every third of it while a replica retrains; "
        "a crashed retrainer's lease passes to another replica after this, s.",
    )

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        """Outside development and the test suite, refuse to start with a secret anyone can read in this repository, or
        with a security setting that would silently accept more than intended."""
        if self.environment in ("development", "test"):
            return self
        if self.pseudonym_key == DEV_PSEUDONYM_KEY or len(self.pseudonym_key) < MIN_SECRET_CHARS:
            raise ValueError(f"DOSEWISE_PSEUDONYM_KEY must be set to a real secret (≥ {MIN_SECRET_CHARS} characters) in "
                             f"{self.environment}")
        if "*" in self.cors_origins:
            raise ValueError(f"DOSEWISE_CORS_ORIGINS may not be '*' in {self.environment}: list the origins")
        if self.database_url is None:  # checked before _default_database fills in the embedded default
            raise ValueError(f"DATABASE_URL must be set in {self.environment}: the embedded default is a SQLite file in "
                             "DOSEWISE_VAR_DIR, which a container loses when it restarts and replicas do not share")
        if self.jwt_jwks_url and self.jwt_jwks_url.startswith("http://"):
            raise ValueError(f"DOSEWISE_JWT_JWKS_URL must be https:// (or a file) in {self.environment}")
        return self

    @model_validator(mode="after")
    def _jwt_is_complete(self) -> Settings:
        """A JWKS without an issuer and an audience would accept any token the provider ever signed, for any app."""
        if self.jwt_jwks_url and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError("DOSEWISE_JWT_JWKS_URL needs DOSEWISE_JWT_ISSUER and DOSEWISE_JWT_AUDIENCE")
        bad = [a for a in self.jwt_algorithms if a not in ASYMMETRIC_JWT_ALGORITHMS]
        if bad or not self.jwt_algorithms:
            raise ValueError(f"DOSEWISE_JWT_ALGORITHMS: only asymmetric algorithms ({', '.join(ASYMMETRIC_JWT_ALGORITHMS)}); "
                             f"refused: {', '.join(bad) or '(empty)'}")
        return self

    @model_validator(mode="after")
    def _cds_issuers_are_a_map(self) -> Settings:
        issuers = self.cds_issuer_map  # raises on malformed JSON
        plain = [i for i, url in issuers.items() if url.startswith("http://")]
        if plain and self.environment == "production":
            raise ValueError(f"DOSEWISE_CDS_ISSUERS: JWKS URLs must be https:// (or files) in production: {', '.join(plain)}")
        return self

    @field_validator("smart_issuers")
    @classmethod
    def _issuers_without_trailing_slash(cls, issuers: tuple[str, ...]) -> tuple[str, ...]:
        """An EHR's ``iss`` is compared without its trailing slash (ui/smart.allowed_issuer), so the list is too."""
        return tuple(i.rstrip("/") for i in issuers)

    @property
    def cds_issuer_map(self) -> dict[str, str]:
        if not self.cds_issuers.strip():
            return {}
        try:
            value = json.loads(self.cds_issuers)
        except ValueError:
            raise ValueError("DOSEWISE_CDS_ISSUERS must be a JSON object {\"<iss>\": \"<JWKS URL or file>\"}") from None
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
            raise ValueError("DOSEWISE_CDS_ISSUERS must be a JSON object {\"<iss>\": \"<JWKS URL or file>\"}")
        return dict(value)

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


def markdown_table() -> str:
    """The configuration table of docs/configuration.md, from the fields themselves: a test keeps the doc equal to it, so a
    new setting cannot go undocumented (``python -m dosewise.settings > table.md`` prints it)."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if name in ("var_dir", "policy_dir"):  # paths under the checkout: say where, not this machine's absolute path
            shown = f"<repo>/{Path(default).name}"
        elif default is None:
            shown = "(unset)"
        elif default in ("", ()):
            shown = "(empty)"
        elif isinstance(default, tuple):  # a CommaList: shown as it is written in the environment
            shown = ",".join(default)
        else:
            shown = str(default)
        rows.append(f"| `{field.alias}` | {(field.description or '').replace('|', '&#124;')} | `{shown}` |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
