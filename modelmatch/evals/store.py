"""Eval runs and their results, in the runs database (settings.runs_db_path(), never the catalog; see
modelmatch.chat.runs_db: SQLite in WAL mode, one connection per process shared by its threads).

One EvalStore per database file per process (`shared_store`): the page, the runner's worker threads and the Compare
page's "your eval" column all use the same object, and app replicas and the CLI keep the same file open beside it.
Endpoints are recorded by name, model and catalog model_id: never a URL, never a key.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from modelmatch.evals.sets import EvalItem
from modelmatch.chat.runs_db import (RunsDatabaseBusy, RunsUnavailable, resolve_runs_file,  # noqa: F401 (re-export)
                                     runs_database, to_db_time)
from modelmatch.chat.runs_migration import copy_legacy_tables
from modelmatch.chat.runs_store import valid_run_id  # one runs database, one way in

# Schema steps of the eval tables (runs_db.RunsDatabase.ensure_schema): append, never edit a step.
SCHEMA_STEPS = ("""
CREATE TABLE IF NOT EXISTS eval_runs (
    run_id TEXT PRIMARY KEY, created_at TEXT, updated_at TEXT, set_name TEXT, set_sha256 TEXT,
    set_source TEXT, status TEXT, settings_json TEXT, endpoints_json TEXT, item_count INTEGER,
    app_version TEXT);
CREATE TABLE IF NOT EXISTS eval_items (
    run_id TEXT, item_id TEXT, position INTEGER, language TEXT, group_id TEXT, category TEXT,
    scorer TEXT, expected TEXT, tolerance TEXT, system_prompt TEXT, prompt TEXT,
    sent_prompt TEXT, PRIMARY KEY (run_id, item_id));
CREATE TABLE IF NOT EXISTS eval_results (
    run_id TEXT, endpoint_name TEXT, item_id TEXT, status TEXT, correct INTEGER, extracted TEXT,
    extraction TEXT, answer_key TEXT, score_note TEXT, answer TEXT, reasoning TEXT, error TEXT,
    attempts INTEGER, answer_language TEXT, language_switch INTEGER, ttft_ms REAL, e2e_ms REAL,
    input_tokens INTEGER, output_tokens INTEGER, reasoning_tokens INTEGER, token_source TEXT, cost_usd REAL,
    finished_at TEXT, PRIMARY KEY (run_id, endpoint_name, item_id));
CREATE TABLE IF NOT EXISTS eval_sessions (
    run_id TEXT, session_index INTEGER, endpoint_name TEXT, started_at TEXT, ended_at TEXT,
    wall_s REAL, requests_sent INTEGER, outcome TEXT, PRIMARY KEY (run_id, session_index, endpoint_name));
CREATE TABLE IF NOT EXISTS eval_published (run_id TEXT PRIMARY KEY, published_at TEXT, note TEXT);
""",)
EVAL_TABLES = ("eval_runs", "eval_items", "eval_results", "eval_sessions", "eval_published")
# SQLite has no timestamp or boolean type: these columns come back as the pandas types DuckDB gave them.
TIME_COLUMNS = {"created_at", "updated_at", "finished_at", "started_at", "ended_at", "published_at"}
BOOL_COLUMNS = {"correct", "language_switch"}
INT_COLUMNS = {"position", "item_count", "attempts", "input_tokens", "output_tokens", "reasoning_tokens",
               "session_index", "requests_sent"}
APP_VERSION = "1"
# Result statuses: "scored" (right or wrong: complete) and "failed" (transport failure or not sent: resumable).
SCORED, FAILED = "scored", "failed"
RESULT_COLUMNS = ("run_id", "endpoint_name", "item_id", "status", "correct", "extracted", "extraction",
                  "answer_key", "score_note", "answer", "reasoning", "error", "attempts", "answer_language",
                  "language_switch", "ttft_ms", "e2e_ms", "input_tokens", "output_tokens", "reasoning_tokens",
                  "token_source", "cost_usd", "finished_at")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)




@dataclass(frozen=True)
class EndpointRecord:
    """What a run remembers of an endpoint: enough to show and price it, nothing secret."""
    name: str
    kind: str
    model: str
    model_id: str | None
    provider: str | None = None
    provider_model: str | None = None
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    price_note: str = ""


@dataclass
class ResultRecord:
    endpoint_name: str
    item_id: str
    status: str
    correct: bool | None = None
    extracted: str | None = None
    extraction: str | None = None
    answer_key: str | None = None
    score_note: str = ""
    answer: str = ""
    reasoning: str = ""
    error: str = ""
    attempts: int = 0
    answer_language: str | None = None
    language_switch: bool | None = None
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    token_source: str | None = None
    cost_usd: float | None = None
    finished_at: dt.datetime = field(default_factory=utcnow)


@dataclass
class RunInfo:
    run_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    set_name: str
    set_sha256: str
    set_source: str
    status: str
    settings: dict
    endpoints: list[EndpointRecord]
    item_count: int


class EvalStore:
    def __init__(self, path: Path):
        where = resolve_runs_file(Path(path))
        self.path = where.sqlite_path
        self._db = runs_database(self.path)
        self._db.ensure_schema("evals", SCHEMA_STEPS)
        self.copied_from_legacy = copy_legacy_tables(self._db, where.legacy_path, EVAL_TABLES)

    # -- writes -------------------------------------------------------------------------------------------------

    def _write(self, statements: list[tuple[str, list]]) -> None:
        """The statements in one transaction: all of them are stored or none."""
        with self._db.write() as cur:
            for sql, params in statements:
                cur.execute(sql, [_db_value(v) for v in params])

    def create_run(self, set_name: str, set_sha256: str, set_source: str, items: list[EvalItem],
                   sent_prompts: list[str], settings: dict, endpoints: list[EndpointRecord]) -> str:
        run_id = uuid.uuid4().hex[:16]
        now = utcnow()
        statements: list[tuple[str, list]] = [(
            "INSERT INTO eval_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, now, now, set_name, set_sha256, set_source, "created", json.dumps(settings),
             json.dumps([asdict(e) for e in endpoints]), len(items), APP_VERSION])]
        for position, (item, sent) in enumerate(zip(items, sent_prompts)):
            statements.append(("INSERT INTO eval_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                run_id, item.item_id, position, item.language, item.group_id, item.category, item.scorer,
                item.expected, item.tolerance, item.system_prompt, item.prompt, sent]))
        self._write(statements)
        return run_id

    def set_status(self, run_id: str, status: str) -> None:
        self._write([("UPDATE eval_runs SET status = ?, updated_at = ? WHERE run_id = ?", [status, utcnow(), run_id])])

    def update_endpoints(self, run_id: str, endpoints: list[EndpointRecord]) -> None:
        self._write([("UPDATE eval_runs SET endpoints_json = ?, updated_at = ? WHERE run_id = ?",
                      [json.dumps([asdict(e) for e in endpoints]), utcnow(), run_id])])

    def save_result(self, run_id: str, result: ResultRecord) -> None:
        values = asdict(result)
        self._write([(f"INSERT OR REPLACE INTO eval_results VALUES ({', '.join('?' * len(RESULT_COLUMNS))})",
                      [run_id] + [values[c] for c in RESULT_COLUMNS[1:]])])

    def save_session(self, run_id: str, session_index: int, endpoint_name: str, started_at: dt.datetime,
                     ended_at: dt.datetime, wall_s: float, requests_sent: int, outcome: str) -> None:
        self._write([("INSERT OR REPLACE INTO eval_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [run_id, session_index, endpoint_name, started_at, ended_at, wall_s, requests_sent, outcome])])

    # -- reads --------------------------------------------------------------------------------------------------

    def _query(self, sql: str, params: list) -> pd.DataFrame:
        with self._db.read() as cur:
            rows = cur.execute(sql, [_db_value(v) for v in params]).fetchall()
            names = [d[0] for d in cur.description]
        df = pd.DataFrame.from_records(rows, columns=names)
        for name in names:
            if name in TIME_COLUMNS:
                df[name] = pd.to_datetime(df[name])
            elif name in BOOL_COLUMNS:
                df[name] = df[name].astype("boolean")
            elif name in INT_COLUMNS:
                df[name] = df[name].astype("Int64")
        return df

    def run_info(self, run_id: str) -> RunInfo | None:
        if not valid_run_id(run_id):
            return None
        df = self._query("SELECT * FROM eval_runs WHERE run_id = ?", [run_id])
        if df.empty:
            return None
        row = df.iloc[0]
        return RunInfo(run_id, row["created_at"].to_pydatetime(), row["updated_at"].to_pydatetime(),
                       row["set_name"], row["set_sha256"], row["set_source"], row["status"],
                       json.loads(row["settings_json"]),
                       [EndpointRecord(**e) for e in json.loads(row["endpoints_json"])], int(row["item_count"]))

    def items(self, run_id: str) -> list[EvalItem]:
        df = self._query("SELECT * FROM eval_items WHERE run_id = ? ORDER BY position", [run_id])
        return [EvalItem(r.item_id, r.language, r.prompt, r.expected, r.scorer, r.group_id or "",
                         r.system_prompt or "", r.tolerance or "", r.category or "")
                for r in df.itertuples()]

    def sent_prompts(self, run_id: str) -> dict[str, str]:
        df = self._query("SELECT item_id, sent_prompt FROM eval_items WHERE run_id = ?", [run_id])
        return dict(zip(df["item_id"], df["sent_prompt"]))

    def items_frame(self, run_id: str) -> pd.DataFrame:
        return self._query("SELECT * FROM eval_items WHERE run_id = ? ORDER BY position", [run_id])

    def results_frame(self, run_id: str) -> pd.DataFrame:
        return self._query("SELECT * FROM eval_results WHERE run_id = ?", [run_id])

    def sessions_frame(self, run_id: str) -> pd.DataFrame:
        return self._query("SELECT * FROM eval_sessions WHERE run_id = ? ORDER BY session_index, endpoint_name",
                           [run_id])

    def completed_items(self, run_id: str, endpoint_name: str) -> set[str]:
        df = self._query("SELECT item_id FROM eval_results WHERE run_id = ? AND endpoint_name = ? AND status = ?",
                         [run_id, endpoint_name, SCORED])
        return set(df["item_id"])

    def next_session_index(self, run_id: str) -> int:
        df = self._query("SELECT max(session_index) AS m FROM eval_sessions WHERE run_id = ?", [run_id])
        value = df["m"].iloc[0]
        return 1 if pd.isna(value) else int(value) + 1

    def spent_usd(self, run_id: str) -> float:
        df = self._query("SELECT coalesce(sum(cost_usd), 0) AS s FROM eval_results WHERE run_id = ?", [run_id])
        return float(df["s"].iloc[0])

    def recent_runs(self, limit: int = 30) -> pd.DataFrame:
        return self._query(
            "SELECT r.run_id, r.created_at, r.updated_at, r.set_name, r.status, r.item_count, r.endpoints_json, "
            "(SELECT count(*) FROM eval_results x WHERE x.run_id = r.run_id AND x.status = 'scored') AS scored "
            "FROM eval_runs r ORDER BY r.created_at DESC LIMIT ?", [limit])

    def results_for_models(self, model_ids: list[str]) -> pd.DataFrame:
        """Scored results of every run whose endpoints served one of these catalog models."""
        if not model_ids:
            return pd.DataFrame()
        runs = self._query("SELECT run_id, created_at, updated_at, set_name, endpoints_json FROM eval_runs", [])
        wanted = set(model_ids)
        pairs = []
        for row in runs.itertuples():
            for endpoint in json.loads(row.endpoints_json):
                if endpoint.get("model_id") in wanted:
                    pairs.append((row.run_id, endpoint["name"], endpoint["model_id"], row.set_name, row.created_at,
                                  row.updated_at))
        if not pairs:
            return pd.DataFrame()
        frames = []
        for run_id, name, model_id, set_name, created, updated in pairs:
            df = self._query("SELECT res.endpoint_name, res.correct, res.status, it.language FROM eval_results res "
                             "JOIN eval_items it ON it.run_id = res.run_id AND it.item_id = res.item_id "
                             "WHERE res.run_id = ? AND res.endpoint_name = ? AND res.status = ?",
                             [run_id, name, SCORED])
            df["run_id"], df["model_id"], df["set_name"] = run_id, model_id, set_name
            df["created_at"], df["updated_at"] = created, updated
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def close(self) -> None:
        """The process's connection stays open for its other stores; kept so callers can say they are done."""


def _db_value(value):
    if isinstance(value, dt.datetime):
        return to_db_time(value)
    if isinstance(value, bool):
        return int(value)
    return value


_SHARED: dict[str, EvalStore] = {}
_SHARED_LOCK = threading.Lock()


def shared_store(path: Path) -> EvalStore:
    """The one EvalStore of this process for a database file."""
    key = str(Path(path).resolve())
    with _SHARED_LOCK:
        store = _SHARED.get(key)
        if store is None:
            store = _SHARED[key] = EvalStore(Path(path))
        return store
