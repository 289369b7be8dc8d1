"""Fixtures shared by every test: settings in a temporary data directory, databases."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sticky.kernel.settings import Settings

# One running platform per test session, shared by every package that asks for `stack`.
pytest_plugins = ["tests.stack_fixture"]

POSTGRES_ADMIN_URL = os.environ.get(
    "STICKY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The RFC 9457 body of ``response``, checked to be the problem ``slug`` at ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://sticky.dev/problems/{slug}"
    assert body["status"] == status
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2):
            return None
    except Exception as exc:
        return f"no PostgreSQL answers at {POSTGRES_ADMIN_URL} ({type(exc).__name__})"


_POSTGRES_UNAVAILABLE = _postgres_reason()


def require_postgres() -> None:
    if _POSTGRES_UNAVAILABLE:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {_POSTGRES_UNAVAILABLE}")
        pytest.skip(_POSTGRES_UNAVAILABLE)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    require_postgres()
    import psycopg

    name = f"sticky_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage backend in turn: the same contract tests run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Development settings with every file under a temporary data directory."""
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )
