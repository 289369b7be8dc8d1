"""Is a process ready? One small HTTP GET over a plain socket.

The supervisor asks this many times a second while the stack starts, from a loop that must not
stall, so it needs neither an HTTP client library nor an event loop: a refused connection
answers at once, a listening service within ``timeout``.
"""

from __future__ import annotations

import socket


def http_status(host: str, port: int, path: str, timeout: float = 1.0) -> int | None:
    """The status code of ``GET path``, or None when nothing answers in time."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: sticky-up\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            head = b""
            while b"\r\n" not in head and len(head) < 1024:
                chunk = sock.recv(1024)
                if not chunk:
                    break
                head += chunk
    except OSError:
        return None
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1])


def is_ready(host: str, port: int, path: str, timeout: float = 1.0) -> bool:
    return http_status(host, port, path, timeout) == 200


def port_is_free(host: str, port: int) -> bool:
    """Whether something could listen on ``host:port`` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
