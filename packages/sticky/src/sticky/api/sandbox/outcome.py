"""What a run of routing logic gives back: a checked redirect URL or a typed failure, and console.

The worker reports raw statuses; this module turns them into ``LogicOutcome`` and refuses any
result that is not an absolute http(s) URL a ``Location`` header can carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from sticky.api.sandbox import protocol

FailureKind = Literal["syntax", "exception", "timeout", "memory", "bad-result"]

MAX_URL = 2048
MAX_LINES = 50
MAX_LINE = 500
MAX_MESSAGE = 1000

_FAILURE_KINDS: dict[str, FailureKind] = {
    "syntax": "syntax",
    "exception": "exception",
    "timeout": "timeout",
    "memory": "memory",
}
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class LogicFailure:
    """Why a run gave no URL: ``kind`` for programs, ``message`` for the merchant."""

    kind: FailureKind
    message: str


@dataclass(frozen=True)
class LogicOutcome:
    """One run: ``url`` only on success, else ``error``; ``console`` lines either way."""

    url: str | None
    console: tuple[str, ...]
    error: LogicFailure | None
    elapsed_ms: float


def failed(kind: FailureKind, message: str, elapsed_ms: float = 0.0) -> LogicOutcome:
    return LogicOutcome(None, (), LogicFailure(kind, message[:MAX_MESSAGE]), elapsed_ms)


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be a redirect target, or None when it may."""
    if len(url) > MAX_URL:
        return f"the URL is {len(url)} characters long; the limit is {MAX_URL}"
    if not url.isascii():
        return "the URL has non-ASCII characters; encode them (encodeURI, punycode)"
    if _UNSAFE.search(url):
        return "the URL has spaces or control characters; encode them (encodeURIComponent)"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        return f"the URL cannot be parsed: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        return f"the URL must be absolute http(s), not {shown}"
    if not host:
        return "the URL has no host"
    return None


def from_reply(
    status: str, value: Any, console: Any, dropped: Any, elapsed_ms: Any
) -> LogicOutcome:
    """The outcome a worker reply describes; anything malformed is the logic's failure."""
    lines = _console(console, dropped)
    elapsed = float(elapsed_ms) if isinstance(elapsed_ms, int | float) else 0.0
    if status == protocol.OK and isinstance(value, str):
        problem = url_problem(value)
        if problem is None:
            return LogicOutcome(value, lines, None, elapsed)
        return LogicOutcome(None, lines, LogicFailure("bad-result", problem), elapsed)
    if status == protocol.BAD_TYPE:
        message = f"the logic returned {value}, not a URL string"
        return LogicOutcome(None, lines, LogicFailure("bad-result", message), elapsed)
    if status == protocol.TOO_LONG:
        message = f"the URL is {value} characters long; the limit is {MAX_URL}"
        return LogicOutcome(None, lines, LogicFailure("bad-result", message), elapsed)
    kind = _FAILURE_KINDS.get(status, "exception")
    message = value[:MAX_MESSAGE] if isinstance(value, str) else "the logic failed"
    return LogicOutcome(None, lines, LogicFailure(kind, message), elapsed)


def _console(console: Any, dropped: Any) -> tuple[str, ...]:
    if not isinstance(console, list):
        return ()
    lines = [line[:MAX_LINE] for line in console[:MAX_LINES] if isinstance(line, str)]
    extra = (dropped if isinstance(dropped, int) else 0) + len(console) - len(lines)
    if extra > 0:
        lines = [*lines[: MAX_LINES - 1], f"... {extra + len(lines[MAX_LINES - 1 :])} more lines"]
    return tuple(lines)
