"""The examples of docs/sdk.md and docs/auth.md, run as written against the running platform.

Every ``python`` block of docs/sdk.md runs, in a fresh namespace, with what the page says the
examples carry on from (its paragraph after the Install example):

- ``Sticky``: imported;
- ``sticky``: a client signed in as Ada (password ``"a long passphrase"``), whose account was
  made just for this example; for an example that signs up itself, a client with no
  credentials and no account yet;
- ``"sk_..."`` and ``"pk_..."``: replaced by Ada's real private and public keys;
- ``token``: before a statement passing it to ``verify_email`` or ``reset_password``, the
  token in the link of the newest such email to Ada, read from the development mailbox;
- ``"ada@example.com"``: replaced by an address of this example's own (the stack is shared),
  and ``"http://localhost:8080"`` by the stack's URL, which is also ``STICKY_URL``.

After each block, the check of its :class:`Example` looks at what it left behind and at the
platform. Blocks fenced ``python title="signature"`` are listings, not code: they are compared
with the signature of what they list. The ``sh`` block of docs/auth.md runs with bash, its
``localhost:8080`` pointing at the stack, ``$TOKEN``, ``$ACCESS_TOKEN`` and ``$PRIVATE_KEY`` set
as the page says, and each answer compared with the one the page shows.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

import sticky_sdk
from sticky_sdk import AuthenticationError, InvalidCredentialsError, NotFoundError, Sticky
from tests.e2e.conftest import token_from, wait_for_email
from tests.e2e.doc_examples import (
    SIGNATURE,
    Block,
    Run,
    calls_with,
    documented_fields,
    fenced_blocks,
    mismatches,
    run_curl,
    run_python,
    shell_commands,
)
from tests.stack_fixture import RunningStack

DOCS = Path(__file__).resolve().parents[2] / "docs"
PASSWORD = "a long passphrase"
MAILED_TOKENS = {"verify_email": "confirm", "reset_password": "reset"}  # method: email subject


def unique_email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Ada:
    """The person the examples follow, and what the harness prepared for one example."""

    stack: RunningStack
    email: str
    sticky: Sticky  # what the example gets as ``sticky``
    private_key: str = "sk_missing"
    public_key: str = "pk_missing"
    elsewhere: Sticky | None = None  # another session of Ada's, when an example needs one

    @classmethod
    def signed_in(cls, stack: RunningStack) -> Ada:
        email = unique_email("ada")
        sticky = Sticky(stack.base_url)
        sticky.auth.sign_up("Ada", email, PASSWORD)
        sticky.auth.verify_email(token_from(wait_for_email(stack, email, "confirm")))
        sticky.auth.sign_in(email, PASSWORD)
        private = sticky.keys.rotate("private").secret
        public = next(key for key in sticky.keys.list() if key.type == "public").secret
        assert private and public
        return cls(stack, email, sticky, private, public)

    @classmethod
    def without_account(cls, stack: RunningStack) -> Ada:
        return cls(stack, unique_email("ada"), Sticky(stack.base_url))

    def client(self, *, key: str | None = None, refresh_token: str | None = None) -> Sticky:
        return Sticky(self.stack.base_url, key=key, refresh_token=refresh_token)

    def substitutions(self) -> dict[str, str]:
        return {
            "http://localhost:8080": self.stack.base_url,
            "ada@example.com": self.email,
            '"sk_..."': f'"{self.private_key}"',
            '"pk_..."': f'"{self.public_key}"',
        }

    def mailed_token(self, namespace: dict[str, Any]) -> Callable[[ast.stmt], None]:
        """Sets ``token`` ahead of a statement that hands it to what an email is for."""

        def before(statement: ast.stmt) -> None:
            for method in calls_with(statement, "token") & MAILED_TOKENS.keys():
                message = wait_for_email(self.stack, self.email, MAILED_TOKENS[method])
                namespace["token"] = token_from(message)

        return before


@dataclass(frozen=True)
class Example:
    """What a python block of docs/sdk.md needs before it runs, and what it must have done."""

    heading: str  # the section the block is in
    check: Callable[[Ada, Run], None]
    signed_in: bool = True  # False: no account yet, and ``sticky`` holds no credentials
    given: Callable[[Ada], None] = lambda ada: None  # more of the platform's state


def first_steps(ada: Ada, run: Run) -> None:
    me, keys, new = run.namespace["me"], run.namespace["keys"], run.namespace["new"]
    assert me.user.email == ada.email and me.user.email_verified
    by_type = {key.type: key for key in keys}
    assert by_type["public"].secret.startswith("pk_") and by_type["private"].secret is None
    assert new.secret.startswith("sk_")
    admin = run.namespace["admin"].users.me()
    assert admin.user.email == ada.email and admin.scope == "private"


def context_manager(ada: Ada, run: Run) -> None:
    assert run.printed == "Ada\n"
    client = run.namespace["sticky"]
    assert client._http.is_closed
    # The paragraph after the example: the key is masked in the client's repr.
    assert f"credentials='key sk_…{ada.private_key[-4:]}'" in repr(client)
    assert ada.private_key not in repr(client)


def accounts_and_sessions(ada: Ada, run: Run) -> None:
    user, pair = run.namespace["user"], run.namespace["pair"]
    assert user.email == ada.email and user.email_verified
    assert run.shown["pair.user, pair.expires_in"] == (pair.user, 900)
    signed_out = run.namespace["sticky"]
    assert signed_out.access_token is None and signed_out.refresh_token is None
    with pytest.raises(InvalidCredentialsError):
        ada.client().auth.sign_in(ada.email, PASSWORD)
    assert ada.client().auth.sign_in(ada.email, "a new long passphrase").user.id == user.id


def keeping_a_session(ada: Ada, run: Run) -> None:
    saved, client = run.namespace["saved"], run.namespace["sticky"]
    assert run.namespace["me"].user.email == ada.email
    assert saved == {"access": client.access_token, "refresh": client.refresh_token}
    # What was saved is the live session: its refresh token has not been spent.
    assert ada.client(refresh_token=saved["refresh"]).auth.refresh().user.email == ada.email


def exchanging_a_key(ada: Ada, run: Run) -> None:
    token = run.namespace["token"]
    assert token.scope == "public" and token.expires_in > 0
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["scope"] == "public"
    assert claims["sub"] == ada.sticky.users.me().user.id
    assert ada.sticky.access_token != token.access_token  # the client's own are unchanged


def the_account_and_its_keys(ada: Ada, run: Run) -> None:
    assert run.namespace["me"].user.name == "Ada"
    assert ada.sticky.users.me().user.name == "Ada Lovelace"
    assert run.shown["public.secret"] == ada.public_key
    new = run.namespace["new"]
    assert new.secret.startswith("sk_") and new.secret != ada.private_key
    assert ada.client(key=new.secret).users.me().user.email == ada.email
    with pytest.raises(AuthenticationError):
        ada.client(key=ada.private_key).users.me()  # the old key stopped
    assert ada.elsewhere is not None
    with pytest.raises(AuthenticationError):
        ada.elsewhere.auth.refresh()  # the password change ended the other sessions
    ada.client().auth.sign_in(ada.email, "a new long passphrase")


def sign_in_elsewhere(ada: Ada) -> None:
    ada.elsewhere = ada.client()
    ada.elsewhere.auth.sign_in(ada.email, PASSWORD)


def team_members(ada: Ada, run: Run) -> None:
    grace = run.namespace["grace"]
    assert run.shown["grace.secret"].startswith("tk_")
    assert run.printed == "Grace ('events:read', 'things:read')\n"
    assert run.namespace["member"].id == grace.id
    acting = run.shown["as_grace.users.me().team_member"]
    assert acting.id == grace.id and acting.permissions == ("things:read",)
    assert run.namespace["rotated"].secret not in (None, grace.secret)
    assert list(ada.sticky.team_members.list()) == []
    with pytest.raises(AuthenticationError):
        run.namespace["as_grace"].users.me()  # her key stopped working


def recording_events(ada: Ada, run: Run) -> None:
    ack, acks, again = run.namespace["ack"], run.namespace["acks"], run.namespace["again"]
    assert run.shown["ack.id, ack.position, ack.duplicate"] == (ack.id, ack.position, False)
    assert ack.id.startswith("evt_") and acks[1].id.startswith("evt_")
    assert acks[0].id == "door-3-0800" and ack.position < acks[0].position < acks[1].position
    assert run.shown["again.duplicate"] is True and again.position == acks[0].position
    stored = list(ada.sticky.events.list())
    assert [e.type for e in stored] == ["CHECK_IN", "X_DOOR_OPENED", "MESSAGE"]
    assert (stored[0].thing_id, stored[0].custom_data) == ("thg_door", {"door": 3})
    assert stored[0].created_at.tzinfo is not None


def door_events(ada: Ada) -> None:
    ada.sticky.events.create_many(
        [{"type": "CHECK_IN", "custom_data": {"n": n}} for n in range(2)]
        + [{"type": "X_DOOR_OPENED", "thing_id": "thg_door"} for _ in range(3)]
    )


def reading_the_log(ada: Ada, run: Run) -> None:
    assert run.printed == "X_DOOR_OPENED thg_door UTC\n" * 3
    page, later = run.namespace["page"], run.namespace["later"]
    assert len(page) == 2 and page.has_more and page.next_cursor
    assert len(later) == 2 and later.data[0].position > page.data[1].position


def exporting(ada: Ada, run: Run) -> None:
    exported = Path("events.ndjson").read_bytes()  # the test runs in its own directory
    assert run.namespace["size"] == len(exported)
    types = [json.loads(line)["type"] for line in exported.splitlines()]
    assert types == ["CHECK_IN"] * 2 + ["X_DOOR_OPENED"] * 3
    assert Path("events-copy.ndjson").read_bytes() == exported
    table = Path("doors.csv").read_text().splitlines()
    assert table[0].split(",")[:3] == ["id", "position", "type"] and len(table) == 6
    assert run.namespace["checked_in"] == [{"n": 0}, {"n": 1}]
    assert run.namespace["header"] == table[0]


def following_the_log(ada: Ada, run: Run) -> None:
    assert run.printed == "CHECK_IN {'door': 1}\nCHECK_IN {'door': 2}\n"


def analytics(ada: Ada, run: Run) -> None:
    days = {event.created_at.date().isoformat() for event in ada.sticky.events.list()}
    assert len(days) == 1  # the day the example ran (the projection counts in UTC)
    (day,) = days
    assert sorted(run.printed.splitlines()) == [f"{day} CHECK_IN 2 0", f"{day} X_DOOR_OPENED 3 0"]


def streams(ada: Ada, run: Run) -> None:
    assert run.printed == "order-1042 -1 0\n"
    assert run.namespace["history"] == [(0, "X_ORDER_PLACED"), (1, "X_ORDER_SHIPPED")]
    (shipped,) = run.namespace["shipped"]
    assert (shipped.stream, shipped.version, shipped.duplicate) == ("order-1042", 1, False)


def twelve_members(ada: Ada) -> None:
    for number in range(1, 13):
        ada.sticky.team_members.create(f"Member {number}", f"m{number}@example.com", [])


def pagination(ada: Ada, run: Run) -> None:
    assert run.namespace["member"].name == "Member 12"  # the loop went through every page
    assert run.printed == "12 False\n"
    page, more = run.namespace["page"], run.namespace["more"]
    assert len(page) == 10 and page.has_more and page.next_cursor
    assert [m.name for m in more] == ["Member 11", "Member 12"] and not more.has_more


def errors(ada: Ada, run: Run) -> None:
    sign_up = run.namespace["sign_up"]
    assert run.namespace["problems"] == {"email": "This address has an account: sign in instead."}
    weak = sign_up("Lin", unique_email("lin"), "password123")
    assert list(weak) == ["password"] and "common" in weak["password"]
    assert sign_up("Lin", unique_email("lin"), PASSWORD) == {}


def retries(ada: Ada, run: Run) -> None:
    grace, again, new = run.namespace["grace"], run.namespace["again"], run.namespace["new"]
    assert again.id == grace.id
    assert [m.id for m in ada.sticky.team_members.list()] == [grace.id]
    replayed = ada.sticky.keys.rotate("private", idempotency_key="rotate-2025-06")
    assert replayed.id == new.id and replayed.secret == new.secret
    assert ada.client(key=new.secret).users.me().user.email == ada.email


def one_member(ada: Ada) -> None:
    ada.sticky.team_members.create("Grace", "grace@example.com", ["events:read"])


def async_twin(ada: Ada, run: Run) -> None:
    assert run.printed == "Ada 2\nGrace\n"


def fakes_in_tests(ada: Ada, run: Run) -> None:
    (request,) = run.namespace["sent"]
    assert request.headers["user-agent"].startswith("sticky-sdk-python/")
    assert request.headers["idempotency-key"]
    # The async client reached the fake app, not the network: a route it lacks is its 404.
    with pytest.raises(NotFoundError):
        asyncio.run(run.namespace["asgi"].auth.request_password_reset(ada.email))


EXAMPLES = [
    Example("Install", first_steps, signed_in=False),
    Example("Configuration", context_manager),
    Example("Accounts and sessions", accounts_and_sessions, signed_in=False),
    Example("Keeping a session between processes", keeping_a_session),
    Example("Exchanging a key yourself", exchanging_a_key),
    Example("The account and its keys", the_account_and_its_keys, given=sign_in_elsewhere),
    Example("Team members", team_members),
    Example("Recording events", recording_events),
    Example("Reading the log", reading_the_log, given=door_events),
    Example("Exporting", exporting, given=door_events),
    Example("Following the log", following_the_log),
    Example("Analytics", analytics, given=door_events),
    Example("Streams", streams),
    Example("Pagination", pagination, given=twelve_members),
    Example("Errors", errors),
    Example("Retries", retries),
    Example("Async", async_twin, given=one_member),
    Example("Testing code that uses the SDK", fakes_in_tests, signed_in=False),
]


def sdk_blocks(info: str) -> list[Block]:
    return [block for block in fenced_blocks(DOCS / "sdk.md") if block.info == info]


def test_every_python_block_is_run_or_checked() -> None:
    python = [b for b in fenced_blocks(DOCS / "sdk.md") if b.language == "python"]
    assert all(b.info in ("python", SIGNATURE) for b in python), [str(b) for b in python]
    assert [b.heading for b in sdk_blocks("python")] == [e.heading for e in EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: re.sub(r"\W+", "-", e.heading))
def test_sdk_example(
    example: Example, stack: RunningStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    block = sdk_blocks("python")[EXAMPLES.index(example)]
    assert block.heading == example.heading
    monkeypatch.setenv("STICKY_URL", stack.base_url)
    monkeypatch.delenv("STICKY_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    ada = Ada.signed_in(stack) if example.signed_in else Ada.without_account(stack)
    example.given(ada)
    namespace: dict[str, Any] = {"Sticky": Sticky, "sticky": ada.sticky}
    run = run_python(block, namespace, ada.substitutions(), before=ada.mailed_token(namespace))
    example.check(ada, run)


def listed_signature(block: Block) -> tuple[str, inspect.Signature]:
    """The name and signature a listing such as ``Sticky(base_url=None, *, ...)`` shows."""
    name, _, _ = block.code.partition("(")
    namespace: dict[str, Any] = {"time": time, "httpx": httpx, "asyncio": asyncio}
    exec(compile(f"def {block.code.strip()}: ...", str(block.path), "exec"), namespace)
    return name.strip(), inspect.signature(namespace[name.strip()])


def parameters(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_signature_listings_match_the_code() -> None:
    listings = sdk_blocks(SIGNATURE)
    assert listings
    for block in listings:
        name, listed = listed_signature(block)
        actual = inspect.signature(getattr(sticky_sdk, name))
        assert parameters(listed) == parameters(actual), str(block)
    # "AsyncSticky takes the same arguments."
    assert list(inspect.signature(sticky_sdk.AsyncSticky).parameters) == list(
        inspect.signature(sticky_sdk.Sticky).parameters
    )


CURL_STATUSES = [201, 200, 200, 201, 200]  # sign-up, verify, sign-in, rotate, token
CURL_VARIABLES = {  # which answer sets which variable, as the page says
    "/v1/auth/sign-in": ("ACCESS_TOKEN", "accessToken"),
    "/v1/keys/private/rotate": ("PRIVATE_KEY", "key"),
}


def test_auth_curl_example(stack: RunningStack) -> None:
    (block,) = [b for b in fenced_blocks(DOCS / "auth.md") if b.language in ("sh", "bash")]
    email = unique_email("ada")
    host = stack.base_url.removeprefix("http://")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STICKY_")}
    commands = shell_commands(block)
    assert len(commands) == len(CURL_STATUSES), [c.text for c in commands]
    answer: Any = None
    for command, status in zip(commands, CURL_STATUSES, strict=True):
        text = command.text.replace("localhost:8080", host).replace("ada@example.com", email)
        if "$TOKEN" in text:
            env["TOKEN"] = token_from(wait_for_email(stack, email, "confirm"))
        got, answer = run_curl(replace(command, text=text), env)
        where = f"{block.path.name}:{command.line}"
        assert got == status, f"{where}: {got} {answer}"
        assert command.answer, f"{where}: the page shows no answer"
        documented = documented_fields(command.answer.replace("ada@example.com", email))
        assert documented, f"{where}: no fields in {command.answer!r}"
        wrong = mismatches(documented, answer)
        assert not wrong, f"{where}: {wrong}"
        for path, (variable, field_name) in CURL_VARIABLES.items():
            if path in text:
                env[variable] = answer[field_name]
    me = httpx.get(
        f"{stack.base_url}/v1/users/me",
        headers={"authorization": f"Bearer {answer['accessToken']}"},
    )
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email and me.json()["scope"] == "private"
