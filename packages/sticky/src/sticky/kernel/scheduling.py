"""CPU scheduling on a shared machine: work that no tap waits on never interrupts the api.

On Linux a process woken up (an answer arrived, a timer fired) usually preempts whichever
process is running, if that one has had more than its share of late. Under load the api's one
event loop is that process: each wake-up of the gateway, the sandbox worker or the events
service took its CPU away in the middle of serving taps, about once per tap at 3,000 taps/s on
two cores, and every tap in its queue waited with it.

``SCHED_BATCH`` (see sched(7)) changes only that: a batch process keeps its fair share of the
CPU, but its wake-ups never preempt a running process; woken while every CPU is busy, it runs
when the running process blocks or its time slice ends. On an idle CPU it runs at once, as
before. ``sticky up`` runs every process but the api so, and the sandbox worker always is
(the events' export worker goes further: ``SCHED_IDLE``, see ``events.export_worker``). The
policy is inherited by the threads and the children a process starts afterwards.
"""

from __future__ import annotations

import os


def yield_to_the_api() -> bool:
    """Run the calling thread, and all it starts from now on, under ``SCHED_BATCH``; call it
    while the process has one thread. False where the system has no such policy (not Linux) or
    refuses it: nothing changes then but the scheduling of wake-ups."""
    batch = getattr(os, "SCHED_BATCH", None)
    if batch is None or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, batch, os.sched_param(0))
    except OSError:
        return False
    return True
