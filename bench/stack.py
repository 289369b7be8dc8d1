"""How fast the stack starts, what it weighs, and what requests cost it. Not a test.

    uv run python bench/stack.py [--runs 3]

- cold ``sticky up`` to all-ready: a fresh data directory (migrations from scratch) and free
  ports, from spawning the process to its "stack ready" line (every ``/readyz`` and the
  gateway answering); the median of ``--runs``. Measured twice: with Python's bytecode cache
  (how a developer's machine runs) and without it (``PYTHONDONTWRITEBYTECODE=1``: every
  import compiled again);
- idle memory of the whole stack: RSS summed over the process tree, Caddy included, after it
  settles; PSS too (shared pages split among their sharers, so the sum is honest);
- verifying an access token inside a service: ``TokenVerifier.decode``, no network;
- sign-ins per second per core: bounded by one argon2id verification with the default
  parameters from Settings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sticky.kernel.settings import Settings
from sticky.kernel.tokens import TokenVerifier
from sticky.stack import proctree

SETTLE_SECONDS = 3.0
PORTS = ("GATEWAY", "AUTH", "API", "EVENTS", "MAIL", "GEO", "MAILBOX", "SMTP_SINK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(data_dir: Path, pycache: Path | None) -> dict[str, str]:
    """A private stack: this environment minus STICKY_*, fresh ports, its own data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STICKY_", "PYTHONPYCACHE"))}
    ports: set[int] = set()
    while len(ports) < len(PORTS):
        ports.add(free_port())
    env.update({f"STICKY_{name}_PORT": str(port) for name, port in zip(PORTS, ports, strict=True)})
    env.update(STICKY_DATA_DIR=str(data_dir), STICKY_ENV="development")
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def start(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], float]:
    """Start ``sticky up``; return it and the seconds until it said it was ready."""
    log = data_dir / "stdout.log"
    data_dir.mkdir(parents=True)
    with log.open("wb") as out:
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "sticky", "up"], stdout=out, stderr=subprocess.DEVNULL, env=env
        )
    while b'"event":"stack ready"' not in log.read_bytes():
        if process.poll() is not None:
            raise SystemExit(f"sticky up exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.005)
    return process, time.perf_counter() - began


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def cold_starts(runs: int, cached: bool, root: Path) -> list[float]:
    seconds = []
    cache = root / "pycache"
    for run in range(runs + (1 if cached else 0)):
        data_dir = root / f"{'cached' if cached else 'uncached'}-{run}"
        env = environment(data_dir, cache if cached else None)
        process, elapsed = start(data_dir, env)
        stop(process)
        if cached and run == 0:
            continue  # this run filled the bytecode cache
        seconds.append(elapsed)
    return seconds


def idle_memory(root: Path) -> tuple[int, int, dict[str, int]]:
    data_dir = root / "memory"
    env = environment(data_dir, root / "pycache")
    process, _ = start(data_dir, env)
    try:
        time.sleep(SETTLE_SECONDS)
        tree = [proctree.ProcessInfo(process.pid, os.getpid(), "sticky-up", "S")]
        tree += proctree.descendants(process.pid)
        rss = {p.name: proctree.rss_bytes(p.pid) for p in tree}
        pss = sum(proctree.pss_bytes(p.pid) for p in tree)
        return sum(rss.values()), pss, rss
    finally:
        stop(process)


def signed_token() -> tuple[str, Ed25519PrivateKey]:
    """An access token shaped like auth's, and the key that signed it."""
    key = Ed25519PrivateKey.generate()
    now = datetime.now(UTC)
    claims = {
        "iss": "sticky",
        "aud": "sticky",
        "sub": "usr_bench",
        "scope": "user",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(minutes=15),
    }
    token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "sig_bench"})
    return token, key


def token_verification(iterations: int = 5000) -> float:
    """Microseconds per ``TokenVerifier.decode``."""
    token, key = signed_token()
    public = key.public_key()
    for _ in range(100):
        TokenVerifier.decode(token, public)
    began = time.perf_counter()
    for _ in range(iterations):
        TokenVerifier.decode(token, public)
    return (time.perf_counter() - began) / iterations * 1e6


def token_verification_per_request(iterations: int = 100_000) -> float:
    """Microseconds per ``TokenVerifier.verify`` of a token the service has seen before.

    What a request pays in a service: a client sends the same access token for its whole
    lifetime, and the verifier remembers tokens it has checked until they expire.
    """
    token, key = signed_token()

    async def keys() -> dict[str, object]:
        return {"sig_bench": key.public_key()}

    async def run() -> float:
        verifier = TokenVerifier(keys)
        await verifier.verify(token)
        began = time.perf_counter()
        for _ in range(iterations):
            await verifier.verify(token)
        return (time.perf_counter() - began) / iterations * 1e6

    return asyncio.run(run())


def argon2_verification(settings: Settings, iterations: int = 10) -> float:
    """Seconds per argon2id verification (what one sign-in costs)."""
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    stored = hasher.hash("correct horse battery staple")
    hasher.verify(stored, "correct horse battery staple")
    began = time.perf_counter()
    for _ in range(iterations):
        hasher.verify(stored, "correct horse battery staple")
    return (time.perf_counter() - began) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    defaults = Settings()
    with tempfile.TemporaryDirectory(prefix="sticky-bench-") as tmp:
        root = Path(tmp)
        cached = cold_starts(runs, cached=True, root=root)
        uncached = cold_starts(runs, cached=False, root=root)
        rss, pss, by_process = idle_memory(root)
    verify_us = token_verification()
    repeat_us = token_verification_per_request()
    argon2_s = argon2_verification(defaults)
    parameters = (
        f"t={defaults.argon2_time_cost}, m={defaults.argon2_memory_kib} KiB,"
        f" p={defaults.argon2_parallelism}"
    )
    breakdown = ", ".join(f"{name} {size / 2**20:.0f}" for name, size in by_process.items())
    rows = [
        (
            "cold `sticky up` to all-ready, bytecode cached",
            f"{statistics.median(cached):.2f} s",
            "median of " + ", ".join(f"{s:.2f}" for s in cached),
        ),
        (
            "cold `sticky up` to all-ready, no bytecode cache",
            f"{statistics.median(uncached):.2f} s",
            "median of " + ", ".join(f"{s:.2f}" for s in uncached),
        ),
        ("idle memory, RSS summed over the tree", f"{rss / 2**20:.0f} MiB", breakdown + " (MiB)"),
        (
            "idle memory, PSS summed over the tree",
            f"{pss / 2**20:.0f} MiB",
            "shared pages counted once",
        ),
        (
            "verify a token's signature (TokenVerifier.decode)",
            f"{verify_us:.1f} µs/op",
            f"{1e6 / verify_us:,.0f} per second per core",
        ),
        (
            "verify a token already seen (TokenVerifier.verify)",
            f"{repeat_us:.2f} µs/op",
            "each request after a token's first; no network",
        ),
        (
            "sign-ins per second per core (argon2id verify)",
            f"{1 / argon2_s:.1f} /s",
            f"{argon2_s * 1000:.0f} ms each; {parameters}",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print(f"Sticky stack benchmark ({os.cpu_count()} cores, Python {sys.version.split()[0]})")
    print()
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


if __name__ == "__main__":
    main()
