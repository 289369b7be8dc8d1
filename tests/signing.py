"""Access tokens signed the way auth signs them, with a key the test made (no auth running)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass
class Signer:
    """Signs access tokens the way auth does, with a key the test made."""

    key: Ed25519PrivateKey
    kid: str

    @classmethod
    def new(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate(), kid=f"k-{uuid.uuid4().hex[:8]}")

    def token(self, sub: str, scope: str, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": "sticky",
            "aud": "sticky",
            "sub": sub,
            "scope": scope,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="EdDSA", headers={"kid": self.kid})

    def owner(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, 'user')}"}

    def public(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, 'public')}"}

    def member(self, user_id: str, member_id: str, *perms: str) -> dict[str, str]:
        token = self.token(user_id, "team-member", tm=member_id, perms=list(perms))
        return {"Authorization": f"Bearer {token}"}

    def service(self, name: str = "api") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(f'svc_{name}', 'service', svc=name)}"}

    async def keys(self) -> dict[str, Any]:
        return {self.kid: self.key.public_key()}
