from __future__ import annotations

import pytest

from sticky.kernel.settings import ConfigurationError, Environment, Settings, load_settings


def test_development_needs_no_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("STICKY_"):
            monkeypatch.delenv(name)
    settings = load_settings()
    assert settings.env is Environment.DEVELOPMENT
    assert settings.gateway_port == 8080
    assert settings.gateway_url == "http://localhost:8080"
    assert settings.database_url("auth").startswith("sqlite:///")
    assert settings.database_url("auth").endswith(".sticky/auth.sqlite3")


def test_per_service_database_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STICKY_AUTH_DATABASE_URL", "postgresql://db/auth")
    settings = load_settings()
    assert settings.database_url("auth") == "postgresql://db/auth"
    assert settings.database_url("mail").startswith("sqlite:///")


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STICKY_GATEWAY_PORT", "eighty")
    with pytest.raises(ConfigurationError, match="STICKY_GATEWAY_PORT is invalid"):
        load_settings()


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STICKY_ENV", "production")
    monkeypatch.setenv("STICKY_PUBLIC_URL", "https://stickies.example")
    with pytest.raises(ConfigurationError, match="STICKY_SECRET_KEY must be set"):
        load_settings()
    monkeypatch.setenv("STICKY_SECRET_KEY", "x" * 40)
    with pytest.raises(ConfigurationError, match="STICKY_SERVICE_KEY must be set"):
        load_settings()
    monkeypatch.setenv("STICKY_SERVICE_KEY", "y" * 40)
    assert load_settings().env is Environment.PRODUCTION


def test_production_needs_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STICKY_ENV", "production")
    monkeypatch.setenv("STICKY_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("STICKY_SERVICE_KEY", "y" * 40)
    monkeypatch.setenv("STICKY_PUBLIC_URL", "http://stickies.example")
    with pytest.raises(ConfigurationError, match="STICKY_PUBLIC_URL must be an https"):
        load_settings()


def test_production_reaches_stripe_over_https_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STICKY_ENV", "production")
    monkeypatch.setenv("STICKY_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("STICKY_SERVICE_KEY", "y" * 40)
    monkeypatch.setenv("STICKY_PUBLIC_URL", "https://stickies.example")
    monkeypatch.setenv("STICKY_STRIPE_API_BASE", "http://127.0.0.1:9999")
    with pytest.raises(ConfigurationError, match="STICKY_STRIPE_API_BASE must be an https"):
        load_settings()
    monkeypatch.setenv("STICKY_STRIPE_API_BASE", "https://stripe-proxy.example")
    assert load_settings().stripe_api_base == "https://stripe-proxy.example"


def test_settings_are_immutable() -> None:
    settings = Settings(env="test")
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError
        settings.gateway_port = 1  # type: ignore[misc]
