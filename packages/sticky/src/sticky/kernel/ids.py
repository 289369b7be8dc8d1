"""Identifiers: short, unguessable, URL-safe, with a prefix that says what they name.

The ids made by the thousand (consumer sessions, events) start with the time they were made
(:func:`ordered_id`): each is a key in several B-tree indexes (the api's sessions, the event
log's ids and sessions), and a new key next to the last one dirties the same few pages for a
whole batch, where a random key dirties one page per row, all over the index.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghijkmnopqrstuvwxyz"  # no 'l': never confused with '1'


# Random bytes below _LIMIT map uniformly onto the alphabet (seven each); the rest are
# dropped. bytes.translate does both in C: an append of 10,000 events needs 10,000 ids.
_LIMIT = 256 - 256 % len(_ALPHABET)
_TABLE = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) if b < _LIMIT else 0 for b in range(256))
_REJECTED = bytes(range(_LIMIT, 256))


def random_string(length: int) -> str:
    drawn = b""
    while len(drawn) < length:
        drawn += secrets.token_bytes(length + 8).translate(_TABLE, _REJECTED)
    return drawn[:length].decode()


def new_id(prefix: str, length: int = 20) -> str:
    """``usr_4k9…``: 20 characters from 35 give ~102 bits, unguessable."""
    return f"{prefix}_{random_string(length)}"


TIME_PART_LENGTH = 9  # 35**9 milliseconds: until the year 4467


def time_part(now_ns: int | None = None) -> str:
    """The time in milliseconds as 9 characters of the alphabet, which sort as the times do."""
    number = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    digits = []
    for _ in range(TIME_PART_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def ordered_id(prefix: str, length: int = 20) -> str:
    """``ses_0sxa0k0hk`` + 20 random characters: as unguessable as :func:`new_id`, and
    later ids sort after earlier ones (within a millisecond, at random)."""
    return f"{prefix}_{time_part()}{random_string(length)}"


def ordered_ids(prefix: str, count: int, length: int = 20) -> list[str]:
    """``count`` of :func:`ordered_id`'s, from one draw of randomness: an append of 10,000
    events may need 10,000 ids."""
    made = f"{prefix}_{time_part()}"
    drawn = random_string(length * count)
    return [made + drawn[i : i + length] for i in range(0, length * count, length)]
