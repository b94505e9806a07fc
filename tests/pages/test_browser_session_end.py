"""A visitor who closes the tab mid-answer does not leave the model generating for nobody: once Streamlit drops the
disconnected session (server.disconnectedSessionTTL, shortened here to 2 s), the playground cancels the request
and the server sees the client hang up long before its reply would have ended."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser import CHROMIUM_ARGS, app_env, chromium_path, running_app
from tests.openai_server import DONE, Script, ScriptedServer, delta, usage, write_endpoints

WORDS = 160
GAP_S = 0.25  # the whole reply would take 40 s


@pytest.mark.timeout(180)
def test_closing_the_tab_mid_answer_cancels_the_request(fixture_data_dir, tmp_path):
    steps = [(GAP_S, delta(content=f"w{i} ")) for i in range(WORDS)]
    server = ScriptedServer(Script(steps=[*steps, (0, usage(5, WORDS)), (0, DONE)]))
    with server:
        write_endpoints(tmp_path / "endpoints.toml", {"Slow": server}, extra_lines=("max_tokens_cap = 256",))
        env = app_env(fixture_data_dir, tmp_path, STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL="2")
        with running_app(env) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            try:
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{url}/playground")
                box = page.get_by_placeholder("Ask every column…")
                expect(box).to_be_visible(timeout=60_000)
                box.fill("Tell me a long story")
                box.press("Enter")
                expect(page.get_by_text("w2", exact=False).first).to_be_visible(timeout=30_000)
                closed_at = time.monotonic()
                context.close()
                deadline = closed_at + 20
                while not server.cut_short and time.monotonic() < deadline:
                    time.sleep(0.2)
                hung_up_after_s = time.monotonic() - closed_at
            finally:
                browser.close()
        assert len(server.received) == 1
        assert server.cut_short, "the app kept reading the whole reply after the visitor had gone"
        assert server.cut_short[0] < WORDS * 0.6, server.cut_short
        assert hung_up_after_s < 15
