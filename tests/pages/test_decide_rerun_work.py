"""A rerun of the wizard, the planner or the Data page with nothing changed reads the catalog no more: the wizard's
"How sure" lines made four catalog lookups per shortlisted model on every rerun (two thirds of its warm rerun), the
planner's one per rerun, and the Data page rebuilt its coverage-by-tier report from every table on every rerun.
The decision catalog, now shared rather than unpickled on each call, is still loaded once."""

from __future__ import annotations

import pytest
import streamlit as st

from ingest import tier_coverage
from modelmatch.catalog import tiers
from modelmatch.planning import records
from tests.pages.test_app_decide_pages import open_page, open_wizard_cards

WIZARD = {"use_case": "general-chat", "deploy": "self-host", "gpu": "test-gpu"}


@pytest.fixture
def counted(monkeypatch, fixture_data_dir):
    """Counts of the catalog work the pages can repeat: evidence lookups, coverage reports, catalog loads."""
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(fixture_data_dir / "catalog.duckdb"))
    calls = {"evidence": 0, "coverage": 0, "catalog": 0}
    model_evidence, tier_report, load = tiers.model_evidence, tier_coverage.tier_report, records.load_decision_catalog

    def count(name, real):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(tiers, "model_evidence", count("evidence", model_evidence))
    monkeypatch.setattr(tier_coverage, "tier_report", count("coverage", tier_report))
    import pages.data_support  # noqa: F401  (imports tier_report by name: patch it where the page reads it)
    monkeypatch.setattr(pages.data_support, "tier_report", count("coverage", tier_report), raising=False)
    import pages.decide_support  # noqa: F401
    monkeypatch.setattr(pages.decide_support, "load_decision_catalog", count("catalog", load))
    st.cache_data.clear()
    st.cache_resource.clear()
    return calls


@pytest.mark.parametrize(("page", "params"), [("pages/wizard.py", WIZARD), ("pages/planner.py", {})])
def test_a_decide_page_rerun_looks_up_no_evidence_and_loads_no_catalog_again_regression(counted, page, params):
    at = open_page(page, params)
    if page == "pages/wizard.py":
        open_wizard_cards(at)  # the "How sure" lines are in the shortlist's cards
    first = dict(counted)
    assert first["evidence"] >= 1 and first["catalog"] == 1  # the page shows "How sure" from one loaded catalog
    at.run()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert counted == first


def test_a_data_page_rerun_builds_no_coverage_report_again_regression(counted):
    at = open_page("pages/data.py")
    assert counted["coverage"] == 0  # the report's tab is closed, so it does not run
    at.session_state["data_tab"] = "Coverage by tier"
    at.run()
    assert counted["coverage"] == 1
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert counted["coverage"] == 1
    assert any(m.label == "Parameter counts verified" for m in at.metric)  # the report is still drawn


def test_a_planner_rerun_draws_its_kv_chart_without_building_it_again(counted, monkeypatch):
    """The KV-cache chart is drawn from a spec cached per request: building and validating the Altair chart was about
    a third of a warm rerun. A changed request (another KV dtype) draws a chart that says it."""
    import json

    from modelmatch.explore import charts

    built: list[str] = []
    real = charts.kv_cache_vs_context
    monkeypatch.setattr(charts, "kv_cache_vs_context", lambda curve, kv_dtype: built.append(kv_dtype) or real(
        curve, kv_dtype))
    at = open_page("pages/planner.py", {})
    (chart,) = at.get("vega_lite_chart")
    assert len(built) == 1 and built[0] in json.loads(chart.proto.spec)["encoding"]["y"]["title"]
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(built) == 1 and len(at.get("vega_lite_chart")) == 1
    other = next(d for d in at.selectbox(key="plan_kv_dtype").options if d != built[0])
    at.selectbox(key="plan_kv_dtype").set_value(other).run()
    assert built == [built[0], other]
    assert other in json.loads(at.get("vega_lite_chart")[0].proto.spec)["encoding"]["y"]["title"]


def test_the_planner_page_reads_no_score_and_the_wizard_reads_them_from_the_same_load(counted, monkeypatch):
    """The decision catalog's score rows are read when the wizard (or the summary) first looks at them: the planner
    never does, and on a catalog of 5,000 models they were 2.5 s of its first run's 3.6 s."""
    reads: list[int] = []
    real_read = records._read_scores
    monkeypatch.setattr(records, "_read_scores",
                        lambda cursor, *categories: reads.append(1) or real_read(cursor, *categories))
    at = open_page("pages/planner.py", {})
    assert at.markdown or at.metric  # the plan is drawn
    assert counted["catalog"] == 1 and reads == []
    open_wizard_cards(open_page("pages/wizard.py", WIZARD))
    assert counted["catalog"] == 1 and reads == [1]  # the planner's catalog, its scores read once


def test_a_rerun_gets_the_cached_recommendation_itself_not_a_copy_regression(counted, live_catalog):
    """st.cache_data unpickled the cached recommendation on every call: the summary ranks every eligible model, and
    on a 5,000-model catalog that copy was most of its warm rerun. The result is frozen, so it is shared."""
    import dataclasses

    from modelmatch.decision import summary as decision_summary
    from modelmatch.decision.state import DecisionState
    from pages import common, decide_support

    build_id = common.current_build_id()
    state = DecisionState(use_cases=("general-chat",), deployment="self-host", gpu="test-gpu")
    request = decision_summary.wizard_request(state, top_n=1000, with_sensitivity=True)
    first = decide_support.recommendation(build_id, request)
    assert first.shortlist and decide_support.recommendation(build_id, request) is first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.shortlist[0].score = 0.0  # shared between visitors: nothing may change it
