"""Taps per second through the real gateway, and their latency, with every tap's event stored.
Not a test.

    uv run python bench/tap.py [--seconds 10] [--connections 32] [--export-events 1000000]
                               [--paced-pause-ms 16] [--rate 3000[,RATE...]]

A private ``sticky up`` (free ports, a temporary data directory) runs on this machine with
the load generator, ``wrk`` (Debian's package), which requests ``/t/{id}`` through Caddy:

1. idle: a flow whose live routing logic builds the URL (the V8 sandbox runs on every tap),
   first as new phones (no cookie: a session is created per tap), the same with half the
   connections (at saturation a tap's latency is mostly its wait behind the other
   connections: mean latency = connections / rate), then as one returning phone (its cookie
   sent), then a flow without logic (the default app), all at saturation (every connection
   taps again as soon as it is answered); then the first case paced, below
   saturation: 16 connections each pausing ``--paced-pause-ms`` between taps (about 700
   taps/s here), so its latency is a tap's own, not time spent queueing behind others;
   and last, taps sent at a fixed rate, ``--rate`` taps/s (the target, 3,000), whatever
   their answers' latency (open loop, as ``wrk2`` does, from a Lua schedule): the latency of a
   tap while the platform serves that rate. A send the platform's answers held past its time
   is counted late, and a run with late sends was at saturation, not at the rate asked. A
   list of rates (``--rate 2000,2500,3000``) runs each: the highest whose p99 is under 15 ms
   is the rate the platform serves at the target's latency;
2. the same first case, saturated then paced, while two clients export the user's
   ``--export-events`` events as NDJSON from the events service over and over (``curl`` to
   /dev/null), the load that took the original single-process design from 7 ms to 13 s;
3. afterwards, every tap's ``SESSION_READ`` is counted in the events service: the taps wrk
   saw answered must all be there (the outbox delivers them after the load).

Routing-logic cost per tap is the difference between the logic and no-logic runs' mean
latency, beside the sandbox's own figure from ``bench/logic.py``. For each run, the CPU each
of the platform's processes spent per tap (from ``/proc``) says where the time goes (wrk's
own share, and the curl exports', are not counted).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack

PACED_CONNECTIONS = 16
RATE_CONNECTIONS = 64
LOGIC = 'return input.consumerAppUrl + "?table=" + input.v2.thing.name + "&t=" + input.thingId;'


@dataclass
class WrkRun:
    name: str
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: str
    cpu_us: dict[str, float] = field(default_factory=dict)  # CPU per tap, per process


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


# wrk's Lua (LuaJIT) hands out send times on a fixed schedule, whichever connection is free
# taking the next: an open-loop load at a set rate, as wrk2 does. A time already past is sent
# at once and counted late: the platform did not keep up, and the run was at saturation.
_SCHEDULE = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } bench_ts;
           int clock_gettime(int, bench_ts *); ]]
local ts = ffi.new("bench_ts")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
interval = 0; late = 0; slots = 0
local due = nil
function init(args) interval = tonumber(args[1]) end
function delay()
  local now = now_ms()
  due = due or now
  local wait = due - now
  due = due + interval
  slots = slots + 1
  if wait < -1 then late = late + 1 end
  return math.max(wait, 0)
end
function done(summary, latency, requests)
  local missed, all = 0, 0
  for _, t in ipairs(threads) do missed = missed + t:get("late"); all = all + t:get("slots") end
  io.write(string.format("late sends: %d of %d\\n", missed, all))
end
"""


def wrk(
    name: str,
    url: str,
    seconds: int,
    connections: int,
    headers: list[str],
    pause_ms: float = 0,
    rate: float = 0,
) -> WrkRun:
    """``pause_ms``: each connection waits that long after an answer before its next tap.
    ``rate``: taps are sent at this rate (taps/s) whatever the answers' latency."""
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        arguments: list[str] = []
        if rate:
            script.write(_SCHEDULE)
            arguments = ["--", f"{threads * 1000 / rate:.6f}"]  # ms between a thread's sends
        elif pause_ms:
            script.write(f"function delay() return {pause_ms:.0f} end\n")
        if rate or pause_ms:
            script.flush()
            command += ["-s", script.name]
        out = subprocess.run(
            [*command, url, *arguments], capture_output=True, text=True, check=True
        ).stdout
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    achieved = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # The distribution's lines alone: "+/- Stdev" columns end in % too.
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)$", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)$", out, re.M).group(1))  # type: ignore[union-attr]
    mean = _ms(re.search(r"Latency\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = ""
    if "Non-2xx or 3xx" in out:
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(0)  # type: ignore[union-attr]
    if "Socket errors" in out:
        errors += " " + re.search(r"Socket errors: .*", out).group(0)  # type: ignore[union-attr]
    late = re.search(r"late sends: (\d+) of (\d+)", out)
    if late and int(late.group(1)):
        errors += f" late sends: {int(late.group(1)) / int(late.group(2)):.0%}"
    return WrkRun(name, requests, seconds, achieved, p50, p99, mean, errors.strip())


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measurable(Protocol):
    def processes(self) -> dict[str, int]: ...


def measured(platform: Measurable, run: Callable[[], WrkRun]) -> WrkRun:
    """``run``, with the CPU each of the platform's processes spent per tap during it."""
    pids = platform.processes()
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run()
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            spent = cpu_seconds(pid) - before[name]
            result.cpu_us[name] = spent / max(result.requests, 1) * 1e6
    return result


def post(client: httpx.Client, path: str, body: object = None) -> dict:  # type: ignore[type-arg]
    response = client.post(path, json=body)
    response.raise_for_status()
    result: dict = response.json()  # type: ignore[type-arg]
    return result


def generate(stack: RunningStack, token: str, count: int) -> float:
    """``count`` events for the user, in batches of 10,000 straight to the events service."""
    started = time.monotonic()
    url = f"{stack.internal_url('events')}/v1/events"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(timeout=120) as client:
        for start in range(0, count, 10_000):
            batch = [
                {
                    "type": "SESSION_CART_PAY" if i % 10 == 0 else "SESSION_READ",
                    "thingId": f"thing-{i % 500}",
                    "applicationId": f"app-{i % 7}",
                    "customData": {"total": 1250, "currency": "EUR"} if i % 10 == 0 else {},
                }
                for i in range(start, min(count, start + 10_000))
            ]
            client.post(url, content=orjson.dumps(batch), headers=headers).raise_for_status()
    return time.monotonic() - started


@contextlib.contextmanager
def exporting(stack: RunningStack, token: str, clients: int) -> Iterator[None]:
    loop = (
        f'while true; do curl -s -o /dev/null -H "Authorization: Bearer {token}"'
        f' -H "Accept: application/x-ndjson" "{stack.base_url}/v1/events"; done'
    )
    processes = [subprocess.Popen(["bash", "-c", loop]) for _ in range(clients)]
    time.sleep(2.0)  # the exports are in full flow before the taps start
    try:
        yield
    finally:
        for process in processes:
            process.kill()
        subprocess.run(["pkill", "-f", f"{stack.base_url}/v1/events"], check=False)


def stored_reads(stack: RunningStack, token: str, thing_ids: list[str], expected: int) -> int:
    """SESSION_READ events of these stickers in the events service, once the outbox drains."""
    deadline = time.monotonic() + 180
    found = 0
    while time.monotonic() < deadline:
        found = 0
        for thing_id in thing_ids:
            response = httpx.get(
                f"{stack.base_url}/v1/events",
                params={"type": "SESSION_READ", "thingId": thing_id},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/x-ndjson"},
                timeout=120,
            )
            found += response.content.count(b"\n")
        if found >= expected:
            return found
        time.sleep(2)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--export-events", type=int, default=1_000_000)
    parser.add_argument(
        "--paced-pause-ms", type=int, default=16, help="each paced connection's pause"
    )
    parser.add_argument(
        "--rate",
        default="3000",
        help="taps/s sent in the fixed-rate run (the target); a comma-separated list runs each",
    )
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sticky-bench-tap-") as root:
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
                returning = post(client, "/v1/things", {"name": "T2", "applicationId": flow["id"]})
                no_logic = post(client, "/v1/things", {"name": "T3", "applicationId": plain["id"]})
                loaded = post(client, "/v1/things", {"name": "T4", "applicationId": flow["id"]})
                first = httpx.get(f"{stack.base_url}/t/{returning['id']}")
                cookie = f"sticky-sessionid={first.cookies.get('sticky-sessionid') or ''}"

            def tap_url(thing: dict) -> str:  # type: ignore[type-arg]
                return f"{stack.base_url}/t/{thing['id']}"

            args = (options.seconds, options.connections)
            # Below saturation, latency is the tap's own, not the time spent queueing behind
            # the other connections (at saturation, mean latency = connections / rate).
            paced_args = (options.seconds, PACED_CONNECTIONS)
            # Half the connections: the rate a tap's own latency bought, queueing halved.
            half = max(1, options.connections // 2)
            half_args = (options.seconds, half)
            halved = f"new phones, logic, {half} connections"
            pause = options.paced_pause_ms
            paced = f"new phones, logic, {PACED_CONNECTIONS} connections pausing {pause:.0f} ms"
            # Sent at the target rate whatever the answers' latency: the latency a tap gets
            # while the platform serves that rate (the connections only cap taps in flight).
            rate_args = (options.seconds, RATE_CONNECTIONS)
            in_flight = f"{RATE_CONNECTIONS} at most in flight"
            rates = [int(rate) for rate in options.rate.split(",")]
            warm = wrk("warm-up", tap_url(with_logic), 3, options.connections, [])
            runs = [
                measured(stack, lambda: wrk("new phones, logic", tap_url(with_logic), *args, [])),
                measured(stack, lambda: wrk(halved, tap_url(with_logic), *half_args, [])),
                measured(
                    stack,
                    lambda: wrk(
                        "returning phone, logic", tap_url(returning), *args, [f"Cookie: {cookie}"]
                    ),
                ),
                measured(stack, lambda: wrk("new phones, no logic", tap_url(no_logic), *args, [])),
                measured(stack, lambda: wrk(paced, tap_url(with_logic), *paced_args, [], pause)),
            ]
            for rate in rates:
                fixed = f"new phones, logic, {rate:,} taps/s sent ({in_flight})"
                at_rate = functools.partial(
                    wrk, fixed, tap_url(with_logic), *rate_args, [], rate=rate
                )
                runs.append(measured(stack, at_rate))
            generated = generate(stack, token, options.export_events)
            print(f"generated {options.export_events:,} events in {generated:.0f} s", flush=True)
            with exporting(stack, token, 2):
                runs.append(
                    measured(
                        stack,
                        lambda: wrk("new phones, logic, 2 exports", tap_url(loaded), *args, []),
                    )
                )
                runs.append(
                    measured(
                        stack,
                        lambda: wrk(paced + ", 2 exports", tap_url(loaded), *paced_args, [], pause),
                    )
                )
            taps = sum(run.requests for run in runs) + warm.requests + 1
            stored = stored_reads(
                stack,
                token,
                [with_logic["id"], returning["id"], no_logic["id"], loaded["id"]],
                taps,
            )
            logic_errors = httpx.get(
                f"{stack.base_url}/v1/events",
                params={"type": "LOGIC_ERROR", "limit": 1000},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ).json()["data"]
            problems = [
                record
                for record in stack.logs()
                if record.get("level") in ("error", "critical")
                or str(record.get("status", "")).startswith("5")
            ]
        finally:
            stack.stop()

    for record in problems[:10]:  # why a tap was not a 302, when one was not
        print("logged:", orjson.dumps(record).decode()[:600])
    for event in logic_errors[:10]:
        print("LOGIC_ERROR:", orjson.dumps(event["customData"]).decode()[:600])
    print()
    shape = f"{options.connections} connections, {options.seconds} s"
    print(f"| run ({shape}) | taps/s | p50 | p99 | mean | errors |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for run in runs:
        print(
            f"| {run.name} | {run.rate:,.0f} | {run.p50_ms:.2f} ms | {run.p99_ms:.2f} ms"
            f" | {run.mean_ms:.2f} ms | {run.errors or 'none'} |"
        )
    print()
    names = [n for n in ("gateway", "api", "sandbox", "events", "exports") if n in runs[0].cpu_us]
    print(f"| CPU per tap (us) | {' | '.join(names)} | all |")
    print(f"| --- |{' ---: |' * (len(names) + 1)}")
    for run in runs:
        cells = " | ".join(f"{run.cpu_us.get(n, 0):,.0f}" for n in names)
        print(f"| {run.name} | {cells} | {sum(run.cpu_us.values()):,.0f} |")
    idle, paced_idle, loaded_run, paced_loaded = runs[0], runs[4], runs[-2], runs[-1]
    print()
    print(f"p99 under two exports / idle p99: {loaded_run.p99_ms / idle.p99_ms:.2f}x")
    ratio = paced_loaded.p99_ms / paced_idle.p99_ms
    print(f"paced: p99 under two exports / idle p99: {ratio:.2f}x")
    logic_cost = runs[0].mean_ms - runs[3].mean_ms
    print(f"routing logic per tap (mean latency, logic - no logic): {logic_cost:.2f} ms")
    print(f"taps answered (wrk, warm-up included, + 1 setup tap): {taps:,}")
    print(f"SESSION_READ events stored: {stored:,}")
    print(f"LOGIC_ERROR events stored: {len(logic_errors):,}")


if __name__ == "__main__":
    main()
