"""``sticky up``: the whole platform on one machine, each service its own process.

In order: check the ports are free, start Caddy, import the services once, start the ones
without a database, run the migrations (a one-off step), start the rest, wait until every
service answers ``/readyz`` and the gateway its ``/healthz``, print where everything is, then
supervise. A child that dies is started again after an exponential backoff (reset once it has
stayed up a while). SIGINT, SIGTERM or SIGHUP stop everything: SIGTERM to every child, a few
seconds to finish what is in flight, SIGKILL for stragglers.

The supervisor is a single-threaded loop over ``select`` (children's output pipes and a
signal wake-up pipe), like gunicorn's arbiter, so that forking a child is always safe.
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

from sticky.kernel.settings import ConfigurationError, Settings
from sticky.stack.gateway import caddy_command, caddy_environment, write_config
from sticky.stack.migrate import migrate
from sticky.stack.output import LineRelay, json_line, write
from sticky.stack.process import fork_exec, fork_service, preload
from sticky.stack.readiness import is_ready, port_is_free
from sticky.stack.registry import ProcessType, process_types, service_host

STOP_SECONDS = 6.0  # after SIGTERM, before SIGKILL
FIRST_DELAY = 0.5  # before the first restart; doubles with each consecutive one
MAX_DELAY = 30.0
STABLE_SECONDS = 30.0  # up this long, a child's next death counts as its first again
PROBE_SECONDS = 0.05
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Child:
    """One supervised process and its output pipe, which outlives restarts."""

    name: str
    port: int
    probe_path: str
    start: Callable[[int], int]  # the write end of the pipe → the new pid
    relay: LineRelay
    read_fd: int
    write_fd: int
    pid: int | None = None
    started_at: float = 0.0
    ready: bool = False
    restarts: int = 0
    restart_at: float | None = None
    next_probe: float = 0.0


def restart_delay(restarts: int) -> float:
    """The wait before restart number ``restarts`` (1, 2, ...): 0.5 s, 1 s, 2 s ... 30 s."""
    return float(min(FIRST_DELAY * 2 ** (restarts - 1), MAX_DELAY))


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        types: Sequence[ProcessType] | None = None,
        *,
        out: BinaryIO | None = None,
        err: TextIO | None = None,
        stop_seconds: float = STOP_SECONDS,
    ) -> None:
        self.settings = settings
        self.types = process_types(settings) if types is None else list(types)
        self.out = out or sys.stdout.buffer
        self.err = err or sys.stderr
        self.stop_seconds = stop_seconds
        self.host = service_host(settings)
        self.pid = os.getpid()
        self.children: list[Child] = []
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.kill_now = False
        self.announced = False
        self._signals: list[int] = []
        self._started = time.monotonic()

    # The run, start to finish.

    def run(self) -> int:
        self._started = time.monotonic()
        self.check_ports()
        argv = caddy_command(write_config(self.settings, self.types))
        environment = caddy_environment(self.settings)
        self._install_signals()
        try:
            self._launch(
                self._child(
                    "gateway",
                    self.settings.gateway_port,
                    "/healthz",
                    lambda fd: fork_exec("gateway", argv, environment, fd, self.pid),
                )
            )
            for module, reason in preload(self.types).items():
                self.emit("preload failed", level="warning", module=module, error=reason)
            gc.freeze()  # keep the collector off the shared pages, so they stay shared
            services = {p.name: self._service_child(p) for p in self.types}
            for p in self.types:
                if p.migrations is None:
                    self._launch(services[p.name])
            self._pump(0)
            if not self.stopping:
                for done in migrate(self.settings, self.types):
                    self.emit(
                        "migrated",
                        service=done.service,
                        revision=done.revision,
                        database=done.database,
                    )
            for p in self.types:
                if p.migrations is not None and not self.stopping:
                    self._launch(services[p.name])
            while not self.stopping:
                self._tick()
        finally:
            self._stop()
        return 0

    def check_ports(self) -> None:
        """Fail fast, naming the variable, when a port is taken or given twice."""
        wanted: dict[int, str] = {self.settings.gateway_port: "STICKY_GATEWAY_PORT"}
        for p in self.types:
            ports = [(p.port(self.settings), p.port_variable)]
            ports += [
                (getattr(self.settings, name), f"STICKY_{name.upper()}") for name in p.extra_ports
            ]
            for port, variable in ports:
                if port in wanted:
                    raise ConfigurationError(
                        f"{variable} and {wanted[port]} are both {port}; give each its own port."
                    )
                wanted[port] = variable
        for port, variable in wanted.items():
            if not port_is_free(self.settings.host, port):
                raise ConfigurationError(
                    f"Port {port} ({variable}) is already in use; stop what holds it or set"
                    f" {variable} to a free port."
                )

    # Children.

    def _child(self, name: str, port: int, probe: str, start: Callable[[int], int]) -> Child:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        child = Child(name, port, probe, start, LineRelay(name, self.out), read_fd, write_fd)
        self.selector.register(read_fd, selectors.EVENT_READ, child)
        self.children.append(child)
        return child

    def _service_child(self, process_type: ProcessType) -> Child:
        def start(fd: int) -> int:
            return fork_service(process_type, self.settings, fd, self.pid)

        return self._child(process_type.name, process_type.port(self.settings), "/readyz", start)

    def _launch(self, child: Child) -> None:
        now = time.monotonic()
        child.pid = child.start(child.write_fd)
        child.started_at = now
        child.ready = False
        child.restart_at = None
        child.next_probe = now

    def _exited(self, child: Child, code: int) -> None:
        child.pid = None
        child.ready = False
        self._drain(child)
        if self.stopping:
            return
        now = time.monotonic()
        if now - child.started_at > STABLE_SECONDS:
            child.restarts = 0
        child.restarts += 1
        delay = restart_delay(child.restarts)
        child.restart_at = now + delay
        fields: dict[str, Any] = {"exit_code": code, "restart": child.restarts, "delay": delay}
        if code < 0:
            fields["signal"] = signal.Signals(-code).name
        self.emit("service exited", level="warning", service=child.name, **fields)

    def _drain(self, child: Child) -> None:
        """Pass on all a dead child wrote, its last line even without a newline, so that
        the next process on the same pipe starts a line of its own."""
        while True:
            try:
                data = os.read(child.read_fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            child.relay.feed(data)
        child.relay.close()

    def _reap(self) -> None:
        for child in self.children:
            if child.pid is None:
                continue
            try:
                pid, status = os.waitpid(child.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = child.pid, 0
            if pid:
                self._exited(child, os.waitstatus_to_exitcode(status))

    # The loop.

    def _install_signals(self) -> None:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        self.selector.register(wake_read, selectors.EVENT_READ, None)
        for signum in (*_STOP_SIGNALS, signal.SIGCHLD):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals.append(signum)

    def _pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` for output or a signal; pass output on; note deaths."""
        for key, _ in self.selector.select(timeout):
            self._read(key.fd, key.data)
        while self._signals:
            if self._signals.pop() in _STOP_SIGNALS:
                self.kill_now = self.stopping
                self.stopping = True
        self._reap()

    def _read(self, fd: int, child: Child | None) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if child is not None:
            child.relay.feed(data)

    def _tick(self) -> None:
        self._pump(self._timeout())
        now = time.monotonic()
        for child in self.children:
            due = child.restart_at is not None and now >= child.restart_at
            if child.pid is None and due and not self.stopping:
                self._launch(child)
        for child in self.children:
            if child.pid is not None and not child.ready and now >= child.next_probe:
                child.ready = is_ready(self.host, child.port, child.probe_path)
                child.next_probe = now + PROBE_SECONDS
                if child.ready and self.announced:
                    self.emit("service ready", service=child.name, restart=child.restarts)
        if not self.announced and all(child.ready for child in self.children):
            self.announced = True
            self._announce(time.monotonic() - self._started)

    def _timeout(self) -> float:
        now = time.monotonic()
        deadlines = [c.restart_at for c in self.children if c.restart_at is not None]
        if any(c.pid is not None and not c.ready for c in self.children):
            deadlines.append(now + PROBE_SECONDS)
        return max(0.0, min(deadlines, default=now + 1.0) - now)

    def _stop(self) -> None:
        self.stopping = True
        alive = [child for child in self.children if child.pid is not None]
        for child in alive:
            _signal(child.pid, signal.SIGTERM)
        if alive:
            self.emit("stopping", processes=[child.name for child in alive])
        deadline = time.monotonic() + self.stop_seconds
        while not self.kill_now and time.monotonic() < deadline:
            if not any(child.pid is not None for child in self.children):
                break
            self._pump(0.05)
        for child in self.children:
            if child.pid is not None:
                self.emit("killed", level="warning", service=child.name)
                _signal(child.pid, signal.SIGKILL)
                os.waitpid(child.pid, 0)
                child.pid = None
        for child in self.children:
            self._drain(child)
        self.emit("stopped")
        signal.set_wakeup_fd(-1)

    # What the user sees.

    def emit(self, event: str, level: str = "info", service: str = "stack", **fields: Any) -> None:
        write(self.out, json_line(event, service=service, level=level, **fields))

    def _announce(self, elapsed: float) -> None:
        self.emit(
            "stack ready",
            seconds=round(elapsed, 3),
            gateway=self.settings.gateway_url,
            processes={c.name: c.pid for c in self.children},
        )
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.err.write(describe(self.settings, self.types, elapsed))
            self.err.flush()


def describe(settings: Settings, types: Sequence[ProcessType], elapsed: float) -> str:
    """The table ``sticky up`` prints once everything is ready."""
    gateway = settings.gateway_url
    names = {p.name for p in types}
    rows = [("gateway", gateway, "the public URL space")]
    if "mailbox" in names:
        rows.append(("mailbox", f"{gateway}/mail", "every email sent, newest first"))
    rows.append(("", "", ""))
    rows.append(("service", "internal URL", "routed from the gateway"))
    for p in types:
        routes = _routes_text(p.routes) or "(internal only)"
        rows.append((p.name, settings.internal_url(p.name), routes))
    width_name = max(len(row[0]) for row in rows) + 3
    width_url = max(len(row[1]) for row in rows) + 3
    lines = [
        f"Sticky is up in {elapsed:.1f} s ({settings.env.value}; data in"
        f" {settings.data_dir.resolve()}).",
        "",
        *(f"  {n:<{width_name}}{u:<{width_url}}{r}".rstrip() for n, u, r in rows),
        "",
        "Logs are JSON lines on stdout. Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def _routes_text(routes: Sequence[str]) -> str:
    """``/v1/keys`` and ``/v1/keys/*`` read as ``/v1/keys[/*]``."""
    shown = []
    for route in routes:
        if route.endswith("/*") and route[:-2] in routes:
            continue
        shown.append(f"{route}[/*]" if f"{route}/*" in routes else route)
    return " ".join(shown)


def _signal(pid: int | None, signum: int) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
