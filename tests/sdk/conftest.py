"""Fixtures for the SDK's tests: a fake platform and a client of each kind talking to it.

Most tests run twice, once with :class:`Sticky` and once with :class:`AsyncSticky`, through
``run`` (await when there is something to await) and ``collect`` (iterate either kind).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from sticky_sdk import AsyncSticky, Sticky
from tests.sdk.events_fake import Kit
from tests.sdk.fake_platform import FakePlatform

BASE_URL = "http://sticky.test"

Client = Sticky | AsyncSticky


async def run(value: Any) -> Any:
    """The value, awaited first if it is awaitable (so one test drives both clients)."""
    return await value if inspect.isawaitable(value) else value


async def collect(items: Iterable[Any] | AsyncIterable[Any]) -> list[Any]:
    if isinstance(items, AsyncIterable):
        return [item async for item in items]
    return list(items)


@dataclass
class Harness:
    """Makes clients of one kind wired to ``platform``, recording the waits between retries."""

    kind: str
    platform: FakePlatform = field(default_factory=FakePlatform)
    sleeps: list[float] = field(default_factory=list)

    def client(self, **options: Any) -> Any:
        options.setdefault("base_url", BASE_URL)
        if self.kind == "sync":
            sticky: Client = Sticky(
                transport=httpx.MockTransport(self.platform), sleep=self.sleeps.append, **options
            )
        else:

            async def handler(request: httpx.Request) -> httpx.Response:
                await asyncio.sleep(0)  # give other tasks a turn, as real I/O would
                return self.platform(request)

            async def sleep(seconds: float) -> None:
                self.sleeps.append(seconds)

            sticky = AsyncSticky(transport=httpx.MockTransport(handler), sleep=sleep, **options)
        sticky._credentials.clock = self.platform.clock.now  # time passes for both alike
        return sticky


@pytest.fixture(autouse=True)
def _no_sticky_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STICKY_URL", raising=False)
    monkeypatch.delenv("STICKY_KEY", raising=False)


@pytest.fixture(params=["sync", "async"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A harness for each kind of client in turn."""
    yield Harness(request.param)


@pytest.fixture(params=["sync", "async"])
def kit(request: pytest.FixtureRequest) -> Kit:
    """A client of each kind in turn, wired to a fake of the events service."""
    return Kit(request.param)
