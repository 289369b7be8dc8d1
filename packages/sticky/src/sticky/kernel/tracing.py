"""Request ids and W3C trace context, carried in context variables across a request."""

from __future__ import annotations

import contextvars
import re
import secrets
import uuid
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16  # all-zero ids are invalid (W3C)


@dataclass(frozen=True)
class TraceContext:
    request_id: str
    trace_id: str
    span_id: str
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        """The context an outgoing call carries: same trace, a new span."""
        return TraceContext(self.request_id, self.trace_id, secrets.token_hex(8), self.flags)


current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "sticky_trace", default=None
)


def from_headers(request_id: str | None, traceparent: str | None) -> TraceContext:
    """Adopt the caller's ids when they are well formed; otherwise start new ones."""
    match = _TRACEPARENT.match(traceparent) if traceparent else None
    if match and match.group(1) != _ZERO_TRACE and match.group(2) != _ZERO_SPAN:
        trace_id, _, flags = match.groups()
    else:
        trace_id, flags = secrets.token_hex(16), "01"
    rid = request_id if request_id and len(request_id) <= 200 else str(uuid.uuid4())
    return TraceContext(rid, trace_id, secrets.token_hex(8), flags)


def outgoing_headers() -> dict[str, str]:
    """Headers that propagate the current request id and trace to another service."""
    ctx = current.get()
    if ctx is None:
        ctx = from_headers(None, None)
    child = ctx.child()
    return {"X-Request-ID": child.request_id, "traceparent": child.traceparent}
