"""The ``sticky`` command, run as a user runs it: a subprocess with an environment."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack_fixture import stack_environment


def sticky(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sticky", *args],
        env=stack_environment(tmp_path / "data", **env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def said(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What a command printed for people, without its JSON log lines."""
    return [line for line in result.stdout.splitlines() if not line.startswith("{")]


def test_version(tmp_path: Path) -> None:
    result = sticky(tmp_path, "version")
    assert result.returncode == 0
    assert result.stdout.strip() == "sticky 0.1.0"


def test_the_cli_imports_nothing_heavy_to_answer() -> None:
    probe = (
        "import sys; from sticky.cli import main; main(['version']);"
        "heavy = {'fastapi', 'sqlalchemy', 'pydantic', 'uvicorn', 'alembic', 'httpx'};"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "command",
    [["up"], ["serve", "auth"], ["migrate"], ["gateway", "config"], ["signing-keys", "rotate"]],
)
def test_a_configuration_error_is_one_sentence_and_status_2(
    tmp_path: Path, command: list[str]
) -> None:
    result = sticky(tmp_path, *command, STICKY_AUTH_PORT="eighty")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "STICKY_AUTH_PORT" in result.stderr
    assert result.stderr.strip().endswith(".")


def test_production_refuses_the_development_secret(tmp_path: Path) -> None:
    result = sticky(tmp_path, "up", STICKY_ENV="production")
    assert result.returncode == 2
    assert "STICKY_SECRET_KEY" in result.stderr


def test_an_unknown_service_is_a_usage_error(tmp_path: Path) -> None:
    result = sticky(tmp_path, "serve", "billing")
    assert result.returncode == 2
    assert "'billing'" in result.stderr and "auth" in result.stderr


def test_the_mailbox_does_not_run_in_production(tmp_path: Path) -> None:
    result = sticky(
        tmp_path,
        "serve",
        "mailbox",
        STICKY_ENV="production",
        STICKY_SECRET_KEY="s" * 40,
        STICKY_SERVICE_KEY="k" * 40,
        STICKY_PUBLIC_URL="https://sticky.example",
    )
    assert result.returncode == 2
    assert "STICKY_ENV" in result.stderr


def test_up_names_the_port_that_is_taken(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        result = sticky(tmp_path, "up", STICKY_MAIL_PORT=port)
    assert result.returncode == 2
    assert f"Port {port} (STICKY_MAIL_PORT) is already in use" in result.stderr


def test_up_refuses_one_port_for_two_processes(tmp_path: Path) -> None:
    result = sticky(tmp_path, "up", STICKY_AUTH_PORT="45678", STICKY_MAIL_PORT="45678")
    assert result.returncode == 2
    assert "STICKY_MAIL_PORT and STICKY_AUTH_PORT are both 45678" in result.stderr


def test_gateway_config_prints_a_caddyfile_caddy_accepts(tmp_path: Path) -> None:
    result = sticky(tmp_path, "gateway", "config")
    assert result.returncode == 0
    config = tmp_path / "Caddyfile"
    config.write_text(result.stdout)
    caddy = Path(sys.executable).parent / "caddy"
    check = subprocess.run(
        [str(caddy), "validate", "--config", str(config), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env={"XDG_DATA_HOME": str(tmp_path / "x"), "XDG_CONFIG_HOME": str(tmp_path / "y")},
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_migrate_brings_every_database_to_head_and_can_run_again(tmp_path: Path) -> None:
    first = sticky(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert [line.split()[0] for line in said(first)] == ["auth:", "events:", "api:", "mail:"]
    assert said(first)[0].startswith("auth: at revision ")
    assert '"Running upgrade' in first.stdout  # Alembic's own log, as JSON
    assert (tmp_path / "data" / "auth.sqlite3").exists()
    assert (tmp_path / "data" / "mail.sqlite3").exists()
    assert (tmp_path / "data" / "events.sqlite3").exists()
    again = sticky(tmp_path, "migrate", "auth")
    assert again.returncode == 0
    assert said(again) == said(first)[:1]
    assert '"Running upgrade' not in again.stdout
    assert said(sticky(tmp_path, "migrate", "mailbox")) == ["mailbox: has no database to migrate"]


def test_events_rebuild_recomputes_the_projections(tmp_path: Path) -> None:
    assert sticky(tmp_path, "migrate", "events").returncode == 0
    result = sticky(tmp_path, "events", "rebuild")
    assert result.returncode == 0, result.stderr
    assert said(result) == ["Rebuilt the events projections from 0 events."]


def test_migrate_names_a_bad_database_url(tmp_path: Path) -> None:
    result = sticky(tmp_path, "migrate", "auth", STICKY_AUTH_DATABASE_URL="mysql://db/auth")
    assert result.returncode == 2
    assert "STICKY_AUTH_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_signing_keys_rotate_adds_a_new_key(tmp_path: Path) -> None:
    assert sticky(tmp_path, "migrate", "auth").returncode == 0
    first = sticky(tmp_path, "signing-keys", "rotate")
    second = sticky(tmp_path, "signing-keys", "rotate")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert said(first)[0].startswith("Added signing key ")
    assert said(first)[0].split()[3] != said(second)[0].split()[3]


def test_outbox_dead_letters_are_listed_and_queued_again(tmp_path: Path) -> None:
    import sqlite3

    assert sticky(tmp_path, "migrate", "api").returncode == 0
    assert said(sticky(tmp_path, "outbox", "dead-letters")) == ["No dead letters."]
    database = sqlite3.connect(tmp_path / "data" / "api.sqlite3")
    with database:
        for n, event_id in enumerate(["evt_a", "evt_b"]):
            database.execute(
                "INSERT INTO outbox_dead_letters (seq, event_id, body, created_at, attempts,"
                " status_code, error, refused_at) VALUES (?, ?, ?, '2026-12-04 10:00:00.000000',"
                " 1, 422, 'type: not a type\nsecond line', '2026-12-04 10:00:01.000000')",
                (n + 1, event_id, f'{{"event": {{"id": "{event_id}"}}}}'),
            )
    listed = sticky(tmp_path, "outbox", "dead-letters")
    assert listed.returncode == 0, listed.stderr
    assert said(listed) == [
        "evt_a  422  2026-12-04T10:00:01Z  type: not a type second line",
        "evt_b  422  2026-12-04T10:00:01Z  type: not a type second line",
        "2 dead letters.",
    ]
    refused = sticky(tmp_path, "outbox", "redrive")
    assert refused.returncode == 2 and "--all" in refused.stderr
    one = sticky(tmp_path, "outbox", "redrive", "evt_b", "evt_unknown")
    assert said(one) == ["Queued 1 dead letter again, at the outbox's end."]
    rest = sticky(tmp_path, "outbox", "redrive", "--all")
    assert said(rest) == ["Queued 1 dead letter again, at the outbox's end."]
    with database:
        queued = [
            row[0] for row in database.execute("SELECT event_id FROM event_outbox ORDER BY seq")
        ]
        left = database.execute("SELECT count(*) FROM outbox_dead_letters").fetchone()[0]
    database.close()
    assert queued == ["evt_b", "evt_a"] and left == 0
    assert said(sticky(tmp_path, "outbox", "redrive", "--all")) == [
        "Queued 0 dead letters again, at the outbox's end."
    ]


def test_the_tap_pages_outbox_commands_are_the_cli_s(tmp_path: Path) -> None:
    # docs/tap.md shows a session with these commands: the same commands, the same sentences.
    from tests.e2e.doc_examples import fenced_blocks

    page = Path(__file__).resolve().parents[2] / "docs" / "tap.md"
    [session] = [b.code for b in fenced_blocks(page) if b.language == "console"]
    commands = [line[2:].split("#")[0].split() for line in session.splitlines() if line[:2] == "$ "]
    assert commands == [
        ["sticky", "outbox", "dead-letters"],
        ["sticky", "outbox", "redrive", "evt_k2m..."],
    ]
    printed = [line for line in session.splitlines() if not line.startswith("$ ")]
    assert printed[-2] == "1 dead letter."
    assert printed[-1] == "Queued 1 dead letter again, at the outbox's end."
    assert sticky(tmp_path, "migrate", "api").returncode == 0
    result = sticky(tmp_path, *commands[1][1:])
    assert said(result) == ["Queued 0 dead letters again, at the outbox's end."]
