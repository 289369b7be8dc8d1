from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.support import RunningApi, api_settings, running_api


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[RunningApi]:
    """The api service in-process, on SQLite and on PostgreSQL."""
    async with running_api(api_settings(tmp_path, database_url)) as running:
        yield running
