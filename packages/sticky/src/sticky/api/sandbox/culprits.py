"""Which routing logic kills sandbox workers, so that it is refused instead of killing more.

A worker can die under a run in flight (V8 aborted mid-run) or after a run already answered
``timeout`` or ``memory`` while its isolate was still being stopped (a builtin that ignores
termination and aborts later). The first case is settled by sending the runs in flight again
one at a time; the second by strikes: logic whose isolate was being stopped at two deaths is
refused. Logic is identified with its source, so a changed source gets a new chance; an owner
whose logic was refused ``OWNER_BANS`` times (fresh sources are cheap, through "try it") is
refused altogether, until the process restarts.
"""

from __future__ import annotations

from collections import OrderedDict

Logic = tuple[str, str, str]
"""(owner, version key, source)."""

STRIKES = 2
OWNER_BANS = 3
CRASHED = "the logic crashed the sandbox (V8 aborted); it is refused until it changes"
OWNER_CRASHED = "this account's logic crashed the sandbox too often; its logic is refused"


class Culprits:
    """Bans and strikes, both bounded (oldest forgotten first), and isolates being stopped."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._banned: OrderedDict[Logic, None] = OrderedDict()
        self._strikes: OrderedDict[Logic, int] = OrderedDict()
        self._owners: OrderedDict[str, int] = OrderedDict()
        self._stopping: dict[int, Logic] = {}

    def refusal(self, logic: Logic) -> str | None:
        """Why ``logic`` may not run, or None."""
        if self._owners.get(logic[0], 0) >= OWNER_BANS:
            return OWNER_CRASHED
        return CRASHED if logic in self._banned else None

    def ban(self, logic: Logic) -> None:
        if logic not in self._banned:
            self._owners[logic[0]] = self._owners.pop(logic[0], 0) + 1
        self._banned[logic] = None
        self._strikes.pop(logic, None)
        for bounded in (self._banned, self._owners):
            while len(bounded) > self._limit:
                bounded.popitem(last=False)

    def stopping(self, request_id: int, logic: Logic) -> None:
        """Run ``request_id`` left its isolate to be stopped."""
        self._stopping[request_id] = logic

    def stopped(self, request_id: int) -> None:
        self._stopping.pop(request_id, None)

    def worker_died(self) -> None:
        """Strikes the logic whose isolates were being stopped; bans it at ``STRIKES``."""
        for logic in set(self._stopping.values()):
            strikes = self._strikes.pop(logic, 0) + 1
            if strikes >= STRIKES:
                self.ban(logic)
                continue
            self._strikes[logic] = strikes
            while len(self._strikes) > self._limit:
                self._strikes.popitem(last=False)
        self._stopping.clear()
