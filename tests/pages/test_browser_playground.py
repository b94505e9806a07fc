"""A real headless chromium sends one prompt to two columns and watches both answers stream; hostile model output
(script tags, an <img onerror>, a markdown image pointing at a second loopback server) runs nothing and fetches
nothing."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser import CHROMIUM_ARGS, app_env, chromium_path, running_app
from tests.openai_server import DONE, Script, ScriptedServer, delta, usage


def slow_answer(words: list[str], gap_s: float) -> Script:
    steps = [(gap_s, delta(content=w)) for w in words]
    return Script(steps=[*steps, (0, usage(9, len(words))), (0, DONE)])


@pytest.mark.timeout(240)
def test_two_columns_stream_and_hostile_output_is_inert(fixture_data_dir, tmp_path):
    pixel_host = ScriptedServer(Script(steps=[]))
    hostile = [
        "Safe ", "answer ", "with ", "<script>window.__pwned = 1</script> ",
        "<img src=x onerror=\"window.__pwned = 2\"> ",
    ]
    with pixel_host:
        hostile += [f"![tracking]({pixel_host.origin}/pixel.png) ",
                    # forms a pattern-based filter misses: nested brackets, a title in parentheses, <...> with a
                    # space, a reference defined later
                    f"![a [b] c]({pixel_host.origin}/nested.png) ", f"![t]({pixel_host.origin}/title.png (t)) ",
                    f"![s](<{pixel_host.origin}/with space.png>) ", "![short] done.\n\n",
                    f"[short]: {pixel_host.origin}/ref.png\n"]
        qwen = ScriptedServer(slow_answer(["Qwen ", "says ", "four ", "in ", "the ", "end."], 0.4))
        deep = ScriptedServer(slow_answer(hostile, 0.3))
        with qwen, deep:
            (tmp_path / "endpoints.toml").write_text(
                f'[[endpoint]]\nname = "Qwen"\nkind = "openai"\nbase_url = "{qwen.base_url}"\nmodel = "q"\n\n'
                f'[[endpoint]]\nname = "DeepSeek"\nkind = "openai"\nbase_url = "{deep.base_url}"\nmodel = "d"\n')
            env = app_env(fixture_data_dir, tmp_path)
            with running_app(env) as url, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1500, "height": 1100})
                    page.goto(f"{url}/playground")
                    box = page.get_by_placeholder("Ask every column…")
                    expect(box).to_be_visible(timeout=60_000)
                    box.fill("What is 2+2?")
                    box.press("Enter")
                    # Streaming: the first words are on screen while the last are not yet.
                    expect(page.get_by_text("Qwen says", exact=False).first).to_be_visible(timeout=30_000)
                    assert page.get_by_text("the end.", exact=False).count() == 0
                    expect(page.get_by_text("Safe answer", exact=False).first).to_be_visible(timeout=30_000)
                    # Both finish.
                    expect(page.get_by_text("Qwen says four in the end.").first).to_be_visible(timeout=30_000)
                    expect(page.get_by_text("done.", exact=False).first).to_be_visible(timeout=30_000)
                    expect(page.get_by_text("Saved as run", exact=False)).to_be_visible(timeout=30_000)
                    time.sleep(1.0)  # give a would-be image fetch or onerror handler time to happen
                    assert page.evaluate("window.__pwned") is None
                    assert page.locator("main img[src*='127.0.0.1']").count() == 0
                    assert page.locator("main script").count() == 0
                    expect(page.get_by_text("image not loaded: tracking", exact=False).first).to_be_visible()
                    page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
                finally:
                    browser.close()
        assert pixel_host.received == [], "the browser fetched an image that the model put in its answer"
