"""SMTP settings, the message we compose, and the retry schedule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sticky.mail.errors import MailConfigError
from sticky.mail.smtp import SmtpConfig, compose, excerpt, message_id_header
from sticky.mail.worker import DeliveryPolicy


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:8025", SmtpConfig("127.0.0.1", 8025, use_tls=False)),
        ("smtp://mail.example.com", SmtpConfig("mail.example.com", 25, use_tls=False)),
        ("smtps://mail.example.com", SmtpConfig("mail.example.com", 465, use_tls=True)),
        (
            "smtps://apikey:p%40ss%3Aword@smtp.example.com:2465/",
            SmtpConfig("smtp.example.com", 2465, True, "apikey", "p@ss:word"),
        ),
        ("smtp://user@[::1]:2525", SmtpConfig("::1", 2525, False, "user", None)),
    ],
)
def test_smtp_urls(url: str, expected: SmtpConfig) -> None:
    assert SmtpConfig.from_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "mail.example.com:25",
        "http://mail.example.com",
        "smtp://",
        "smtp://mail.example.com:port",
        "smtp://mail.example.com:0x19",
        "smtp://mail.example.com?starttls=1",
        "smtp://:secret@mail.example.com",
    ],
)
def test_bad_smtp_urls_say_what_is_wrong(url: str) -> None:
    with pytest.raises(MailConfigError, match=r"^STICKY_SMTP_URL is invalid: ") as caught:
        SmtpConfig.from_url(url)
    assert "secret" not in str(caught.value)


def test_the_url_shown_in_logs_hides_the_password() -> None:
    config = SmtpConfig.from_url("smtps://me:s3cret@smtp.example.com")
    assert str(config) == "smtps://me:***@smtp.example.com:465"


def test_a_message_is_multipart_alternative() -> None:
    created = datetime(2024, 12, 4, 12, 30, tzinfo=UTC)
    message = compose(
        message_id="msg_abc",
        sender="Sticky <no-reply@sticky.example>",
        to="ann@example.com",
        subject="Hello, welcome ✉",
        text="Hi Ann\n",
        html="<p>Hi Ann</p>",
        created_at=created,
    )
    assert message["From"] == "Sticky <no-reply@sticky.example>"
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Hello, welcome ✉"
    assert message["Message-ID"] == "<msg_abc@sticky.example>"
    assert message["Date"] == "Wed, 04 Dec 2024 12:30:00 +0000"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), text.get_content()) == ("text/plain", "Hi Ann\n")
    assert (html.get_content_type(), html.get_content()) == ("text/html", "<p>Hi Ann</p>\n")


def test_message_id_falls_back_to_a_local_domain() -> None:
    assert message_id_header("msg_1", "nobody") == "<msg_1@sticky.localhost>"


def test_excerpts_are_one_bounded_line() -> None:
    assert excerpt("250 2.0.0\r\n  Ok") == "250 2.0.0 Ok"
    assert len(excerpt("x" * 2000)) == 500


def test_the_retry_schedule_doubles_up_to_a_cap() -> None:
    policy = DeliveryPolicy(jitter=0)
    delays = [policy.retry_delay(n) for n in range(1, policy.max_attempts)]
    assert delays == [30, 60, 120, 240, 480, 960, 1800]
    assert 3000 < sum(delays) < 4200, "eight attempts over about an hour"
    jittered = DeliveryPolicy(jitter=0.1)
    assert all(27 <= jittered.retry_delay(1) <= 33 for _ in range(50))


def test_a_policy_refuses_leases_shorter_than_a_send() -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        DeliveryPolicy(lease_seconds=10, smtp_timeout_seconds=30)
    with pytest.raises(ValueError, match="max_attempts"):
        DeliveryPolicy(max_attempts=0)
