from __future__ import annotations

from sticky.kernel import tracing


def test_adopts_a_valid_traceparent() -> None:
    ctx = tracing.from_headers("rid", "00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    assert ctx.trace_id == "a" * 32
    assert ctx.span_id != "b" * 16
    assert ctx.request_id == "rid"


def test_replaces_an_invalid_one() -> None:
    for bad in ("garbage", "00-" + "0" * 32 + "-" + "b" * 16 + "-01", None):
        ctx = tracing.from_headers(None, bad)
        assert len(ctx.trace_id) == 32 and ctx.trace_id != "0" * 32
        assert len(ctx.request_id) == 36


def test_outgoing_headers_keep_the_trace() -> None:
    ctx = tracing.from_headers("rid", None)
    token = tracing.current.set(ctx)
    try:
        headers = tracing.outgoing_headers()
    finally:
        tracing.current.reset(token)
    assert headers["X-Request-ID"] == "rid"
    assert headers["traceparent"].startswith(f"00-{ctx.trace_id}-")
    assert not headers["traceparent"].endswith(f"-{ctx.span_id}-01")
