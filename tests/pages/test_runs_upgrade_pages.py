"""After an upgrade, the runs an operator saved with the DuckDB runs file open from their old links: the
Playground and Your evals read them from the SQLite file they were copied into on first start."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.chat.test_runs_store_sqlite import OLD_EVAL_ID, OLD_RUN_ID, sha256_of, write_old_runs_file
from tests.conftest import REPO_ROOT
from tests.pages.test_app_playground import env  # noqa: F401 (fixture)


def test_a_saved_runs_old_link_opens_after_the_upgrade(env, monkeypatch):  # noqa: F811
    old = env / "runs.duckdb"
    write_old_runs_file(old)
    before = sha256_of(old)
    monkeypatch.setenv("MODELMATCH_RUNS_DB", str(old))  # the operator's setting still names the DuckDB file
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.query_params["run"] = OLD_RUN_ID
    at.switch_page("pages/playground.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not any("runs cannot be saved" in w.value for w in at.warning)
    text = "\n".join(m.value for m in at.markdown)
    assert "first question" in text and "second question" in text and "Paris." in text

    evals_page = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    evals_page.query_params["run"] = OLD_EVAL_ID
    evals_page.switch_page("pages/evals.py")
    evals_page.run()
    assert not evals_page.exception, [e.message for e in evals_page.exception]
    assert evals_page.selectbox(key="ev_run_pick").value == OLD_EVAL_ID
    assert (env / "runs.sqlite").exists() and sha256_of(old) == before
