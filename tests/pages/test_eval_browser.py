"""The Your evals page in a real headless chromium: the progress bar moves on its own while a run works, Cancel
stops it with finished items kept, and hostile model output shown side by side runs nothing and fetches nothing."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect, sync_playwright

from modelmatch.evals import summary as evals
from modelmatch.evals.sets import load_builtin, sent_prompt
from modelmatch.evals.store import EvalStore
from tests.browser import CHROMIUM_ARGS, app_env, chromium_path, running_app
from tests.openai_server import DONE, Script, ScriptedServer, delta, usage


@pytest.mark.timeout(240)
def test_progress_cancel_and_inert_output(fixture_data_dir, tmp_path):
    by_prompt = {sent_prompt(i): i for i in load_builtin().items}
    pixel_host = ScriptedServer(Script(steps=[]))
    with pixel_host:
        hostile = (f"<script>window.__pwned = 1</script> <img src=x onerror=\"window.__pwned = 2\"> "
                   f"![t]({pixel_host.origin}/pixel.png)")

        def slow(body):
            item = by_prompt[body["messages"][-1]["content"]]
            return Script(steps=[(0.4, delta(content=f"{hostile}\nANSWER: {item.expected.split('|')[0]}")),
                                 (0, usage(20, 10)), (0, DONE)])

        server = ScriptedServer(slow)
        with server:
            (tmp_path / "endpoints.toml").write_text(
                f'[[endpoint]]\nname = "Slow"\nkind = "openai"\nbase_url = "{server.base_url}"\nmodel = "s"\n'
                "requests_per_minute = 100000\n")
            env = app_env(fixture_data_dir, tmp_path, MODELMATCH_EVAL_CONCURRENCY="1")
            with running_app(env) as url, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1500, "height": 1100})
                    page.goto(f"{url}/evals")
                    start = page.get_by_role("button", name="Start: 235 requests")
                    expect(start).to_be_visible(timeout=60_000)
                    start.click()
                    cancel = page.get_by_role("button", name="Cancel the run")
                    expect(cancel).to_be_visible(timeout=30_000)
                    # The progress text advances without any click (the fragment polls the runner).
                    # (two or more: the fragment redraws on its own schedule, so it may step past any exact count)
                    expect(page.get_by_text(re.compile(r"Slow: ([2-9]|\d{2,3})/235 scored"))).to_be_visible(
                        timeout=30_000)
                    cancel.click()
                    expect(cancel).to_have_count(0, timeout=30_000)
                    expect(page.get_by_text("status cancelled", exact=False)).to_be_visible(timeout=30_000)
                    expect(page.get_by_role("button", name="Resume: send", exact=False)).to_be_visible(timeout=30_000)
                    expect(page.get_by_text("[image tag removed]", exact=False).first).to_be_visible(timeout=30_000)
                    time.sleep(1.0)  # time for a would-be image fetch or onerror handler
                    assert page.evaluate("window.__pwned") is None
                    assert page.locator("main img[src*='pixel.png']").count() == 0
                    assert page.locator("main script").count() == 0
                finally:
                    browser.close()
            assert not any("pixel.png" in r.path for r in pixel_host.received)
    store = EvalStore(tmp_path / "runs.sqlite")
    run_id = store.recent_runs(1)["run_id"].iloc[0]
    summary = evals.summarize(store, run_id)
    assert summary.run.status == "cancelled"
    assert 2 <= summary.models[0].scored < 235 and summary.models[0].failed == 0
