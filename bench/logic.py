"""What routing logic costs per tap in the sandbox, and what its isolation costs. Not a test.

    uv run python bench/logic.py [--runs N] [--seconds S]

1. the isolation unit: a V8 isolate (one ``MiniRacer``) made and freed in this process, and
   (last table) the worker's resident memory per version added, an isolate each;
2. per run through ``Sandbox.run`` (the api process's view: a pipe to the worker and back),
   p50/p99 in microseconds, for a trivial logic and a moderate one (helpers, string building,
   a loop of 100), beside the time the worker itself measured (``elapsed_ms``);
3. the same moderate logic on the worker's ``Engine`` in this process (no pipe), to show what
   the process boundary costs;
4. a cold compile (a version never seen: a warm spare isolate takes the source), the run
   after a timeout (the isolate is stopped and the version compiled again), and the wait for
   a new worker after V8 aborted one;
5. runs per second: sequential ``run`` calls on one thread, and ``run_async`` with 64 in
   flight over 16 versions.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson
from py_mini_racer import MiniRacer

from sticky.api.sandbox import Sandbox
from sticky.api.sandbox.engine import Engine

INPUT = {
    "thingId": "thg_01J9Z8Q4M1",
    "applicationId": "app_01J9Z8Q4M1",
    "productId": "prd_01J9Z8Q4M1",
    "sessionId": "ses_01J9Z8Q4M1",
    "userId": "usr_01J9Z8Q4M1",
    "consumerAppUrl": "https://shop.example/menu",
    "query": {"table": "12", "lang": "fr", "utm_source": "sticker"},
    "v2": {
        "application": {"id": "app_01J9Z8Q4M1", "name": "Menu", "version": 3},
        "user": {"id": "usr_01J9Z8Q4M1", "name": "Le Bistro"},
        "thing": {"id": "thg_01J9Z8Q4M1", "name": "Table 12", "tags": ["terrace"]},
    },
}
TRIVIAL = 'return input.consumerAppUrl + "?thing=" + input.thingId;'
MODERATE = """
function param(name, value) { return name + "=" + encodeURIComponent(String(value)); }
const parts = [param("thing", input.thingId), param("table", input.query.table)];
let checksum = 0;
for (let i = 0; i < 100; i++) {
    checksum = (checksum * 31 + input.sessionId.charCodeAt(i % input.sessionId.length)) % 1000003;
}
parts.push(param("c", checksum), param("name", input.v2.thing.name.toUpperCase()));
if (input.query.lang === "fr") parts.push("lang=fr");
console.log("routing", input.thingId);
return input.consumerAppUrl + "?" + parts.join("&");
"""
SPIN = 'if (input.query.spin === "yes") { while (true) {} }\n' + TRIVIAL
CRASH = 'return "a".repeat(2 ** 28).split("").length;'

Row = tuple[str, ...]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def rss_bytes(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def print_table(title: str, rows: Iterable[Row]) -> None:
    rows = list(rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"\n{title}")
    for n, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if n == 0:
            print("  " + "  ".join("-" * width for width in widths))


def isolation_rows(count: int) -> list[Row]:
    """Isolates made and freed here, in this process: what one more costs in time."""
    started = time.perf_counter()
    racers = [MiniRacer() for _ in range(count)]
    made = (time.perf_counter() - started) / count
    started = time.perf_counter()
    for racer in racers:
        racer.close()
    freed = (time.perf_counter() - started) / count
    return [
        ("isolate (MiniRacer)", "value"),
        ("make one", f"{made * 1e3:.2f} ms"),
        ("free one", f"{freed * 1e3:.2f} ms"),
    ]


async def engine_run_us(runs: int) -> tuple[float, float]:
    """The worker's engine in this process: a run without the pipe."""
    engine = Engine(
        memory_limit=32 << 20, max_cached=16, on_stuck=lambda: None, on_stopping=lambda *_: None
    )
    await engine.start()
    samples = []
    input_json = orjson.dumps(INPUT).decode()
    for n in range(runs + 100):
        started = time.perf_counter()
        await engine.run("usr_1", "moderate", MODERATE, input_json, 0.02, n)
        if n >= 100:
            samples.append(time.perf_counter() - started)
    await engine.close()
    return percentiles(samples)


def per_run_rows(box: Sandbox, runs: int) -> list[Row]:
    rows: list[Row] = [("per run (µs)", "p50", "p99", "worker p50", "worker p99")]
    for name, source in (("trivial", TRIVIAL), ("moderate", MODERATE)):
        box.run(name, "usr_1", source, INPUT)
        walls, inside = [], []
        for _ in range(runs):
            started = time.perf_counter()
            outcome = box.run(name, "usr_1", source, INPUT)
            walls.append(time.perf_counter() - started)
            inside.append(outcome.elapsed_ms / 1000)
            assert outcome.url, outcome
        p50, p99 = percentiles(walls)
        w50, w99 = percentiles(inside)
        rows.append(
            (
                f"{name}, Sandbox.run",
                f"{p50 * 1e6:.0f}",
                f"{p99 * 1e6:.0f}",
                f"{w50 * 1e6:.0f}",
                f"{w99 * 1e6:.0f}",
            )
        )
    e50, e99 = asyncio.run(engine_run_us(runs))
    rows.append(("moderate, Engine in-process", f"{e50 * 1e6:.0f}", f"{e99 * 1e6:.0f}", "", ""))
    return rows


def event_rows(box: Sandbox, samples: int) -> list[Row]:
    cold = [
        timed(functools.partial(box.run, f"cold:{n}", "usr_1", MODERATE, INPUT))
        for n in range(samples)
    ]
    spinning = {**INPUT, "query": {"spin": "yes"}}
    timeouts: list[float] = []
    rebuilds: list[float] = []
    box.run("spin", "usr_1", SPIN, INPUT)
    for _ in range(samples):
        timeouts.append(timed(lambda: box.run("spin", "usr_1", SPIN, spinning)))
        rebuilds.append(timed(lambda: box.run("spin", "usr_1", SPIN, INPUT)))
    crash_box = Sandbox(time_limit_ms=5000)
    crash_box.run("warm", "usr_1", TRIVIAL, INPUT)
    crashed = timed(lambda: crash_box.run("crash", "usr_2", CRASH, INPUT))
    after_crash = timed(lambda: crash_box.run("warm", "usr_1", TRIVIAL, INPUT))
    crash_box.close()
    rows: list[Row] = [("event (ms)", "p50", "p99")]
    for name, values in (
        ("cold compile: first run of a version", cold),
        ("run that times out (limit 20 ms)", timeouts),
        ("next run: isolate rebuilt, compiled", rebuilds),
    ):
        p50, p99 = percentiles(values)
        rows.append((name, f"{p50 * 1e3:.2f}", f"{p99 * 1e3:.2f}"))
    rows.append(("run that aborts V8 (2 workers, then refused)", f"{crashed * 1e3:.0f}", ""))
    rows.append(("next run on the third worker", f"{after_crash * 1e3:.0f}", ""))
    return rows


def throughput_rows(box: Sandbox, seconds: float) -> list[Row]:
    box.run("moderate", "usr_1", MODERATE, INPUT)
    count = 0
    started, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        box.run("moderate", "usr_1", MODERATE, INPUT)
        count += 1
    sequential = count / (time.perf_counter() - started)
    api_cpu = (time.process_time() - cpu) / count

    async def flood() -> float:
        done = 0
        deadline = time.perf_counter() + seconds

        async def runner(n: int) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await box.run_async(f"moderate:{n % 16}", f"usr_{n % 4}", MODERATE, INPUT)
                done += 1

        begun = time.perf_counter()
        await asyncio.gather(*(runner(n) for n in range(64)))
        return done / (time.perf_counter() - begun)

    concurrent = asyncio.run(flood())
    return [
        ("throughput (moderate logic)", "runs/s"),
        ("one thread, sequential run()", f"{sequential:,.0f}"),
        ("run_async, 64 in flight, 16 versions", f"{concurrent:,.0f}"),
        ("api-process CPU per run (both threads)", f"{api_cpu * 1e6:.0f} µs"),
    ]


def worker_memory_rows(box: Sandbox, versions: int) -> list[Row]:
    pid = box._worker.process.pid if box._worker else 0  # private, for this figure only
    before = rss_bytes(pid)
    for n in range(versions):
        box.run(f"memory:{n}", f"usr_{n}", MODERATE, INPUT)
    after = rss_bytes(pid)
    return [
        ("worker resident memory", "value"),
        (f"before {versions} more versions", f"{before / 1e6:.0f} MB"),
        (f"after {versions} more versions", f"{after / 1e6:.0f} MB"),
        ("per version (an isolate each)", f"{(after - before) / versions / 1e6:.2f} MB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5000, help="runs per percentile row")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    parser.add_argument("--samples", type=int, default=50, help="cold compiles and timeouts")
    options = parser.parse_args()

    print_table("The isolation unit, measured in this process", isolation_rows(20))
    box = Sandbox()
    try:
        box.run("warm", "usr_1", TRIVIAL, INPUT)
        print_table("Per run", per_run_rows(box, options.runs))
        print_table("Cold and failure paths", event_rows(box, options.samples))
        print_table("Throughput", throughput_rows(box, options.seconds))
        print_table("The worker's memory", worker_memory_rows(box, 200))
    finally:
        box.close()


if __name__ == "__main__":
    main()
