"""A user's first visit to the api: their first flow and their virtual test sticker.

Auth owns users; the api learns of one the first time a credential of theirs arrives, and
sets up what every account starts with, once (the ``accounts`` row says it is done; a
process remembers whom it has seen, so later requests cost nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from sticky.api.ids import new_thing_id
from sticky.api.store import Store
from sticky.kernel.ids import new_id

FIRST_FLOW_NAME = "My first flow"
TEST_STICKER_NAME = "Test sticker"
_REMEMBERED = 100_000


class Accounts:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._seen: set[str] = set()

    async def ensure(self, user_id: str) -> None:
        if user_id in self._seen:
            return
        now = datetime.now(UTC)
        try:
            async with self._store.transaction() as tx:
                if await tx.claim_account(user_id, now):
                    application_id = new_id("app")
                    await tx.applications.insert(
                        {
                            "id": application_id,
                            "user_id": user_id,
                            "name": FIRST_FLOW_NAME,
                            "public_name": None,
                            "logic": None,
                            "settings": {},
                            "draft_version": 1,
                            "live_version": 1,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    await tx.add_version(
                        {
                            "application_id": application_id,
                            "version": 1,
                            "user_id": user_id,
                            "name": FIRST_FLOW_NAME,
                            "public_name": None,
                            "logic": None,
                            "settings": {},
                            "created_at": now,
                        }
                    )
                    await tx.things.insert(
                        {
                            "id": new_thing_id(),
                            "user_id": user_id,
                            "name": TEST_STICKER_NAME,
                            "design_id": None,
                            "application_id": application_id,
                            "product_id": None,
                            "tags": [],
                            "location": None,
                            "custom_data": {},
                            "their_id": None,
                            "is_virtual": True,
                            "is_kid_safe": False,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
        except IntegrityError:
            pass  # another request or replica set this account up at the same moment
        if len(self._seen) >= _REMEMBERED:
            self._seen.clear()
        self._seen.add(user_id)
