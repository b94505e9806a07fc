"""CSV downloads are written when clicked, not on every script run (a warm rerun used to build each page's CSV)."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

A, B = "test-org/Alpha-7B-Instruct", "test-org/Beta-MoE"
PAGES = {"pages/overview.py": {}, "pages/models.py": {}, "pages/compare.py": {"models": f"{A},{B}"}}
OPENED = {"pages/overview.py": {"ov_numbers": True}}  # Overview's table (and its CSV) is opened on demand


@pytest.fixture
def app_env(monkeypatch, fixture_data_dir):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(fixture_data_dir / "catalog.duckdb"))
    return fixture_data_dir


@pytest.mark.parametrize("page", list(PAGES))
def test_page_runs_write_no_csv_until_a_download_is_clicked(app_env, monkeypatch, page):
    written: list[int] = []
    to_csv = pd.DataFrame.to_csv

    def counting_to_csv(self, *args, **kwargs):
        written.append(len(self))
        return to_csv(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", counting_to_csv)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()  # the first run in a process leaves the pages/ directory mode (see pages.common)
    at.switch_page(page)
    for key, value in PAGES[page].items():
        at.query_params[key] = value
    for key, value in OPENED.get(page, {}).items():
        at.session_state[key] = value
    at.run()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    labels = [b.proto.label for b in at.get("download_button")]
    assert any("CSV" in label for label in labels), labels  # the page does offer a CSV
    assert written == []  # ...and wrote none of it on either run
