"""Passwords: which ones we refuse, and argon2id hashing off the event loop."""

from __future__ import annotations

import functools
from importlib import resources

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sticky.auth.errors import WeakPassword
from sticky.kernel.settings import Settings

MIN_LENGTH = 10
MAX_LENGTH = 256
# Shorter local parts ("jo@…") turn up inside good passwords by chance.
MIN_LOCAL_PART_CHECKED = 4


@functools.cache
def common_passwords() -> frozenset[str]:
    """The common-password list shipped in the package, read once per process."""
    text = resources.files("sticky.auth").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_strength(password: str, email: str) -> None:
    """Raise :class:`WeakPassword` with a sentence saying why, when ``password`` is refused."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            f"The password must be at least {MIN_LENGTH} characters long;"
            " longer passphrases are much harder to guess."
        )
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"The password must be at most {MAX_LENGTH} characters long.")
    lowered = password.lower()
    if lowered in common_passwords():
        raise WeakPassword(
            "This password is one of the most common passwords, the first ones an attacker"
            " tries; choose one that is your own."
        )
    email = email.lower()
    local_part = email.partition("@")[0]
    if email in lowered:
        raise WeakPassword(
            "The password must not contain your email address: it is the first thing an"
            " attacker who knows it would try."
        )
    if len(local_part) >= MIN_LOCAL_PART_CHECKED and local_part in lowered:
        raise WeakPassword(
            "The password must not contain the part of your email address before the @:"
            " it is the first thing an attacker who knows it would try."
        )


class Passwords:
    """argon2id with the configured cost; the work runs in a worker thread."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        # Verified when the email is unknown, so a wrong email costs as long as a wrong password.
        self._decoy = self._hasher.hash("sticky decoy password, never anyone's")

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; ``None`` costs the same time and answers False."""
        target = password_hash if password_hash is not None else self._decoy

        def verify() -> bool:
            try:
                return self._hasher.verify(target, password)
            except (VerificationError, InvalidHashError):
                return False

        ok = await anyio.to_thread.run_sync(verify)
        return ok and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""
        return self._hasher.check_needs_rehash(password_hash)
