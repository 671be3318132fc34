"""The one settings object. Every value comes from the environment (see README)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MissingSetting(RuntimeError):
    """A server address the process needs was not given."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str | None = Field(
        None, alias="DATABASE_URL", description="PostgreSQL URL; embedded server when unset"
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
    temporal_namespace: str = Field("default", alias="TEMPORAL_NAMESPACE")
    home: Path = Field(
        Path(".talentledger"),
        alias="TALENTLEDGER_HOME",
        description="where the embedded stack keeps all its data, keys, logs and traces",
    )
    http_host: str = Field("127.0.0.1", alias="TALENTLEDGER_HTTP_HOST")
    http_port: int = Field(0, alias="TALENTLEDGER_HTTP_PORT", description="0: any free port")
    jwt_public_key_file: Path | None = Field(
        None, alias="TALENTLEDGER_JWT_PUBLIC_KEY_FILE", description="PEM key that signs tokens"
    )
    jwks_url: str | None = Field(
        None, alias="TALENTLEDGER_JWKS_URL", description="production: verify tokens against this"
    )
    jwt_issuer: str = Field("talentledger-dev", alias="TALENTLEDGER_JWT_ISSUER")
    jwt_audience: str = Field("talentledger", alias="TALENTLEDGER_JWT_AUDIENCE")
    promotion_decider_role: str = Field(
        "promotion_committee",
        alias="TALENTLEDGER_PROMOTION_DECIDER_ROLE",
        description="the token role entitled to decide promotions and appeals",
    )
    trace_dir: Path | None = Field(
        None, alias="TALENTLEDGER_TRACE_DIR", description="span files; default <home>/traces"
    )
    otlp_endpoint: str | None = Field(
        None, alias="OTEL_EXPORTER_OTLP_ENDPOINT", description="also export spans over OTLP/HTTP"
    )

    def require_database_url(self) -> str:
        if not self.database_url:
            raise MissingSetting("DATABASE_URL is not set: run `talentledger up` or set it")
        return self.database_url

    def require_nats_url(self) -> str:
        if not self.nats_url:
            raise MissingSetting("NATS_URL is not set: run `talentledger up` or set it")
        return self.nats_url

    def require_temporal_address(self) -> str:
        if not self.temporal_address:
            raise MissingSetting("TEMPORAL_ADDRESS is not set: run `talentledger up` or set it")
        return self.temporal_address

    @property
    def traces(self) -> Path:
        return self.trace_dir or self.home / "traces"
