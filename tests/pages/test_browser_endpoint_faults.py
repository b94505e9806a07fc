"""Endpoint faults seen the way a visitor sees them: one real app, one headless chromium, and one loopback server
per fault (a byte-a-second drip, a 50 MB reply, invalid UTF-8 split across chunks, a usage-only stream, an error
event inside a 200, a redirect to another server). Each is picked by name in the Playground's only column; the test
reads what the page shows and what every server received."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from contextlib import ExitStack

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from modelmatch.chat.types import ChatMessage, ChatRequest
from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.openai_client import astream_chat
from tests.browser import CHROMIUM_ARGS, app_env, chromium_path, running_app
from tests.openai_server import DONE, Flood, Script, ScriptedServer, answer_script, delta, drip, sse, usage

CANARY = "sk-canary-endpoint-faults-5d1e9b3f7a"
KEY_ENV = "MM_FAULTS_KEY"
MAX_RESPONSE_BYTES = 2_000_000
FLOOD_BYTES = 50_000_000
SHOWN_CHARS = 50_000  # the page shows the start of a longer reply and says so
PARTIAL = "Partial drip text."


def drip_script() -> Script:
    """One event at once, then the next one a byte a second (about two minutes for the event to complete)."""
    return Script(steps=[(0, delta(content=PARTIAL)), *drip(delta(content=" never finished"), 1.0)])


def bad_utf8_script() -> Script:
    head, tail = b'data: {"choices": [{"index": 0, "delta": {"content": "', b'"}}]}\n\n'
    snowman = "☃".encode()  # three bytes, split 2 + 1 across two chunks: must decode whole
    return Script(steps=[(0, head + snowman[:2]), (0.05, snowman[2:] + tail),
                         (0, delta(content="x").replace(b'"x"', b'"\xff"')),  # not UTF-8 at all
                         (0, usage(6, 2)), (0, DONE)])


def hostile_error_script(pixel_url: str) -> Script:
    message = (f"<script>window.__pwned = 3</script> upstream overloaded, retry later "
               f"![pixel]({pixel_url})")
    return Script(steps=[(0, delta(content="Began fine, ")), (0, sse({"error": {"message": message,
                                                                               "type": "server_error"}})),
                         (0, DONE)])


def endpoints_toml(servers: dict[str, ScriptedServer], extra: dict[str, list[str]]) -> str:
    lines = []
    for name, server in servers.items():
        lines += ["[[endpoint]]", f'name = "{name}"', 'kind = "openai"', f'base_url = "{server.base_url}"',
                  f'model = "{name.lower().replace(" ", "-")}"', "first_byte_timeout_s = 5", *extra.get(name, []),
                  ""]
    return "\n".join(lines)


def pick_column_count(page: Page, count: int) -> None:
    group = page.get_by_role("radiogroup", name="Columns")
    group.get_by_role("radio", name=str(count), exact=True).click()
    expect(page.get_by_test_id("stSelectbox")).to_have_count(count, timeout=30_000)


def pick_endpoint(page: Page, name: str) -> None:
    box = page.get_by_role("combobox", name="Endpoint")
    box.click()
    page.get_by_role("option", name=name, exact=True).click()
    expect(box).to_have_value(name, timeout=30_000)


def saved_line(page: Page) -> str:
    saved = page.get_by_text(re.compile(r"^Saved as run "))
    return saved.first.inner_text() if saved.count() else ""


def clear_conversation(page: Page) -> None:
    button = page.get_by_role("button", name="Clear conversation")
    expect(button).to_be_enabled(timeout=30_000)
    button.click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0, timeout=30_000)


def send(page: Page, prompt: str, sent: list[str]) -> str:
    """Type the prompt and press Enter; returns the saved-run line from before, so a caller can wait for the next."""
    sent.append(prompt)
    before = saved_line(page)
    box = page.get_by_placeholder("Ask every column…")
    expect(box).to_be_enabled(timeout=30_000)
    box.fill(prompt)
    box.press("Enter")
    return before


def wait_finished(page: Page, before: str, timeout_s: float = 30) -> None:
    """A run is over when a new run has been saved and the prompt box takes input again."""
    deadline = time.monotonic() + timeout_s
    while saved_line(page) in ("", before):
        assert time.monotonic() < deadline, "the run did not finish in time"
        time.sleep(0.1)
    expect(page.get_by_placeholder("Ask every column…")).to_be_enabled(timeout=30_000)


def reply(page: Page) -> tuple[str, str]:
    """(the assistant message's text, its error alerts' text) for the only turn shown."""
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").all_inner_texts()
    messages = page.get_by_test_id("stChatMessage")
    expect(messages).to_have_count(2, timeout=30_000)  # the prompt and the reply
    assistant = messages.nth(1)
    alerts = assistant.get_by_test_id("stAlert")
    return assistant.inner_text(), "\n".join(alerts.all_inner_texts())


def health(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
        return response.status


@pytest.mark.parametrize(("first", "expected"), [("kept", "the stream stalled: no complete event"),
                                               ("", "no complete event")])
def test_a_dripping_server_is_ended_by_the_stall_or_first_byte_limit(first, expected):
    """Regression: the byte-level limits restarted on every read, so a drip (here a byte every 0.3 s) held a column
    for as long as the server liked. Complete events are what counts as progress now: the first one within
    first_byte_timeout_s, then one at least every stall_timeout_s."""
    script = Script(steps=[*([(0, delta(content=first))] if first else []), *drip(delta(content=" never"), 0.3)])
    with ScriptedServer(script) as server:
        ep = Endpoint(name="drip", kind="openai", model="m", base_url=server.base_url, stall_timeout_s=1,
                      first_byte_timeout_s=1)

        async def collect():
            return [e async for e in astream_chat(ep, None, ChatRequest(messages=(ChatMessage("user", "x"),)))]

        started = time.perf_counter()
        events = asyncio.run(collect())
        elapsed_s = time.perf_counter() - started
    assert "".join(e.text for e in events if e.kind == "content") == first
    assert [e.kind for e in events][-1] == "error" and [e.kind for e in events].count("error") == 1
    assert events[-1].text.startswith(expected) and "within 1 s" in events[-1].text
    assert 1.0 <= elapsed_s < 3.0  # the drip alone would take about 20 s (0.3 s x ~70 bytes)


@pytest.mark.timeout(300)
def test_endpoint_faults_through_the_playground_page(fixture_data_dir, tmp_path):
    with ExitStack() as stack:
        elsewhere = stack.enter_context(ScriptedServer(answer_script(["must", "not", "be", "asked"])))
        servers = {
            "Healthy": ScriptedServer(answer_script(["All ", "good ", "here."], prompt_tokens=4)),
            "Drip stall": ScriptedServer(drip_script()),
            "Drip stop": ScriptedServer(drip_script()),
            "Flood": ScriptedServer(Script(steps=Flood(delta(content="flood " * 5000), FLOOD_BYTES))),
            "Bad UTF-8": ScriptedServer(bad_utf8_script()),
            "Usage only": ScriptedServer(Script(steps=[(0, usage(5, 0)), (0, DONE)])),
            "Error event": ScriptedServer(hostile_error_script(f"{elsewhere.origin}/pixel.png")),
            "Redirect": ScriptedServer(Script(status=307, steps=[], headers={
                "Location": f"{elsewhere.base_url}/chat/completions", "Content-Type": "text/plain"})),
        }
        for server in servers.values():
            stack.enter_context(server)
        (tmp_path / "endpoints.toml").write_text(endpoints_toml(servers, {
            "Drip stall": ["stall_timeout_s = 3"],
            "Drip stop": ["stall_timeout_s = 60"],
            "Flood": [f"max_response_bytes = {MAX_RESPONSE_BYTES}"],
            "Redirect": [f'api_key_env = "{KEY_ENV}"'],
        }))
        env = app_env(fixture_data_dir, tmp_path, **{KEY_ENV: CANARY})
        sent: dict[str, list[str]] = {name: [] for name in servers}
        with running_app(env) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/playground")
                expect(page.get_by_placeholder("Ask every column…")).to_be_visible(timeout=60_000)
                pick_column_count(page, 1)
                run_faults(page, url, sent)
                page.screenshot(path=str(tmp_path / "endpoint-faults.png"), full_page=True)
            finally:
                browser.close()

        assert elsewhere.received == [], "the redirect target (or an image in an error message) was contacted"
        # Every server got exactly the prompts sent to it, each alone (the conversation was cleared in between),
        # for its own model; only the keyed endpoint got the key, and only in its Authorization header.
        for name, server in servers.items():
            assert [r.body["messages"] for r in server.received] == [
                [{"role": "user", "content": prompt}] for prompt in sent[name]], name
            for received in server.received:
                assert received.path == "/v1/chat/completions"
                assert received.body["model"] == name.lower().replace(" ", "-")
                assert received.headers.get("Authorization") == (f"Bearer {CANARY}" if name == "Redirect" else None)
                others = {k: v for k, v in received.headers.items() if k != "Authorization"}
                assert CANARY not in repr(others) and CANARY not in repr(received.body)
    assert (tmp_path / "endpoint-faults.png").stat().st_size > 0
    runs_db = b"".join(p.read_bytes() for p in tmp_path.glob("runs.sqlite*"))
    assert runs_db and CANARY.encode() not in runs_db


def ask(page: Page, sent: dict[str, list[str]], endpoint: str, prompt: str, timeout_s: float = 30) -> tuple[str, str]:
    """A fresh conversation: pick the endpoint, send the prompt, wait for the run to end; the reply and its errors."""
    clear_conversation(page)
    pick_endpoint(page, endpoint)
    wait_finished(page, send(page, prompt, sent[endpoint]), timeout_s)
    return reply(page)


def run_faults(page: Page, url: str, sent: dict[str, list[str]]) -> None:
    # a. A drip of one byte a second never goes 3 s without a byte, yet completes no event: the stall limit ends it.
    pick_endpoint(page, "Drip stall")
    before = send(page, "fault a: drip", sent["Drip stall"])
    expect(page.get_by_text(PARTIAL).first).to_be_visible(timeout=15_000)
    started = time.monotonic()
    wait_finished(page, before, timeout_s=20)
    ended_after_s = time.monotonic() - started
    text, errors = reply(page)
    assert PARTIAL in text, "what arrived before the stall is kept"
    assert "stalled" in errors and "within 3 s" in errors and "kept" in errors
    assert 1.5 <= ended_after_s < 10, ended_after_s

    # ... and the page is still usable: the next prompt, to another endpoint, is answered.
    text, errors = ask(page, sent, "Healthy", "still there?")
    assert "All good here." in text and errors == ""

    # a'. The same drip under a generous stall limit: the Stop button ends it, with what arrived kept.
    clear_conversation(page)
    pick_endpoint(page, "Drip stop")
    before = send(page, "fault a: drip, stopped", sent["Drip stop"])
    expect(page.get_by_text(PARTIAL).first).to_be_visible(timeout=15_000)
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    started = time.monotonic()
    stop.click()
    wait_finished(page, before, timeout_s=20)
    stopped_after_s = time.monotonic() - started
    text, errors = reply(page)
    assert PARTIAL in text and "stopped by the user" in errors
    assert stopped_after_s < 10, stopped_after_s
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)

    # b. 50 MB of answer: cut at max_response_bytes with a clear error; the browser gets only the start of it.
    text, errors = ask(page, sent, "Flood", "fault b: flood", timeout_s=60)
    assert f"larger than {MAX_RESPONSE_BYTES:,} bytes" in errors
    assert "flood flood" in text
    assert f"Showing the first {SHOWN_CHARS:,} of" in text and "exports have all of it" in text
    kept = int(re.search(r"Showing the first [\d,]+ of ([\d,]+) characters", text).group(1).replace(",", ""))
    assert 1_000_000 < kept <= MAX_RESPONSE_BYTES  # what arrived before the cap, kept whole in the run
    page_chars = len(page.locator("main").inner_text())
    assert page_chars < SHOWN_CHARS + 10_000, f"the browser was sent {page_chars:,} characters"
    assert health(url) == 200

    # c. Invalid UTF-8: a character split across chunks decodes whole; a byte that is not UTF-8 shows as U+FFFD,
    # and the caption says so.
    text, errors = ask(page, sent, "Bad UTF-8", "fault c: utf-8")
    assert "☃\ufffd" in text and errors == ""
    assert "1 event(s) had bytes that are not UTF-8" in text

    # d. Only a usage chunk: an empty answer (not an error) with the server's token counts.
    text, errors = ask(page, sent, "Usage only", "fault d: usage only")
    assert "(no answer)" in text and errors == ""
    assert "tokens in 5 / out 0 (server usage)" in text
    assert "no text arrived" in text and "waiting for the first token" not in text

    # e. An error event inside a 200: the server's own message is shown as an error, as inert text.
    text, errors = ask(page, sent, "Error event", "fault e: error event")
    assert "Began fine," in text
    assert "reported an error mid-stream" in errors and "upstream overloaded, retry later" in errors
    assert "<script>" in errors  # shown as text, not run
    assert "![pixel](http" in errors  # a server's message is plain text: shown as written, never an image or link
    time.sleep(1.0)  # time for a would-be image fetch or script
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script").count() == 0 and page.locator("main img[src*='pixel']").count() == 0
    assert page.locator("main a[href*='pixel']").count() == 0

    # f. A 307 to another loopback server is not followed (that server's silence is checked by the caller).
    text, errors = ask(page, sent, "Redirect", "fault f: redirect")
    assert "redirect (HTTP 307) to 127.0.0.1" in errors and "not followed" in errors

    # After every fault: the app answers again, shows no traceback, and the key is nowhere on the page.
    text, errors = ask(page, sent, "Healthy", "and after all that?")
    assert "All good here." in text and errors == ""
    assert page.get_by_test_id("stException").count() == 0
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and CANARY not in body and CANARY not in page.content()
    assert health(url) == 200
