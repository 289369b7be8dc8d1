"""The examples of docs/payments.md, run as written against the running platform.

The hosted-checkout block runs with ``application_id`` a live flow of a merchant signed up for
this test and ``secret`` her checkout secret, and the link it signs must open a payment. The
SDK block runs with ``"ses_…"`` a session that tapped her sticker, ``"prd_…"`` a product of
hers with a ``size`` question offering ``large``, ``"sk_…"`` her private key, the stack as
``STICKY_URL``, and ``some_datetime`` an hour ago.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from sticky_sdk import Question, QuestionOption
from tests.e2e.doc_examples import fenced_blocks, run_python
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack

PAGE = Path(__file__).resolve().parents[2] / "docs" / "payments.md"


def test_the_payments_page_examples_run(
    stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the export writes payments.csv
    monkeypatch.setenv("STICKY_URL", stack.base_url)
    merchant, _ = signed_up(stack)
    private_key = merchant.keys.rotate("private").secret
    coffee = merchant.products.create(
        "Coffee",
        300,
        "EUR",
        questions=[Question("size", "Size", (QuestionOption("large", "Large", 50),))],
    )
    flow = merchant.applications.create("Café")
    flow = merchant.applications.make_live(flow.id)
    thing = merchant.things.create("Table 3", application_id=flow.id)
    tapped = httpx.get(thing.url, follow_redirects=False)
    session_id = parse_qs(urlsplit(tapped.headers["location"]).query)["sessionId"][0]
    auth = {"Authorization": f"Bearer {merchant.access_token}"}
    issued = httpx.get(f"{stack.base_url}/v1/payment-settings/checkout-secret", headers=auth)
    assert issued.status_code == 200, issued.text

    namespace = {
        "application_id": flow.id,
        "secret": issued.json()["secret"],
        "some_datetime": datetime.now(UTC) - timedelta(hours=1),
    }
    substitutions = {
        '"ses_…"': repr(session_id),
        '"prd_…"': repr(coffee.id),
        '"sk_…"': repr(private_key),
    }
    blocks = [b for b in fenced_blocks(PAGE) if b.language == "python"]
    assert len(blocks) == 2
    for block in blocks:
        run_python(block, namespace, substitutions)

    query = {
        "total": "1999",
        "currency": "EUR",
        "userPaymentId": "inv-7",
        "redirectUrl": "https://shop.example/thanks",
        "hash": namespace["link_hash"],
    }
    link = f"{stack.base_url}/go/flow/{flow.id}?{urlencode(query)}"
    opened = httpx.get(link, follow_redirects=False)
    assert opened.status_code == 302, opened.text
    assert "paymentId=" in opened.headers["location"]
    tampered = httpx.get(link.replace("1999", "1"), follow_redirects=False)
    assert tampered.status_code == 400

    payment = namespace["payment"]
    assert payment.total == 2 * (300 + 50) + 100
    refunded = namespace["owner"].payments.retrieve(payment.id)
    assert refunded.refunded_total == 300
    assert Path(tmp_path / "payments.csv").read_text().startswith("id,")
