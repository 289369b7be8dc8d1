"""The stack's stdout: every child's JSON log lines, whole, each naming its service.

Each child writes into its own pipe; the supervisor reads the pipes and writes complete lines
only, so lines of different processes never interleave mid-line. A line that is not a JSON
object (a traceback printed before logging was configured, say) is wrapped into one, and a
JSON line without a ``service`` (Caddy's) gets the child's name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

# A runaway line (no newline in sight) is cut here rather than held in memory.
MAX_LINE_BYTES = 1024 * 1024


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def json_line(event: str, service: str = "stack", level: str = "info", **fields: Any) -> bytes:
    """One log line in the services' shape (``event``, ``level``, ``time``, ``service``)."""
    record = {
        "event": event,
        "level": level,
        "time": _now(),
        "service": service,
        "logger": "sticky.stack",
        **fields,
    }
    return orjson.dumps(record) + b"\n"


def write(out: BinaryIO, data: bytes) -> None:
    """Write and flush; a reader that went away (``sticky up | head``) stops nothing."""
    try:
        out.write(data)
        out.flush()
    except (BrokenPipeError, ValueError):
        pass


def decorate(line: bytes, service: str) -> bytes:
    """``line`` (without its newline) as a JSON object line that names its service."""
    stripped = line.strip()
    if not stripped:
        return b""
    if stripped.startswith(b"{"):
        if b'"service":' in stripped:
            return stripped + b"\n"
        try:
            record = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            record["service"] = service
            return orjson.dumps(record) + b"\n"
    text = stripped.decode("utf-8", errors="replace")
    return orjson.dumps({"event": text, "level": "info", "service": service}) + b"\n"


class LineRelay:
    """Collects a child's output and passes on whole lines."""

    def __init__(self, service: str, out: BinaryIO) -> None:
        self.service = service
        self.out = out
        self._partial = b""

    def feed(self, data: bytes) -> None:
        chunk = self._partial + data
        *lines, self._partial = chunk.split(b"\n")
        if len(self._partial) > MAX_LINE_BYTES:
            lines.append(self._partial)
            self._partial = b""
        if lines:
            write(self.out, b"".join(decorate(line, self.service) for line in lines))

    def close(self) -> None:
        """Pass on what is left, even without its newline."""
        if self._partial:
            write(self.out, decorate(self._partial, self.service))
            self._partial = b""
