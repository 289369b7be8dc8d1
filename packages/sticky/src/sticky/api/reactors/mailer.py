"""Asking the mail service to send a templated email, idempotently (``idempotencyKey``).

The same key sent twice is one email: that is what makes a receipt exactly once to the
customer, however often the reactor sees its event. A refusal (a 4xx: an invalid address, a
key reused for other data) will not change on retry; anything else is worth retrying.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from sticky.api.reactors.follower import Headers


class MailRefused(Exception):
    """The mail service refused the message; sending it again would not help."""


class MailUnavailable(Exception):
    """The mail service could not be asked; try again later."""


class Mailer:
    def __init__(
        self,
        mail: httpx.AsyncClient,
        headers: Headers,
        forget_token: Callable[[], None] = lambda: None,
    ) -> None:
        self._mail = mail
        self._headers = headers
        self._forget_token = forget_token

    async def send(
        self, to: str, template: str, data: Mapping[str, Any], idempotency_key: str
    ) -> str:
        """Queue the email; answer its message id (the same one for a repeated key)."""
        body = {
            "to": to,
            "template": template,
            "data": dict(data),
            "idempotencyKey": idempotency_key,
        }
        try:
            response = await self._mail.post(
                "/internal/messages", json=body, headers=await self._headers()
            )
        except httpx.HTTPError as exc:
            raise MailUnavailable(f"the mail service is unreachable: {exc}") from exc
        if response.status_code == 401:
            self._forget_token()
        if response.status_code in (401, 429) or response.status_code >= 500:
            raise MailUnavailable(f"the mail service answered {response.status_code}")
        if not response.is_success:
            raise MailRefused(f"the mail service refused it: {response.text[:500]}")
        return str(response.json()["id"])
