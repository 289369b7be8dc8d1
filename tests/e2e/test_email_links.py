"""A person follows the links in Sticky's emails, in a real browser, from the mailbox."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sticky_sdk import InvalidCredentialsError, Sticky
from tests.e2e.conftest import wait_for_email
from tests.stack_fixture import RunningStack

pytest_plugins = ["tests.browser"]

PASSWORD = "correct horse battery staple"


def open_latest_email(page: Any, stack: RunningStack, to: str, subject: str) -> None:
    """Open the mailbox, filter by recipient, and open the email with ``subject``."""
    wait_for_email(stack, to, subject)
    page.goto(f"{stack.base_url}/mail")
    page.get_by_placeholder("Filter by recipient").fill(to)
    page.get_by_role("button", name="Filter").click()
    page.get_by_text(subject).first.click()
    # The links are clicked once the message page and its frame have loaded: in CI, a click
    # made while they were still loading once opened no new page.
    page.wait_for_url("**/mail/messages/**", wait_until="load")


def test_confirm_email_and_reset_password_in_a_browser(stack: RunningStack, page: Any) -> None:
    email = f"browser-{uuid.uuid4().hex[:10]}@example.com"
    sticky = Sticky(stack.base_url)
    sticky.auth.sign_up(name="Mary", email=email, password=PASSWORD)

    open_latest_email(page, stack, email, "Confirm your email address")
    with page.context.expect_page() as opened:
        page.frame_locator("iframe").get_by_role("link", name="Confirm").first.click()
    confirm = opened.value
    confirm.get_by_role("button", name="Confirm").click()
    confirm.get_by_text("confirmed", exact=False).first.wait_for()
    assert sticky.auth.sign_in(email=email, password=PASSWORD).user.email_verified

    sticky.auth.request_password_reset(email)
    open_latest_email(page, stack, email, "Reset your Sticky password")
    with page.context.expect_page() as opened:
        page.frame_locator("iframe").get_by_role("link", name="Reset my password").click()
    reset = opened.value
    reset.get_by_label("New password").fill("qwertyuiop")  # too common: refused on the page
    reset.get_by_role("button", name="Set password").click()
    reset.get_by_text("common", exact=False).first.wait_for()
    reset.get_by_label("New password").fill("a fresh and long passphrase")
    reset.get_by_role("button", name="Set password").click()
    reset.get_by_text("password", exact=False).first.wait_for()

    with pytest.raises(InvalidCredentialsError):
        Sticky(stack.base_url).auth.sign_in(email=email, password=PASSWORD)
    pair = Sticky(stack.base_url).auth.sign_in(email=email, password="a fresh and long passphrase")
    assert pair.user.email == email
