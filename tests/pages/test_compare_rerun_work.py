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


def test_a_compare_rerun_sends_its_tables_and_chart_without_styling_or_converting_them_again(app_env, monkeypatch):
    """pandas' Styler re-rendered both highlighted tables on every rerun (about a third of a warm Compare rerun), and
    Altair validated the chart again: a rerun with the same choices now replays the elements the cached drawing
    functions sent. What is replayed is still highlighted, and another choice (official numbers only) draws anew."""
    import altair as alt
    from pandas.io.formats.style import Styler

    work: list[str] = []
    translate, to_dict = Styler._translate, alt.Chart.to_dict
    monkeypatch.setattr(Styler, "_translate", lambda self, *a, **k: work.append("style") or translate(self, *a, **k))
    monkeypatch.setattr(alt.Chart, "to_dict", lambda self, *a, **k: work.append("chart") or to_dict(self, *a, **k))
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/compare.py")
    at.query_params["models"] = f"{A},{B}"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert sorted(work) == ["chart", "style", "style"]

    def drawn(frames):
        return [("#fff3cd" in f.proto.arrow_data.styler.styles, "#d4edda" in f.proto.arrow_data.styler.styles,
                 len(f.value)) for f in frames]

    first = drawn(at.dataframe)
    rows_before = next(len(d.value) for d in at.dataframe if "provenance" in d.value.columns)
    at.run()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert sorted(work) == ["chart", "style", "style"]  # nothing styled or converted again
    assert drawn(at.dataframe) == first and first[0][0] and first[1][1]  # the same tables, still highlighted
    assert len(at.get("vega_lite_chart")) == 1
    at.toggle(key="cmp_official_only").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    rows_after = next(d.value for d in at.dataframe if "provenance" in d.value.columns)
    assert len(rows_after) < rows_before and set(rows_after["provenance"]) <= {"official", "official-copy"}
