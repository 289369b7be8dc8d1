"""``yield_to_the_api``: SCHED_BATCH for the calling thread and what it starts afterwards.

Run in a fresh interpreter each time: the policy would otherwise stay on the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

PROBE = """
import os, subprocess, sys, threading, orjson
from sticky.kernel import scheduling
before = os.sched_getscheduler(0)
changed = scheduling.yield_to_the_api()
seen = {}
thread = threading.Thread(target=lambda: seen.update(thread=os.sched_getscheduler(0)))
thread.start()
thread.join()
child = subprocess.run(
    [sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
    capture_output=True, text=True, check=True,
)
print(orjson.dumps({
    "before": before, "changed": changed, "after": os.sched_getscheduler(0),
    "thread": seen["thread"], "child": int(child.stdout), "priority": os.getpriority(os.PRIO_PROCESS, 0),
}).decode())
"""


def probe() -> dict[str, int]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, check=True)
    result: dict[str, int] = orjson.loads(done.stdout)
    return result


def test_the_thread_its_later_threads_and_children_run_as_batch() -> None:
    result = probe()
    assert result["before"] == os.SCHED_OTHER
    assert result["changed"] is True
    assert result["after"] == result["thread"] == result["child"] == os.SCHED_BATCH


def test_the_share_of_the_cpu_is_not_lowered() -> None:
    assert probe()["priority"] == os.getpriority(os.PRIO_PROCESS, 0)
