"""The README's first steps, executed as written, against the real platform."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import token_from, wait_for_email
from tests.stack_fixture import RunningStack

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_first_steps_run(stack: RunningStack) -> None:
    (block,) = python_blocks(README.read_text())
    code = block.replace("http://localhost:8080", stack.base_url)
    before, after = code.split("sticky.auth.verify_email(token)\n")
    scope: dict[str, object] = {}
    exec(compile(before, "README.md", "exec"), scope)
    scope["token"] = token_from(wait_for_email(stack, "ada@example.com", "confirm"))
    exec(compile("sticky.auth.verify_email(token)\n" + after, "README.md", "exec"), scope)

    me = scope["me"]
    assert me.user.email == "ada@example.com" and me.user.email_verified  # type: ignore[attr-defined]
    keys = {key.type: key for key in scope["keys"]}  # type: ignore[attr-defined]
    assert keys["public"].key.startswith("pk_")
    assert keys["private"].key is None and keys["private"].masked.startswith("sk_")
    new = scope["new"]
    assert new.secret.startswith("sk_")  # type: ignore[attr-defined]
    admin = scope["admin"]
    assert admin.users.me().user.email == "ada@example.com"  # type: ignore[attr-defined]
