"""Eval runs are private to the session that ran them until their author publishes them; a test run never reaches
another visitor's Compare page. Real runs against loopback servers, a real runs database, Compare under AppTest."""

from __future__ import annotations

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from modelmatch.evals import visibility as eval_visibility

from modelmatch.evals import summary as evals
from modelmatch.evals.store import EvalStore
from tests.conftest import REPO_ROOT
from tests.openai_server import ScriptedServer
from tests.evals.test_eval_runner import endpoint, eval_set, reply, run_to_end, store  # noqa: F401 - fixtures


def test_a_run_is_private_until_published_and_only_a_real_run_can_be(store, eval_set):  # noqa: F811
    with ScriptedServer(reply("ANSWER: 5")) as server:
        run_id, _ = run_to_end(store, eval_set, [endpoint("Qwen", server)])
    assert eval_visibility.visible_run_ids(store, ()) == set()
    assert eval_visibility.visible_run_ids(store, {run_id}) == {run_id}  # its own session sees it
    everyone = evals.latest_eval_accuracy(["org/Qwen"], store, run_ids=eval_visibility.visible_run_ids(store, ()))
    assert everyone.empty
    with pytest.raises(eval_visibility.PublishRefused, match="not a test run"):
        eval_visibility.publish(store, run_id, not_a_test=False)
    eval_visibility.publish(store, run_id, not_a_test=True)
    shared = evals.latest_eval_accuracy(["org/Qwen"], store, run_ids=eval_visibility.visible_run_ids(store, ()))
    assert list(shared["run_id"]) == [run_id]
    eval_visibility.unpublish(store, run_id)
    assert eval_visibility.visible_run_ids(store, ()) == set()


def test_a_run_whose_every_request_failed_cannot_be_published(store, eval_set):  # noqa: F811
    from modelmatch.chat.endpoints import Endpoint

    dead = Endpoint(name="Dead", kind="openai", model="x", base_url="http://127.0.0.1:9/v1", model_id="org/Dead",
                    first_byte_timeout_s=1, connect_timeout_s=1)
    run_id, _ = run_to_end(store, eval_set.subset(["en"], max_groups=1), [dead])
    with pytest.raises(eval_visibility.PublishRefused, match="no scored result"):
        eval_visibility.publish(store, run_id, not_a_test=True)


def test_compare_does_not_show_another_sessions_test_run(monkeypatch, live_catalog, fixture_data_dir, tmp_path,
                                                         eval_set):  # noqa: F811
    """Regression: Compare's "Your evals" showed every run in the shared database to every visitor, including a
    test run against a misconfigured endpoint (0 %)."""
    runs_db = tmp_path / "runs.sqlite"
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(live_catalog))
    monkeypatch.setenv("MODELMATCH_RUNS_DB", str(runs_db))
    writer = EvalStore(runs_db)
    with ScriptedServer(reply("ANSWER: wrong")) as server:
        ep = dataclasses.replace(endpoint("Alpha", server), model_id="test-org/Alpha-7B-Instruct")
        test_run, _ = run_to_end(writer, eval_set, [ep])
    writer.close()

    def compare_page() -> AppTest:
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
        at.query_params["models"] = "test-org/Alpha-7B-Instruct,test-org/Beta-MoE"
        at.run()
        at.switch_page("pages/compare.py")
        at.run()
        assert not at.exception
        return at

    at = compare_page()
    assert not any("eval_accuracy" in df.value.columns for df in at.dataframe)
    assert any("None of these models has been through one of your eval sets" in c.value for c in at.caption)

    from modelmatch.evals.store import shared_store

    eval_visibility.publish(shared_store(runs_db), test_run, not_a_test=True)
    at = compare_page()
    shown = next(df.value for df in at.dataframe if "eval_accuracy" in df.value.columns)
    assert list(shown["run_id"]) == [test_run]
