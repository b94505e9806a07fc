"""The Your evals page under AppTest through app.py, against loopback OpenAI-compatible servers."""

from __future__ import annotations

import threading

import pytest
from streamlit.testing.v1 import AppTest

from modelmatch.evals import summary as evals
from modelmatch.evals.sets import load_builtin, sent_prompt
from modelmatch.evals.store import shared_store
from tests.conftest import REPO_ROOT
from tests.openai_server import Script, ScriptedServer, answer_script
from tests.openai_server import write_endpoints as shared_write_endpoints

CANARY = "sk-canary-evalpage-7a6b5c4d3e2f1a0b"
COMPLIANT = {"inst-01": "YES", "inst-02": "1. Red\n2. Blue\n3. Green", "inst-03": '{"count": 6}',
             "inst-04": "ModelMatch, ModelMatch, ModelMatch"}


def write_endpoints(path, servers, keyed=None):
    shared_write_endpoints(path, servers, keyed, "MM_EVAL_PAGE_KEY",
                           ("requests_per_minute = 100000", "first_byte_timeout_s = 5"))


@pytest.fixture
def env(monkeypatch, live_catalog, fixture_data_dir, tmp_path):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(live_catalog))
    monkeypatch.setenv("MODELMATCH_ENDPOINTS", str(tmp_path / "endpoints.toml"))
    monkeypatch.setenv("MODELMATCH_RUNS_DB", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("MODELMATCH_EVAL_RETRY_BASE_S", "0")
    return tmp_path


@pytest.fixture(scope="module")
def by_prompt():
    return {sent_prompt(item): item for item in load_builtin().items}


def oracle(by_prompt, wrong_languages=()):
    """Right answers, except in wrong_languages where every numeric answer is off by one."""
    def script(body):
        item = by_prompt[body["messages"][-1]["content"]]
        if item.scorer == "regex":
            return answer_script([COMPLIANT[item.group_id]])
        answer = item.expected.split("|")[0]
        if item.language in wrong_languages and item.scorer == "numeric":
            answer = str(int(float(answer)) + 1)
        return answer_script([f"Working it out.\nANSWER: {answer}"])
    return script


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/evals.py")
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def frame_with(at: AppTest, column: str):
    """The first dataframe on the page that has this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def click_and_finish(at: AppTest, key: str) -> AppTest:
    """Click a button that starts a run, wait for the runner thread, and load the page again (a browser's progress
    fragment does this on its own every half second)."""
    at.button(key=key).click().run()
    assert not at.exception, [e.message for e in at.exception]
    runner = at.session_state["ev_runner"] if "ev_runner" in at.session_state else None
    if runner is not None:
        assert runner.wait(60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["ev_runner"] is None
    return at


def text_of(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning]
    return "\n".join(parts)


def test_run_the_starter_set_on_two_endpoints(env, monkeypatch, by_prompt):
    monkeypatch.setenv("MM_EVAL_PAGE_KEY", CANARY)
    good, weak = ScriptedServer(oracle(by_prompt)), ScriptedServer(oracle(by_prompt, wrong_languages=("th",)))
    with good, weak:
        write_endpoints(env / "endpoints.toml", {"Good": good, "Weak": weak}, keyed="Good")
        at = open_page()
        assert "235 items written for ModelMatch" in text_of(at)
        at.multiselect(key="ev_languages").set_value(["en", "th"])
        at.multiselect(key="ev_categories").set_value(["math"])
        at.number_input(key="ev_max_groups").set_value(5)
        at.multiselect(key="ev_endpoints").set_value(["Good", "Weak"])
        at.run()
        assert "10 items (5 questions) in 2 languages" in text_of(at)
        estimate = frame_with(at, "requests")
        assert list(estimate["requests"]) == [10, 10]
        start = at.button(key="ev_start")
        assert start.label == "Start: 20 requests" and not start.disabled
        click_and_finish(at, "ev_start")
        assert len(good.received) == len(weak.received) == 10
        assert good.received[0].headers["Authorization"] == f"Bearer {CANARY}"
        assert "Authorization" not in weak.received[0].headers
    run_id = at.session_state["ev_run_id"]
    assert at.query_params["run"] == run_id
    assert at.selectbox(key="ev_run_pick").value == run_id
    assert at.selectbox(key="ev_run_pick").options[0].endswith(f" · starter · Good, Weak · {run_id}")
    matrix = frame_with(at, "all").set_index("endpoint")
    assert matrix.loc["Good", "Thai (th)"].startswith("100% (5/5)")
    assert matrix.loc["Weak", "Thai (th)"].startswith("0% (0/5)")
    assert matrix.loc["Weak", "English (en)"].startswith("100% (5/5)")
    per_model = frame_with(at, "consistency").set_index("endpoint")
    assert per_model.loc["Weak", "consistency"] == 0 and per_model.loc["Good", "consistency"] == 100
    assert per_model.loc["Weak", "worst language"].startswith("Thai (th): 0%")
    # Side by side: the first question, both endpoints, both languages.
    assert at.selectbox(key="ev_question").value == "math-01"
    assert sum("right: read `30`" in s.value for s in at.success) == 3
    assert any("wrong: read `31`" in w.value for w in at.warning)
    assert CANARY.encode() not in b"".join(p.read_bytes() for p in env.glob("runs.sqlite*")) if (env / "runs.sqlite").exists() else True


def test_malformed_upload_is_reported_per_row_and_nothing_is_sent(env):
    server = ScriptedServer(answer_script(["ANSWER: 4"]))
    with server:
        write_endpoints(env / "endpoints.toml", {"A": server})
        at = open_page()
        at.radio(key="ev_source").set_value("Upload a CSV or TSV file").run()
        bad = ("id,language,prompt,expected,scorer\nq1,en,Two plus two?,4,numeric\nq1,en,,4,numeric\n"
               "q3,en,x,(,regex\nq4,en,x,4,guess\n").encode()
        at.file_uploader(key="ev_upload").set_value(("bad.csv", bad, "text/csv")).run()
        assert not at.exception, [e.message for e in at.exception]
        assert "4 problem(s) in bad.csv; nothing will be sent" in at.error[0].value
        report = frame_with(at, "problem")
        assert list(report["line"]) == [3, 3, 4, 5]
        assert "duplicate id 'q1'" in report["problem"].iloc[0] and "empty prompt" in report["problem"].iloc[1]
        assert "does not compile" in report["problem"].iloc[2] and "unknown scorer 'guess'" in report["problem"].iloc[3]
        assert not [b for b in at.button if b.key == "ev_start"]
        assert server.received == []


def test_upload_a_good_file_and_run_it(env):
    server = ScriptedServer(answer_script(["ANSWER: 4"]))
    with server:
        write_endpoints(env / "endpoints.toml", {"A": server})
        at = open_page()
        at.radio(key="ev_source").set_value("Upload a CSV or TSV file").run()
        good = "id,language,prompt,expected,scorer\nq1,en,Two plus two?,4,numeric\nq2,en,Three plus two?,5,numeric\n"
        at.file_uploader(key="ev_upload").set_value(("mine.csv", good.encode(), "text/csv")).run()
        click_and_finish(at, "ev_start")
        assert len(server.received) == 2
    matrix = frame_with(at, "all").set_index("endpoint")
    assert matrix.loc["A", "English (en)"].startswith("50% (1/2)")


def test_failed_items_show_as_failed_and_resume_sends_only_them(env, by_prompt):
    healthy = threading.Event()
    right = oracle(by_prompt)

    def script(body):
        item = by_prompt[body["messages"][-1]["content"]]
        if item.item_id == "math-02-th" and not healthy.is_set():
            return Script(status=502, headers={"Content-Type": "application/json"}, steps=[(0, b"{}")])
        return right(body)

    server = ScriptedServer(script)
    with server:
        write_endpoints(env / "endpoints.toml", {"A": server})
        at = open_page()
        at.multiselect(key="ev_languages").set_value(["en", "th"])
        at.multiselect(key="ev_categories").set_value(["math"])
        at.number_input(key="ev_max_groups").set_value(3)
        at.run()
        click_and_finish(at, "ev_start")
        assert "1 request(s) failed or were never sent. They are not counted as wrong" in text_of(at)
        matrix = frame_with(at, "all").set_index("endpoint")
        assert matrix.loc["A", "Thai (th)"].startswith("100% (2/2)")  # the failed item is not a wrong answer
        at.segmented_control(key="ev_filter").set_value("failed").run()
        assert at.selectbox(key="ev_question").value == "math-02"
        assert any("failed, not scored" in e.value and "HTTP 502" in e.value for e in at.error)
        healthy.set()
        before = len(server.received)
        resume = at.button(key="ev_resume")
        assert resume.label == "Resume: send 1 request(s)"
        click_and_finish(at, "ev_resume")
        resent = [by_prompt[r.body["messages"][-1]["content"]].item_id for r in server.received[before:]]
    assert resent == ["math-02-th"]
    matrix = frame_with(at, "all").set_index("endpoint")
    assert matrix.loc["A", "Thai (th)"].startswith("100% (3/3)")
    assert not [b for b in at.button if b.key == "ev_resume"]


def test_a_run_reopens_from_its_link_and_a_bad_link_is_explained(env, by_prompt):
    server = ScriptedServer(oracle(by_prompt))
    with server:
        write_endpoints(env / "endpoints.toml", {"A": server})
        at = open_page()
        at.multiselect(key="ev_languages").set_value(["zh"])
        at.number_input(key="ev_max_groups").set_value(2)
        at.run()
        click_and_finish(at, "ev_start")
        run_id = at.session_state["ev_run_id"]
    again = open_page({"run": run_id})
    assert again.selectbox(key="ev_run_pick").value == run_id
    assert frame_with(again, "all").set_index("endpoint").loc["A", "Chinese (zh)"].startswith("100% (2/2)")
    bad = open_page({"run": "'; DROP TABLE eval_runs; --"})
    assert any("No eval run matches" in w.value for w in bad.warning)
    assert shared_store(env / "runs.sqlite").run_info(run_id) is not None


def test_missing_key_blocks_the_start(env, monkeypatch):
    monkeypatch.delenv("MM_EVAL_PAGE_KEY", raising=False)
    server = ScriptedServer()
    with server:
        write_endpoints(env / "endpoints.toml", {"Keyed": server}, keyed="Keyed")
        at = open_page()
        assert any("Keyed needs an API key" in e.value for e in at.error)
        assert at.button(key="ev_start").disabled
        assert server.received == []


def test_request_limit_per_run_refuses_to_start(env, monkeypatch):
    monkeypatch.setenv("MODELMATCH_EVAL_MAX_REQUESTS_PER_RUN", "10")
    server = ScriptedServer()
    with server:
        write_endpoints(env / "endpoints.toml", {"A": server})
        at = open_page()
        assert any("235 requests is over the limit of 10 per run" in e.value for e in at.error)
        assert at.button(key="ev_start").disabled


def test_broken_endpoints_file_is_explained(env):
    (env / "endpoints.toml").write_text('[[endpoint]]\nname = "x"\nkind = "openai"\nmodel = "m"\n')
    at = open_page()
    assert "base_url" in at.error[0].value


def test_compare_page_function_sees_the_page_run(env, by_prompt):
    server = ScriptedServer(oracle(by_prompt))
    with server:
        (env / "endpoints.toml").write_text(
            f'[[endpoint]]\nname = "Q"\nkind = "openai"\nbase_url = "{server.base_url}"\nmodel = "q"\n'
            'model_id = "Qwen/Qwen2.5-7B-Instruct"\nrequests_per_minute = 100000\n')
        at = open_page()
        at.multiselect(key="ev_languages").set_value(["en"])
        at.number_input(key="ev_max_groups").set_value(3)
        at.run()
        click_and_finish(at, "ev_start")
    df = evals.latest_eval_accuracy(["Qwen/Qwen2.5-7B-Instruct"], shared_store(env / "runs.sqlite"))
    assert df.iloc[0]["eval_accuracy"] == 100 and df.iloc[0]["scored"] == 3


def test_progress_then_cancel_keeps_finished_items_and_offers_resume(env, by_prompt):
    right = oracle(by_prompt)

    def slow(body):
        script = right(body)
        return Script(steps=[(0.3, step) for _, step in script.steps])

    server = ScriptedServer(slow)
    with server:
        write_endpoints(env / "endpoints.toml", {"A": server})
        at = open_page()
        at.multiselect(key="ev_languages").set_value(["en"])
        at.run()
        at.button(key="ev_start").click().run()  # 47 questions at about a second each: still running
        assert not at.exception, [e.message for e in at.exception]
        assert any(s.value == "Running" for s in at.subheader)
        assert at.button(key="ev_start").disabled
        runner = at.session_state["ev_runner"]
        at.button(key="ev_cancel").click().run()
        assert runner.wait(30)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        sent = len(server.received)
    run_id = at.session_state["ev_run_id"]
    info = shared_store(env / "runs.sqlite").run_info(run_id)
    assert info.status == "cancelled"
    summary = evals.summarize(shared_store(env / "runs.sqlite"), run_id)
    scored = summary.models[0].scored
    assert scored < 47 and summary.models[0].failed == 0  # stopped requests stay pending, not failed
    assert sent <= scored + 4  # at most the requests in flight were abandoned
    resume = at.button(key="ev_resume")
    assert resume.label == f"Resume: send {47 - scored} request(s)"
