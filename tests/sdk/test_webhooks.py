"""``sticky_sdk.webhooks.verify`` against the platform's signer, and docs/webhooks.md run as written.

The SDK has its own implementation of the scheme (it imports nothing of the platform), so the
tests sign with ``sticky.kernel.webhook_signing`` and check that the SDK, the kernel and the
page's two SDK-free verifiers (Python and JavaScript) accept and refuse exactly the same
deliveries.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import sticky_sdk
from sticky.kernel import webhook_signing
from sticky_sdk import StickyError, WebhookVerificationError, webhooks
from tests.e2e.doc_examples import Block, fenced_blocks, run_python

PAGE = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = "whsec_sdk_test_secret"
EVENT = {"id": "evt_4k9q2m7x1c8v5b3n6z0p", "type": "SESSION_CART_PAY", "customData": {"total": 450}}
BODY = json.dumps(EVENT).encode()
UNICODE = '{"id": "évt_1", "type": "X_ÜBER"}'.encode()


def signed(body: bytes = BODY, secret: str = SECRET, age: int = 0, *also: str) -> str:
    return webhook_signing.sign(body, secret, int(time.time()) - age, also=also)


def test_a_genuine_delivery_gives_the_event() -> None:
    assert webhooks.verify(BODY, signed(), SECRET) == EVENT
    assert webhooks.verify(BODY.decode(), signed(), SECRET) == EVENT
    assert webhooks.verify(bytearray(BODY), signed(), SECRET) == EVENT
    assert webhooks.HEADER == webhook_signing.HEADER
    assert sticky_sdk.webhooks is webhooks


def test_a_new_kernel_secret_works_with_the_sdk() -> None:
    secret = webhook_signing.new_secret()
    assert webhooks.verify(BODY, signed(BODY, secret), secret) == EVENT


# Headers are made when each test runs, not when the module is collected: the suite runs for
# minutes, long enough for a header signed 1,000 s ahead at collection to come within tolerance.
REFUSALS: list[tuple[bytes, Callable[[], str | None], str, str]] = [
    (BODY.replace(b"450", b"4500"), signed, SECRET, "signature-mismatch"),
    (BODY + b"\n", signed, SECRET, "signature-mismatch"),
    (BODY, signed, "whsec_someone_else", "signature-mismatch"),
    (BODY, lambda: signed(age=301), SECRET, "timestamp-outside-tolerance"),
    (BODY, lambda: signed(age=-1000), SECRET, "timestamp-outside-tolerance"),
    (BODY, lambda: None, SECRET, "missing-header"),
    (BODY, lambda: "", SECRET, "missing-header"),
    (BODY, lambda: "v1=abc", SECRET, "malformed-header"),
    (BODY, lambda: f"t={int(time.time())}", SECRET, "malformed-header"),
    (BODY, lambda: "t=soon,v1=abc", SECRET, "malformed-header"),
    (BODY, lambda: signed() + "," + signed(), SECRET, "malformed-header"),  # two t=
    (BODY, lambda: signed().replace(",", ";"), SECRET, "malformed-header"),
]


@pytest.mark.parametrize(
    ("body", "header", "secret", "reason"),
    REFUSALS,
    ids=[f"{n}-{case[3]}" for n, case in enumerate(REFUSALS)],
)
def test_refusals_say_why(
    body: bytes, header: Callable[[], str | None], secret: str, reason: str
) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        webhooks.verify(body, header(), secret)
    assert caught.value.reason == reason
    assert isinstance(caught.value, StickyError)
    assert str(caught.value)


def test_the_tolerance_is_the_callers() -> None:
    header = signed(age=1000)
    assert webhooks.verify(BODY, header, SECRET, tolerance=3600) == EVENT
    with pytest.raises(WebhookVerificationError, match="too old"):
        webhooks.verify(BODY, header, SECRET)
    with pytest.raises(WebhookVerificationError, match="future"):
        webhooks.verify(BODY, signed(age=-1000), SECRET)


def test_a_signed_body_that_is_not_a_json_object_is_refused() -> None:
    for body in (b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"):
        with pytest.raises(WebhookVerificationError) as caught:
            webhooks.verify(body, signed(body), SECRET)
        assert caught.value.reason == "invalid-body"


def test_rotation_either_secret_verifies() -> None:
    old, new = webhook_signing.new_secret(), webhook_signing.new_secret()
    header = signed(BODY, new, 0, old)
    assert header.count("v1=") == 2
    assert webhooks.verify(BODY, header, old) == EVENT
    assert webhooks.verify(BODY, header, new) == EVENT
    with pytest.raises(WebhookVerificationError) as caught:
        webhooks.verify(BODY, header, webhook_signing.new_secret())
    assert caught.value.reason == "signature-mismatch"


def test_the_error_survives_pickling() -> None:
    error = WebhookVerificationError("no signature matches", reason="signature-mismatch")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.reason) == (type(error), str(error), error.reason)


# ----- every verifier agrees -------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    header: str | None
    secret: str
    genuine: bool


def cases() -> list[Case]:
    now = int(time.time())
    other = webhook_signing.new_secret()
    good = signed()
    digest = good.split("v1=")[1]
    return [
        Case("genuine", BODY, good, SECRET, True),
        Case("genuine, a minute old", BODY, signed(age=60), SECRET, True),
        Case("unicode body", UNICODE, signed(UNICODE), SECRET, True),
        Case("rotation, old secret", BODY, signed(BODY, other, 0, SECRET), SECRET, True),
        Case("rotation, new secret", BODY, signed(BODY, SECRET, 0, other), SECRET, True),
        Case("unknown scheme ignored", BODY, f"t={now},v0=zz,v1={digest}", SECRET, True),
        Case("tampered body", BODY.replace(b"450", b"451"), good, SECRET, False),
        Case("wrong secret", BODY, good, other, False),
        Case("expired", BODY, signed(age=400), SECRET, False),
        Case("future", BODY, signed(age=-400), SECRET, False),
        Case("timestamp changed", BODY, good.replace(f"t={now}", f"t={now - 1}"), SECRET, False),
        Case("missing header", BODY, None, SECRET, False),
        Case("empty header", BODY, "", SECRET, False),
        Case("no timestamp", BODY, f"v1={digest}", SECRET, False),
        Case("no signature", BODY, f"t={now}", SECRET, False),
        Case("bad timestamp", BODY, f"t=x{now},v1={digest}", SECRET, False),
        Case("truncated signature", BODY, good[:-2], SECRET, False),
    ]


def verify_with_kernel(body: bytes, header: str | None, secret: str) -> bool:
    try:
        webhook_signing.verify(body, header, secret)
    except webhook_signing.SignatureError:
        return False
    return True


def verify_with_sdk(body: bytes, header: str | None, secret: str) -> bool:
    try:
        webhooks.verify(body, header, secret)
    except WebhookVerificationError:
        return False
    return True


def page_block(heading: str, language: str, index: int = 0) -> Block:
    blocks = [b for b in fenced_blocks(PAGE) if b.heading == heading and b.language == language]
    return blocks[index]


def verify_with_page_python() -> Callable[[bytes, str | None, str], bool]:
    namespace: dict[str, Any] = {}
    run_python(page_block("Without the SDK", "python"), namespace)
    function = namespace["verify_sticky_signature"]

    def check(body: bytes, header: str | None, secret: str) -> bool:
        try:
            function(body, header, secret)
        except ValueError:
            return False
        return True

    return check


def test_the_kernel_the_sdk_and_the_page_agree_on_every_case() -> None:
    page_python = verify_with_page_python()
    for case in cases():
        verdicts = {
            "kernel": verify_with_kernel(case.body, case.header, case.secret),
            "sdk": verify_with_sdk(case.body, case.header, case.secret),
            "page python": page_python(case.body, case.header, case.secret),
        }
        assert set(verdicts.values()) == {case.genuine}, (case.name, verdicts)


NODE_HARNESS = """
const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const verdicts = cases.map(([body, header, secret]) => {
  try {
    verifyStickySignature(Buffer.from(body, "base64"), header, secret);
    return true;
  } catch (error) {
    return false;
  }
});
console.log(JSON.stringify(verdicts));
"""


def test_the_pages_javascript_agrees_too(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("no node on PATH; CI installs Debian's nodejs to run the page's verifier")
        pytest.skip("no node on PATH")
    script = tmp_path / "verify.js"
    script.write_text(page_block("Without the SDK", "js").code + NODE_HARNESS)
    all_cases = list(cases())
    payload = [[base64.b64encode(c.body).decode(), c.header, c.secret] for c in all_cases]
    done = subprocess.run(
        [node, str(script)], input=json.dumps(payload), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    verdicts = json.loads(done.stdout)
    assert [(c.name, v) for c, v in zip(all_cases, verdicts, strict=True)] == [
        (c.name, c.genuine) for c in all_cases
    ]


# ----- docs/webhooks.md, as written ------------------------------------------------------


def test_the_pages_example_prints_what_its_comments_say() -> None:
    run = run_python(page_block("With the Python SDK", "python", 1), {})
    assert run.printed == "SESSION_CART_PAY\nsignature-mismatch\n"


async def test_the_pages_receiver_acknowledges_once_and_refuses_forgeries(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STICKY_WEBHOOK_SECRET", SECRET)
    namespace: dict[str, Any] = {"__name__": "receiver"}
    run_python(page_block("With the Python SDK", "python", 0), namespace)
    transport = httpx.ASGITransport(namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://merchant.test") as client:

        async def post(body: bytes, header: str | None) -> httpx.Response:
            headers = {"Content-Type": "application/json"}
            if header is not None:
                headers["Sticky-Signature"] = header
            return await client.post("/webhooks/sticky", content=body, headers=headers)

        delivery = json.dumps({"event": EVENT, "payment": None, "flow": None}).encode()
        header = signed(delivery)
        first = await post(delivery, header)
        assert (first.status_code, first.json()) == (200, {"received": True})
        again = await post(delivery, signed(delivery))  # Sticky's retry of the same event
        assert again.status_code == 200
        assert capsys.readouterr().out == f"received SESSION_CART_PAY {EVENT['id']}\n"

        for body, forged in [
            (delivery.replace(b"450", b"1"), header),
            (delivery, None),
            (delivery, signed(delivery, "whsec_guess")),
            (delivery, signed(delivery, age=3600)),
        ]:
            refused = await post(body, forged)
            assert refused.status_code == 400, refused.text
        assert capsys.readouterr().out == ""
