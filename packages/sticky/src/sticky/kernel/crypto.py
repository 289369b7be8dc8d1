"""Secrets at rest: encrypted with a key derived from ``STICKY_SECRET_KEY``."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(Exception):
    """The ciphertext was not made with this secret key (or was altered)."""


def _fernet(secret_key: str, purpose: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"sticky:{purpose}".encode()
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret_key: str, purpose: str, plaintext: bytes) -> str:
    return _fernet(secret_key, purpose).encrypt(plaintext).decode()


def decrypt(secret_key: str, purpose: str, token: str) -> bytes:
    try:
        return _fernet(secret_key, purpose).decrypt(token.encode())
    except InvalidToken as exc:
        raise DecryptionError(f"cannot decrypt the {purpose} secret with this key") from exc


def sha256_hex(value: str) -> str:
    """Digest for high-entropy secrets (API keys, one-time tokens); not for passwords."""
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
