"""Team members: their lifecycle, their keys, and what their tokens carry."""

from __future__ import annotations

import httpx
import jwt
from fastapi import FastAPI

from tests.auth.support import Account, bearer, exchange, problem_slug, signed_in


async def add_member(
    client: httpx.AsyncClient,
    account: Account,
    email: str = "bob@example.com",
    permissions: tuple[str, ...] = ("things:read",),
) -> dict[str, object]:
    response = await client.post(
        "/v1/team-members",
        headers=account.headers,
        json={"name": "Bob", "email": email, "permissions": list(permissions)},
    )
    assert response.status_code == 201, response.text
    member: dict[str, object] = response.json()
    return member


async def test_team_member_lifecycle(client: httpx.AsyncClient, account: Account) -> None:
    member = await add_member(
        client, account, permissions=("things:write", "things:read", "things:read")
    )
    assert str(member["id"]).startswith("tm_")
    key = str(member["key"])
    assert key.startswith("tk_")
    assert member["masked"] == f"tk_…{key[-4:]}"
    assert member["permissions"] == ["things:read", "things:write"]

    path = f"/v1/team-members/{member['id']}"
    got = await client.get(path, headers=account.headers)
    assert got.status_code == 200
    assert got.json()["key"] is None
    assert got.json()["masked"] == member["masked"]

    patched = await client.patch(
        path, headers=account.headers, json={"permissions": ["events:read"]}
    )
    assert patched.status_code == 200
    assert patched.json()["permissions"] == ["events:read"]
    assert patched.json()["name"] == "Bob"

    token = await exchange(client, key)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["scope"] == "team-member"
    assert claims["sub"] == account.user_id
    assert claims["tm"] == member["id"]
    assert claims["perms"] == ["events:read"]
    me = await client.get("/v1/users/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["id"] == account.user_id
    assert me.json()["scope"] == "team-member"
    assert me.json()["teamMember"]["id"] == member["id"]
    assert me.json()["teamMember"]["key"] is None

    # A team member does not manage the team, nor the account.
    for response in (
        await client.get("/v1/team-members", headers=bearer(token)),
        await client.get(path, headers=bearer(token)),
        await client.patch("/v1/users/me", headers=bearer(token), json={"name": "Mallory"}),
        await client.get("/v1/keys", headers=bearer(token)),
    ):
        assert response.status_code == 403
        assert problem_slug(response) == "insufficient-scope"

    rotated = await client.post(f"{path}/key/rotate", headers=account.headers)
    assert rotated.status_code == 200
    new_key = str(rotated.json()["key"])
    assert new_key != key
    assert (await client.post("/v1/auth/token", headers=bearer(key))).status_code == 401
    assert await exchange(client, new_key)

    deleted = await client.delete(path, headers=account.headers)
    assert deleted.status_code == 204
    gone = await client.post("/v1/auth/token", headers=bearer(new_key))
    assert gone.status_code == 401
    assert problem_slug(gone) == "invalid-api-key"
    assert (await client.get(path, headers=account.headers)).status_code == 404
    assert (await client.delete(path, headers=account.headers)).status_code == 404
    # A token obtained before the deletion no longer describes anyone.
    assert (await client.get("/v1/users/me", headers=bearer(token))).status_code == 401


async def test_pages_of_team_members(client: httpx.AsyncClient, account: Account) -> None:
    ids = [(await add_member(client, account, f"m{i}@example.com"))["id"] for i in range(5)]
    seen: list[object] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/v1/team-members", headers=account.headers, params=params)
        assert response.status_code == 200
        page = response.json()
        pages += 1
        seen += [member["id"] for member in page["data"]]
        assert all(member["key"] is None for member in page["data"])
        if not page["hasMore"]:
            assert page["nextCursor"] is None
            break
        cursor = page["nextCursor"]
    assert seen == ids
    assert pages == 3

    bad_params: list[dict[str, str | int]] = [{"limit": 0}, {"limit": 101}, {"cursor": "x"}]
    for params in bad_params:
        bad = await client.get("/v1/team-members", headers=account.headers, params=params)
        assert bad.status_code == 422, params


async def test_team_member_mistakes(
    client: httpx.AsyncClient, app: FastAPI, account: Account
) -> None:
    member = await add_member(client, account)
    twice = await client.post(
        "/v1/team-members",
        headers=account.headers,
        json={"name": "Bob again", "email": "BOB@example.com", "permissions": []},
    )
    assert twice.status_code == 409
    assert problem_slug(twice) == "team-member-exists"

    bad = await client.post(
        "/v1/team-members",
        headers=account.headers,
        json={"name": "Eve", "email": "eve@example.com", "permissions": ["root", "things:read"]},
    )
    assert bad.status_code == 422
    [error] = bad.json()["errors"]
    assert error["field"] == "permissions.0"

    listed = await client.get("/v1/team-members", headers=account.headers)
    assert [m["email"] for m in listed.json()["data"]] == ["bob@example.com"]

    # Another account sees none of it.
    other = await signed_in(client, app, "other@example.com")
    path = f"/v1/team-members/{member['id']}"
    assert (await client.get(path, headers=other.headers)).status_code == 404
    assert (await client.delete(path, headers=other.headers)).status_code == 404
    stolen = await client.post(f"{path}/key/rotate", headers=other.headers)
    assert stolen.status_code == 404
    assert problem_slug(stolen) == "team-member-not-found"
    patch = await client.patch(path, headers=other.headers, json={"name": "x"})
    assert patch.status_code == 404
    assert (await client.get(path, headers=account.headers)).json()["name"] == "Bob"
