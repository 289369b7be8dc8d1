"""The pipe protocol between the api process and its sandbox worker: length-prefixed orjson frames.

A request is ``[id, owner, key, source, input_json, limit_ms]``; a reply is
``[id, status, value, console, dropped, elapsed_ms, compiled]``. Id 0 marks the worker's
notices: ``[0, "ready", v8_version]`` once started, and ``[0, "stopping", id]`` then
``[0, "stopped", id]`` around the discarding of an isolate that run ``id`` left running or
full (sent before that run's reply), so that a worker's death can be traced to it.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import orjson

HEADER = struct.Struct(">I")
NOTICE_ID = 0
READY = "ready"
STOPPING = "stopping"
STOPPED = "stopped"

OK = "ok"
BAD_TYPE = "bad-type"
TOO_LONG = "too-long"


def encode(message: list[Any]) -> bytes:
    body = orjson.dumps(message)
    return HEADER.pack(len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    """Write every byte: a pipe may take a large frame in several writes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class FrameReader:
    """Turns the bytes of a pipe back into messages, however the reads split them."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        messages: list[Any] = []
        start = 0
        buffer = self._buffer
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            end = start + HEADER.size + size
            if len(buffer) < end:
                break
            messages.append(orjson.loads(buffer[start + HEADER.size : end]))
            start = end
        if start:
            del buffer[:start]
        return messages
