"""The kernel's webhook signer and verifier: the header's shape, and every way to refuse one."""

from __future__ import annotations

import re

import pytest

from sticky.kernel.webhook_signing import (
    HEADER,
    MalformedSignature,
    SignatureError,
    SignatureMismatch,
    TimestampOutsideTolerance,
    new_secret,
    parse,
    sign,
    verify,
)

SECRET = "whsec_test"
BODY = b'{"id":"evt_1"}'
T = 1_700_000_000
# HMAC-SHA256(key=b"whsec_test", msg=b'1700000000.{"id":"evt_1"}'), computed independently.
KNOWN = "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"


def test_the_header_is_t_and_v1_as_documented() -> None:
    assert HEADER == "Sticky-Signature"
    assert sign(BODY, SECRET, T) == f"t={T},v1={KNOWN}"


def test_a_genuine_signature_verifies_and_gives_its_timestamp() -> None:
    header = sign(BODY, SECRET, T)
    assert verify(BODY, header, SECRET, now=T) == T
    assert verify(BODY, header, SECRET, now=T + 300) == T  # the tolerance's edge is inside
    assert verify(BODY, header, SECRET, now=T - 300) == T


def test_new_secrets_are_prefixed_random_and_distinct() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret)
    secret = new_secret()
    assert verify(BODY, sign(BODY, secret, T), secret, now=T) == T


@pytest.mark.parametrize(
    "body",
    [b'{"id":"evt_2"}', b'{"id":"evt_1"} ', b'{"id": "evt_1"}', b"", BODY + b"\x00"],
)
def test_any_change_to_the_body_is_a_mismatch(body: bytes) -> None:
    with pytest.raises(SignatureMismatch):
        verify(body, sign(BODY, SECRET, T), SECRET, now=T)


def test_another_secret_is_a_mismatch() -> None:
    header = sign(BODY, SECRET, T)
    for other in ("whsec_tesT", "whsec_test ", "test", new_secret()):
        with pytest.raises(SignatureMismatch):
            verify(BODY, header, other, now=T)


def test_a_changed_timestamp_is_a_mismatch() -> None:
    forged = sign(BODY, SECRET, T).replace(f"t={T}", f"t={T + 1}")
    with pytest.raises(SignatureMismatch):
        verify(BODY, forged, SECRET, now=T)


def test_old_and_future_timestamps_are_refused_after_the_signature_holds() -> None:
    header = sign(BODY, SECRET, T)
    with pytest.raises(TimestampOutsideTolerance, match="too old") as old:
        verify(BODY, header, SECRET, now=T + 301)
    assert old.value.timestamp == T and old.value.now == T + 301
    with pytest.raises(TimestampOutsideTolerance, match="future"):
        verify(BODY, header, SECRET, now=T - 301)
    assert verify(BODY, header, SECRET, now=T + 3000, tolerance=3600) == T
    # A forgery is a mismatch even when it is also stale: the signature is checked first.
    with pytest.raises(SignatureMismatch):
        verify(BODY, header, "whsec_other", now=T + 10_000)


def test_the_real_clock_is_the_default() -> None:
    with pytest.raises(TimestampOutsideTolerance):
        verify(BODY, sign(BODY, SECRET, T), SECRET)  # 2023 is long ago


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "garbage",
        f"v1={KNOWN}",
        f"t={T}",
        f"t={T},v0={KNOWN}",
        f"t=abc,v1={KNOWN}",
        f"t=-{T},v1={KNOWN}",
        f"t={T}.5,v1={KNOWN}",
        f"t=,v1={KNOWN}",
        f"t=١٢٣,v1={KNOWN}",  # digits, but not ASCII ones
        f"t={'9' * 5000},v1={KNOWN}",
        f"t={T},t={T},v1={KNOWN}",
        f"t={T};v1={KNOWN}",
        f"t={T},v1={KNOWN},",
        f"t={T}," + ",".join([f"v1={KNOWN}"] * 17),
    ],
)
def test_malformed_headers_are_refused_as_such(header: str | None) -> None:
    with pytest.raises(MalformedSignature):
        verify(BODY, header, SECRET, now=T)


@pytest.mark.parametrize(
    "header",
    [
        f"t={T},v1=",
        f"t={T},v1=xyz",
        f"t={T},v1={KNOWN[:-1]}",
        f"t={T},v1={KNOWN}0",
        f"t={T},v1={'é' * 64}",
    ],
)
def test_signatures_of_the_wrong_shape_are_mismatches(header: str) -> None:
    with pytest.raises(SignatureMismatch):
        verify(BODY, header, SECRET, now=T)


def test_spacing_case_order_and_unknown_schemes_are_tolerated() -> None:
    for header in (
        f" t={T}, v1={KNOWN} ",
        f"v1={KNOWN},t={T}",
        f"t={T},v1={KNOWN.upper()}",
        f"t={T},v0=whatever,v2=future,v1={KNOWN}",
    ):
        assert verify(BODY, header, SECRET, now=T) == T


def test_rotation_signs_with_every_live_secret_and_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    header = sign(BODY, new, T, also=[old])
    assert len(parse(header).signatures) == 2
    assert verify(BODY, header, new, now=T) == T
    assert verify(BODY, header, old, now=T) == T
    with pytest.raises(SignatureMismatch):
        verify(BODY, header, new_secret(), now=T)
    # The order of the v1 values does not matter.
    reordered = f"t={T},{header.split(',')[2]},{header.split(',')[1]}"
    assert verify(BODY, reordered, old, now=T) == T


def test_every_refusal_is_a_signature_error() -> None:
    for cls in (MalformedSignature, SignatureMismatch, TimestampOutsideTolerance):
        assert issubclass(cls, SignatureError)


def test_a_negative_timestamp_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        sign(BODY, SECRET, -1)
