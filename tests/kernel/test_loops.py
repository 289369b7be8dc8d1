"""Worker processes run their main coroutine on uvloop, as uvicorn runs the services."""

from __future__ import annotations

import asyncio

from sticky.kernel import loops


def test_run_answers_the_coroutines_result_on_uvloop() -> None:
    async def main() -> tuple[str, int]:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__, 42

    module, answer = loops.run(main())
    assert module.startswith("uvloop")
    assert answer == 42
