"""Logs: one JSON object per line on stdout, carrying service, request id and trace id."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog

from sticky.kernel import tracing

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure_logging(service: str, level: str = "info") -> None:
    """Route structlog and the standard library's logging to JSON lines on stdout."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_trace,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        _add_service(service),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        # One write per line, newline included (print() makes two): under PYTHONUNBUFFERED
        # each is its own syscall, and another process on the same pipe (the api's sandbox
        # worker, the events' exporter) could land its line between them.
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(serializer=_dumps),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # Our middleware logs each request once; uvicorn's access log would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _add_trace(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """The request id and trace id of the request being served, if any. Read when a line is
    written, from the context the request middleware sets, so a request that logs nothing
    costs nothing here."""
    ctx = tracing.current.get()
    if ctx is not None:
        event.setdefault("request_id", ctx.request_id)
        event.setdefault("trace_id", ctx.trace_id)
    return event


def _add_service(service: str) -> Any:
    def processor(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    return processor
