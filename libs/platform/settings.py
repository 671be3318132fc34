"""The one settings object. Every value comes from the environment (see README)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class MissingSetting(RuntimeError):
    """A server address the process needs was not given."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str | None = Field(
        None, alias="DATABASE_URL", description="PostgreSQL URL; embedded server when unset"
    )
    database_owner_url: str | None = Field(
        None,
        alias="DATABASE_OWNER_URL",
        description="the owner role that runs migrations (`talentledger db migrate`); "
        "never given to a service",
    )
    database_statement_timeout: float = Field(
        120,
        alias="TALENTLEDGER_DB_STATEMENT_TIMEOUT",
        gt=0,
        description="seconds one SQL statement of a service may run",
    )
    database_idle_in_transaction_timeout: float = Field(
        60,
        alias="TALENTLEDGER_DB_IDLE_IN_TRANSACTION_TIMEOUT",
        gt=0,
        description="seconds a service's transaction may sit idle before PostgreSQL ends it",
    )
    nats_url: str | None = Field(
        None, alias="NATS_URL", description="NATS URL; embedded when unset"
    )
    temporal_address: str | None = Field(
        None, alias="TEMPORAL_ADDRESS", description="host:port of Temporal; embedded when unset"
    )
    nats_credentials: Path | None = Field(
        None,
        alias="NATS_CREDENTIALS",
        description="the NATS identity to connect as: an NKey seed file or a .creds file",
    )
    nats_tls_ca_file: Path | None = Field(
        None,
        alias="NATS_TLS_CA_FILE",
        description="CA that signs the NATS servers' certificates, for tls:// URLs",
    )
    nats_stream_replicas: int = Field(
        1, alias="NATS_STREAM_REPLICAS", ge=1, le=5, description="3 on a JetStream cluster"
    )
    event_retention_days: float = Field(
        365,
        alias="TALENTLEDGER_EVENT_RETENTION_DAYS",
        gt=0,
        le=36500,
        description="how long JetStream keeps integration events (and bodies too large for "
        "one message); set by whoever runs `talentledger events ensure-streams` or `up`",
    )
    dead_letter_retention_days: float = Field(
        90,
        alias="TALENTLEDGER_DEAD_LETTER_RETENTION_DAYS",
        gt=0,
        le=36500,
        description="how long dead letters are kept for replay",
    )
    inbox_prune_interval: float = Field(
        3600,
        alias="TALENTLEDGER_INBOX_PRUNE_INTERVAL",
        gt=0,
        description="seconds between prunings of each service's inbox, which deletes rows "
        "older than TALENTLEDGER_EVENT_RETENTION_DAYS and a day",
    )
    loop_stall_threshold: float = Field(
        0.1,
        alias="TALENTLEDGER_LOOP_STALL_THRESHOLD",
        gt=0,
        description="seconds a service's event loop may be held before it logs a warning "
        "naming the stall (libs/platform/stalls.py)",
    )
    framework_review_months: int = Field(
        12,
        alias="TALENTLEDGER_FRAMEWORK_REVIEW_MONTHS",
        ge=1,
        le=240,
        description="months after its last review (a published version, or a review HR "
        "records) that a framework is due for review",
    )
    framework_major_revision_months: int = Field(
        36,
        alias="TALENTLEDGER_FRAMEWORK_MAJOR_REVISION_MONTHS",
        ge=1,
        le=240,
        description="months after its last major revision (or first version) that a framework "
        "is due for a major revision",
    )
    framework_at_risk_months: int = Field(
        36,
        alias="TALENTLEDGER_FRAMEWORK_AT_RISK_MONTHS",
        ge=1,
        le=240,
        description="months without a published version after which a framework is at risk",
    )
    framework_cadence_interval: float = Field(
        3600,
        alias="TALENTLEDGER_FRAMEWORK_CADENCE_INTERVAL",
        gt=0,
        description="seconds between the framework service's checks for reviews and major "
        "revisions falling due",
    )
    intake_retention_days: float = Field(
        7,
        alias="TALENTLEDGER_INTAKE_RETENTION_DAYS",
        gt=0,
        le=36500,
        description="how long an outside system's event (HRIS, LMS) waits, in clear, on the "
        "intake for the cycles service to admit it; admitted ones are deleted at once",
    )
    temporal_namespace: str = Field("default", alias="TEMPORAL_NAMESPACE")
    temporal_payload_keys_file: Path | None = Field(
        None,
        alias="TALENTLEDGER_TEMPORAL_PAYLOAD_KEYS_FILE",
        description="keys encrypting Temporal payloads; default <home>/keys/temporal-payload.keys",
    )
    personal_data_keys_file: Path | None = Field(
        None,
        alias="TALENTLEDGER_PERSONAL_DATA_KEYS_FILE",
        description="master keys wrapping each person's data key (docs/privacy.md); every "
        "service needs them to start; default <home>/keys/personal-data.keys, which the "
        "embedded stack creates",
    )
    home: Path = Field(
        Path(".talentledger"),
        alias="TALENTLEDGER_HOME",
        description="where the embedded stack keeps all its data, keys, logs and traces",
    )
    http_host: str = Field("127.0.0.1", alias="TALENTLEDGER_HTTP_HOST")
    http_port: int = Field(0, alias="TALENTLEDGER_HTTP_PORT", description="0: any free port")
    http_reuse_port: bool = Field(
        False,
        alias="TALENTLEDGER_HTTP_REUSE_PORT",
        description="listen with SO_REUSEPORT, so that several processes of a service share "
        "the port and the kernel spreads connections among them (`talentledger up` sets it)",
    )
    replica: int = Field(
        1,
        alias="TALENTLEDGER_REPLICA",
        ge=1,
        description="which of a service's processes on one host this is (`talentledger up "
        "--replicas`): a replica after the first writes <service>-<replica>.log and .jsonl",
    )
    jwt_public_key_file: Path | None = Field(
        None, alias="TALENTLEDGER_JWT_PUBLIC_KEY_FILE", description="PEM key that signs tokens"
    )
    jwks_url: str | None = Field(
        None, alias="TALENTLEDGER_JWKS_URL", description="production: verify tokens against this"
    )
    jwks_refresh_seconds: float = Field(
        300,
        alias="TALENTLEDGER_JWKS_REFRESH_SECONDS",
        gt=0,
        description="how often the JWKS is fetched again in the background",
    )
    jwt_max_lifetime_seconds: int = Field(
        12 * 3600,
        alias="TALENTLEDGER_JWT_MAX_LIFETIME_SECONDS",
        gt=0,
        description="tokens whose exp - iat is longer are refused",
    )
    environment: Literal["development", "production"] = Field(
        "development",
        alias="TALENTLEDGER_ENVIRONMENT",
        description="production refuses the development signing key: tokens need a JWKS",
    )
    jwt_issuer: str = Field("talentledger-dev", alias="TALENTLEDGER_JWT_ISSUER")
    jwt_audience: str = Field("talentledger", alias="TALENTLEDGER_JWT_AUDIENCE")
    promotion_decider_role: str = Field(
        "promotion_committee",
        alias="TALENTLEDGER_PROMOTION_DECIDER_ROLE",
        description="the token role entitled to decide promotions and appeals",
    )
    checkpoint_key_file: Path | None = Field(
        None,
        alias="TALENTLEDGER_CHECKPOINT_KEY_FILE",
        description="Ed25519 key (PEM) that signs decision-log checkpoints; default "
        "<home>/keys/checkpoint-signing-key.pem, which the embedded stack creates",
    )
    checkpoint_dir: Path | None = Field(
        None,
        alias="TALENTLEDGER_CHECKPOINT_DIR",
        description="where signed checkpoints are written, one file each, never overwritten; "
        "default <home>/checkpoints",
    )
    checkpoint_interval: float = Field(
        900,
        alias="TALENTLEDGER_CHECKPOINT_INTERVAL",
        ge=0,
        description="seconds between scheduled checkpoints (also after each promotion stage "
        "of a cycle); 0: only after stages",
    )
    checkpoint_key_fingerprint: str | None = Field(
        None,
        alias="TALENTLEDGER_CHECKPOINT_KEY_FINGERPRINT",
        pattern="^[0-9a-fA-F]{64}$",
        description="the pinned fingerprint of the checkpoint key `audit verify` accepts; "
        "default: the one the embedded stack recorded when it created the key",
    )
    trace_dir: Path | None = Field(
        None, alias="TALENTLEDGER_TRACE_DIR", description="span files; default <home>/traces"
    )
    trace_retention_days: int = Field(
        14,
        alias="TALENTLEDGER_TRACE_RETENTION_DAYS",
        ge=1,
        le=3650,
        description="span files rotate daily; this many earlier days are kept, older deleted",
    )
    log_dir: Path | None = Field(
        None,
        alias="TALENTLEDGER_LOG_DIR",
        description="write each service's log to <dir>/<service>.log instead of stderr (the "
        "embedded stack sets <home>/logs)",
    )
    log_retention_days: int = Field(
        14,
        alias="TALENTLEDGER_LOG_RETENTION_DAYS",
        ge=1,
        le=3650,
        description="log files rotate daily; this many earlier days are kept, older deleted",
    )
    service_urls: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        alias="TALENTLEDGER_SERVICE_URLS",
        description="`name=url,...`: where the cycles service reaches the other services' "
        "APIs, to gather an access request's answers (docs/privacy.md, Requests); the "
        "embedded stack sets it",
    )
    otlp_endpoint: str | None = Field(
        None, alias="OTEL_EXPORTER_OTLP_ENDPOINT", description="also export spans over OTLP/HTTP"
    )

    @field_validator("service_urls", mode="before")
    @classmethod
    def _service_urls(cls, value: object) -> object:
        return parse_service_urls(value) if isinstance(value, str) else value

    def require_database_url(self) -> str:
        if not self.database_url:
            raise MissingSetting("DATABASE_URL is not set: run `talentledger up` or set it")
        return self.database_url

    def require_database_owner_url(self) -> str:
        if not self.database_owner_url:
            raise MissingSetting(
                "DATABASE_OWNER_URL is not set: give the URL of the role that owns the schemas"
            )
        return self.database_owner_url

    def require_nats_url(self) -> str:
        if not self.nats_url:
            raise MissingSetting("NATS_URL is not set: run `talentledger up` or set it")
        return self.nats_url

    def require_temporal_address(self) -> str:
        if not self.temporal_address:
            raise MissingSetting("TEMPORAL_ADDRESS is not set: run `talentledger up` or set it")
        return self.temporal_address

    @property
    def temporal_payload_keys(self) -> Path:
        return self.temporal_payload_keys_file or self.home / "keys" / "temporal-payload.keys"

    @property
    def personal_data_keys(self) -> Path:
        return self.personal_data_keys_file or self.home / "keys" / "personal-data.keys"

    @property
    def checkpoint_key(self) -> Path:
        return self.checkpoint_key_file or self.home / "keys" / "checkpoint-signing-key.pem"

    @property
    def checkpoints(self) -> Path:
        return self.checkpoint_dir or self.home / "checkpoints"

    @property
    def traces(self) -> Path:
        return self.trace_dir or self.home / "traces"

    def file_stem(self, service: str) -> str:
        """The name of this process's log and span files (`replica_stem`)."""
        return replica_stem(service, self.replica)


def replica_stem(service: str, replica: int) -> str:
    """A service process's file name: the service's own for the first replica, so that one
    process per service keeps `<service>.log`; `<service>-<replica>` for the others."""
    return service if replica == 1 else f"{service}-{replica}"


def parse_service_urls(text: str) -> dict[str, str]:
    """`framework=http://127.0.0.1:8001,assessment=http://...` as a mapping; blank: none."""
    urls: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, equals, url = (part.strip() for part in entry.partition("="))
        if not equals or not name or not url:
            raise ValueError(f"{entry!r}: write each service as name=url, separated by commas")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ValueError(f"{name}={url}: the URL must be http:// or https:// with a host")
        if name in urls:
            raise ValueError(f"{name!r} is given twice")
        urls[name] = url.rstrip("/")
    return urls
