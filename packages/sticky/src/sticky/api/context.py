"""What the api service's logic works with, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from sticky.api.store import Store
from sticky.kernel.settings import Settings

if TYPE_CHECKING:
    from sticky.api.accounts import Accounts
    from sticky.api.recorder import Recorder
    from sticky.api.sandbox import Sandbox
    from sticky.api.tap import Taps


@dataclass
class Api:
    settings: Settings
    store: Store
    accounts: Accounts
    sandbox: Sandbox
    recorder: Recorder
    taps: Taps

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def thing_url(self, thing_id: str) -> str:
        """What a sticker's QR code and NFC tag carry."""
        return f"{self.settings.gateway_url}/t/{thing_id}"

    @property
    def consumer_app_url(self) -> str:
        """Stickyretail, where a flow without routing logic sends its consumers."""
        return f"{self.settings.gateway_url}/retail/"


async def _api(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


ApiDep = Annotated[Api, Depends(_api)]
