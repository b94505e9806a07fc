"""Overview and Compare under AppTest: filters change results, empty selections guide, links reopen views."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

A, B, G = "test-org/Alpha-7B-Instruct", "test-org/Beta-MoE", "test-vendor/gamma-api"


@pytest.fixture
def app_env(monkeypatch, live_catalog, fixture_data_dir):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(live_catalog))
    return live_catalog


# Overview's sections opened on demand (each opens with a click that reruns the page): its filters and its table.
OVERVIEW_OPENED = {"ov_filters": True, "ov_numbers": True}


def open_page(page: str, opened: dict | None = None, **query) -> AppTest:
    """Open a page through app.py's navigation with the given query parameters, as a pasted link would, with the
    sections in `opened` (expander keys) open."""
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.switch_page(page)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if opened:  # opened after the link's first run, as a click would (the link's seeding sets whether they start open)
        for key, value in opened.items():
            at.session_state[key] = value
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def table_models(at: AppTest, index: int = -1) -> list[str]:
    return list(at.dataframe[index].value["model_id"]) if "model_id" in at.dataframe[index].value else []


def test_overview_shows_the_numbers_and_filters_change_them(app_env):
    at = open_page("pages/overview.py", OVERVIEW_OPENED, benchmark="mmlu")
    points = at.dataframe[-1].value
    assert set(points["model_id"]) == {A, B}  # Gamma has no mmlu score in the fixture
    at.multiselect(key="ov_vendor").set_value(["DeepSeek"]).run()
    assert set(at.dataframe[-1].value["model_id"]) == {B}
    assert at.query_params["vendor"] == "DeepSeek" and at.query_params["benchmark"] == "mmlu"


def test_overview_runs_only_the_open_tab(app_env):
    """The hidden tabs are not computed: the leaderboard (its own query) appears once its tab is chosen."""
    at = open_page("pages/overview.py", benchmark="mmlu")
    assert len(at.get("vega_lite_chart")) == 1  # the first tab's chart, not the other two
    assert not [s for s in at.selectbox if s.key == "ov_board_category"]
    assert not [df for df in at.dataframe if "category mean" in df.value.columns]
    at.session_state["ov_tab"] = "Leaderboards"
    at.session_state["ov_board_category"] = "knowledge"  # mmlu's category
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="ov_board_category").value == "knowledge"
    assert [df for df in at.dataframe if "category mean" in df.value.columns]
    assert not at.get("vega_lite_chart")


def test_overview_rerun_draws_its_chart_without_building_it_again(app_env, monkeypatch):
    """The chart is drawn from a spec cached per filter state: a warm rerun builds no Altair chart (building and
    validating it was over half of the rerun), and a changed filter draws the new points."""
    import pyarrow as pa

    from modelmatch.explore import charts

    built: list[list[str]] = []
    real = charts.quality_vs_price

    def counting(df, *args):
        built.append(sorted(df["display_name"]))  # the chart carries only what it draws (names, not ids)
        return real(df, *args)

    monkeypatch.setattr(charts, "quality_vs_price", counting)
    at = open_page("pages/overview.py", {"ov_filters": True}, benchmark="mmlu")

    def drawn_models() -> list[str]:
        (dataset,) = at.get("vega_lite_chart")[0].proto.datasets  # Streamlit sends the spec's data as Arrow
        return sorted(pa.ipc.open_stream(dataset.data.data).read_all().column("display_name").to_pylist())

    assert built == [drawn_models()] and built[0]
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(built) == 1 and drawn_models() == built[0]
    at.multiselect(key="ov_vendor").set_value(["DeepSeek"]).run()
    assert len(built) == 2 and drawn_models() == built[1] == ["Beta MoE"]  # B


def test_overview_leaderboard_category_survives_a_visit_to_another_tab(app_env):
    """The category box is not drawn while another tab is open (a widget not drawn loses its state)."""
    at = open_page("pages/overview.py", benchmark="mmlu")
    at.session_state["ov_tab"] = "Leaderboards"
    at.run()
    other = at.selectbox(key="ov_board_category").options[-1]
    at.selectbox(key="ov_board_category").set_value(other).run()
    at.session_state["ov_tab"] = "Quality vs price"
    at.run()
    at.session_state["ov_tab"] = "Leaderboards"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="ov_board_category").value == other


def test_overview_filters_that_match_nothing_explain_themselves(app_env):
    at = open_page("pages/overview.py", total_min="1000")
    assert not at.dataframe
    assert "No model matches these filters" in at.info[0].value


def test_overview_ignores_bad_query_params_with_a_notice(app_env):
    at = open_page("pages/overview.py", benchmark="mmlu'; DROP TABLE scores;--", vendor="Nobody", open="maybe")
    warnings = " ".join(w.value for w in at.warning)
    assert "Ignored unknown benchmark" in warnings and "Ignored unknown vendor" in warnings
    assert "expected 1 or 0" in warnings
    assert at.get("vega_lite_chart")  # the page still renders with defaults


def test_compare_without_selection_guides(app_env):
    at = open_page("pages/compare.py")
    assert "Pick at least 2 models" in at.info[0].value


def test_compare_from_link_shows_cards_table_and_gaps(app_env):
    at = open_page("pages/compare.py", models=f"{A},{B},{G}")
    assert [s.value for s in at.subheader][:3] == ["Alpha 7B Instruct", "Beta MoE", "Gamma (API)"]
    assert at.multiselect(key="cmp_models").value == [A, B, G]
    matrix = at.dataframe[1].value
    assert "no official number" in set(matrix["Gamma (API)"])  # Gamma has no mt-bench or third-party gap shown
    assert at.query_params["models"] == f"{A},{B},{G}"


def test_compare_ignores_unknown_models_in_link(app_env):
    at = open_page("pages/compare.py", models=f"{A},nobody/none,{B}")
    assert at.multiselect(key="cmp_models").value == [A, B]
    assert any("Ignored unknown model 'nobody/none'" in w.value for w in at.warning)


def test_glossary_filters_benchmarks(app_env):
    at = open_page("pages/glossary.py")
    assert len(at.dataframe[0].value) == 2
    at.multiselect(key="glossary_category").set_value(["knowledge"]).run()
    assert list(at.dataframe[0].value["benchmark_id"]) == ["mmlu"]


def test_compare_charts_one_score_mode_chosen_explicitly_with_a_stated_default(app_env):
    at = open_page("pages/compare.py", models=f"{A},{B}")
    assert at.selectbox(key="cmp_mode").value == "each model's default"
    assert any("Scores charted in: **each model's default** mode" in c.value for c in at.caption)
    matrix = at.dataframe[1].value.set_index("benchmark")
    assert matrix.loc["MMLU", "Beta MoE"] == "90.8"  # Beta always thinks: its default mode is thinking
    at = open_page("pages/compare.py", models=f"{A},{B}", mode="non-thinking")
    assert at.selectbox(key="cmp_mode").value == "non-thinking"
    matrix = at.dataframe[1].value.set_index("benchmark")
    assert matrix.loc["MMLU", "Beta MoE"] == "no official number"  # no non-thinking number for Beta
    assert matrix.loc["MMLU", "Alpha 7B Instruct"] == "74.2"
    at.selectbox(key="cmp_mode").set_value("thinking").run()
    assert at.query_params["mode"] == "thinking"


def test_compare_presets_include_a_2026_pairing_of_catalog_models(monkeypatch, real_catalog):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(REPO_ROOT / "data"))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(real_catalog))
    at = open_page("pages/compare.py")
    links = [el for el in at.get("page_link")]
    labels = [el.proto.label for el in links]
    assert any(label.startswith("2026:") for label in labels), labels
    # The 2026 pairing renders on the real catalog, with licenses and the DeepSeek price history's V3.2 row.
    at = open_page("pages/compare.py", models="Qwen/Qwen3.5-397B-A17B,deepseek-ai/DeepSeek-V3.2,"
                                              "deepseek-ai/DeepSeek-V3.2-Exp", price_date="2026-01-01")
    facts = next(df.value for df in at.dataframe if "fact" in df.value.columns).set_index("fact")
    assert facts.loc["License", "Qwen3.5-397B-A17B"] == "Apache License 2.0"
    assert facts.loc["License", "DeepSeek-V3.2"] == "MIT License"
    assert facts.loc["Cheapest API price", "DeepSeek-V3.2"].startswith("$0.28 in / $0.42 out")


def test_compare_rerun_with_the_same_choices_rebuilds_no_table(app_env, monkeypatch):
    """The tables are derived once per view (cached by build, models, date, mode, category and day), not per rerun."""
    import streamlit as st

    from modelmatch.explore import compare

    st.cache_data.clear()
    built: list[int] = []
    real = compare.attribute_table
    monkeypatch.setattr(compare, "attribute_table", lambda data: built.append(1) or real(data))
    at = open_page("pages/compare.py", models=f"{A},{B}")
    at.toggle(key="cmp_official_only").set_value(True).run()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(built) == 1
    at.selectbox(key="cmp_category").set_value("knowledge").run()  # another view: built for it
    assert len(built) == 2


@pytest.mark.parametrize("label,qwen,deepseek", [
    ("2026: Qwen3.5-397B-A17B vs DeepSeek-V3.2", "87.8", "85"),
    ("2026, newest: Qwen3.5-397B-A17B vs DeepSeek-V4-Pro", "87.8", "87.1"),
])
def test_compare_2026_presets_show_scores_for_both_models(monkeypatch, real_catalog, label, qwen, deepseek):
    """Issue 16: the 2026 pairings opened with no score on the DeepSeek side (V3.2 and V4 had none in the catalog);
    each now shows both models' MMLU-Pro, from Qwen's card and DeepSeek's card or another vendor's table."""
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(REPO_ROOT / "data"))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(real_catalog))
    at = open_page("pages/compare.py")
    link = next(el for el in at.get("page_link") if el.proto.label == label)
    models = str(link.proto).split("models=")[1].split("&")[0].split('"')[0].replace("%2F", "/").replace("%2C", ",")
    at = open_page("pages/compare.py", models=models)
    matrix = next(df.value for df in at.dataframe if "benchmark" in df.value.columns).set_index("benchmark")
    row = matrix.loc["MMLU-Pro"]
    assert [str(row.iloc[-2]), str(row.iloc[-1])] == [qwen, deepseek], row


def test_compare_presets_include_the_newest_pair_scored_in_thinking_mode(monkeypatch, real_catalog):
    """A preset opens the newest Qwen and DeepSeek models with official scores in thinking mode on shared
    benchmarks, charted in the mode both were measured in."""
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(REPO_ROOT / "data"))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(real_catalog))
    at = open_page("pages/compare.py")
    link = next(el for el in at.get("page_link") if el.proto.label.startswith("Thinking, newest scored"))
    assert "mode=thinking" in str(link.proto)
    at = open_page("pages/compare.py", models="Qwen/Qwen3-235B-A22B-Thinking-2507,deepseek-ai/DeepSeek-V3.1",
                   mode="thinking")
    matrix = next(df.value for df in at.dataframe if "benchmark" in df.value.columns).set_index("benchmark")
    assert matrix.loc["MMLU-Pro", "Qwen3-235B-A22B-Thinking-2507"] == "84.4"
    assert matrix.loc["MMLU-Pro", "DeepSeek-V3.1"] == "84.8"  # the thinking column, not non-thinking 83.7


@pytest.mark.parametrize("page, query", [("pages/overview.py", {"benchmark": "mmlu"}),
                                         ("pages/compare.py", {"models": f"{A},{B}"}), ("pages/models.py", {})])
def test_tables_send_only_the_columns_they_show(app_env, page, query):
    """The regression: tables sent every column of their frames and hid most with column_order (Compare's score rows
    28 columns to show 13, 736 KB for six models; Overview's numbers 18 to show 11). Only the row's model id travels
    hidden, so a row can still be told apart."""
    at = open_page(page, OVERVIEW_OPENED if page == "pages/overview.py" else None, **query)
    ordered = [df for df in at.dataframe if df.proto.column_order]
    assert ordered
    for table in ordered:
        shown = list(table.proto.column_order)
        sent = list(table.value.columns)
        assert sent == (["model_id"] if "model_id" in sent else []) + shown, (page, sent)
