"""Sticker ids: short enough for a small QR code, long enough that nobody guesses one."""

from __future__ import annotations

import re

from sticky.kernel.ids import random_string

# 14 characters from 35: ~72 bits. A version-2 QR code holds the whole tap URL of a
# typical host; guessing a live sticker among a billion takes ~10^12 tries on average.
THING_ID_LENGTH = 14
THING_ID = re.compile(r"^[0-9a-km-z]{14}$")


def new_thing_id() -> str:
    return random_string(THING_ID_LENGTH)


def looks_like_thing_id(text: str) -> bool:
    return bool(THING_ID.match(text))
