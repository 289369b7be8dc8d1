"""Prometheus metrics: request counts and latency histograms, one registry per app."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["CONTENT_TYPE_LATEST", "HttpMetrics"]

# The *_created series double the output and nobody graphs them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BOUNDS = [*(floatToGoString(bound) for bound in _BUCKETS), "+Inf"]  # type: ignore[no-untyped-call]
_REQUESTS = ("sticky_http_requests", "HTTP requests answered, by route and status.")
_LATENCY = ("sticky_http_request_duration_seconds", "Time to answer an HTTP request, by route.")


class HttpMetrics(Collector):
    """What prometheus_client's ``Counter`` and ``Histogram`` would expose, counted in plain
    Python numbers: every request of every service is observed, and their children's locks and
    values cost several times this (they are for metrics shared between threads; these are
    only observed by the event loop's thread, and read when scraped)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._requests: dict[tuple[str, str, str], int] = {}
        # Per (method, route): a count per bucket (the last one past every bound), then the sum.
        self._latency: dict[tuple[str, str], list[float]] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        self._requests[key] = self._requests.get(key, 0) + 1
        counts = self._latency.get((method, route))
        if counts is None:
            counts = self._latency[method, route] = [0.0] * (len(_BUCKETS) + 2)
        counts[bisect_left(_BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(*_REQUESTS, labels=["service", "method", "route", "status"])
        for (method, route, status), count in list(self._requests.items()):
            requests.add_metric([self.service, method, route, status], count)
        yield requests
        latency = HistogramMetricFamily(*_LATENCY, labels=["service", "method", "route"])
        for (method, route), counts in list(self._latency.items()):
            cumulative = list(zip(_BOUNDS, accumulate(counts[:-1]), strict=True))
            latency.add_metric([self.service, method, route], cumulative, counts[-1])
        yield latency

    def render(self) -> bytes:
        return generate_latest(self.registry)
