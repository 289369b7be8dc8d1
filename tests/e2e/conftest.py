from __future__ import annotations

import re
import time

import httpx

from tests.stack_fixture import RunningStack

TOKEN_IN_LINK = re.compile(r"token=([A-Za-z0-9_\-]+)")


def wait_for_email(running: RunningStack, to: str, subject_has: str, timeout: float = 15.0) -> dict:  # type: ignore[type-arg]
    """The newest email to ``to`` whose subject contains ``subject_has``, read from the sink."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(f"{running.mailbox_api_url}/messages", params={"to": to})
        answer.raise_for_status()
        for message in answer.json()["data"]:
            if subject_has.lower() in message["subject"].lower():
                return message  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(
        f"no email to {to} about {subject_has!r}; the stack said:\n{running.output()}"
    )


def token_from(message: dict) -> str:  # type: ignore[type-arg]
    match = TOKEN_IN_LINK.search(message["text"])
    assert match, message["text"]
    return match.group(1)
