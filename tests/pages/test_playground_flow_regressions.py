"""Playground regressions from the newcomer walk-through: a follow-up's link shows the whole conversation, the
Markdown export makes no image a viewer would fetch, and a stopped reply still shows what it cost at least."""

from __future__ import annotations

import datetime as dt

from streamlit.testing.v1 import AppTest

from modelmatch.catalog.reader import CatalogReader
from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.playground import estimate_cost
from modelmatch.chat.runs_store import ColumnRecord, RunRecord, RunsStore, to_markdown
from modelmatch.chat.timing import RequestMetrics
from tests.conftest import REPO_ROOT
from tests.pages.test_app_playground import env  # noqa: F401 - the fixture

IMAGE = "![pixel](http://tracker.example/p.png?u=1)"


def follow_up_run() -> RunRecord:
    history = [{"role": "user", "content": "First question: what is MLA?"},
               {"role": "assistant", "content": "Multi-head latent attention. " + IMAGE}]
    return RunRecord(prompt="Second question: and GQA?", columns=[
        ColumnRecord(0, "Qwen", "test-org/Alpha-7B-Instruct", {}, history, "", "Grouped-query attention. " + IMAGE,
                     output_tokens=5, cost_usd=None, cost_note="no price")])


def test_a_follow_ups_link_shows_the_earlier_turns(env):  # noqa: F811
    run_id = RunsStore(env / "runs.sqlite").save(follow_up_run())
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.query_params["run"] = run_id
    at.switch_page("pages/playground.py")
    at.run()
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    assert "First question: what is MLA?" in text and "Second question: and GQA?" in text
    assert text.index("First question") < text.index("Second question")
    assert "![" not in text


def test_markdown_export_turns_model_images_into_text():
    md = to_markdown(follow_up_run())
    assert "![" not in md and "tracker.example" in md  # the address is kept as inert text
    assert "First question: what is MLA?" in md


def test_a_stopped_reply_shows_at_least_what_streamed_cost(live_catalog):
    reader = CatalogReader(live_catalog)
    endpoint = Endpoint(name="Beta", kind="openai", model="beta-chat", base_url="http://127.0.0.1:9/v1",
                        model_id="test-org/Beta-MoE", provider="TestCloud", provider_model="beta-chat")
    stopped = RequestMetrics(ok=False, error="cancelled", text_chunks=120)
    cost = estimate_cost(reader, endpoint, stopped, dt.date(2026, 1, 1))
    assert cost.lower_bound and cost.usd == 120 * 0.42 / 1e6
    assert cost.note.startswith("at least $0.000050") and "prompt" in cost.note
    nothing = estimate_cost(reader, endpoint, RequestMetrics(ok=False, error="cancelled"), dt.date(2026, 1, 1))
    assert nothing.usd is None and not nothing.lower_bound
