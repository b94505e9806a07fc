"""Saved runs (separate SQLite file, exports), safe rendering of model output, and request caps."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelmatch.chat.limits import SlidingWindowLimiter
from modelmatch.chat.render import safe_markdown
from modelmatch.chat.runs_store import ColumnRecord, RunRecord, RunsStore, to_json, to_markdown, valid_run_id


def record() -> RunRecord:
    return RunRecord(prompt="What is 2+2?", columns=[
        ColumnRecord(0, "Qwen (vLLM)", "Qwen/Qwen3-8B", {"temperature": 0.7, "thinking": True},
                     [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
                     "2+2 is 4", "Four.", ttft_ms=120.5, ttfat_ms=300.0, e2e_ms=900.0, tpot_ms=20.0,
                     output_tokens_per_s=50.0, input_tokens=12, output_tokens=30, reasoning_tokens=10,
                     token_source="server-usage", cost_usd=0.000123, cost_note="DeepSeek list price"),
        ColumnRecord(1, "DeepSeek (API)", None, {}, [], "", "", error="HTTP 500 (the server failed)"),
    ])


def test_round_trip_through_the_runs_database(tmp_path):
    store = RunsStore(tmp_path / "runs.sqlite")
    run = record()
    run_id = store.save(run)
    loaded = store.load(run_id)
    assert loaded is not None and loaded.prompt == run.prompt
    assert loaded.columns == run.columns
    assert store.recent()[0][0] == run_id


def test_two_stores_on_one_file_both_write(tmp_path):
    """Two app processes (or the app and the CLI) share the runs file: neither keeps it locked."""
    first, second = RunsStore(tmp_path / "runs.sqlite"), RunsStore(tmp_path / "runs.sqlite")
    a, b = first.save(record()), second.save(record())
    assert first.load(b) is not None and second.load(a) is not None


def test_bad_or_unknown_run_ids_load_nothing(tmp_path):
    store = RunsStore(tmp_path / "runs.sqlite")
    assert store.load("'; DROP TABLE runs; --") is None
    assert store.load("0123456789abcdef") is None
    assert not valid_run_id("../../etc/passwd") and valid_run_id("0123456789abcdef")


def test_exports_carry_prompt_outputs_metrics_and_errors():
    run = record()
    md, js = to_markdown(run), json.loads(to_json(run))
    assert "What is 2+2?" in md and "Four." in md and "TTFT 120 ms" in md and "HTTP 500" in md
    assert js["columns"][0]["reasoning"] == "2+2 is 4" and js["columns"][1]["error"].startswith("HTTP 500")


def test_images_in_model_output_become_text():
    text = ("look ![chart](http://127.0.0.1:9/pixel.png \"t\") and ![ref][1] and <img src=x onerror=alert(1)>\n\n"
            "[1]: http://127.0.0.1:9/other.png\n`code ![x](y)` stays a [link](https://example.org)")
    safe = safe_markdown(text)
    assert "![" not in safe
    assert "[image not loaded: chart — `http://127.0.0.1:9/pixel.png`]" in safe
    assert "[image not loaded: ref]" in safe and "[image tag removed]" in safe
    assert "[link](https://example.org)" in safe


@pytest.mark.parametrize("text", [
    "![a [b] c](http://127.0.0.1:9/nested.png)",  # brackets inside the alt text
    "![t](http://127.0.0.1:9/title.png (a title))",  # title in parentheses
    "![s](<http://127.0.0.1:9/with space.png>)",  # address in angle brackets with a space
    "![short]\n\n[short]: http://127.0.0.1:9/ref.png",  # shortcut reference defined later
    "\\![x](http://127.0.0.1:9/escaped.png)",  # a backslash before the "!"
    "!![x](http://127.0.0.1:9/double.png)",
])
def test_no_markdown_image_survives_whatever_its_form(text):
    safe = safe_markdown(text)
    assert "![" not in safe
    assert safe.replace("\u200b", "").count("127.0.0.1:9") == text.count("127.0.0.1:9")  # the address stays readable


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("![]()<>\\ \n`:xy'\"")), max_size=60))
def test_no_image_opener_survives_any_text(text):
    assert "![" not in safe_markdown(text)


def test_sliding_window_limiter_with_a_scripted_clock():
    now = [0.0]
    limiter = SlidingWindowLimiter(window_s=60, clock=lambda: now[0])
    assert [limiter.try_acquire("ep", 2, "ep").allowed for _ in range(3)] == [True, True, False]
    refused = limiter.try_acquire("ep", 2, "Endpoint X")
    assert "2 requests per 60 s reached" in refused.reason and refused.retry_after_s == 60
    now[0] = 59.9
    assert not limiter.try_acquire("ep", 2, "ep").allowed
    now[0] = 60.0
    assert limiter.try_acquire("ep", 2, "ep").allowed
    assert limiter.try_acquire("other", 2, "other").allowed  # keys are independent


def test_another_process_can_write_while_this_one_has_the_store_open(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    here = RunsStore(tmp_path / "runs.sqlite")
    mine = here.save(record())
    script = ("import sys; from modelmatch.chat.runs_store import RunsStore, RunRecord, ColumnRecord; "
              "s = RunsStore(sys.argv[1]); "
              "print(s.save(RunRecord(prompt='from the other process', columns=[])))")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "runs.sqlite")], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    theirs = proc.stdout.strip()
    assert here.load(theirs).prompt == "from the other process" and here.load(mine) is not None


def test_a_backtick_cannot_smuggle_an_image_out_of_a_code_span():
    expected = "a` ![x](http://127.0.0.1:9/p.png) `"
    safe = safe_markdown(f"expected `{expected}`")
    assert "![" not in safe and "image not loaded" in safe


def test_markdown_export_keeping_raw_image_links_is_fixed():
    run = RunRecord(prompt="see ![p](http://127.0.0.1:9/prompt.png)", columns=[
        ColumnRecord(0, "A", None, {}, [], "think ![r](http://127.0.0.1:9/r.png)",
                     "answer ![a](http://127.0.0.1:9/a.png) <img src=http://127.0.0.1:9/t.png>",
                     error="HTTP 500: ![e](http://127.0.0.1:9/e.png)")])
    md = to_markdown(run)
    assert "![" not in md and "<img" not in md
    assert md.count("127.0.0.1:9") == 4  # every address still readable, none an image
    assert json.loads(to_json(run))["columns"][0]["answer"].startswith("answer ![a]")  # JSON keeps the raw text


def test_bidi_control_characters_in_rendered_text_are_dropped():
    from modelmatch.chat.render import md_code, md_text

    tricky = "invoice\u202egpj.exe \u2066x\u2069"
    for shown in (safe_markdown(tricky), md_text(tricky), md_code(tricky),
                  to_markdown(RunRecord(prompt=tricky, columns=[]))):
        assert not any(ch in shown for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), shown
        assert "gpj" in shown


def _conversation(turns: int, prompt_chars: int) -> list[RunRecord]:
    runs, history = [], []
    for turn in range(turns):
        prompt = f"turn {turn} " + base64.b64encode(os.urandom(prompt_chars * 3 // 4)).decode()  # incompressible
        runs.append(RunRecord(prompt=prompt, columns=[
            ColumnRecord(i, f"E{i}", None, {}, list(history), "", f"answer {turn}") for i in range(2)]))
        history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": f"answer {turn}"}]
    return runs


def stored_text_chars(path) -> int:
    """Characters of text the runs database holds (file sizes move in whole pages and the WAL; this does not)."""
    with contextlib.closing(sqlite3.connect(path)) as con:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
        total = con.execute("SELECT sum(length(prompt)) FROM runs").fetchone()[0] or 0
        total += con.execute("SELECT sum(length(history_json) + length(answer)) FROM run_columns").fetchone()[0] or 0
        if "run_messages" in tables:
            total += con.execute("SELECT sum(length(content)) FROM run_messages").fetchone()[0] or 0
    return total


def test_runs_db_grows_with_the_square_of_conversation_length_no_more(tmp_path):
    """Each turn stored the whole history in every column: 8 turns of 2 MB prompts made 310 MB. Each message is
    now stored once, so what is stored grows with the conversation, not with its square."""
    stored = {}
    for turns in (4, 8):
        store = RunsStore(tmp_path / f"runs{turns}.sqlite")
        runs = _conversation(turns, 20_000)
        for run in runs:
            store.save(run)
        stored[turns] = stored_text_chars(tmp_path / f"runs{turns}.sqlite")
        loaded = store.load(runs[-1].run_id)
        assert loaded.columns[1].history == runs[-1].columns[1].history  # the history comes back whole
    assert stored[8] < 2 * 8 * 20_000 * 1.1, stored  # each prompt at most twice: the run's own and one message
    assert stored[8] < 2.5 * stored[4], stored  # linear: x2 turns, about x2 text (quadratic: about x3.7)


def test_runs_db_retention_the_operator_sets_deletes_old_runs_and_their_messages(tmp_path):
    store = RunsStore(tmp_path / "runs.sqlite")
    old = _conversation(2, 10)
    for run in old:
        run.created_at = run.created_at - dt.timedelta(days=40)
        store.save(run)
    fresh = RunRecord(prompt="new", columns=[ColumnRecord(0, "E", None, {}, [], "", "a")])
    store.save(fresh, retention_days=30)
    assert store.load(fresh.run_id) is not None and all(store.load(r.run_id) is None for r in old)
    with contextlib.closing(sqlite3.connect(tmp_path / "runs.sqlite")) as con:
        assert con.execute("SELECT count(*) FROM run_messages").fetchone()[0] == 0
