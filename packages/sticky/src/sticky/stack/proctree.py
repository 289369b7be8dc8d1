"""A running stack's processes, read from ``/proc`` (Linux): who they are and what they hold.

Used to check that a stopped stack left nothing behind and to measure its memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    parent: int
    name: str  # the kernel's ``comm``: "sticky-auth", "caddy", ...
    state: str  # "R", "S", "Z" (a zombie: dead, not yet reaped) ...


def info(pid: int) -> ProcessInfo | None:
    """The process ``pid``, or None when there is none."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The name is in parentheses and may itself contain spaces and parentheses.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
    return ProcessInfo(pid, int(parent), name, state)


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    process = info(pid)
    return process is not None and process.state != "Z"


def descendants(pid: int) -> list[ProcessInfo]:
    """Every living process below ``pid``: children, grandchildren..."""
    everyone: list[ProcessInfo] = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            process = info(int(entry.name))
            if process is not None and process.state != "Z":
                everyone.append(process)
    found: list[ProcessInfo] = []
    parents = {pid}
    while True:
        layer = [p for p in everyone if p.parent in parents and p not in found]
        if not layer:
            return found
        found += layer
        parents = {p.pid for p in layer}


def _status_kib(pid: int, path: str, field: str) -> int:
    try:
        text = (_PROC / str(pid) / path).read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_bytes(pid: int) -> int:
    """Resident memory, counting shared pages in full (what ``ps`` shows)."""
    return _status_kib(pid, "status", "VmRSS") * 1024


def pss_bytes(pid: int) -> int:
    """Proportional memory: shared pages split among their sharers (sums truthfully)."""
    return _status_kib(pid, "smaps_rollup", "Pss") * 1024
