"""Which gateway takes a payment: one demo and one sandbox per process, Stripe per merchant.

A flow names its gateway in its live settings (``"gateway": "GATEWAY_SANDBOX"``); without one
it is the demo. Stripe is built per merchant from the keys sealed in ``payment_settings``
around one HTTP client per process. The sandbox posts its payhooks to this api's own
internal URL (``settings.internal_url("api") + "/v2/payhook/GATEWAY_SANDBOX"``): it lives
in this process, so the callback never needs the public gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sticky.api.payments.errors import GatewayNotConfigured
from sticky.api.payments.gateways import (
    GATEWAY_NAMES,
    GATEWAY_NOOP,
    GATEWAY_SANDBOX,
    GATEWAY_STRIPE,
    NoopGateway,
    PaymentGateway,
    SandboxGateway,
    StripeGateway,
    StripeHttpClient,
    open_keys,
    sandbox_secret,
)
from sticky.kernel import crypto
from sticky.kernel.settings import Settings


def gateway_of(settings: Mapping[str, Any] | None) -> str:
    """The gateway a flow's live settings name (the demo when they name none)."""
    name = (settings or {}).get("gateway") or GATEWAY_NOOP
    return str(name)


class Gateways:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.noop: PaymentGateway = NoopGateway()
        self.sandbox: SandboxGateway = SandboxGateway(sandbox_secret(settings.secret_key))
        self.stripe_http = StripeHttpClient()

    def callback_url(self, gateway: str) -> str:
        return f"{self._settings.internal_url('api')}/v2/payhook/{gateway}"

    def get(self, name: str, sealed_stripe_keys: str | None = None) -> PaymentGateway:
        """The gateway ``name``; Stripe needs the merchant's sealed keys."""
        if name == GATEWAY_NOOP:
            return self.noop
        if name == GATEWAY_SANDBOX:
            return self.sandbox
        if name == GATEWAY_STRIPE:
            if not sealed_stripe_keys:
                raise GatewayNotConfigured(name, "no Stripe keys are set for this account")
            try:
                keys = open_keys(self._settings.secret_key, sealed_stripe_keys)
            except crypto.DecryptionError as exc:
                raise GatewayNotConfigured(
                    name, "the Stripe keys were sealed with another secret key: set them again"
                ) from exc
            return StripeGateway(
                keys, self.stripe_http, api_base=self._settings.stripe_api_base or None
            )
        raise GatewayNotConfigured(
            name, f"the flow names an unknown gateway (use one of {', '.join(GATEWAY_NAMES)})"
        )

    async def aclose(self) -> None:
        await self.sandbox.aclose()
        await self.stripe_http.close_async()
