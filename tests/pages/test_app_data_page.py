"""The Data page under AppTest, run through app.py's navigation against the fixture catalog: review queue,
validation, last build changes, freshness, price history (chart and price on a date), importer runs, how-to."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ingest.build import build
from modelmatch.catalog.schema import PRICES
from tests.conftest import REPO_ROOT
from tests.fixture_data import FIXTURE_ROWS, write_table

HELD_REASON = "fell-to-zero: output fell from 0.42 to 0 $/Mtok"


@pytest.fixture
def app_env(monkeypatch, live_catalog, fixture_data_dir):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(live_catalog))
    return fixture_data_dir


def open_data_page(sidebar_warnings: list[str] | None = None) -> AppTest:
    """Run app.py (startup build, navigation, sidebar), then switch to the Data page as a click would.
    `sidebar_warnings` collects the sidebar's warnings of the first run (AppTest drops the sidebar tree on a
    page switch)."""
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    if sidebar_warnings is not None:
        sidebar_warnings += [w.value for w in at.sidebar.warning]
    at.switch_page("pages/data.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def tab(at: AppTest, label: str):
    """Open the tab as a click would (only the open tab runs) and return it."""
    at.session_state["data_tab"] = label
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return next(t for t in at.tabs if t.label == label)


def metric(at: AppTest, label: str):
    return next(m.value for m in at.metric if m.label == label)


def write_held_import(data_dir: Path) -> Path:
    folder = data_dir / "imports" / "openrouter"
    folder.mkdir(parents=True)
    path = folder / "prices.csv"
    row = {**FIXTURE_ROWS["prices"][1], "provider": "OpenRouter", "provider_model": "test-org/beta-moe",
           "tier": "via TestCloud", "output_usd_per_mtok": "0", "effective_from": "2025-12-01",
           "as_of": "2025-12-01", "review": "held", "review_reason": HELD_REASON,
           "retrieved_at": "2025-12-01T10:00:00Z"}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=PRICES.column_names, extrasaction="ignore")
        writer.writeheader()
        writer.writerow({**row, "output_usd_per_mtok": "0.42", "effective_from": "2025-10-01", "review": "",
                         "review_reason": ""})
        writer.writerow(row)
    return path


def test_data_page_sections_with_a_clean_catalog(app_env):
    at = open_data_page()
    assert at.title[0].value == "Data"
    assert [t.label for t in at.tabs] == ["Review queue", "Validation", "Last build", "Freshness", "Price history",
                                          "Imports", "How to add a model", "Coverage by tier"]
    assert metric(at, "Held for review") == "0" and metric(at, "Validation problems") == "0"
    queue = tab(at, "Review queue")
    assert "Nothing is waiting for review" in queue.success[0].value
    guards = queue.expander[0].dataframe[0].value
    assert "fell-to-zero" in set(guards["guard"]) and "unit-mixup" in set(guards["guard"])
    assert "No problems in 11 files" in tab(at, "Validation").success[0].value
    mappings = tab(at, "Validation").dataframe[0].value
    assert list(mappings["source"]) == ["openrouter", "litellm", "hf-config"]
    assert "First build" in tab(at, "Last build").info[0].value
    assert "No importer has run yet" in tab(at, "Imports").info[0].value


def test_review_queue_lists_held_rows_with_the_command_to_accept(app_env):
    write_held_import(app_env)
    sidebar: list[str] = []
    at = open_data_page(sidebar)
    assert metric(at, "Held for review") == "1"
    assert metric(at, "Validation problems") == "0"  # held rows are listed in the queue, not twice
    queue = tab(at, "Review queue")
    assert "1 row(s) held for review" in queue.warning[0].value
    held = queue.dataframe[0].value
    assert list(held["row"]) == ["data/imports/openrouter/prices.csv:3"]
    assert list(held["why held"]) == [HELD_REASON]
    assert list(held["accept with"]) == [
        'python -m ingest accept data/imports/openrouter/prices.csv:3 --note "checked <where>"']
    assert list(held["model_id"]) == ["test-org/Beta-MoE"]
    # The startup build was refused (the held row), so the sidebar says the last good build is shown.
    assert sidebar == ["data/ has 1 problem(s); the last good catalog build is shown. See the Data page."]


def test_validation_problems_are_listed_with_file_line_and_column(app_env):
    rows = [dict(r) for r in FIXTURE_ROWS["gpus"]]
    rows[0]["memory_gb"] = "lots"
    write_table(app_env, "gpus", rows)
    (app_env / "mappings").mkdir()
    (app_env / "mappings" / "openrouter.csv").write_text("external_id,model_id,notes\nx/y,test-org/Nope,\n")
    at = open_data_page()
    validation = tab(at, "Validation")
    assert "1 problem(s)" in validation.error[0].value
    problem = validation.dataframe[0].value.iloc[0]
    assert (problem["file"], problem["line"], problem["column"]) == ("data/gpus/fixture.csv", 2, "memory_gb")
    mapping_problem = validation.dataframe[2].value.iloc[0]
    assert (mapping_problem["file"], mapping_problem["line"]) == ("data/mappings/openrouter.csv", 2)
    assert metric(at, "Validation problems") == "2"


def test_last_build_shows_rows_added_changed_removed(app_env, live_catalog):
    rows = [dict(r) for r in FIXTURE_ROWS["prices"]]
    rows[1]["output_usd_per_mtok"] = "0.40"
    rows.append({**rows[1], "effective_from": "2025-12-01", "input_usd_per_mtok": "0.20"})
    write_table(app_env, "prices", rows)
    build(app_env, live_catalog)
    at = open_data_page()
    last = tab(at, "Last build")
    counts = last.dataframe[0].value.set_index("table")
    assert tuple(counts.loc["prices", ["added", "changed", "removed"]]) == (1, 1, 0)
    assert counts.loc["prices", "rows now"] == 3
    changed_rows = last.expander[0].dataframe[0].value
    assert set(changed_rows["change"]) == {"added", "changed"}


def test_freshness_shows_each_rows_age_and_stale_filter(app_env, monkeypatch):
    monkeypatch.setenv("MODELMATCH_STALE_AFTER_DAYS_MODELS", "100000")
    at = open_data_page()
    fresh = tab(at, "Freshness")
    summary = fresh.dataframe[0].value.set_index("table")
    assert summary.loc["prices", "stale_after_days"] == 90 and summary.loc["models", "stale_after_days"] == 100000
    prices_rows = fresh.dataframe[1].value
    assert list(prices_rows["as_of"].astype(str).str[:10]) == ["2025-01-20", "2025-09-05"]
    assert all(prices_rows["freshness"].str.contains("·"))
    at.selectbox(key="data_fresh_table").set_value("models").run()
    at.toggle(key="data_fresh_stale").set_value(True).run()
    assert not at.exception
    assert "No stale rows in models" in tab(at, "Freshness").success[0].value


def test_price_history_chart_and_price_on_a_chosen_date(app_env):
    at = open_data_page()
    history = tab(at, "Price history")
    assert at.selectbox(key="data_price_model").value == "test-org/Beta-MoE"
    assert at.selectbox(key="data_price_offering").value == "TestCloud beta-chat"
    in_force = history.dataframe[0].value
    assert list(in_force["input_usd_per_mtok"]) == [0.28]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert any(layer.get("mark", {}).get("interpolate") == "step-after" for layer in spec["layer"])
    assert len(history.dataframe[1].value) == 2  # both rows of the history
    at.date_input(key="data_price_date").set_value(dt.date(2025, 5, 1)).run()
    assert list(tab(at, "Price history").dataframe[0].value["input_usd_per_mtok"]) == [0.55]
    at.date_input(key="data_price_date").set_value(dt.date(2024, 5, 1)).run()
    assert "No price of Beta MoE was in force on 2024-05-01" in tab(at, "Price history").info[0].value


def test_imports_tab_shows_each_sources_last_run(app_env):
    write_held_import(app_env)
    summary = {"source": "openrouter", "retrieved_at": "2025-12-01T10:00:00Z", "headline":
               "openrouter: 0 new, 0 changed, 1 unchanged, 1 held for review, 2 unmapped",
               "counts": {"held": 1}, "rows": [{"change": "held", "offering": "OpenRouter test-org/beta-moe",
                                                "file_line": "data/imports/openrouter/prices.csv:3",
                                                "reason": HELD_REASON}],
               "facts": ["test-org/Beta-MoE: context differs"], "missing": ["test-org/gone"], "skipped": [],
               "unmapped_with_suggestion": [{"mapping_line": "test-org/beta-moe:free,test-org/Beta-MoE,"}]}
    (app_env / "imports" / "openrouter" / "last_fetch.json").write_text(json.dumps(summary))
    at = open_data_page()
    imports = tab(at, "Imports")
    assert any("openrouter" in m.value and "2025-12-01T10:00:00Z" in m.value for m in imports.markdown)
    assert imports.text[0].value.startswith("openrouter: 0 new")
    details = imports.expander[0]
    assert list(details.dataframe[0].value["file_line"]) == ["data/imports/openrouter/prices.csv:3"]
    assert set(details.dataframe[1].value["kind"]) == {"check by hand", "mapped but missing from the source"}
    assert details.code[0].value == "test-org/beta-moe:free,test-org/Beta-MoE,"


def test_how_to_add_a_model_comes_from_data_readme(app_env):
    at = open_data_page()
    assert "Open the official sources" in tab(at, "How to add a model").markdown[0].value  # built-in fallback
    shutil.copy(REPO_ROOT / "data" / "README.md", app_env / "README.md")
    at = open_data_page()
    howto = tab(at, "How to add a model")
    assert "Add one row to the vendor's file in `data/models/`" in howto.markdown[0].value
    assert "python -m ingest fetch openrouter" in howto.expander[0].markdown[0].value


def test_coverage_tab_lists_tiers_unsizable_models_and_the_parameter_check(app_env):
    at = open_data_page()
    coverage = tab(at, "Coverage by tier")
    assert coverage.subheader[0].value == "Coverage by provenance tier"
    labels = {m.label: m.value for m in coverage.metric}
    assert labels["Models the planner cannot size"] == "1"  # the fixture's MoE model has no architecture row
    assert labels["Parameter counts verified"] == "1"
    frames = [d.value for d in coverage.dataframe]
    matrix = next(f for f in frames if "head_dim" in f.columns)
    assert matrix.loc["test-org/Beta-MoE", "kv_lora_rank"] == "missing"
    unsizable = next(f for f in frames if "lacks" in f.columns)
    assert list(unsizable["model_id"]) == ["test-org/Beta-MoE"]


def _age_data_files(data_dir: Path, seconds_ago: float) -> None:
    import os
    import time
    then = time.time() - seconds_ago
    for path in data_dir.rglob("*.csv"):
        os.utime(path, (then, then))


def test_data_page_validated_every_rerun_no_more_and_an_edit_is_still_seen(app_env, monkeypatch):
    """Validation of data/ (DuckDB and the SQL rules, ~0.3 s on the real catalog) ran on every rerun of the Data
    page; it is reused while no data file changed, and an edited file is validated again."""
    from pages import data_support
    calls = []
    real_validate = data_support.validate
    monkeypatch.setattr(data_support, "validate", lambda data_dir: calls.append(data_dir) or real_validate(data_dir))
    _age_data_files(app_env, 60)
    at = open_data_page()
    at.run()
    at.run()
    assert len(calls) == 1
    assert metric(at, "Validation problems") == "0"
    rows = [dict(r) for r in FIXTURE_ROWS["gpus"]]
    rows[0]["memory_gb"] = "lots"
    write_table(app_env, "gpus", rows)
    _age_data_files(app_env, 30)
    at.run()
    assert len(calls) == 2
    assert metric(at, "Validation problems") == "1"


def test_data_page_file_written_just_now_is_validated_on_every_run(app_env, monkeypatch):
    """A file written within the racy window could change again in the same timestamp tick: never trusted."""
    from pages import data_support
    calls = []
    real_validate = data_support.validate
    monkeypatch.setattr(data_support, "validate", lambda data_dir: calls.append(data_dir) or real_validate(data_dir))
    _age_data_files(app_env, 0)
    at = open_data_page()
    at.run()
    assert len(calls) == 2


def test_data_page_opens_on_the_real_catalog_and_every_priced_model_regression(monkeypatch, real_catalog):
    """The Data page raised TypeError on the real catalog as soon as it opened: its price history tab starts on a
    model whose offerings never moved on (9 of the 17 priced models), and the fixture catalog has none such."""
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(REPO_ROOT / "data"))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(real_catalog))
    at = open_data_page()
    tab(at, "Price history")
    chooser = at.selectbox(key="data_price_model")
    assert len(chooser.options) >= 17
    for model in chooser.options:
        at.selectbox(key="data_price_model").set_value(model).run()
        assert not at.exception, (model, [e.message for e in at.exception])


def test_data_page_runs_only_the_open_tab_and_keeps_its_choices_while_hidden(app_env, monkeypatch):
    """Every tab's tables were drawn on every rerun (most of the page's warm rerun): only the open tab runs now. A
    widget that is not drawn loses its state, so the Freshness and Price history choices are kept while another
    tab is open."""
    monkeypatch.setenv("MODELMATCH_STALE_AFTER_DAYS_MODELS", "100000")
    at = open_data_page()
    assert not [s for s in at.selectbox if s.key in ("data_fresh_table", "data_price_model")]  # closed tabs
    assert not at.get("vega_lite_chart")  # the price chart is not drawn either
    assert "Nothing is waiting for review" in tab(at, "Review queue").success[0].value
    tab(at, "Freshness")
    at.selectbox(key="data_fresh_table").set_value("models").run()
    at.toggle(key="data_fresh_stale").set_value(True).run()
    tab(at, "Price history")
    assert len(at.get("vega_lite_chart")) == 1
    at.date_input(key="data_price_date").set_value(dt.date(2025, 5, 1)).run()
    tab(at, "Coverage by tier")
    assert not [s for s in at.selectbox if s.key in ("data_fresh_table", "data_price_model")]
    fresh = tab(at, "Freshness")
    assert at.selectbox(key="data_fresh_table").value == "models" and at.toggle(key="data_fresh_stale").value
    assert "No stale rows in models" in fresh.success[0].value
    history = tab(at, "Price history")
    assert at.date_input(key="data_price_date").value == dt.date(2025, 5, 1)
    assert list(history.dataframe[0].value["input_usd_per_mtok"]) == [0.55]
    assert not at.warning, [w.value for w in at.warning]  # no "default value and Session State" warning
