"""A Compare rerun with the same choices (a toggle, an expander) draws from the cached view: it used to rebuild the
Altair chart (Altair validates every channel) and every card on each rerun."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from modelmatch.explore import charts, compare
from tests.conftest import REPO_ROOT

A, B = "test-org/Alpha-7B-Instruct", "test-org/Beta-MoE"


@pytest.fixture
def app_env(monkeypatch, fixture_data_dir):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(fixture_data_dir / "catalog.duckdb"))
    return fixture_data_dir


def test_a_compare_rerun_rebuilds_neither_the_chart_nor_the_cards(app_env, monkeypatch):
    built: list[str] = []
    grouped_benchmarks, cards = charts.grouped_benchmarks, compare.cards
    monkeypatch.setattr(charts, "grouped_benchmarks", lambda df: built.append("chart") or grouped_benchmarks(df))
    monkeypatch.setattr(compare, "cards", lambda data: built.append("cards") or cards(data))
    st.cache_data.clear()  # another test may have cached this very view
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()  # the first run in a process leaves the pages/ directory mode (see pages.common)
    at.switch_page("pages/compare.py")
    at.query_params["models"] = f"{A},{B}"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert sorted(built) == ["cards", "chart"]  # the first run of the view builds each once
    at.toggle(key="cmp_official_only").set_value(True).run()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert sorted(built) == ["cards", "chart"]  # the reruns built neither again
    assert len(at.get("vega_lite_chart")) == 1  # ...and the page still drew the chart
