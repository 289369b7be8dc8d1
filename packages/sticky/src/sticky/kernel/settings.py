"""Configuration, read once from the environment (``STICKY_*``), typed, failing fast."""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("auth", "api", "events", "mail", "geo")

# Development defaults that must never reach production.
PLACEHOLDER_SECRET_KEY = "dev-secret-key-change-me"  # noqa: S105
PLACEHOLDER_SERVICE_KEY = "dev-service-key-change-me"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    """Every setting Sticky reads. Each field is the variable ``STICKY_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="STICKY_", extra="ignore", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path(".sticky")
    public_url: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    secret_key: str = PLACEHOLDER_SECRET_KEY
    service_key: str = PLACEHOLDER_SERVICE_KEY

    host: str = "127.0.0.1"
    # Networks (CIDR, or Caddy's "private_ranges") whose X-Forwarded-For the gateway believes.
    trusted_proxies: str = ""
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    auth_port: int = Field(default=8101, ge=1, le=65535)
    api_port: int = Field(default=8102, ge=1, le=65535)
    events_port: int = Field(default=8103, ge=1, le=65535)
    mail_port: int = Field(default=8104, ge=1, le=65535)
    geo_port: int = Field(default=8105, ge=1, le=65535)
    mailbox_port: int = Field(default=8106, ge=1, le=65535)
    smtp_sink_port: int = Field(default=8025, ge=1, le=65535)

    auth_database_url: str = ""
    mail_database_url: str = ""
    events_database_url: str = ""
    api_database_url: str = ""
    # Wall-clock time a flow's routing logic may run per tap. Measured inside V8, so on a
    # machine short of CPU even trivial logic can need more than its few microseconds.
    logic_time_limit_ms: float = Field(default=50, ge=5, le=1000)
    geoip_database: Path | None = None
    redis_url: str = ""
    smtp_url: str = ""
    mail_from: str = "Sticky <no-reply@sticky.localhost>"

    access_token_ttl_seconds: int = Field(default=900, ge=10)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    verification_token_ttl_seconds: int = Field(default=48 * 3600, ge=60)
    reset_token_ttl_seconds: int = Field(default=3600, ge=60)

    sign_in_failures_per_account: int = Field(default=5, ge=1)
    sign_in_failures_per_ip: int = Field(default=20, ge=1)
    sign_in_window_seconds: int = Field(default=900, ge=1)
    password_resets_per_account: int = Field(default=3, ge=1)
    password_resets_per_ip: int = Field(default=10, ge=1)
    password_reset_window_seconds: int = Field(default=3600, ge=1)

    # Webhooks: each attempt's deadline, attempts in flight per replica, and a factor on the
    # retry schedule and the disabling delay (tests and benchmarks make it small).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=32, ge=1, le=1000)
    webhook_retry_scale: float = Field(default=1.0, gt=0, le=1)
    # Where the api reaches Stripe's API: unset is Stripe itself. Only tests point it
    # elsewhere (a replay of Stripe's answers, Stripe's servers being out of their reach).
    stripe_api_base: str = ""

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            if self.secret_key == PLACEHOLDER_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "STICKY_SECRET_KEY must be set to a random value of at least 32 characters"
                    " when STICKY_ENV=production"
                )
            if self.service_key == PLACEHOLDER_SERVICE_KEY or len(self.service_key) < 32:
                raise ValueError(
                    "STICKY_SERVICE_KEY must be set to a random value of at least 32 characters"
                    " when STICKY_ENV=production"
                )
            if not self.public_url.startswith("https://"):
                raise ValueError(
                    "STICKY_PUBLIC_URL must be an https:// URL when STICKY_ENV=production"
                )
            if self.stripe_api_base and not self.stripe_api_base.startswith("https://"):
                raise ValueError(
                    "STICKY_STRIPE_API_BASE must be an https:// URL (or unset, for Stripe's"
                    " own) when STICKY_ENV=production"
                )
        return self

    @property
    def is_development(self) -> bool:
        return self.env is not Environment.PRODUCTION

    @property
    def gateway_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://localhost:{self.gateway_port}"

    def port_of(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def internal_url(self, service: str) -> str:
        """Where another service reaches ``service`` directly (loopback, not the gateway)."""
        return f"http://{self.host}:{self.port_of(service)}"

    def database_url(self, service: str) -> str:
        """The service's own database: ``STICKY_<SERVICE>_DATABASE_URL`` or a SQLite file."""
        url: str = getattr(self, f"{service}_database_url", "")
        if url:
            return url
        return f"sqlite:///{(self.data_dir / f'{service}.sqlite3').resolve()}"

    @property
    def smtp(self) -> str:
        return self.smtp_url or f"smtp://{self.host}:{self.smtp_sink_port}"


def _describe(error: ValidationError) -> str:
    sentences = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"] if part != "__root__"]
        name = "STICKY_" + loc[0].upper() if loc else "configuration"
        message = item["msg"].removeprefix("Value error, ")
        if loc:
            sentences.append(f"{name} is invalid: {message}")
        else:
            sentences.append(message)
    return "; ".join(sentences)


def load_settings() -> Settings:
    """Read the environment now; raise :class:`ConfigurationError` naming what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
