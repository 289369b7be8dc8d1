"""Keyset cursors: what encode writes decodes back; nothing else does."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sticky.kernel.cursors import decode_cursor, encode_cursor


def test_a_cursor_decodes_to_its_row_in_utc() -> None:
    at = datetime(2026, 12, 5, 9, 30, 1, 250, tzinfo=timezone(timedelta(hours=2)))
    created_at, id_ = decode_cursor(encode_cursor(at, "thg_x1"))
    assert (created_at, id_) == (at, "thg_x1")
    assert created_at.tzinfo is UTC
    assert "=" not in encode_cursor(at, "thg_x1")


@pytest.mark.parametrize(
    "raw",
    [
        b'["2020-01-01T00:00:00", "x"]',  # naive
        b'["2020-01-01T00:00:00+00:00", 5]',
        b'["2020-01-01T00:00:00+00:00", "\\u0000"]',
        b'["0001-01-01T00:00:00+14:00", "x"]',  # no UTC time at the calendar's ends
        b'["9999-12-31T23:59:59-14:00", "x"]',
        b'["2020-01-01T00:00:00+00:00", "x", 1]',
        b'["yesterday", "x"]',
        b'{"a": 1}',
        b"not json",
    ],
)
def test_anything_else_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def test_text_that_is_not_base64_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor("nonsense!")
