"""Values that parse as JSON but that no store, encoder or sandbox downstream can hold.

The standard library's JSON parser, which FastAPI uses, takes NaN, 1e400 (infinity),
integers of any size, lone surrogates and nesting nearly a thousand deep; PostgreSQL refuses
NUL in text and in JSON, and the encoders that answer (pydantic's, orjson) stop near 255
levels. Refused at the HTTP edge, they are a 422 rather than a 500 or a record no read gives
back.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

T = TypeVar("T")

_INT64 = 2**63
MAX_DEPTH = 64  # objects and arrays inside one another


def check_storable(value: Any, _depth: int = 0) -> None:
    """Raise ``ValueError`` (a field error, in a validator) if ``value`` holds one of them."""
    if isinstance(value, (dict, list)) and _depth >= MAX_DEPTH:
        raise ValueError(f"must not nest objects and arrays more than {MAX_DEPTH} deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain the NUL character (U+0000)")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (it holds a lone surrogate)") from None
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError("must hold only numbers that fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must hold only finite numbers (no NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key)
            check_storable(item, _depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_storable(item, _depth + 1)


def storable(value: T) -> T:
    """``value``, checked: for ``AfterValidator``."""
    check_storable(value)
    return value
