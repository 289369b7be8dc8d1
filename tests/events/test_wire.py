"""The stored text forms of times: the UTC fast path writes what the conversion would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter

from sticky.events.store.projection import sqlite_time
from sticky.events.store.wire import iso_z

PARSED = TypeAdapter(datetime)


def _slow_iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _slow_sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 4, 23, 1, 2, 345678, tzinfo=UTC),
        datetime(2026, 12, 4, 23, 1, 2, tzinfo=UTC),  # no microseconds: still six digits
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 12, 4, 23, 1, 2, 5, tzinfo=timezone(timedelta(0))),
        datetime(2026, 12, 5, 1, 1, 2, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 12, 4, 20, 31, 2, 5, tzinfo=timezone(timedelta(hours=-2, minutes=-30))),
        PARSED.validate_python("2026-12-04T23:01:02.5Z"),  # pydantic's own UTC tzinfo
        PARSED.validate_python("2026-12-04T23:01:02+00:00"),
        PARSED.validate_python("2026-12-05T00:01:02.000001+01:00"),
    ],
)
def test_times_are_written_as_the_conversion_writes_them(moment: datetime) -> None:
    assert iso_z(moment) == _slow_iso_z(moment)
    assert sqlite_time(moment) == _slow_sqlite_time(moment)
    assert len(iso_z(moment)) == 27
