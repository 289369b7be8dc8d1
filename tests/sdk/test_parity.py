"""The sync and async clients are twins: the same resources, methods and signatures."""

from __future__ import annotations

import inspect

import pytest

from sticky_sdk import AsyncSticky, Sticky

RESOURCES = ["auth", "users", "keys", "team_members", "events", "streams"]
RESOURCES += ["things", "applications", "products", "categories", "sessions"]
RESOURCES += ["payments"]
RESOURCES += ["webhooks"]
# Returned at once, then iterated with ``async for``: pagers, and the followed log.
NOT_AWAITED = {("team_members", "list"), ("events", "list"), ("events", "subscribe")}
NOT_AWAITED |= {("streams", "read")}
NOT_AWAITED |= {("payments", "list")}
NOT_AWAITED |= {("webhooks", "list"), ("webhooks", "list_deliveries")}
NOT_AWAITED |= {(name, "list") for name in ("things", "applications", "products", "categories")}


def _public_methods(obj: object) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(obj, callable)
        if not name.startswith("_")
    }


def _shape(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize("resource", RESOURCES)
def test_resources_have_the_same_methods_and_parameters(resource: str) -> None:
    sync = _public_methods(getattr(Sticky("http://x.test"), resource))
    asynchronous = _public_methods(getattr(AsyncSticky("http://x.test"), resource))
    assert sync.keys() == asynchronous.keys()
    for name in sync:
        assert _shape(sync[name]) == _shape(asynchronous[name]), name


@pytest.mark.parametrize("resource", RESOURCES)
def test_async_methods_are_coroutines_except_pagers(resource: str) -> None:
    methods = inspect.getmembers(getattr(AsyncSticky("http://x.test"), resource), callable)
    for name, method in methods:
        if name.startswith("_"):
            continue
        assert inspect.iscoroutinefunction(method) == ((resource, name) not in NOT_AWAITED), name


def test_the_clients_take_the_same_arguments() -> None:
    sync = inspect.signature(Sticky).parameters
    asynchronous = inspect.signature(AsyncSticky).parameters
    assert list(sync) == list(asynchronous)
    for name in sync:
        assert sync[name].kind == asynchronous[name].kind
        if name != "sleep":  # time.sleep for one, asyncio.sleep for the other
            assert sync[name].default == asynchronous[name].default
