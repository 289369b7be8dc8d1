"""``serve``: a service's app under uvicorn, in a process of its own as a service runs."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.conftest import free_port

_SERVE = """
import contextlib, gc, sys
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from sticky.kernel.server import serve

@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.built = [object()]  # what a service builds as it starts: clients, caches
    yield

async def collector(request):
    built = request.app.state.built
    made_now = [object()]
    return JSONResponse({
        "builtInSight": any(o is built for o in gc.get_objects()),
        "madeNowInSight": any(o is made_now for o in gc.get_objects()),
    })

app = Starlette(routes=[Route("/gc", collector)], lifespan=lifespan)
serve(app, "127.0.0.1", int(sys.argv[1]), graceful_seconds=1)
"""


def test_what_the_app_built_as_it_started_is_out_of_the_collectors_sight() -> None:
    """A full collection walks only what requests made since, not every route and client."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _SERVE, str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/gc", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                assert process.poll() is None, "the server exited"
                time.sleep(0.05)
        assert answer.json() == {"builtInSight": False, "madeNowInSight": True}
    finally:
        process.terminate()
        process.wait(timeout=30)
