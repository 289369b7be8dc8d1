"""``sticky.users``: the account the client's credentials speak for."""

from __future__ import annotations

from sticky_sdk._calls import Call, nothing
from sticky_sdk._models import Me, User
from sticky_sdk._resources._base import AsyncResource, SyncResource


def me_call() -> Call[Me]:
    return Call("GET", "/v1/users/me", Me.from_json)


def update_call(name: str | None) -> Call[User]:
    body = {"name": name} if name is not None else {}
    return Call("PATCH", "/v1/users/me", User.from_json, json=body)


def change_password_call(current_password: str, new_password: str) -> Call[None]:
    body = {"currentPassword": current_password, "newPassword": new_password}
    return Call("POST", "/v1/users/me/password", nothing, json=body)


class Users(SyncResource):
    """The account."""

    def me(self) -> Me:
        """Who the credentials speak for: the account, the scope, and any team member."""
        return self._client._call(me_call())

    def update(self, *, name: str | None = None) -> User:
        """Change the account's details; fields left out stay as they are."""
        return self._client._call(update_call(name))

    def change_password(self, current_password: str, new_password: str) -> None:
        """Change the password; the account's other sessions end."""
        self._client._call(change_password_call(current_password, new_password))


class AsyncUsers(AsyncResource):
    """The account."""

    async def me(self) -> Me:
        """Who the credentials speak for: the account, the scope, and any team member."""
        return await self._client._call(me_call())

    async def update(self, *, name: str | None = None) -> User:
        """Change the account's details; fields left out stay as they are."""
        return await self._client._call(update_call(name))

    async def change_password(self, current_password: str, new_password: str) -> None:
        """Change the password; the account's other sessions end."""
        await self._client._call(change_password_call(current_password, new_password))
