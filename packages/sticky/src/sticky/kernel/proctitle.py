"""A helper process's name in ``ps`` and in the stack's process list (Linux only)."""

from __future__ import annotations

import contextlib
import ctypes
import sys

_PR_SET_NAME = 15


def name_process(name: str) -> None:
    """Call this process ``name`` (at most 15 bytes are kept); a no-op off Linux."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
