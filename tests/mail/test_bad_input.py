"""Bad input is a 4xx problem on both backends, and nothing of it is queued.

Unlike the other API tests, these run on PostgreSQL too: what it refuses (NUL in text) is
part of what they check.
"""

from __future__ import annotations

import base64
import json

from sticky.kernel.settings import Settings
from tests.mail.conftest import QUIET, Signer, problem, running_mail, verify_email

RECEIPT = {
    "merchantName": "M",
    "customerName": "C",
    "reference": "r",
    "date": "d",
    "lines": [],
    "subtotal": "1",
    "discount": "",
    "tip": "",
    "total": "1",
}


async def test_data_no_store_or_template_can_use_is_refused(
    mail_settings: Settings, signer: Signer
) -> None:
    # Each was a 500: rendering a lone surrogate, inserting a NUL key (PostgreSQL), and
    # looping over a number.
    async with running_mail(mail_settings, signer, QUIET) as mail:
        surrogate = b'{"to": "ann@example.com", "template": "verify-email", "data": '
        surrogate += b'{"name": "An\\ud800n", "token": "1", "link": "https://x.test"}}'
        answer = await mail.client.post(
            "/internal/messages",
            content=surrogate,
            headers={"content-type": "application/json"},
        )
        assert problem(answer, 422, "validation-error")["errors"][0]["field"] == "data"
        nul_key = await mail.send(**verify_email(idempotencyKey="k\u0000"))
        assert problem(nul_key, 422, "validation-error")["errors"][0]["field"] == "idempotencyKey"
        not_a_list = await mail.send(
            to="ann@example.com", template="receipt-paid", data={**RECEIPT, "lines": 5}
        )
        assert problem(not_a_list, 422, "validation-error")["errors"][0]["field"] == "data"
        listed = await mail.client.get("/internal/messages")
        assert listed.json()["data"] == []


async def test_forged_cursors_are_refused(mail_settings: Settings, signer: Signer) -> None:
    # A time at the calendar's ends overflowed converting to UTC; a NUL id failed on
    # PostgreSQL; a null id was read as the text "None".
    async with running_mail(mail_settings, signer, QUIET) as mail:
        for forged in (
            ["0001-01-01T00:00:00+14:00", "msg_x"],
            ["9999-12-31T23:59:59-14:00", "msg_x"],
            ["2026-01-01T00:00:00+00:00", "msg_\u0000"],
            ["2026-01-01T00:00:00+00:00", None],
        ):
            cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
            answer = await mail.client.get("/internal/messages", params={"cursor": cursor})
            problem(answer, 400, "invalid-cursor")
