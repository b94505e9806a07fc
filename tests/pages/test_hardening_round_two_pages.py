"""Second hardening round, page findings, under AppTest through app.py: strings a visitor, an uploaded file or a
model server controls never render as markdown (no image fetched, no link planted), and every rendered text is
capped."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from modelmatch.evals.run_setup import RunConfig, create_run
from modelmatch.evals.sets import parse_eval_set
from modelmatch.evals.store import SCORED, ResultRecord, shared_store
from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.runs_store import ColumnRecord, RunRecord, RunsStore
from tests.conftest import REPO_ROOT
from tests.pages.test_app_decide_pages import app_env, open_page as open_decide_page  # noqa: F401 (fixture)
from tests.pages.test_app_evals import env, open_page as open_evals_page  # noqa: F401 (fixture)

# A markdown image (fetched by every visitor's browser) and a link; neither may survive as markdown.
CRAFTED = "![pixel](http:evil.example) [win a prize](https:evil.example) www.evil.example"


def rendered_markdown(at: AppTest) -> list[str]:
    """The markdown source of every text element the page rendered."""
    elements = [*at.markdown, *at.caption, *at.warning, *at.error, *at.info, *at.success, *at.subheader]
    return [e.value for e in elements]


def assert_inert(texts: list[str], needle: str) -> None:
    """needle is on the page, and wherever it is shown no image, link or bare address is left as markdown (text
    inside a code span is literal: its fence is longer than any backtick run in it)."""
    shown = [t for t in texts if needle in t.replace("\\", "")]
    assert shown, f"{needle!r} is not on the page at all"
    for text in shown:
        assert "![" not in text, text
        outside_code = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", text)
        assert "](" not in outside_code and "www.evil" not in outside_code, text  # "www\\." is no autolink


def test_stored_markdown_injection_through_the_eval_set_file_name(env):
    loaded = parse_eval_set(b"id,language,scorer,expected,prompt\nq1,en,exact,yes,Say yes\n", f"{CRAFTED}.csv",
                            f"upload {CRAFTED}.csv")
    assert loaded.ok, loaded.problems
    store = shared_store(env / "runs.sqlite")
    endpoint = Endpoint(name="A", kind="openai", model="a", base_url="http://127.0.0.1:9/v1")
    run_id = create_run(store, loaded.eval_set, [endpoint], RunConfig(), {"A": None}, {"A": ""})
    at = open_evals_page({"run": run_id})
    assert_inert(rendered_markdown(at), "win a prize")


def test_stored_markdown_injection_through_eval_items_and_replies(env):
    """Item ids and expected answers come from the uploaded file; the extracted answer and score note from the
    model's reply: each is a plain value on the page."""
    csv = f'id,language,scorer,expected,prompt\nq1,en,exact,"{CRAFTED}",Say yes\n'.encode()
    loaded = parse_eval_set(csv, "set.csv", "upload set.csv")
    assert loaded.ok, loaded.problems
    store = shared_store(env / "runs.sqlite")
    endpoint = Endpoint(name="A", kind="openai", model="a", base_url="http://127.0.0.1:9/v1")
    run_id = create_run(store, loaded.eval_set, [endpoint], RunConfig(), {"A": None}, {"A": ""})
    store.save_result(run_id, ResultRecord("A", "q1", SCORED, correct=False, extracted=f"yes {CRAFTED}",
                                           score_note=f"note {CRAFTED}", answer="yes"))
    at = open_evals_page({"run": run_id})
    texts = rendered_markdown(at)
    assert_inert([t for t in texts if "expected" in t], "win a prize")
    assert_inert([t for t in texts if "wrong: read" in t], "win a prize")
    assert any("note" in t and "win a prize" in t for t in texts)


def test_planner_query_value_is_never_rendered_as_markdown(app_env):
    at = open_decide_page("pages/planner.py", {"model": CRAFTED})
    warnings = [w.value for w in at.warning]
    assert any("not an open-weights model" in w for w in warnings)
    assert_inert(warnings, "win a prize")


def test_saved_run_error_and_endpoint_name_are_plain_text(env):
    store = RunsStore(env / "runs.sqlite")
    run_id = store.save(RunRecord(prompt="hello", columns=[
        ColumnRecord(0, f"Qwen {CRAFTED}", None, {}, [], "", "fine", error=f"HTTP 500: {CRAFTED}")]))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/playground.py")
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert_inert([e.value for e in at.error], "win a prize")
    assert_inert([m.value for m in at.markdown if "Qwen" in m.value], "win a prize")


def test_saved_run_prompt_is_capped_when_rendered(env):
    store = RunsStore(env / "runs.sqlite")
    run_id = store.save(RunRecord(prompt="![" * 300_000 + "tail-marker", columns=[
        ColumnRecord(0, "A", None, {}, [], "", "fine")]))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/playground.py")
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    longest = max((m.value for m in at.markdown), key=len)
    assert "more characters not shown" in longest and "tail-marker" not in longest
    assert len(longest.replace("\u200b", "")) < 60_000


def _broken_runs_db(env, how: str):
    path = env / "runs.sqlite"
    if how == "directory":
        path.mkdir()
    elif how == "corrupt":
        path.write_bytes(b"this is not a database file" * 100)
    elif how == "parent-is-a-file":
        (env / "blocker").write_text("x")
        return env / "blocker" / "runs.sqlite"
    return path


@pytest.mark.parametrize("how", ["directory", "corrupt", "parent-is-a-file"])
def test_corrupt_or_directory_runs_db_degrades_the_playground_and_chatting_goes_on(env, monkeypatch, how):
    from tests.openai_server import ScriptedServer, answer_script
    from tests.pages.test_app_playground import write_endpoints

    monkeypatch.setenv("MODELMATCH_RUNS_DB", str(_broken_runs_db(env, how)))
    server = ScriptedServer(answer_script(["still", " chatting"]))
    with server:
        write_endpoints(env / "endpoints.toml", {"One": server})
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
        at.switch_page("pages/playground.py")
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert any("runs cannot be saved" in w.value for w in at.warning)
        at.segmented_control(key="pg_columns").set_value(1).run()
        at.chat_input[0].set_value("hello").run()
        assert not at.exception, [e.message for e in at.exception]
    assert "still chatting" in "\n".join(m.value for m in at.markdown)


@pytest.mark.parametrize("how", ["directory", "corrupt"])
def test_corrupt_or_directory_runs_db_on_your_evals_says_why_not_in_use(env, monkeypatch, how):
    monkeypatch.setenv("MODELMATCH_RUNS_DB", str(_broken_runs_db(env, how)))
    at = open_evals_page()
    errors = [e.value for e in at.error]
    assert any("runs cannot be saved" in e for e in errors) and not any("in use by another" in e for e in errors)


def test_per_visitor_cap_survives_a_page_reload(env, monkeypatch):
    """The cap lived in the session: a reload (a new session) reset it. It is now counted per visitor address in
    the process."""
    from pages import try_support
    from tests.openai_server import ScriptedServer, answer_script
    from tests.pages.test_app_playground import write_endpoints

    monkeypatch.setenv("MODELMATCH_SESSION_REQUESTS_PER_10_MIN", "1")
    monkeypatch.setattr(try_support, "visitor_key", lambda: "ip:203.0.113.77")
    server = ScriptedServer(answer_script(["one"]))
    with server:
        write_endpoints(env / "endpoints.toml", {"A": server})
        for attempt in range(2):  # the second AppTest is the same visitor after a reload
            at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
            at.switch_page("pages/playground.py")
            at.run()
            at.segmented_control(key="pg_columns").set_value(1).run()
            at.chat_input[0].set_value(f"hi {attempt}").run()
            assert not at.exception, [e.message for e in at.exception]
        assert len(server.received) == 1
    assert any("1 requests per 600 s reached" in e.value for e in at.error)


def test_eval_runs_visible_to_all_visitors_only_by_link_now(env, monkeypatch):
    loaded = parse_eval_set(b"id,language,scorer,expected,prompt\nq1,en,exact,yes,private question\n", "mine.csv",
                            "upload mine.csv")
    store = shared_store(env / "runs.sqlite")
    endpoint = Endpoint(name="A", kind="openai", model="a", base_url="http://127.0.0.1:9/v1")
    run_id = create_run(store, loaded.eval_set, [endpoint], RunConfig(), {"A": None}, {"A": ""})
    other_visitor = open_evals_page()
    assert "private question" not in "\n".join(rendered_markdown(other_visitor))
    assert any("No eval runs of yours yet" in i.value for i in other_visitor.info)
    with_link = open_evals_page({"run": run_id})
    assert with_link.selectbox(key="ev_run_pick").value == run_id
    monkeypatch.setenv("MODELMATCH_EVAL_RUNS_PUBLIC", "1")  # the operator's choice
    assert open_evals_page().selectbox(key="ev_run_pick").value == run_id


def test_odd_token_counts_or_split_surrogates_wedge_a_playground_session_no_more(env):
    """A string token count, an infinite one, or an emoji sent as two surrogate escapes in two events made every
    rerun raise and left the prompt box disabled for good."""
    from tests.openai_server import DONE, Script, ScriptedServer
    from tests.pages.test_app_playground import write_endpoints

    odd = Script(steps=[(0, b'data: {"choices": [{"delta": {"content": "smile \\ud83d"}}]}\n\n'),
                        (0, b'data: {"choices": [{"delta": {"content": "\\ude00 done"}}]}\n\n'),
                        (0, b'data: {"choices": [], "usage": {"prompt_tokens": "7", "completion_tokens": 1e400}}\n\n'),
                        (0, DONE)])
    server = ScriptedServer(odd)
    with server:
        write_endpoints(env / "endpoints.toml", {"Odd": server})
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
        at.switch_page("pages/playground.py")
        at.run()
        at.segmented_control(key="pg_columns").set_value(1).run()
        for prompt in ("first", "second"):  # the second prompt is the proof the session is not wedged
            at.chat_input[0].set_value(prompt).run()
            assert not at.exception, [e.message for e in at.exception]
            assert not at.chat_input[0].disabled
        assert len(server.received) == 2
    assert "done" in "\n".join(m.value for m in at.markdown)


def test_prompts_have_no_size_cap_no_more_the_server_sends_at_most_the_limit(env, monkeypatch):
    """A crafted client could send a prompt of any size (8 turns of 2 MB prompts made a 310 MB runs DB). With
    MODELMATCH_MAX_PROMPT_CHARS the server never sends or stores more than the limit: Streamlit's server cuts a chat
    input to the box's max_chars, and the page refuses a longer one itself (for releases that do not cut)."""
    from tests.openai_server import ScriptedServer, answer_script
    from tests.pages.test_app_playground import write_endpoints

    monkeypatch.setenv("MODELMATCH_MAX_PROMPT_CHARS", "1000")
    server = ScriptedServer(answer_script(["fine"]))
    with server:
        write_endpoints(env / "endpoints.toml", {"A": server})
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
        at.switch_page("pages/playground.py")
        at.run()
        at.segmented_control(key="pg_columns").set_value(1).run()
        at.chat_input[0].set_value("x" * 50_000).run()  # AppTest, like a crafted client, skips the browser
        assert not at.exception, [e.message for e in at.exception]
    sent = [m["content"] for r in server.received for m in r.body["messages"] if m["role"] == "user"]
    assert all(len(text) <= 1000 for text in sent), [len(text) for text in sent]


def test_saved_run_exports_are_built_on_click_not_on_every_render(env, monkeypatch):
    """A saved run holds up to max_response_bytes per column; its Markdown and JSON exports were rebuilt on the
    script thread at every rerun of the page. They are now built when their button is clicked."""
    from modelmatch.chat import runs_store

    built: list[str] = []
    for name in ("to_markdown", "to_json"):
        real = getattr(runs_store, name)
        monkeypatch.setattr(runs_store, name, lambda run, _real=real, _name=name: built.append(_name) or _real(run))
    store = RunsStore(env / "runs.sqlite")
    run_id = store.save(RunRecord(prompt="hello", columns=[ColumnRecord(0, "A", None, {}, [], "", "a" * 100_000)]))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/playground.py")
    at.query_params["run"] = run_id
    at.run()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Markdown" in labels and "JSON" in labels  # the page offers both exports...
    assert built == []  # ...and built neither on either run
