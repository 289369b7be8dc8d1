"""``HttpMetrics`` exposes exactly what prometheus_client's own Counter and Histogram would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from sticky.kernel.metrics import _BUCKETS, HttpMetrics

OBSERVED = [
    ("GET", "/t/{thing_id}", 302, 0.0012),
    ("GET", "/t/{thing_id}", 302, 0.005),  # on a bound: counted in that bucket (le)
    ("GET", "/t/{thing_id}", 404, 0.0),
    ("POST", "/v1/things", 201, 0.7),
    ("POST", "/v1/things", 422, 12.5),  # past every bound: +Inf only
    ("GET", "/t/{thing_id}", 302, 0.0100001),
]


def test_the_exposition_is_prometheus_clients_own() -> None:
    ours = HttpMetrics("api")
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "sticky_http_requests",
        "HTTP requests answered, by route and status.",
        ["service", "method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "sticky_http_request_duration_seconds",
        "Time to answer an HTTP request, by route.",
        ["service", "method", "route"],
        buckets=_BUCKETS,
        registry=registry,
    )
    for method, route, status, seconds in OBSERVED:
        ours.observe(method, route, status, seconds)
        requests.labels("api", method, route, str(status)).inc()
        latency.labels("api", method, route).observe(seconds)
    assert ours.render() == generate_latest(registry)
    assert b'status="302"} 3.0' in ours.render()


def test_other_metrics_share_the_registry() -> None:
    ours = HttpMetrics("mail")
    sent = Counter("sticky_mail_sent", "Mail sent.", registry=ours.registry)
    sent.inc()
    ours.observe("GET", "/healthz", 200, 0.001)
    text = ours.render().decode()
    assert "sticky_mail_sent_total 1.0" in text
    assert 'sticky_http_requests_total{method="GET",route="/healthz"' in text
