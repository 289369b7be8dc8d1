"""The examples of docs/events.md, run as written against the running platform.

Every ``sh`` block runs with bash, in order, as the page says: ``localhost:8080`` is the
stack's gateway, ``ACCESS_TOKEN`` the access token of a user signed up for this test,
``STICKY_SERVICE_KEY`` the stack's service key and ``SERVICE_TOKEN`` the ``accessToken`` its
example answers. The comment lines after a command show its answer, and the platform's
answer must agree with them: the same keys in the same order (``…`` in an object: more keys
there), the same values, except that a string with ``…`` shows only its start, a date or
time shows only its shape, a position is the whole log's (so only the order of the page's
positions is theirs), and a cursor is opaque (the next command gets the real one). An answer
that starts with a status (``409 {...}``) is a problem. A command that writes a file shows the
file's first lines; the subscription shows the first frames of a stream that never ends, so
the test reads until it has them, checks the stream is still open, and stops it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.doc_examples import Command, fenced_blocks, shell_commands
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack

PAGE = Path(__file__).resolve().parents[2] / "docs" / "events.md"
MORE = "…"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
STATUS = re.compile(r"^(\d{3}) ")
OUTPUT_FILE = re.compile(r"> (\S+)$")
VARIABLES = {"/v1/auth/service-token": ("SERVICE_TOKEN", "accessToken")}
# The status of each command, in page order: the page says them in its table and prose.
STATUSES = [201, 201, 201, 409, 200, 200, 200, 200, 200, 200, 200, 200, 200]


def shown_json(text: str) -> Any:
    """What an answer comment shows, as JSON: ``…`` among an object's keys becomes a key."""
    text = re.sub(r"\{\s*…\s*\}", '{"…": "…"}', text)
    return json.loads(re.sub(r",\s*…\s*(?=[,}])", ', "…": "…"', text))


@dataclass
class Reader:
    """What the reader of the page has seen so far, and what the platform answered to it."""

    positions: dict[int, int] = field(default_factory=dict)  # the page's: the platform's
    copied: dict[str, str] = field(default_factory=dict)  # values the reader passes on

    def position(self, shown: int, actual: Any) -> bool:
        if shown in self.positions:
            return bool(self.positions[shown] == actual)
        if not isinstance(actual, int) or actual in self.positions.values():
            return False
        if any((s < shown) != (a < actual) for s, a in self.positions.items()):
            return False
        self.positions[shown] = actual
        return True

    def command(self, text: str, host: str) -> str:
        """The command as the reader runs it: their host, positions and cursors."""
        text = text.replace("http://localhost:8080", host)
        text = re.sub(
            r'"position": (\d+)',
            lambda m: f'"position": {self.positions.get(int(m.group(1)), m.group(1))}',
            text,
        )
        for shown, actual in self.copied.items():
            text = text.replace(shown, actual)
        return text

    def disagreements(self, shown: Any, actual: Any, where: str = "") -> list[str]:
        """How ``actual`` differs from what the page shows of it (nothing when it agrees)."""
        wrong = f"{where or 'the answer'}: the page shows {shown!r}, the platform said {actual!r}"
        if isinstance(shown, dict):
            if not isinstance(actual, dict):
                return [wrong]
            keys = [k for k in shown if k != MORE]
            actual_keys = [k for k in actual if k in keys]
            if actual_keys != keys or (MORE not in shown and list(actual) != keys):
                return [f"{where}: the page shows the keys {list(shown)}, not {list(actual)}"]
            return [
                problem
                for key in keys
                for problem in self.field(key, shown[key], actual[key], f"{where}.{key}")
            ]
        if isinstance(shown, list):
            if not isinstance(actual, list) or len(actual) != len(shown):
                return [wrong]
            return [
                problem
                for index, (one, other) in enumerate(zip(shown, actual, strict=True))
                for problem in self.disagreements(one, other, f"{where}[{index}]")
            ]
        if isinstance(shown, str) and MORE in shown:
            agrees = isinstance(actual, str) and actual.startswith(shown.split(MORE, 1)[0])
        elif isinstance(shown, str) and (TIME.fullmatch(shown) or DATE.fullmatch(shown)):
            pattern = TIME if TIME.fullmatch(shown) else DATE
            agrees = isinstance(actual, str) and bool(pattern.fullmatch(actual))
        else:
            agrees = type(shown) is type(actual) and shown == actual
        return [] if agrees else [wrong]

    def field(self, key: str, shown: Any, actual: Any, where: str) -> list[str]:
        if key == "position" and isinstance(shown, int):
            mapped = self.position(shown, actual)
            return [] if mapped else [f"{where}: {actual!r} is out of the page's order {shown}"]
        if key == "nextCursor" and isinstance(shown, str):
            if not isinstance(actual, str) or not actual:
                return [f"{where}: the page shows a cursor, the platform said {actual!r}"]
            self.copied[shown] = actual
            return []
        return self.disagreements(shown, actual, where)


def run(command: str, env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    """Run a ``curl`` command with bash; its HTTP status and what it printed."""
    assert command.startswith("curl "), command
    done = subprocess.run(
        ["bash", "-u", "-c", command + " -w '%{stderr}%{http_code}'"],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return int(done.stderr[-3:]), done.stdout


def follow(command: str, env: Mapping[str, str], lines: int) -> list[str]:
    """The first ``lines`` lines of a stream that never ends; it must still be open after."""
    process = subprocess.Popen(
        ["bash", "-u", "-c", f"exec {command}"], env=dict(env), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        got = [process.stdout.readline().rstrip("\n") for _ in range(lines)]
        time.sleep(0.3)
        assert process.poll() is None, f"the stream ended: {got}"
        return got
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(5)


def check_file(reader: Reader, command: Command, written: Path) -> list[str]:
    """A CSV file against its first rows as the page shows them (``…``: more rows)."""
    shown = [line for line in command.shown if line != MORE]
    assert len(shown) < len(command.shown), "the page shows the whole file: say … for the rest"
    table = list(csv.reader(written.read_text().splitlines()))
    rows = list(csv.reader(shown))
    header = rows[0]
    if table[0] != header:
        return [f"the header: the page shows {header}, the file has {table[0]}"]
    problems = []
    for number, (row, actual) in enumerate(zip(rows[1:], table[1:], strict=False), start=1):
        cells: dict[str, Any] = dict(zip(header, row, strict=True))
        real: dict[str, Any] = dict(zip(header, actual, strict=True))
        cells["position"], real["position"] = int(cells["position"]), int(real["position"])
        problems += reader.disagreements(cells, real, f"row {number}")
    return problems


def check_stream(reader: Reader, command: Command, env: Mapping[str, str]) -> list[str]:
    """Server-Sent Events: the frames the page shows, up to its ``…`` line."""
    frames = []
    for line in command.shown:
        if line.startswith(MORE):
            break
        frames.append(line)
    got = follow(command.text, env, len(frames))
    problems = []
    for shown, actual in zip(frames, got, strict=True):
        name, _, value = shown.partition(": ")
        real_name, _, real_value = actual.partition(": ")
        if name != real_name:
            problems.append(f"the page shows {shown!r}, the stream sent {actual!r}")
        elif name == "id" and not reader.position(int(value), int(real_value)):
            problems.append(f"{actual!r} is out of the page's order ({shown!r})")
        elif name == "data":
            problems += reader.disagreements(shown_json(value), json.loads(real_value), "data")
    return problems


def test_every_shell_example(stack: RunningStack, tmp_path: Path) -> None:
    sticky, _ = signed_up(stack)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STICKY_")}
    env.update(ACCESS_TOKEN=str(sticky.access_token), STICKY_SERVICE_KEY=stack.settings.service_key)
    reader = Reader()
    commands = [
        command
        for block in fenced_blocks(PAGE)
        if block.language == "sh"
        for command in shell_commands(block)
    ]
    assert len(commands) == len(STATUSES), [c.text for c in commands]
    for command, status in zip(commands, STATUSES, strict=True):
        where = f"{PAGE.name}:{command.line}"
        assert command.shown, f"{where}: the page shows no answer"
        text = reader.command(command.text, stack.base_url)
        if command.shown[0].startswith("id: "):
            problems = check_stream(reader, Command(text, command.line, None, command.shown), env)
            assert not problems, f"{where}: {problems}"
            continue
        got, printed = run(text, env, tmp_path)
        if written := OUTPUT_FILE.search(text):
            assert got == status, f"{where}: {got}"
            problems = check_file(reader, command, tmp_path / written.group(1))
            assert not problems, f"{where}: {problems}"
            continue
        shown = " ".join(command.shown)
        if prefix := STATUS.match(shown):
            assert int(prefix.group(1)) == status, f"{where}: the page shows {prefix.group(1)}"
            shown = shown[prefix.end() :]
        assert got == status, f"{where}: {got} {printed}"
        answer = json.loads(printed)
        problems = reader.disagreements(shown_json(shown), answer)
        assert not problems, f"{where}: {problems}"
        for path, (variable, name) in VARIABLES.items():
            if path in text:
                env[variable] = answer[name]
    # The page's positions are in its order, and the checkpoint was saved where it said.
    saved = httpx.get(
        f"{stack.base_url}/v1/events/subscriptions/loyalty",
        headers={"Authorization": f"Bearer {env['SERVICE_TOKEN']}"},
    )
    assert saved.json()["position"] == reader.positions[1043]


def test_the_event_and_the_problem_are_the_wire_shapes(stack: RunningStack) -> None:
    sticky, _ = signed_up(stack)
    headers = {"Authorization": f"Bearer {sticky.access_token}"}
    url = f"{stack.base_url}/v1/events"
    event, problem = [json.loads(b.code) for b in fenced_blocks(PAGE) if b.language == "json"]
    shown = {"applicationId": "app_1", "thingId": "thg_1", "sessionId": "ses_1"}
    stored = {"type": event["type"], **shown, "customData": event["customData"]}
    assert httpx.post(url, json=[stored], headers=headers).status_code == 201
    (real,) = httpx.get(url, headers=headers).json()["data"]
    assert list(real) == list(event)  # every key, in the page's order
    assert Reader().disagreements({**event, "id": "evt_…", **shown}, real) == []
    # The bad batch of the page: its fourth event's type is misspelt.
    batch = [{"type": "CHECK_IN"}] * 3 + [{"type": "SESION_READ"}]
    refused = httpx.post(url, json=batch, headers=headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    # A request id is each request's own (problems.md): the page's shows only its shape.
    assert Reader().disagreements({**problem, "requestId": MORE}, refused.json()) == []
    assert refused.json()["requestId"] == refused.headers["x-request-id"]
    assert len(httpx.get(url, headers=headers).json()["data"]) == 1  # nothing of it written
