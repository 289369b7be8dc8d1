"""Pagers follow cursors across pages, lazily; one page is available on its own."""

from __future__ import annotations

import httpx
import pytest

from sticky_sdk import APIResponseValidationError, AsyncPager, Page, Pager
from tests.sdk.conftest import Harness, collect, run

LIST = ("GET", "/v1/team-members")


async def with_members(harness: Harness, count: int) -> tuple[object, list[str]]:
    sticky = harness.client(key=harness.platform.private_key)
    ids = []
    for n in range(count):
        member = await run(sticky.team_members.create(f"M{n}", f"m{n}@example.com", []))
        ids.append(member.id)
    return sticky, ids


async def test_the_iterator_follows_cursors_across_pages(harness: Harness) -> None:
    sticky, ids = await with_members(harness, 7)
    pager = sticky.team_members.list(limit=3)
    assert isinstance(pager, Pager | AsyncPager)
    assert harness.platform.count(*LIST) == 0  # nothing is fetched before iterating
    members = await collect(pager)
    assert [m.id for m in members] == ids
    requests = [r for r in harness.platform.requests if r.url.path == "/v1/team-members"]
    listed = [r for r in requests if r.method == "GET"]
    assert [dict(r.url.params) for r in listed] == [
        {"limit": "3"},
        {"cursor": ids[2], "limit": "3"},
        {"cursor": ids[5], "limit": "3"},
    ]


async def test_pages_can_be_walked(harness: Harness) -> None:
    sticky, _ = await with_members(harness, 4)
    pages = await collect(sticky.team_members.list(limit=2).pages())
    assert [len(page) for page in pages] == [2, 2]
    assert all(isinstance(page, Page) for page in pages)
    assert [page.has_more for page in pages] == [True, False]


async def test_one_page_at_a_time(harness: Harness) -> None:
    sticky, ids = await with_members(harness, 3)
    first = await run(sticky.team_members.list_page(limit=2))
    assert [m.id for m in first] == ids[:2]
    assert first.has_more and first.next_cursor == ids[1]
    second = await run(sticky.team_members.list_page(cursor=first.next_cursor, limit=2))
    assert [m.id for m in second] == ids[2:]
    assert not second.has_more and second.next_cursor is None
    assert dict(harness.platform.requests[-1].url.params) == {"cursor": ids[1], "limit": "2"}


async def test_without_a_limit_the_platform_chooses(harness: Harness) -> None:
    sticky, ids = await with_members(harness, 2)
    assert [m.id for m in await collect(sticky.team_members.list())] == ids
    assert dict(harness.platform.last(*LIST).url.params) == {}


async def test_a_cursor_that_does_not_move_stops_the_iteration(harness: Harness) -> None:
    sticky = harness.client(key=harness.platform.private_key)
    stuck = {"data": [], "hasMore": True, "nextCursor": "same"}
    harness.platform.answer_next(*LIST, httpx.Response(200, json=stuck))
    harness.platform.answer_next(*LIST, httpx.Response(200, json=stuck))
    with pytest.raises(APIResponseValidationError, match="cursor"):
        await collect(sticky.team_members.list())
    assert harness.platform.count(*LIST) == 2
