"""The types a follower asks for, kept to what its consumers want without skipping an event.

The webhooks follower need not stream the events no enabled endpoint wants (most taps'
``SESSION_READ``), but endpoints come and go while it runs, on any replica. What makes a
narrow filter safe:

- An endpoint gets the events created after it (``WebhookReactor``), and an event's
  ``createdAt`` is no later than its append (unless its author dated it in the future). So
  an event appended before an endpoint was created is not that endpoint's; nor, as with a
  disabled endpoint, one appended before it was enabled again or given the type. Commit
  order is position order in the log.
- A check reads the log's head ``h`` first, then the types enabled endpoints want, ``U``. An
  endpoint missing from ``U`` came after that read, so after ``h`` was the head: all it wants
  lies beyond ``h``. Every event at or before ``h`` that an endpoint (still) wants is of a
  type in ``U``.
- The follower streams ``U`` (every type when one endpoint says ``*``; nothing at all when
  ``U`` is empty) and checks again at its checkpoint cadence. When ``U`` is still covered,
  ``h`` becomes the *confirmed* head. When it grew, the follower reconnects from the last
  confirmed head (or its position, if lower): the events a new endpoint wants are all after
  that head, and replaying some is harmless, a delivery being unique per endpoint and event.
  When it shrank, it reconnects from its position with the smaller filter.
- The checkpoint it saves is ``min(position, confirmed head)``: below it every wanted event
  has been handled, whichever filter handled it. A restart, on any replica, starts from
  there with a fresh check, so nothing is skipped; and replicas share the checkpoint, so the
  events service may start one from another's: only what that other one handled is passed
  over. While ``U`` is empty nothing up to ``h`` is wanted, and the checkpoint moves up to
  each confirmed head.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from sticky.api.webhooks.endpoints import ANY_TYPE
from sticky.kernel.event_types import is_event_type

# Past this many types a filter saves little, and the request's URL grows long.
MAX_TYPES = 100

Types = frozenset[str] | None  # None: every type


@dataclass(frozen=True)
class Check:
    position: int  # where to follow from
    changed: bool  # the filter is not the one being followed: reconnect


def _covers(followed: Types, wanted: Types) -> bool:
    if followed is None:
        return True
    return wanted is not None and wanted <= followed


class WantedTypes:
    """The filter a follower streams: ``types``, chosen by :meth:`check`."""

    def __init__(
        self,
        head: Callable[[], Awaitable[int]],
        wanted: Callable[[], Awaitable[Collection[str]]],
    ) -> None:
        self._head = head
        self._wanted = wanted
        self.types: Types = frozenset()
        self._confirmed: int | None = None  # the head read before the last covering check
        self.checks = 0

    @property
    def nothing(self) -> bool:
        """No endpoint wants anything: no stream to hold open."""
        return self.types is not None and not self.types

    async def check(self, position: int) -> Check:
        """Read the head, then what is wanted, and choose the filter; ``position`` is the
        follower's (the last it handled, or on the first check its saved checkpoint)."""
        head = await self._head()
        wanted = _filter(await self._wanted())
        confirmed, self._confirmed = self._confirmed, head
        self.checks += 1
        changed = wanted != self.types
        if confirmed is not None and not _covers(self.types, wanted):
            position = min(position, confirmed)
        self.types = wanted
        if self.nothing:
            position = max(position, head)
        return Check(position, changed)

    def safe(self, position: int) -> int:
        """The checkpoint that may be saved for ``position``."""
        return position if self._confirmed is None else min(position, self._confirmed)


def _filter(names: Collection[str]) -> Types:
    # A name the events service refuses as a type has no events to miss.
    types = frozenset(name for name in names if name == ANY_TYPE or is_event_type(name))
    if ANY_TYPE in types or len(types) > MAX_TYPES:
        return None
    return types
