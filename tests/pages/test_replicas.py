"""Two app replicas, as the README's scale-out section runs them: separate processes sharing one read-only catalog
file and one runs database. A run saved on one opens by link on the other; a catalog rebuilt underneath both is
picked up by both without a restart; the eval store (Compare's "your evals") holds neither file."""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest
from playwright.sync_api import expect, sync_playwright

from ingest.build import build
from tests.browser import CHROMIUM_ARGS, app_env, chromium_path, running_app
from tests.openai_server import ScriptedServer, answer_script, write_endpoints

COMPARE = "/compare?models=test-org/Alpha-7B-Instruct,test-org/Beta-MoE"


def save_a_run(page, url: str, prompt: str) -> str:
    page.goto(f"{url}/playground")
    box = page.get_by_placeholder("Ask every column…")
    expect(box).to_be_visible(timeout=60_000)
    box.fill(prompt)
    box.press("Enter")
    saved = page.get_by_text(re.compile(r"Saved as run [0-9a-f]{16}"))
    expect(saved).to_be_visible(timeout=30_000)
    return re.search(r"[0-9a-f]{16}", saved.inner_text()).group(0)


@pytest.mark.timeout(300)
def test_two_replicas_share_the_catalog_and_the_runs(fixture_data_dir, tmp_path):
    catalog = fixture_data_dir / "catalog.duckdb"
    build(fixture_data_dir, catalog)
    server = ScriptedServer(answer_script(["Shared ", "answer."]))
    with server, sync_playwright() as pw, ExitStack() as stack:
        write_endpoints(tmp_path / "endpoints.toml", {"Echo": server})
        env = app_env(fixture_data_dir, tmp_path)  # both replicas: one catalog file, one runs database
        url_a = stack.enter_context(running_app(env))
        url_b = stack.enter_context(running_app(env))
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        a, b = browser.new_page(), browser.new_page()

        # Each replica saves a run, which the other opens by link.
        run_a = save_a_run(a, url_a, "from replica A")
        run_b = save_a_run(b, url_b, "from replica B")
        b.goto(f"{url_b}/playground?run={run_a}")
        expect(b.get_by_text(f"Saved run {run_a}")).to_be_visible(timeout=30_000)
        expect(b.get_by_text("from replica A").first).to_be_visible()
        a.goto(f"{url_a}/playground?run={run_b}")
        expect(a.get_by_text(f"Saved run {run_b}")).to_be_visible(timeout=30_000)
        # Both show Compare, which reads "your evals" from the same runs database, without either locking the
        # other out: neither says it cannot read, and both can still save runs afterwards.
        for page, url in ((a, url_a), (b, url_b)):
            page.goto(url + COMPARE)
            expect(page.get_by_text("Alpha 7B Instruct").first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("through one of your eval sets yet")).to_be_visible(timeout=30_000)
            assert page.get_by_text("cannot be read right now").count() == 0
        save_a_run(b, url_b, "again from replica B")
        save_a_run(a, url_a, "again from replica A")

        # A maintainer edits a CSV and rebuilds while both run: both show the new data, no restart.
        for csv in (fixture_data_dir / "models").glob("*.csv"):
            csv.write_text(csv.read_text().replace("Alpha 7B Instruct", "Alpha 7B Instruct v2"))
        build(fixture_data_dir, catalog)
        for page, url in ((a, url_a), (b, url_b)):
            page.goto(url + COMPARE)
            expect(page.get_by_text("Alpha 7B Instruct v2").first).to_be_visible(timeout=60_000)
    assert [r.body["messages"][-1]["content"] for r in server.received] == [
        "from replica A", "from replica B", "again from replica B", "again from replica A"]
