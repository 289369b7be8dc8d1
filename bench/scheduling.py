"""What ``sticky up``'s CPU policies buy the taps: the same stack, its processes as
``sticky up`` sets them and then all under the normal policy, round after round. Not a test.

    uv run python bench/scheduling.py [--rate 3000] [--seconds 8] [--rounds 4]

``sticky up`` runs every process but the api under Linux's ``SCHED_BATCH`` (see
``sticky.kernel.scheduling``): their wake-ups never preempt the api's event loop. This bench
starts a private stack (a flow whose live routing logic runs on every tap, as in
``bench/tap.py``) and sends taps through the gateway at a fixed rate (``wrk``, open loop), in
rounds that alternate between the two settings, switched on the running processes and every
one of their threads; alternating in one stack, not two runs, because this machine's speed
drifts by 2-3x over minutes. The export worker keeps its own ``SCHED_IDLE`` throughout.

For each round: the taps' p50 and p99, and for the api process (from ``/proc``, every thread):
CPU per tap, the time it spent runnable but waiting for a CPU per tap, and how often per tap
it was preempted (involuntary context switches). Then the median of each over the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tap import LOGIC, RATE_CONNECTIONS, post, wrk
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack, start_stack

AS_STICKY_UP = "as sticky up sets it"
ALL_NORMAL = "all normal"


@dataclass
class ApiThreads:
    """The api process's scheduler counters, summed over its threads (nanoseconds, counts)."""

    running: int = 0
    waiting: int = 0
    preempted: int = 0

    @classmethod
    def read(cls, pid: int) -> ApiThreads:
        total = cls()
        for thread in os.listdir(f"/proc/{pid}/task"):
            where = Path(f"/proc/{pid}/task/{thread}")
            try:
                running, waiting, _ = (where / "schedstat").read_text().split()
                status = (where / "status").read_text()
            except OSError:
                continue  # a thread that just ended
            total.running += int(running)
            total.waiting += int(waiting)
            total.preempted += int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        return total


@dataclass
class Round:
    setting: str
    rate: float
    p50_ms: float
    p99_ms: float
    late: str
    api_cpu_us: float
    api_wait_us: float
    api_preempted: float


def set_policy(pid: int, policy: int) -> None:
    """``policy`` for every thread of ``pid``."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setscheduler(int(thread), policy, os.sched_param(0))
        except (ProcessLookupError, PermissionError):
            continue


def apply(setting: str, processes: dict[str, int]) -> None:
    for name, pid in processes.items():
        if name == "exports":
            continue
        batch = setting == AS_STICKY_UP and name != "api"
        set_policy(pid, os.SCHED_BATCH if batch else os.SCHED_OTHER)


def one_round(stack: RunningStack, setting: str, url: str, seconds: int, rate: int) -> Round:
    processes = stack.processes()
    apply(setting, processes)
    before = ApiThreads.read(processes["api"])
    run = wrk(setting, url, seconds, RATE_CONNECTIONS, [], rate=rate)
    after = ApiThreads.read(processes["api"])
    taps = max(run.requests, 1)
    return Round(
        setting,
        run.rate,
        run.p50_ms,
        run.p99_ms,
        run.errors or "none",
        (after.running - before.running) / taps / 1e3,
        (after.waiting - before.waiting) / taps / 1e3,
        (after.preempted - before.preempted) / taps,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=3000, help="taps/s sent")
    parser.add_argument("--seconds", type=int, default=8, help="each round's length")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each setting")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sticky-bench-scheduling-") as root:
        stack = start_stack(Path(root) / "stack", STICKY_LOG_LEVEL="warning")
        try:
            sticky, _ = signed_up(stack)
            headers = {"Authorization": f"Bearer {sticky.access_token}"}
            with httpx.Client(base_url=stack.base_url, headers=headers) as client:
                flow = post(client, "/v1/applications", {"name": "Bench", "logic": LOGIC})
                post(client, f"/v1/applications/{flow['id']}/make-live")
                thing = post(client, "/v1/things", {"name": "T1", "applicationId": flow["id"]})
            url = f"{stack.base_url}/t/{thing['id']}"
            wrk("warm-up", url, 3, 32, [])
            rounds = [
                one_round(stack, setting, url, options.seconds, options.rate)
                for _ in range(options.rounds)
                for setting in (AS_STICKY_UP, ALL_NORMAL)
            ]
            apply(AS_STICKY_UP, stack.processes())
        finally:
            stack.stop()

    print(
        f"\n{options.rate:,} taps/s sent, {options.seconds} s rounds, a flow with routing logic\n"
    )
    print(
        "| round | processes | taps/s | p50 | p99 | late | api CPU/tap | api waiting/tap"
        " | api preempted/tap |"
    )
    print("| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for number, r in enumerate(rounds, start=1):
        print(
            f"| {number} | {r.setting} | {r.rate:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms"
            f" | {r.late} | {r.api_cpu_us:.0f} µs | {r.api_wait_us:.0f} µs"
            f" | {r.api_preempted:.2f} |"
        )
    print(
        "\n| processes (median of the rounds) | p50 | p99 | api waiting/tap | api preempted/tap |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for setting in (AS_STICKY_UP, ALL_NORMAL):
        mine = [r for r in rounds if r.setting == setting]
        p50 = statistics.median(r.p50_ms for r in mine)
        p99 = statistics.median(r.p99_ms for r in mine)
        wait = statistics.median(r.api_wait_us for r in mine)
        preempted = statistics.median(r.api_preempted for r in mine)
        print(f"| {setting} | {p50:.2f} ms | {p99:.2f} ms | {wait:.0f} µs | {preempted:.2f} |")


if __name__ == "__main__":
    main()
