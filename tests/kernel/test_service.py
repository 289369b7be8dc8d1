"""The app factory: health, readiness, metrics, problems, request ids, body limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from sticky.kernel.problems import Problem
from sticky.kernel.service import create_service_app, json_response
from sticky.kernel.settings import Settings


class Widget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int


router = APIRouter()


@router.post("/widgets")
async def create_widget(widget: Widget) -> dict[str, object]:
    return {"name": widget.name, "size": widget.size}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals /etc/passwd")


@router.get("/teapot")
async def teapot() -> None:
    raise Problem(418, "teapot", "I am a teapot", "Short and stout.")


@router.get("/widgets/{widget_id}")
async def widget(widget_id: int) -> object:
    return json_response({"id": widget_id})


@router.delete("/widgets/{widget_id}", status_code=204)
async def delete_widget(widget_id: int) -> None:
    return None


ready = {"ok": True}


async def check() -> tuple[bool, str]:
    return ready["ok"], "fine" if ready["ok"] else "the store is unreachable"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(env="test", max_body_bytes=2048)
    app = create_service_app("demo", settings, routers=[router], readiness={"store": check})
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as c:
        yield c


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "alive"
    ready["ok"] = True
    answer = await client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["checks"]["store"] == {"ok": True, "detail": "fine"}
    ready["ok"] = False
    answer = await client.get("/readyz")
    ready["ok"] = True
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert "the store is unreachable" in answer.json()["detail"]


async def test_malformed_json_is_a_400_problem(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/widgets", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["type"] == "https://sticky.dev/problems/malformed-json"
    assert body["status"] == 400


async def test_wrong_types_and_unknown_fields_name_each_field(client: httpx.AsyncClient) -> None:
    answer = await client.post("/widgets", json={"name": "a", "size": "big", "colour": "red"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["type"] == "https://sticky.dev/problems/validation-error"
    fields = {e["field"]: e["code"] for e in body["errors"]}
    assert fields == {"size": "int_parsing", "colour": "unknown_field"}


async def test_missing_body(client: httpx.AsyncClient) -> None:
    answer = await client.post("/widgets")
    assert answer.status_code == 400
    assert answer.json()["type"].endswith("/missing-body")


async def test_unknown_path_and_method(client: httpx.AsyncClient) -> None:
    answer = await client.get("/nowhere")
    assert answer.status_code == 404
    assert answer.json()["detail"] == "There is nothing at /nowhere."
    answer = await client.delete("/widgets")
    assert answer.status_code == 405
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["allow"] == "POST"
    # A route per method at one path: Allow names them all, not only the first one matched.
    answer = await client.post("/widgets/7")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, GET"


async def test_path_parameter_type(client: httpx.AsyncClient) -> None:
    answer = await client.get("/widgets/abc")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "path.widget_id"


async def test_unexpected_error_leaks_nothing(client: httpx.AsyncClient) -> None:
    answer = await client.get("/boom", headers={"x-request-id": "req-123"})
    assert answer.status_code == 500
    body = answer.json()
    assert body["type"] == "https://sticky.dev/problems/internal-error"
    assert body["requestId"] == "req-123"
    assert "passwd" not in answer.text and "Traceback" not in answer.text


async def test_domain_problem(client: httpx.AsyncClient) -> None:
    answer = await client.get("/teapot")
    assert answer.status_code == 418
    assert answer.json()["detail"] == "Short and stout."


async def test_body_limit_declared_and_streamed(client: httpx.AsyncClient) -> None:
    big = json.dumps({"name": "x" * 4000, "size": 1}).encode()
    answer = await client.post(
        "/widgets", content=big, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["type"].endswith("/payload-too-large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 500

    answer = await client.post(
        "/widgets", content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413


async def test_request_id_is_adopted_or_created(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz", headers={"x-request-id": "abc"})
    assert answer.headers["x-request-id"] == "abc"
    answer = await client.get("/healthz")
    assert len(answer.headers["x-request-id"]) == 36


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/widgets/7")
    await client.get("/widgets/8")
    text = (await client.get("/metrics")).text
    assert (
        'sticky_http_requests_total{method="GET",route="/widgets/{widget_id}",'
        'service="demo",status="200"} 2.0'
    ) in text
    assert "sticky_http_request_duration_seconds_bucket" in text


async def test_openapi_document(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/widgets" in spec["paths"]
