"""The app as a whole: readiness, and the API description."""

from __future__ import annotations

import httpx

from sticky.auth.app import create_app
from sticky.kernel.settings import Settings
from tests.auth.support import PASSWORD, problem_slug


async def test_the_api_is_described(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/v1/auth/sign-in" in paths
    assert "/v1/team-members/{member_id}/key/rotate" in paths
    confirm = paths["/v1/auth/password-reset/confirm"]["post"]
    assert set(confirm["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    assert paths["/v1/auth/sign-in"]["post"]["description"].startswith("Exchange email")


async def test_readiness_reports_the_database_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["signing-key"]["ok"] is True


async def test_an_unmigrated_database_is_not_ready(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert "revision None" in ready.json()["checks"]["database"]["detail"]
            sign_up = await client.post(
                "/v1/auth/sign-up",
                json={"name": "Ada", "email": "ada@example.com", "password": PASSWORD},
            )
            assert sign_up.status_code == 503
            assert problem_slug(sign_up) == "unavailable"
