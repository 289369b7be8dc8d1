"""Request bodies read by hand: validated in one pass over the bytes, with FastAPI's errors.

FastAPI decodes a JSON body with the standard library, then validates it: two passes, the
larger part of a big append's time. Routes that read their body themselves (the events
service's batches, auth's JSON-or-form bodies) validate the bytes directly, and raise the
``RequestValidationError`` FastAPI would have, so the problem answered is the same.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")

_MISSING = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}


def json_body(raw: bytes, adapter: TypeAdapter[T]) -> T:
    """``raw`` as ``adapter``'s type.

    Only bytes that pass refuses as JSON are parsed again with the standard library, as
    FastAPI parses them: a lone surrogate, say, is valid JSON there, refused by its field.
    """
    if not raw.strip():
        raise RequestValidationError([_MISSING])
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        errors: list[Any] = exc.errors()
    if any(error["type"] == "json_invalid" for error in errors):
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # nested deeper than Python's stack
            invalid = {"type": "json_invalid", "loc": ("body",), "ctx": {"error": str(exc)}}
            raise RequestValidationError([invalid]) from None
        try:
            return adapter.validate_python(parsed)
        except ValidationError as exc:
            errors = exc.errors()
    raise RequestValidationError(in_body(errors))


def in_body(errors: list[Any]) -> list[Any]:
    """Validation errors located in the body, as FastAPI locates them."""
    return [{**error, "loc": ("body", *error["loc"])} for error in errors]
