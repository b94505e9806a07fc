"""The Playground page under AppTest, against loopback OpenAI-compatible servers named in an endpoints file."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from modelmatch.chat.runs_store import RunsStore
from tests.conftest import REPO_ROOT
from tests.openai_server import DONE, Script, ScriptedServer, answer_script, delta, sse, usage
from tests.openai_server import write_endpoints as shared_write_endpoints

CANARY = "sk-canary-playground-93b1c5d7e9f1a3b5"


def write_endpoints(path, servers, keyed=None):
    shared_write_endpoints(path, servers, keyed, "MM_TEST_KEY", ("first_byte_timeout_s = 5", "stall_timeout_s = 5"))


@pytest.fixture
def env(monkeypatch, live_catalog, fixture_data_dir, tmp_path):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(live_catalog))
    monkeypatch.setenv("MODELMATCH_ENDPOINTS", str(tmp_path / "endpoints.toml"))
    monkeypatch.setenv("MODELMATCH_RUNS_DB", str(tmp_path / "runs.sqlite"))
    return tmp_path


def open_playground() -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/playground.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_one_prompt_two_columns_answers_reasoning_metrics_and_saved_run(env, monkeypatch):
    monkeypatch.setenv("MM_TEST_KEY", CANARY)
    qwen = ScriptedServer(answer_script(["Four", "."], reasoning=["2+2 ", "is 4"]))
    deep = ScriptedServer(answer_script(["It ", "is ", "4."]))
    with qwen, deep:
        write_endpoints(env / "endpoints.toml", {"Qwen": qwen, "DeepSeek": deep}, keyed="DeepSeek")
        at = open_playground()
        assert at.selectbox(key="pg_endpoint_0").value == "Qwen"
        assert at.selectbox(key="pg_endpoint_1").value == "DeepSeek"
        at.chat_input[0].set_value("What is 2+2?").run()
        assert not at.exception, [e.message for e in at.exception]
        assert qwen.received and deep.received
        assert deep.received[0].headers["Authorization"] == f"Bearer {CANARY}"
        assert "Authorization" not in qwen.received[0].headers  # the key goes to its own endpoint only
    text = markdown_text(at)
    assert "Four." in text and "It is 4." in text
    assert any(e.label == "Reasoning" for e in at.expander)
    captions = " ".join(c.value for c in at.caption)
    assert "TTFT" in captions and "server usage" in captions
    run_id = at.session_state["pg_last_run_id"]
    saved = b"".join(p.read_bytes() for p in env.glob("runs.sqlite*"))  # the file and its write-ahead log
    assert saved and CANARY.encode() not in saved
    assert len(run_id) == 16


def test_multi_turn_history_is_sent_on_the_next_prompt(env):
    server = ScriptedServer(answer_script(["Paris."]))
    with server:
        write_endpoints(env / "endpoints.toml", {"Only": server})
        at = open_playground()
        at.segmented_control(key="pg_columns").set_value(1).run()
        at.chat_input[0].set_value("Capital of France?").run()
        at.chat_input[0].set_value("And of Italy?").run()
        assert not at.exception
        messages = server.received[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "Paris." and messages[2]["content"] == "And of Italy?"


def test_a_failing_column_explains_and_the_other_continues(env):
    ok = ScriptedServer(answer_script(["fine"]))
    bad = ScriptedServer(Script(status=500, headers={"Content-Type": "application/json"},
                                steps=[(0, json.dumps({"error": {"message": "boom"}}).encode())]))
    with ok, bad:
        write_endpoints(env / "endpoints.toml", {"Good": ok, "Bad": bad})
        at = open_playground()
        at.chat_input[0].set_value("hi").run()
    assert "fine" in markdown_text(at)
    errors = " ".join(e.value for e in at.error)
    assert "HTTP 500" in errors and "boom" in errors


def test_missing_key_is_explained_without_sending(env, monkeypatch):
    monkeypatch.delenv("MM_TEST_KEY", raising=False)
    server = ScriptedServer(answer_script(["x"]))
    with server:
        write_endpoints(env / "endpoints.toml", {"Keyed": server}, keyed="Keyed")
        at = open_playground()
        at.segmented_control(key="pg_columns").set_value(1).run()
        at.chat_input[0].set_value("hi").run()
        assert server.received == []
    assert "needs an API key" in " ".join(e.value for e in at.error)


def test_saved_run_reopens_from_its_link(env):
    server = ScriptedServer(answer_script(["Saved", " answer"]))
    with server:
        write_endpoints(env / "endpoints.toml", {"One": server})
        at = open_playground()
        at.segmented_control(key="pg_columns").set_value(1).run()
        at.chat_input[0].set_value("keep this").run()
        run_id = at.session_state["pg_last_run_id"]
    again = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    again.switch_page("pages/playground.py")
    again.query_params["run"] = run_id
    again.run()
    assert not again.exception
    assert any(f"Saved run {run_id}" == s.value for s in again.subheader)
    assert "Saved answer" in markdown_text(again)


def test_bad_run_id_in_link_is_ignored_with_notice(env):
    server = ScriptedServer()
    with server:
        write_endpoints(env / "endpoints.toml", {"One": server})
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
        at.switch_page("pages/playground.py")
        at.query_params["run"] = "'; DROP TABLE runs; --"
        at.run()
    assert not at.exception and "No saved run" in at.warning[0].value


def test_broken_endpoints_file_is_explained(env):
    (env / "endpoints.toml").write_text('[[endpoint]]\nname = "x"\nkind = "openai"\nmodel = "m"\n')
    at = open_playground()
    assert "base_url" in at.error[0].value and "endpoints.toml" in at.error[0].value


def test_session_cap_refuses_with_a_message(env, monkeypatch):
    monkeypatch.setenv("MODELMATCH_SESSION_REQUESTS_PER_10_MIN", "1")
    server = ScriptedServer(answer_script(["one"]))
    with server:
        write_endpoints(env / "endpoints.toml", {"A": server, "B": server})
        at = open_playground()
        at.chat_input[0].set_value("hi").run()
        assert len(server.received) == 1
    assert "Your session: 1 requests per 600 s reached" in " ".join(e.value for e in at.error)
