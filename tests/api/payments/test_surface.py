"""The package's public surface is deliberate: everything the api needs, from one import."""

from __future__ import annotations

import sticky.api.payments.gateways as gateways
from sticky.api.payments.gateways import GATEWAY_NAMES, NoopGateway, SandboxGateway, StripeGateway


def test_everything_exported_exists() -> None:
    assert sorted(gateways.__all__) == sorted(set(gateways.__all__))
    assert all(hasattr(gateways, name) for name in gateways.__all__)


def test_each_gateway_is_named_as_the_flows_name_it() -> None:
    assert [NoopGateway.name, SandboxGateway.name, StripeGateway.name] == list(GATEWAY_NAMES)
    assert GATEWAY_NAMES == ("GATEWAY_NOOP", "GATEWAY_SANDBOX", "GATEWAY_STRIPE")
