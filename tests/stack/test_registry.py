"""The process types: which run where, and which prefix wins."""

from __future__ import annotations

import pytest

from sticky.kernel.settings import Settings
from sticky.stack.registry import (
    REGISTRY,
    ProcessType,
    UnknownService,
    by_specificity,
    find,
    process_types,
)


def test_each_service_has_a_factory_and_its_port() -> None:
    settings = Settings(env="test")
    for process_type in REGISTRY:
        module, _, function = process_type.factory.partition(":")
        assert module.startswith("sticky.") and function == "create_app"
        assert process_type.port(settings) == getattr(settings, f"{process_type.name}_port")


def test_the_mailbox_runs_only_outside_production() -> None:
    development = [p.name for p in process_types(Settings(env="development"))]
    production = Settings(
        env="production",
        secret_key="s" * 40,
        service_key="k" * 40,
        public_url="https://sticky.example",
    )
    assert "mailbox" in development
    assert "mailbox" not in [p.name for p in process_types(production)]
    assert {"auth", "events", "mail"} <= set(development)


def test_more_specific_prefixes_come_first_whatever_the_order() -> None:
    for types in (REGISTRY, tuple(reversed(REGISTRY))):
        order = [prefix for prefix, _ in by_specificity(types)]
        assert order.index("/v1/auth/*") < order.index("/v1/*")
        assert order.index("/v1/events*") < order.index("/v1/*")
        assert order.index("/v1/streams/*") < order.index("/v1/*")
        for prefix in find("auth").routes:
            assert order.index(prefix) < order.index("/v1/*")


def test_exact_paths_come_before_wildcards_of_the_same_length() -> None:
    exact = ProcessType("geo", "x:y", routes=("/v1/x",))
    wildcard = ProcessType("api", "x:y", routes=("/v1/*",))
    order = [prefix for prefix, _ in by_specificity([wildcard, exact])]
    assert order == ["/v1/x", "/v1/*"]


def test_one_prefix_cannot_go_to_two_services() -> None:
    twin = ProcessType("api", "x:y", routes=("/v1/auth/*",))
    with pytest.raises(ValueError, match="/v1/auth/"):
        by_specificity([*REGISTRY, twin])


def test_an_unknown_service_is_named_with_the_known_ones() -> None:
    assert find("auth").migrations == "sticky.auth"
    with pytest.raises(UnknownService, match=r"'billing'.*auth, events, api, geo, mail, mailbox"):
        find("billing")
