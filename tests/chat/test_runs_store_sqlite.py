"""The runs database on SQLite (WAL): two real processes writing one file lose nothing, threads share one
connection, a file held too long says so, and the earlier DuckDB runs file is copied in once without loss (and
kept, unchanged)."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from modelmatch.chat import runs_db
from modelmatch.chat.runs_store import ColumnRecord, RunRecord, RunsStore
from modelmatch.chat.runs_db import RunsDatabaseBusy, RunsUnavailable, resolve_runs_file
from modelmatch.evals.store import EvalStore
from modelmatch.evals import visibility
from tests.conftest import REPO_ROOT

# The earlier version's schema, verbatim (modelmatch/chat/runs_store.py and modelmatch/evals/store.py before the
# move to SQLite, plus the publications table evals/visibility.py created): what an operator's runs.duckdb holds.
OLD_DUCKDB_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, prompt VARCHAR, app_version VARCHAR);
CREATE TABLE IF NOT EXISTS run_columns (
    run_id VARCHAR, column_index INTEGER, endpoint_name VARCHAR, model_id VARCHAR, settings_json VARCHAR,
    history_json VARCHAR, reasoning VARCHAR, answer VARCHAR, error VARCHAR, ttft_ms DOUBLE, ttfat_ms DOUBLE,
    e2e_ms DOUBLE, tpot_ms DOUBLE, output_tokens_per_s DOUBLE, input_tokens BIGINT, output_tokens BIGINT,
    reasoning_tokens BIGINT, token_source VARCHAR, cost_usd DOUBLE, cost_note VARCHAR,
    PRIMARY KEY (run_id, column_index));
CREATE TABLE IF NOT EXISTS run_messages (message_sha256 VARCHAR PRIMARY KEY, role VARCHAR, content VARCHAR);
CREATE TABLE IF NOT EXISTS run_history (
    run_id VARCHAR, column_index INTEGER, position INTEGER, message_sha256 VARCHAR,
    PRIMARY KEY (run_id, column_index, position));
CREATE TABLE IF NOT EXISTS eval_runs (
    run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, updated_at TIMESTAMP, set_name VARCHAR, set_sha256 VARCHAR,
    set_source VARCHAR, status VARCHAR, settings_json VARCHAR, endpoints_json VARCHAR, item_count INTEGER,
    app_version VARCHAR);
CREATE TABLE IF NOT EXISTS eval_items (
    run_id VARCHAR, item_id VARCHAR, position INTEGER, language VARCHAR, group_id VARCHAR, category VARCHAR,
    scorer VARCHAR, expected VARCHAR, tolerance VARCHAR, system_prompt VARCHAR, prompt VARCHAR,
    sent_prompt VARCHAR, PRIMARY KEY (run_id, item_id));
CREATE TABLE IF NOT EXISTS eval_results (
    run_id VARCHAR, endpoint_name VARCHAR, item_id VARCHAR, status VARCHAR, correct BOOLEAN, extracted VARCHAR,
    extraction VARCHAR, answer_key VARCHAR, score_note VARCHAR, answer VARCHAR, reasoning VARCHAR, error VARCHAR,
    attempts INTEGER, answer_language VARCHAR, language_switch BOOLEAN, ttft_ms DOUBLE, e2e_ms DOUBLE,
    input_tokens BIGINT, output_tokens BIGINT, reasoning_tokens BIGINT, token_source VARCHAR, cost_usd DOUBLE,
    finished_at TIMESTAMP, PRIMARY KEY (run_id, endpoint_name, item_id));
CREATE TABLE IF NOT EXISTS eval_sessions (
    run_id VARCHAR, session_index INTEGER, endpoint_name VARCHAR, started_at TIMESTAMP, ended_at TIMESTAMP,
    wall_s DOUBLE, requests_sent INTEGER, outcome VARCHAR, PRIMARY KEY (run_id, session_index, endpoint_name));
CREATE TABLE IF NOT EXISTS eval_published (run_id VARCHAR PRIMARY KEY, published_at TIMESTAMP, note VARCHAR);
"""
OLD_RUN_ID, OLDER_RUN_ID, OLD_EVAL_ID = "0123456789abcdef", "fedcba9876543210", "00112233445566aa"
WHEN = dt.datetime(2026, 3, 1, 12, 30, 15, 250000)


def write_old_runs_file(path: Path, cost_usd_type: str = "DOUBLE") -> None:
    """A runs.duckdb as the earlier version wrote it: a follow-up run (history in run_history), a run from before
    run_history existed (history inline as JSON), and an eval run with results, a session and a publication."""
    sha = hashlib.sha256("user\0first question".encode()).hexdigest()
    with contextlib.closing(duckdb.connect(str(path))) as con:
        con.execute(OLD_DUCKDB_SCHEMA.replace("cost_usd DOUBLE, cost_note", f"cost_usd {cost_usd_type}, cost_note"))
        con.execute("INSERT INTO runs VALUES (?, ?, ?, '1')", [OLD_RUN_ID, WHEN, "second question"])
        con.execute("INSERT INTO run_columns VALUES (?, 0, 'Qwen', 'Qwen/Qwen3-8B', '{\"temperature\": 0.7}', "
                    "'null', 'thinking', 'Paris.', '', 120.5, 130.0, 900.0, 20.0, 50.0, 12, 30, 10, "
                    "'server-usage', 0.000123, 'list price')", [OLD_RUN_ID])
        con.execute("INSERT INTO run_messages VALUES (?, 'user', 'first question')", [sha])
        con.execute("INSERT INTO run_history VALUES (?, 0, 0, ?)", [OLD_RUN_ID, sha])
        con.execute("INSERT INTO runs VALUES (?, ?, 'older prompt', '1')", [OLDER_RUN_ID, WHEN - dt.timedelta(days=1)])
        con.execute("INSERT INTO run_columns VALUES (?, 0, 'E', NULL, '{}', "
                    "'[{\"role\": \"user\", \"content\": \"inline turn\"}]', '', 'old answer', 'HTTP 500', NULL, "
                    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'no price')", [OLDER_RUN_ID])
        con.execute("INSERT INTO eval_runs VALUES (?, ?, ?, 'tiny', 'abc', 'upload tiny.csv', 'complete', '{}', ?, 1, "
                    "'1')", [OLD_EVAL_ID, WHEN, WHEN, '[{"name": "A", "kind": "openai", "model": "a", '
                                                      '"model_id": "org/A"}]'])
        con.execute("INSERT INTO eval_items VALUES (?, 'q1', 0, 'en', 'q1', '', 'exact', 'yes', '', '', 'Say yes', "
                    "'Say yes')", [OLD_EVAL_ID])
        con.execute("INSERT INTO eval_results VALUES (?, 'A', 'q1', 'scored', true, 'yes', 'exact', 'yes', '', "
                    "'yes', '', '', 1, 'en', false, 100.0, 200.0, 7, 1, NULL, 'server-usage', 0.5, ?)",
                    [OLD_EVAL_ID, WHEN])
        con.execute("INSERT INTO eval_sessions VALUES (?, 1, 'A', ?, ?, 1.5, 1, 'complete')", [OLD_EVAL_ID, WHEN, WHEN])
        con.execute("INSERT INTO eval_published VALUES (?, ?, 'real run')", [OLD_EVAL_ID, WHEN])


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record(prompt: str = "What is 2+2?") -> RunRecord:
    return RunRecord(prompt=prompt, columns=[
        ColumnRecord(0, "Qwen", "Qwen/Qwen3-8B", {"temperature": 0.7}, [{"role": "user", "content": "hi"}],
                     "thinking", "Four.", ttft_ms=120.5, input_tokens=12, output_tokens=30, cost_usd=0.000123)])


def test_existing_duckdb_runs_migrate_on_first_start_without_loss(tmp_path):
    """The operator's MODELMATCH_RUNS_DB still names the earlier runs.duckdb: every run, eval run, result, session
    and publication is in the new SQLite file beside it, and the old file is still there, byte for byte."""
    old = tmp_path / "runs.duckdb"
    write_old_runs_file(old)
    before = sha256_of(old)

    runs = RunsStore(old)
    assert runs.path == tmp_path / "runs.sqlite"
    follow_up, older = runs.load(OLD_RUN_ID), runs.load(OLDER_RUN_ID)
    assert follow_up.prompt == "second question" and follow_up.created_at == WHEN
    column = follow_up.columns[0]
    assert column.history == [{"role": "user", "content": "first question"}] and column.answer == "Paris."
    assert (column.ttft_ms, column.input_tokens, column.cost_usd, column.settings) == (
        120.5, 12, 0.000123, {"temperature": 0.7})
    assert older.columns[0].history == [{"role": "user", "content": "inline turn"}]
    assert [r[0] for r in runs.recent()] == [OLD_RUN_ID, OLDER_RUN_ID]

    evals = EvalStore(old)
    info = evals.run_info(OLD_EVAL_ID)
    assert info.set_name == "tiny" and info.created_at == WHEN and info.endpoints[0].model_id == "org/A"
    results = evals.results_frame(OLD_EVAL_ID)
    assert len(results) == 1 and bool(results["correct"].iloc[0]) and not bool(results["language_switch"].iloc[0])
    assert results["finished_at"].iloc[0] == WHEN and evals.spent_usd(OLD_EVAL_ID) == 0.5
    assert evals.items(OLD_EVAL_ID)[0].prompt == "Say yes" and evals.next_session_index(OLD_EVAL_ID) == 2
    assert visibility.is_published(evals, OLD_EVAL_ID)
    assert evals.completed_items(OLD_EVAL_ID, "A") == {"q1"}

    assert old.exists() and sha256_of(old) == before  # read, never written or deleted


def test_the_old_default_file_beside_the_new_default_is_copied_too(tmp_path):
    """The default moved from runs/runs.duckdb to runs/runs.sqlite: the old default beside it is found."""
    write_old_runs_file(tmp_path / "runs.duckdb")
    store = RunsStore(tmp_path / "runs.sqlite")
    assert store.load(OLD_RUN_ID).prompt == "second question"
    assert resolve_runs_file(tmp_path / "runs.sqlite").legacy_path == tmp_path / "runs.duckdb"


def test_migration_reads_the_old_file_once(tmp_path):
    """A run deleted (or aged out) after the copy does not come back at the next start, and nothing doubles."""
    old = tmp_path / "runs.duckdb"
    write_old_runs_file(old)
    RunsStore(old)
    EvalStore(old)
    with contextlib.closing(sqlite3.connect(tmp_path / "runs.sqlite")) as con:
        con.execute("DELETE FROM runs WHERE run_id = ?", [OLDER_RUN_ID])
        con.commit()
    runs_db._OPEN.clear()  # as a fresh process would
    again = RunsStore(old)
    assert again.copied_from_legacy == {} and EvalStore(old).copied_from_legacy == {}
    assert again.load(OLDER_RUN_ID) is None and again.load(OLD_RUN_ID) is not None
    with contextlib.closing(sqlite3.connect(tmp_path / "runs.sqlite")) as con:
        assert con.execute("SELECT count(*) FROM eval_results").fetchone()[0] == 1


def test_a_failed_migration_loses_nothing_and_says_why(tmp_path):
    """A value SQLite cannot take (a DECIMAL column) fails the copy half-way: nothing of it is in the new file, the
    old file is unchanged, the reason names the old file, and the next start tries again."""
    old = tmp_path / "runs.duckdb"
    write_old_runs_file(old, cost_usd_type="DECIMAL(18, 6)")  # comes back as decimal.Decimal
    before = sha256_of(old)
    with pytest.raises(RunsUnavailable) as failed:
        RunsStore(old)
    message = str(failed.value)
    assert message.startswith("runs cannot be saved") and "runs.duckdb" in message and "tried again" in message
    assert sha256_of(old) == before
    with contextlib.closing(sqlite3.connect(tmp_path / "runs.sqlite")) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # the copied runs rolled back too
        assert con.execute("SELECT count(*) FROM legacy_copies").fetchone()[0] == 0


def test_a_runs_file_locked_by_the_old_version_is_in_use_not_lost(tmp_path):
    """An old replica still holds runs.duckdb open: the copy waits for it, saying the file is in use."""
    old = tmp_path / "runs.duckdb"
    write_old_runs_file(old)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(old)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunsDatabaseBusy, match="in use by another process"):
            RunsStore(old)
    finally:
        holder.kill()
        holder.wait()
    assert RunsStore(old).load(OLD_RUN_ID) is not None  # the next start copies it


WRITER = """
import sys, time
from pathlib import Path
from modelmatch.chat.runs_store import RunsStore, RunRecord, ColumnRecord
from modelmatch.evals.store import EvalStore, ResultRecord
path, name, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
runs, evals = RunsStore(path), EvalStore(path)
while not go.exists():
    time.sleep(0.005)
for i in range(count):
    run = RunRecord(prompt=f"{name} {i}", columns=[ColumnRecord(0, name, None, {}, [{"role": "user",
                    "content": f"{name} turn {i}"}], "", f"answer {i}")])
    print(runs.save(run), flush=True)
    evals.save_result(sys.argv[5], ResultRecord(name, f"item-{i}", "scored", correct=True, answer=str(i)))
"""


def test_two_processes_writing_one_runs_file_lose_nothing(tmp_path):
    path, go = tmp_path / "runs.sqlite", tmp_path / "go"
    evals = EvalStore(path)
    from modelmatch.evals.sets import EvalItem

    run_id = evals.create_run("s", "x", "t", [EvalItem("q", "en", "p", "1", "exact")], ["p"], {}, [])
    count = 150
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(count), str(go), run_id],
                                cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in ("first", "second")]
    go.touch()  # both start writing at once
    outputs = [w.communicate(timeout=120) for w in writers]
    assert all(w.returncode == 0 for w in writers), [err for _, err in outputs]
    saved = [line for out, _ in outputs for line in out.split()]
    assert len(saved) == 2 * count and len(set(saved)) == 2 * count
    store = RunsStore(path)
    loaded = [store.load(run_id_) for run_id_ in saved]
    assert all(run is not None and run.columns[0].history for run in loaded)
    assert sorted(r.prompt for r in loaded) == sorted(f"{n} {i}" for n in ("first", "second") for i in range(count))
    assert len(evals.results_frame(run_id)) == 2 * count


def test_threads_share_one_connection_safely(tmp_path):
    """Streamlit script threads and eval worker threads use one store object (one connection) at once."""
    store = RunsStore(tmp_path / "runs.sqlite")
    saved: list[str] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(40):
                run_id = store.save(record(f"thread {n} run {i}"))
                assert store.load(run_id).prompt == f"thread {n} run {i}"
                saved.append(run_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(saved) == 320 and all(store.load(r) is not None for r in saved)


def test_a_runs_file_held_longer_than_the_busy_timeout_is_in_use_by_another_process(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    RunsStore(path)  # made, with its tables
    runs_db._OPEN.clear()
    monkeypatch.setattr(runs_db, "LOCK_RETRY_S", 0.3)
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], "
                               "isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('held', flush=True); "
                               "time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunsDatabaseBusy, match="in use by another process"):
            RunsStore(path).save(record())
    finally:
        holder.kill()
        holder.wait()
    runs_db._OPEN.clear()
    monkeypatch.setattr(runs_db, "LOCK_RETRY_S", 5.0)
    store = RunsStore(path)
    assert store.load(store.save(record())) is not None


def test_the_runs_file_is_sqlite_in_wal_mode_with_versioned_schemas(tmp_path):
    RunsStore(tmp_path / "runs.sqlite")
    EvalStore(tmp_path / "runs.sqlite")
    with contextlib.closing(sqlite3.connect(tmp_path / "runs.sqlite")) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = dict(con.execute("SELECT store, version FROM schema_versions").fetchall())
    assert versions == {"runs": 1, "evals": 1}


def test_a_file_from_a_newer_version_is_refused_not_damaged(tmp_path):
    RunsStore(tmp_path / "runs.sqlite")
    with contextlib.closing(sqlite3.connect(tmp_path / "runs.sqlite")) as con:
        con.execute("UPDATE schema_versions SET version = 99 WHERE store = 'runs'")
        con.commit()
    runs_db._OPEN.clear()
    with pytest.raises(RunsUnavailable, match="newer ModelMatch"):
        RunsStore(tmp_path / "runs.sqlite")
