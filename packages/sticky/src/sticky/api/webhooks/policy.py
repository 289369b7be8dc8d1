"""How webhooks are retried and paced: the backoff schedule, timeouts, and concurrency.

A delivery is attempted at once, then again after each delay of :data:`RETRY_DELAYS` (about
28 hours in all), then it has failed. An endpoint that has failed every attempt for
:data:`DISABLE_AFTER` when one of its deliveries fails for good is disabled. Tests and
benchmarks shrink every duration with ``STICKY_WEBHOOK_RETRY_SCALE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sticky.kernel.settings import Settings

MINUTE, HOUR = 60.0, 3600.0
# Seconds after attempt 1, 2, ...: the last attempt (the 11th) is ~27.9 hours after the first.
RETRY_DELAYS: tuple[float, ...] = (
    30.0,
    1 * MINUTE,
    5 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    1 * HOUR,
    2 * HOUR,
    4 * HOUR,
    8 * HOUR,
    12 * HOUR,
)
DISABLE_AFTER = 24 * HOUR
PREVIOUS_SECRET_LASTS = 24 * HOUR  # after a rotation, deliveries carry both signatures
# Attempts one replica has in flight to one endpoint at most; fewer while it is failing, so
# a dead endpoint holds few slots of the pool while its attempts wait out their timeouts.
PER_ENDPOINT_IN_FLIGHT = 8
PER_FAILING_ENDPOINT_IN_FLIGHT = 2


@dataclass(frozen=True)
class WebhookPolicy:
    timeout: float = 10.0  # seconds for one attempt, DNS to the last byte read
    concurrency: int = 32  # attempts one replica has in flight, at most
    per_endpoint: int = PER_ENDPOINT_IN_FLIGHT
    per_failing_endpoint: int = PER_FAILING_ENDPOINT_IN_FLIGHT
    scale: float = 1.0  # multiplies every delay below (tests)
    poll_seconds: float = 1.0  # how often a replica looks for due work queued elsewhere

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookPolicy:
        return cls(
            timeout=settings.webhook_timeout_seconds,
            concurrency=settings.webhook_concurrency,
            scale=settings.webhook_retry_scale,
            poll_seconds=min(1.0, max(0.05, DISABLE_AFTER * settings.webhook_retry_scale / 100)),
        )

    @property
    def max_attempts(self) -> int:
        return len(RETRY_DELAYS) + 1

    def retry_after(self, attempts: int) -> timedelta | None:
        """When to try again after ``attempts`` automatic failures; None: give up."""
        if attempts > len(RETRY_DELAYS):
            return None
        return timedelta(seconds=RETRY_DELAYS[attempts - 1] * self.scale)

    @property
    def disable_after(self) -> timedelta:
        return timedelta(seconds=DISABLE_AFTER * self.scale)

    @property
    def previous_secret_lasts(self) -> timedelta:
        return timedelta(seconds=PREVIOUS_SECRET_LASTS)

    @property
    def lease(self) -> timedelta:
        """Long enough for one attempt; a replica killed mid-attempt frees it after this."""
        return timedelta(seconds=self.timeout + 30.0)
