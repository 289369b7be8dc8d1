"""The two kinds of resource: one speaks through a :class:`Sticky`, one an :class:`AsyncSticky`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sticky_sdk._async_client import AsyncSticky
    from sticky_sdk._client import Sticky


class SyncResource:
    def __init__(self, client: Sticky) -> None:
        self._client = client


class AsyncResource:
    def __init__(self, client: AsyncSticky) -> None:
        self._client = client
