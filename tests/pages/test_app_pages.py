"""Every page runs under Streamlit's AppTest against a fixture catalog without an exception."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

PAGES = ["pages/overview.py", "pages/models.py", "pages/compare.py", "pages/glossary.py", "pages/planner.py", "pages/wizard.py",
         "pages/playground.py", "pages/evals.py", "pages/data.py"]


@pytest.fixture
def app_env(monkeypatch, fixture_data_dir):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(fixture_data_dir / "catalog.duckdb"))
    monkeypatch.setenv("MODELMATCH_RUNS_DB", str(fixture_data_dir.parent / "runs.sqlite"))
    return fixture_data_dir


def run_page(page: str) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    if page != "pages/models.py":
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_first_start_builds_the_missing_catalog(app_env):
    assert not (app_env / "catalog.duckdb").exists()
    at = run_page("pages/models.py")
    assert (app_env / "catalog.duckdb").exists()
    assert any("3** of 3 models" in m.value for m in at.markdown)


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_without_exception(app_env, page):
    at = run_page(page)
    assert at.title and at.title[0].value


def test_models_filters_change_results(app_env):
    at = run_page("pages/models.py")
    df = at.dataframe[0].value
    assert set(df["model_id"]) == {"test-org/Alpha-7B-Instruct", "test-org/Beta-MoE", "test-vendor/gamma-api"}

    at.toggle(key="models_open").set_value(True).run()
    assert set(at.dataframe[0].value["model_id"]) == {"test-org/Alpha-7B-Instruct", "test-org/Beta-MoE"}

    at.multiselect(key="models_commercial").set_value(["conditional"]).run()
    assert list(at.dataframe[0].value["model_id"]) == ["test-org/Beta-MoE"]


def test_models_search_and_empty_result_guidance(app_env):
    at = run_page("pages/models.py")
    at.text_input(key="models_search").set_value("alpha").run()
    assert list(at.dataframe[0].value["model_id"]) == ["test-org/Alpha-7B-Instruct"]
    at.text_input(key="models_search").set_value("no such model").run()
    assert not at.dataframe
    assert "No model matches" in at.info[0].value


def test_models_table_links_to_sources(app_env):
    at = run_page("pages/models.py")
    df = at.dataframe[0].value.set_index("model_id")
    assert df.loc["test-org/Beta-MoE", "source_url"] == "https://example.org/report"
    assert df.loc["test-org/Beta-MoE", "weights_url"] == "https://huggingface.co/test-org/Beta-MoE"
    assert pd.isna(df.loc["test-vendor/gamma-api", "weights_url"])


def test_invalid_data_on_first_start_is_explained(app_env):
    path = app_env / "models" / "fixture.csv"
    path.write_text(path.read_text().replace("131072", "lots", 1))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("no catalog" in e.value.lower() for e in at.error)
    assert any("problem" in w.value for w in at.sidebar.warning)
