"""How a process of the stack starts: a service in the foreground, or a child of ``sticky up``.

``sticky serve <name>`` runs :func:`run_service` in its own interpreter (one process type per
container, as production runs it). ``sticky up`` imports every service once and *forks* each
child from that preloaded interpreter (as gunicorn's ``--preload`` does): the children share
the imported code copy-on-write and skip a second or more of imports each, which is most of a
cold start on a small machine. A forked child then runs the very same :func:`run_service`.

Every child gets its own process group (a terminal's Ctrl-C reaches only the supervisor, which
stops the children in order) and ``PR_SET_PDEATHSIG``, so even a ``kill -9`` of the
supervisor leaves no orphan behind.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import random
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from sticky.kernel import scheduling
from sticky.kernel.settings import Settings
from sticky.stack.registry import ProcessType

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_libc: Any = ctypes.CDLL(None, use_errno=True)

# Modules every service process needs, imported before forking so that no child pays for them.
_SHARED_MODULES = (
    "sticky.kernel.logs",
    "sticky.kernel.server",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.lifespan.on",
    "uvicorn.loops.asyncio",
)


def import_factory(path: str) -> Callable[[Settings], Any]:
    """``"package.module:function"`` → the function."""
    module_name, _, attribute = path.partition(":")
    factory: Callable[[Settings], Any] = getattr(importlib.import_module(module_name), attribute)
    return factory


def run_service(process_type: ProcessType, settings: Settings) -> None:
    """Serve one service in this process until SIGTERM/SIGINT."""
    from sticky.kernel.logs import configure_logging
    from sticky.kernel.server import serve

    configure_logging(process_type.name, settings.log_level)
    app = import_factory(process_type.factory)(settings)
    serve(app, settings.host, process_type.port(settings))


def preload(types: Sequence[ProcessType]) -> dict[str, str]:
    """Import what the services need; which modules failed and why (the child will retry)."""
    failed: dict[str, str] = {}
    modules = [*_SHARED_MODULES, *(p.factory.partition(":")[0] for p in types)]
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            failed[module] = f"{type(exc).__name__}: {exc}"
    return failed


def _prctl(option: int, value: int | bytes) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _become_child(name: str, output_fd: int, supervisor_pid: int) -> None:
    """Detach from the supervisor's signals and files, and tie this process's life to it."""
    os.setpgid(0, 0)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor_pid:  # the supervisor died before the line above
        os._exit(1)
    _prctl(_PR_SET_NAME, f"sticky-{name}"[:15].encode())
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))


def fork_child(
    name: str, body: Callable[[], None], output_fd: int, supervisor_pid: int | None = None
) -> int:
    """Run ``body`` in a new child process writing to ``output_fd``; the child's pid.

    Only call this from a single-threaded process (the supervisor is one).
    """
    parent = supervisor_pid or os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        _become_child(name, output_fd, parent)
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        random.seed()
        body()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def fork_service(
    process_type: ProcessType, settings: Settings, output_fd: int, supervisor_pid: int
) -> int:
    def body() -> None:
        if not process_type.serves_taps:
            scheduling.yield_to_the_api()
        run_service(process_type, settings)

    return fork_child(process_type.name, body, output_fd, supervisor_pid)


def fork_exec(
    name: str, argv: Sequence[str], env: dict[str, str], output_fd: int, supervisor_pid: int
) -> int:
    """Start a program (Caddy) as a child, with the same ties as a forked service; like every
    process of the stack but the api, it yields the CPU to the api."""
    program = argv[0]

    def body() -> None:
        scheduling.yield_to_the_api()
        os.execve(program, list(argv), env)  # noqa: S606 (a fixed argv, no shell)

    return fork_child(name, body, output_fd, supervisor_pid)
