"""A small in-memory stand-in for the auth service's HTTP API, as an ``httpx`` handler.

It answers like docs/auth.md says the platform does (camelCase JSON, problem+json errors,
rotating refresh tokens with reuse detection, cursor pages), records every request it
receives, and can be told to answer the next requests to a route with canned responses.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

NOW = "2025-01-02T03:04:05Z"
PROBLEMS = "https://sticky.dev/problems/"


class Clock:
    """The time, shared by the fake and the client under test, so tests can make it pass."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def make_jwt(now: float, expires_in: float, **claims: Any) -> str:
    """A JWT with a fake signature; the SDK reads only when it was issued and expires."""

    def part(data: dict[str, Any]) -> str:
        raw = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
        return raw.rstrip("=")

    payload = {"sub": "usr_1", "iat": int(now), "exp": int(now + expires_in)}
    payload.update(claims)
    return f"{part({'alg': 'EdDSA', 'kid': 'k1'})}.{part(payload)}.c2lnbmF0dXJl"


def problem(status: int, slug: str, detail: str = "", **extra: Any) -> httpx.Response:
    body = {"type": PROBLEMS + slug, "title": slug.replace("-", " "), "status": status}
    body.update({"detail": detail or slug, "requestId": "req_test", **extra})
    headers = {"Retry-After": str(extra["retryAfter"])} if "retryAfter" in extra else {}
    return httpx.Response(
        status, json=body, headers={"content-type": "application/problem+json", **headers}
    )


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


@dataclass
class FakePlatform:
    """The fake; call it with a request to get the response."""

    access_ttl: float = 900
    clock_skew: float = 0  # how far the platform's clock is ahead of the client's
    clock: Clock = field(default_factory=Clock)
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "id": "usr_1",
            "name": "Ada",
            "email": "ada@example.com",
            "emailVerified": True,
            "createdAt": NOW,
        }
    )
    password: str = "correct horse battery"
    private_key: str = "sk_live_private_0001"
    public_key: str = "pk_live_public_0001"

    def __post_init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.canned: dict[tuple[str, str], deque[Callable[[], httpx.Response]]] = defaultdict(deque)
        self.team_members: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, str] = {}  # token -> scope
        self.rejected: set[str] = set()  # tokens answered as expired whatever their exp
        self.families: dict[str, int] = {}  # refresh token -> family
        self.spent: set[str] = set()
        self.revoked_families: set[int] = set()
        self.delay = 0.0
        self.registered = {self.user["email"]}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)

    def last(self, method: str, path: str) -> httpx.Request:
        return [r for r in self.requests if r.method == method and r.url.path == path][-1]

    def answer_next(self, method: str, path: str, *responses: httpx.Response | Exception) -> None:
        """Answer the next requests to ``method path`` with these, in order (or raise them)."""
        for response in responses:

            def answer(response: httpx.Response | Exception = response) -> httpx.Response:
                if isinstance(response, Exception):
                    raise response
                return response

            self.canned[(method, path)].append(answer)

    # Issuing credentials.

    @property
    def expires_in(self) -> int:
        return int(self.access_ttl)

    def issue_access(self, scope: str, ttl: float | None = None) -> str:
        lifetime = self.access_ttl if ttl is None else ttl
        now = self.clock.now() + self.clock_skew
        token = make_jwt(now, lifetime, scope=scope, n=next(self._ids))
        self.access_tokens[token] = scope
        return token

    def issue_pair(self, family: int | None = None) -> dict[str, Any]:
        refresh = f"rt_{next(self._ids):06d}_opaque"
        self.families[refresh] = next(self._ids) if family is None else family
        return {
            "accessToken": self.issue_access("user"),
            "refreshToken": refresh,
            "tokenType": "Bearer",
            "expiresIn": self.expires_in,
            "user": self.user,
        }

    # The handler.

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.requests.append(request)
            queue = self.canned.get((request.method, request.url.path))
            if queue:
                return queue.popleft()()
            return self._route(request)

    def _route(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        body = body_of(request)
        public = {
            ("POST", "/v1/auth/sign-up"): self._sign_up,
            ("POST", "/v1/auth/verify-email"): self._verify_email,
            ("POST", "/v1/auth/resend-verification"): lambda b: httpx.Response(202, json={}),
            ("POST", "/v1/auth/sign-in"): self._sign_in,
            ("POST", "/v1/auth/refresh"): self._refresh,
            ("POST", "/v1/auth/sign-out"): self._sign_out,
            ("POST", "/v1/auth/password-reset"): lambda b: httpx.Response(202, json={}),
            ("POST", "/v1/auth/password-reset/confirm"): lambda b: httpx.Response(
                200, json=self.user
            ),
        }
        if (method, path) in public:
            return public[(method, path)](body)
        if (method, path) == ("POST", "/v1/auth/token"):
            return self._exchange(request)
        denied = self._check_token(request)
        if denied is not None:
            return denied
        return self._private(method, path, request, body)

    def _sign_up(self, body: dict[str, Any]) -> httpx.Response:
        if body["email"] in self.registered:
            return problem(409, "email-taken", "An account already uses this email.")
        if len(body["password"]) < 10:
            error = {"field": "password", "message": "is too short", "code": "weak-password"}
            return problem(422, "weak-password", "password: is too short", errors=[error])
        self.registered.add(body["email"])
        self.user = {**self.user, "name": body["name"], "email": body["email"]}
        self.user["emailVerified"] = False
        self.password = body["password"]
        return httpx.Response(201, json=self.user)

    def _verify_email(self, body: dict[str, Any]) -> httpx.Response:
        if body["token"] != "verify-token":
            return problem(400, "invalid-verification-token")
        self.user["emailVerified"] = True
        return httpx.Response(200, json=self.user)

    def _sign_in(self, body: dict[str, Any]) -> httpx.Response:
        if body != {"email": self.user["email"], "password": self.password}:
            return problem(401, "invalid-credentials", "The email or password is wrong.")
        if not self.user["emailVerified"]:
            return problem(403, "email-not-verified", "Verify your email address first.")
        return httpx.Response(200, json=self.issue_pair())

    def _refresh(self, body: dict[str, Any]) -> httpx.Response:
        token = body["refreshToken"]
        family = self.families.get(token)
        if family is None or family in self.revoked_families:
            return problem(401, "invalid-refresh-token")
        if token in self.spent:
            self.revoked_families.add(family)
            return problem(401, "refresh-token-reused", "This refresh token was already used.")
        self.spent.add(token)
        return httpx.Response(200, json=self.issue_pair(family))

    def _sign_out(self, body: dict[str, Any]) -> httpx.Response:
        family = self.families.get(body["refreshToken"])
        if family is None:
            return problem(401, "invalid-refresh-token")
        self.revoked_families.add(family)
        return httpx.Response(204)

    def _exchange(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        scopes = {self.private_key: "private", self.public_key: "public"}
        if key not in scopes:
            return problem(401, "invalid-api-key")
        token = self.issue_access(scopes[key])
        return httpx.Response(
            200,
            json={
                "accessToken": token,
                "tokenType": "Bearer",
                "expiresIn": self.expires_in,
                "scope": scopes[key],
            },
        )

    def _check_token(self, request: httpx.Request) -> httpx.Response | None:
        header = request.headers.get("authorization")
        if header is None:
            return problem(401, "missing-credentials")
        token = header.removeprefix("Bearer ")
        if token not in self.access_tokens:
            return problem(401, "invalid-token")
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        if token in self.rejected or payload["exp"] <= self.clock.now() + self.clock_skew:
            return problem(401, "token-expired", "The access token has expired.")
        return None

    def _private(self, method: str, path: str, request: httpx.Request, body: Any) -> httpx.Response:
        scope = self.access_tokens[request.headers["authorization"].removeprefix("Bearer ")]
        if path == "/v1/users/me" and method == "GET":
            return httpx.Response(200, json={**self.user, "scope": scope, "teamMember": None})
        if path == "/v1/users/me" and method == "PATCH":
            self.user = {**self.user, **body}
            return httpx.Response(200, json=self.user)
        if path == "/v1/users/me/password" and method == "POST":
            return httpx.Response(204)
        if path == "/v1/keys" and method == "GET":
            return httpx.Response(200, json={"data": [self._key("public"), self._key("private")]})
        if path.startswith("/v1/keys/") and path.endswith("/rotate") and method == "POST":
            kind = path.split("/")[3]
            if kind not in ("public", "private"):
                return problem(404, "not-found")
            prefix = "pk" if kind == "public" else "sk"
            new = f"{prefix}_live_rotated_{next(self._ids):04d}"
            setattr(self, f"{kind}_key", new)
            return httpx.Response(201, json=self._key(kind, shown=True))
        return self._team_members(method, path, request, body)

    def _key(self, kind: str, shown: bool = False) -> dict[str, Any]:
        key = getattr(self, f"{kind}_key")
        return {
            "id": f"key_{kind}",
            "type": kind,
            "key": key if shown or kind == "public" else None,
            "masked": f"{key[:3]}…{key[-4:]}",
            "createdAt": NOW,
            "futureField": {"ignored": True},
        }

    def _team_members(
        self, method: str, path: str, request: httpx.Request, body: Any
    ) -> httpx.Response:
        parts = path.strip("/").split("/")  # v1, team-members, id, key, rotate
        if parts[:2] != ["v1", "team-members"]:
            return problem(404, "not-found", f"There is nothing at {path}.")
        if len(parts) == 2 and method == "POST":
            member_id = f"tm_{next(self._ids):04d}"
            member = {"id": member_id, **body, "createdAt": NOW, "masked": "tk_…0001"}
            self.team_members[member_id] = member
            return httpx.Response(201, json={**member, "key": f"tk_secret_{member_id}"})
        if len(parts) == 2 and method == "GET":
            return self._page(request)
        member = self.team_members.get(parts[2])
        if member is None:
            return problem(404, "not-found", "No such team member.")
        if len(parts) == 3 and method == "GET":
            return httpx.Response(200, json={**member, "key": None})
        if len(parts) == 3 and method == "PATCH":
            member.update(body)
            return httpx.Response(200, json={**member, "key": None})
        if len(parts) == 3 and method == "DELETE":
            del self.team_members[parts[2]]
            return httpx.Response(204)
        if parts[3:] == ["key", "rotate"] and method == "POST":
            return httpx.Response(200, json={**member, "key": f"tk_rotated_{parts[2]}"})
        return problem(405, "method-not-allowed")

    def _page(self, request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params.get("limit", 20))
        ids = sorted(self.team_members)
        cursor = request.url.params.get("cursor")
        start = ids.index(cursor) + 1 if cursor else 0
        chunk = ids[start : start + limit]
        has_more = start + limit < len(ids)
        page = {
            "data": [{**self.team_members[i], "key": None} for i in chunk],
            "hasMore": has_more,
            "nextCursor": chunk[-1] if has_more else None,
        }
        return httpx.Response(200, json=page)
