"""The examples of docs/api.md, run as written against the running platform.

The page's ``python`` blocks carry on from one another, so they run in order in one
namespace: ``"sk_..."`` is the private key of a merchant signed up for this test,
``"http://localhost:8080"`` the stack's URL, and ``"ses_..."`` the session of a phone that
tapped the page's ``door`` sticker through the gateway just before the block that needs it.
Each bare expression the page shows an answer for is compared with it where the answer is
exact; what the blocks print is checked too.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.e2e.doc_examples import fenced_blocks, run_python
from tests.e2e.test_accounts import signed_up
from tests.stack_fixture import RunningStack

PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_example_of_the_api_page_runs(
    stack: RunningStack, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # the examples write door.png and things.csv
    merchant, _ = signed_up(stack)
    private_key = merchant.keys.rotate("private").secret
    namespace: dict = {}  # type: ignore[type-arg]
    substitutions = {
        '"sk_..."': repr(private_key),
        "http://localhost:8080": stack.base_url,
        '"ses_..."': "TAPPED_SESSION",
    }
    blocks = [b for b in fenced_blocks(PAGE) if b.language == "python"]
    assert len(blocks) >= 7
    shown: dict = {}  # type: ignore[type-arg]
    printed = []
    for block in blocks:
        if "TAPPED_SESSION" in block.code.replace('"ses_..."', "TAPPED_SESSION"):
            door = namespace["door"]
            tap = httpx.get(door.url, follow_redirects=False)
            assert tap.status_code == 302, tap.text
            namespace["TAPPED_SESSION"] = parse_qs(urlsplit(tap.headers["location"]).query)[
                "sessionId"
            ][0]
        run = run_python(block, namespace, substitutions)
        shown.update(run.shown)
        printed.append(run.printed)

    door = namespace["door"]
    assert door.url == f"{stack.base_url}/t/{door.id}"
    assert shown["[t.name for t in tables[:3]]"] == ["Table 01", "Table 02", "Table 03"]
    assert shown["menu.draft_version, menu.live"] == (1, None)
    tried_ok, tried_url = shown["tried.ok, tried.url"]
    assert tried_ok is True and tried_url.startswith("https://shop.example/menu?table=")
    assert shown["broken.ok, broken.error"][0] is False
    assert shown["menu.live_version, menu.live.logic"][0] == 1
    assert shown["[v.version for v in sticky.applications.versions(menu.id)]"] == [1]
    assert shown["latte.questions[0].options[1].price_delta"] == 60
    assert shown["ack.id, ack.status"][1] == "recorded"
    assert shown["session.thing_id, session.cross_user_sector"] == (door.id, {})
    output = "".join(printed)
    assert "Latte 340 GBP" in output
    assert "thing-not-found" in output
    assert "currency" in output
    assert Path(tmp_path / "door.png").read_bytes().startswith(b"\x89PNG")
    assert Path(tmp_path / "things.csv").read_text().startswith("id,user_id,name")


TAP_PAGE = Path(__file__).resolve().parents[2] / "docs" / "tap.md"


def test_the_tap_page_examples_run_and_its_routing_logic_does_what_it_says(
    stack: RunningStack,
) -> None:
    merchant, _ = signed_up(stack)
    namespace: dict = {"sticky": merchant}  # type: ignore[type-arg]
    substitutions = {"http://localhost:8080": stack.base_url}
    blocks = fenced_blocks(TAP_PAGE)
    shown: dict = {}  # type: ignore[type-arg]
    for block in blocks:
        if block.language == "python":
            shown.update(run_python(block, namespace, substitutions).shown)
    thing = namespace["thing"]
    first = shown['tapped.headers["location"]']
    assert first.startswith(f"{stack.base_url}/retail/?thingId={thing.id}&sessionId=ses_")
    assert "&sessionId=ses_" in first
    assert shown['"sticky-sessionid=ses_" in tapped.headers["set-cookie"]'] is True
    assert shown['gone.status_code, gone.headers["content-type"]'] == (
        404,
        "text/html; charset=utf-8",
    )
    assert shown["tapped.status_code"] == 302
    routed = shown["routed"]
    assert routed.startswith(f"https://shop.example/menu?t={thing.id}&sessionId=ses_")

    [logic] = [b.code for b in blocks if b.language == "javascript"]
    flow = merchant.applications.create("Docs", logic=logic)
    german = merchant.applications.try_logic(flow.id, input={"query": {"lang": "de"}})
    assert german.url == "https://shop.example/de/menu?table=Test%20sticker"
    default = merchant.applications.try_logic(flow.id, input={"thingId": "t1"})
    assert default.url == f"{stack.base_url}/retail/?table=Test%20sticker"
    assert default.console == ("default menu for t1",) or list(default.console) == [
        "default menu for t1"
    ]
