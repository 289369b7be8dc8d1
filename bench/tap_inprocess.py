"""The api's own cost of a tap, without the network, the ASGI server or the gateway: the app
called directly, 32 taps in flight, on SQLite. Not a test.

    uv run python bench/tap_inprocess.py [--taps 6000]

It starts the api app in this process (migrated SQLite in a temporary directory, the outbox
not delivered), makes a flow without routing logic and a sticker, then sends ``GET /t/{id}``
as new phones (a session created per tap) straight into the ASGI app. It prints taps per
second and the process's CPU per tap (every thread: the handler, the group commit's thread).
Compare two checkouts by running it from each: the figure moves with the handler's code only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sticky.kernel.logs import configure_logging
from tests.api.support import api_settings, running_api

CONCURRENCY = 32


async def run(taps: int) -> tuple[float, float]:
    configure_logging("api", "warning")
    with tempfile.TemporaryDirectory(prefix="sticky-bench-tap-") as root:
        settings = api_settings(Path(root), f"sqlite+aiosqlite:///{root}/api.db")
        settings = settings.model_copy(update={"log_level": "warning"})
        async with running_api(settings) as api:
            flow = await api.flow("usr_bench")
            thing = await api.thing("usr_bench", applicationId=flow["id"])
            app, path = api.app, f"/t/{thing['id']}"

            async def tap() -> None:
                scope: dict[str, Any] = {
                    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                    "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                    "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
                    "server": ("127.0.0.1", 8102), "state": {},
                    "headers": [(b"host", b"localhost"), (b"user-agent", b"bench"),
                                (b"x-forwarded-for", b"203.0.113.9")],
                }  # fmt: skip
                sent: list[dict[str, Any]] = []

                async def receive() -> dict[str, Any]:
                    return {"type": "http.request", "body": b"", "more_body": False}

                async def send(message: dict[str, Any]) -> None:
                    sent.append(message)

                await app(scope, receive, send)
                assert sent[0]["status"] == 302, sent

            async def loop(count: int) -> None:
                for _ in range(count):
                    await tap()

            await loop(200)  # warm: caches, the first group commits
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(loop(taps // CONCURRENCY) for _ in range(CONCURRENCY)))
            done = taps // CONCURRENCY * CONCURRENCY
            elapsed, spent = time.perf_counter() - started, time.process_time() - cpu
            return done / elapsed, spent / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--taps", type=int, default=6000)
    options = parser.parse_args()
    rate, cpu_us = asyncio.run(run(options.taps))
    print("| taps in flight | taps/s (in-process) | CPU per tap |")
    print("| ---: | ---: | ---: |")
    print(f"| {CONCURRENCY} | {rate:,.0f} | {cpu_us:,.0f} us |")


if __name__ == "__main__":
    main()
