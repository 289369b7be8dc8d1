"""Bodies validated by hand raise the errors FastAPI would: missing, malformed, by field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, field_validator

from sticky.kernel.bodies import json_body


class Note(BaseModel):
    text: str
    count: int = 0

    @field_validator("text")
    @classmethod
    def _well_formed(cls, value: str) -> str:
        value.encode("utf-8")  # a lone surrogate raises here, as a field error
        return value


NOTES = TypeAdapter(list[Note])


def refused(raw: bytes) -> list[Any]:
    with pytest.raises(RequestValidationError) as caught:
        json_body(raw, NOTES)
    return list(caught.value.errors())


def test_a_valid_body_is_parsed_in_one_pass() -> None:
    assert json_body(b'[{"text": "hi", "count": 2}]', NOTES) == [Note(text="hi", count=2)]


@pytest.mark.parametrize("raw", [b"", b" \n "])
def test_an_empty_body_is_missing(raw: bytes) -> None:
    assert [(e["type"], e["loc"]) for e in refused(raw)] == [("missing", ("body",))]


@pytest.mark.parametrize(
    "raw", [b'[{"text": "hi"', b"[1,]", b"\xff", b"[" * 100_000 + b"]" * 100_000]
)
def test_malformed_json_is_json_invalid(raw: bytes) -> None:
    [error] = refused(raw)
    assert error["type"] == "json_invalid" and error["loc"] == ("body",)
    assert error["ctx"]["error"]


def test_fields_are_located_in_the_body() -> None:
    errors = refused(b'[{"text": "hi"}, {"count": "many"}]')
    assert {(e["type"], e["loc"]) for e in errors} == {
        ("missing", ("body", 1, "text")),
        ("int_parsing", ("body", 1, "count")),
    }


def test_json_only_the_standard_library_reads_is_refused_by_its_field() -> None:
    # A lone surrogate: the one-pass parser refuses the JSON, FastAPI's reads it.
    [error] = refused(b'[{"text": "\\ud800"}]')
    assert error["loc"] == ("body", 0, "text")
