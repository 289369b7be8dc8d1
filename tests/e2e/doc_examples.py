"""Reading a document's fenced code blocks, and running them as the tests of what it says.

Python blocks run statement by statement in one namespace, with the document's own line
numbers in tracebacks; the value of each bare expression (``public.secret  # "pk_..."``) is
kept by its source text, and what the block prints is captured, so a test can check what the
document claims. Shell blocks are split into commands, each followed by the answer the
document shows in a ``# {...}`` comment.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^(`{3,})(.*)$")
HEADING = re.compile(r"^#{1,6} (.+)$")
SIGNATURE = 'python title="signature"'  # a listing of a signature, checked but not run


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document."""

    path: Path
    info: str  # the fence's info string: "python", 'python title="signature"', "sh"
    code: str
    line: int  # the document's line number of the block's first line of code
    heading: str  # the nearest heading above the block

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info else ""

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line} ({self.heading})"


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced block of the Markdown document at ``path``, in order."""
    blocks: list[Block] = []
    heading = ""
    fence: str | None = None
    info, start = "", 0
    lines: list[str] = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if fence is None:
            opening = FENCE.match(text)
            if opening:
                fence, info, start, lines = opening.group(1), opening.group(2).strip(), number, []
            elif title := HEADING.match(text):
                heading = title.group(1)
        elif text.strip() == fence:
            blocks.append(Block(path, info, "".join(lines), start + 1, heading))
            fence = None
        else:
            lines.append(text + "\n")
    assert fence is None, f"{path.name}:{start}: a code block is never closed"
    return blocks


@dataclass
class Run:
    """What running a Python block left behind."""

    namespace: dict[str, Any]
    shown: dict[str, Any] = field(default_factory=dict)  # bare expressions' values, by source
    printed: str = ""


def run_python(
    block: Block,
    namespace: dict[str, Any],
    substitutions: Mapping[str, str] = {},
    before: Callable[[ast.stmt], None] = lambda statement: None,
) -> Run:
    """Run ``block`` in ``namespace``, calling ``before`` ahead of each top-level statement.

    Each ``old`` of ``substitutions`` is replaced by its ``new`` in the code first (real keys
    for placeholders, the test's URL); no substitution may change the number of lines.
    """
    code = block.code
    for old, new in substitutions.items():
        assert "\n" not in old + new
        code = code.replace(old, new)
    run = Run(namespace)
    out = io.StringIO()
    filename = str(block.path)
    with contextlib.redirect_stdout(out):
        for statement in ast.parse(code, filename).body:
            source = ast.get_source_segment(code, statement) or ""
            ast.increment_lineno(statement, block.line - 1)
            before(statement)
            if isinstance(statement, ast.Expr):
                expression = ast.Expression(statement.value)
                run.shown[source] = eval(compile(expression, filename, "eval"), namespace)
            else:
                module = ast.Module([statement], type_ignores=[])
                exec(compile(module, filename, "exec"), namespace)
    run.printed = out.getvalue()
    return run


def calls_with(statement: ast.stmt, name: str) -> set[str]:
    """The methods ``statement`` calls with the variable ``name`` among their arguments."""
    return {
        node.func.attr
        for node in ast.walk(statement)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and any(isinstance(arg, ast.Name) and arg.id == name for arg in node.args)
    }


@dataclass(frozen=True)
class Command:
    """One command of a shell block, and the answer the document shows after it."""

    text: str
    line: int
    answer: str | None  # the ``# {...}`` comment after the command
    shown: tuple[str, ...] = ()  # every comment line right after the command, without "# "


def shell_commands(block: Block) -> list[Command]:
    """The commands of a shell block; comments that are not answers are prose."""
    commands: list[Command] = []
    text: list[str] = []
    line = 0
    attached = False  # whether comments here still follow the last command
    for number, current in enumerate(block.code.splitlines(), start=block.line):
        if text:
            text.append(current)
        elif current.startswith("#"):
            assert commands or not current.startswith("# {"), (
                f"{block.path.name}:{number}: an answer before any command"
            )
            if commands and attached:
                last = commands[-1]
                comment = current.removeprefix("#").removeprefix(" ")
                answer = last.answer
                if answer is None and current.startswith("# {"):
                    answer = comment
                commands[-1] = replace(last, answer=answer, shown=(*last.shown, comment))
            continue
        elif not current.strip():
            attached = False
            continue
        else:
            text, line = [current], number
        # A command goes on after a backslash, and inside a quoted string (a JSON body).
        if not current.endswith("\\") and "\n".join(text).count("'") % 2 == 0:
            commands.append(Command("\n".join(text), line, None))
            text, attached = [], True
    return commands


def run_curl(command: Command, env: Mapping[str, str]) -> tuple[int, Any]:
    """Run a ``curl`` command with bash; its HTTP status and its answer decoded from JSON."""
    assert command.text.startswith("curl "), command.text
    done = subprocess.run(
        ["bash", "-c", command.text + " -w '\\n%{http_code}'"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body) if body else None


DOCUMENTED_FIELD = re.compile(r'"(\w+)": ("(?:[^"\\]|\\.)*"|true|false|null|-?\d+)')


def documented_fields(answer: str) -> dict[str, Any]:
    """The fields an answer comment shows; a string with ``…`` in it shows only its start."""
    return {name: json.loads(value) for name, value in DOCUMENTED_FIELD.findall(answer)}


def mismatches(documented: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """How ``actual`` differs from what the document shows of it (nothing when it agrees)."""
    wrong = []
    for name, shown in documented.items():
        value = actual.get(name)
        if isinstance(shown, str) and "…" in shown:
            prefix = shown.split("…", 1)[0]
            agrees = isinstance(value, str) and value.startswith(prefix)
        else:
            agrees = name in actual and value == shown
        if not agrees:
            wrong.append(f"{name}: the document shows {shown!r}, the platform said {value!r}")
    return wrong
