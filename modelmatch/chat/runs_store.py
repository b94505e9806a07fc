"""Saved playground runs, in the runs database (SQLite, never the catalog; see runs_db).

A run keeps the prompt, each column's endpoint name, settings, reasoning, answer and metrics. It never holds an
API key or a URL: endpoints are recorded by name.
"""

from __future__ import annotations

import hashlib
import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from modelmatch.chat.render import neutralize_images, strip_bidi_controls
from modelmatch.chat.runs_db import (RunsDatabaseBusy, RunsUnavailable, from_db_time, resolve_runs_file,  # noqa: F401
                                     runs_database, to_db_time)
from modelmatch.chat.runs_migration import copy_legacy_tables

# Schema steps of the playground's tables (runs_db.RunsDatabase.ensure_schema): append, never edit a step.
SCHEMA_STEPS = ("""
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, created_at TEXT, prompt TEXT, app_version TEXT);
CREATE INDEX IF NOT EXISTS runs_by_created_at ON runs (created_at);
CREATE TABLE IF NOT EXISTS run_columns (
    run_id TEXT, column_index INTEGER, endpoint_name TEXT, model_id TEXT, settings_json TEXT,
    history_json TEXT, reasoning TEXT, answer TEXT, error TEXT, ttft_ms REAL, ttfat_ms REAL,
    e2e_ms REAL, tpot_ms REAL, output_tokens_per_s REAL, input_tokens INTEGER, output_tokens INTEGER,
    reasoning_tokens INTEGER, token_source TEXT, cost_usd REAL, cost_note TEXT,
    PRIMARY KEY (run_id, column_index));
CREATE TABLE IF NOT EXISTS run_messages (message_sha256 TEXT PRIMARY KEY, role TEXT, content TEXT);
CREATE TABLE IF NOT EXISTS run_history (
    run_id TEXT, column_index INTEGER, position INTEGER, message_sha256 TEXT,
    PRIMARY KEY (run_id, column_index, position));
CREATE INDEX IF NOT EXISTS run_history_by_message ON run_history (message_sha256);
""",)
RUNS_TABLES = ("runs", "run_columns", "run_messages", "run_history")  # copied once from the earlier DuckDB file
# Each turn of a conversation is stored once: a run's history is a list of references into run_messages (a message
# is stored the first time any run sends it). Storing the whole history in every column of every run made the file
# grow with the square of the conversation's length (8 turns of 2 MB prompts: 310 MB from one visitor).
HISTORY_IN_MESSAGES = "null"  # history_json of a run whose history is in run_history
RUN_ID_CHARS = set("0123456789abcdef")


@dataclass
class ColumnRecord:
    column_index: int
    endpoint_name: str
    model_id: str | None
    settings: dict
    history: list[dict]  # earlier turns: [{"role": ..., "content": ...}]
    reasoning: str
    answer: str
    error: str = ""
    ttft_ms: float | None = None
    ttfat_ms: float | None = None
    e2e_ms: float | None = None
    tpot_ms: float | None = None
    output_tokens_per_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    token_source: str | None = None
    cost_usd: float | None = None
    cost_note: str = ""


@dataclass
class RunRecord:
    prompt: str
    columns: list[ColumnRecord]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))


def valid_run_id(run_id: str) -> bool:
    return isinstance(run_id, str) and len(run_id) == 16 and set(run_id) <= RUN_ID_CHARS


class RunsStore:
    """Saved playground runs. Opening one copies the earlier version's DuckDB runs file in once (runs_migration);
    RunsUnavailable says why the file cannot be used."""

    def __init__(self, path: Path):
        where = resolve_runs_file(Path(path))
        self.path = where.sqlite_path
        self._db = runs_database(self.path)
        self._db.ensure_schema("runs", SCHEMA_STEPS)
        self.copied_from_legacy = copy_legacy_tables(self._db, where.legacy_path, RUNS_TABLES)

    def save(self, run: RunRecord, retention_days: float = 0) -> str:
        """Save the run; with retention_days > 0, runs older than that are deleted in the same transaction."""
        with self._db.write() as cur:
            cur.execute("INSERT INTO runs VALUES (?, ?, ?, ?)",
                        [run.run_id, to_db_time(run.created_at), run.prompt, "1"])
            for c in run.columns:
                cur.execute(f"INSERT INTO run_columns VALUES ({', '.join('?' * 20)})", [
                    run.run_id, c.column_index, c.endpoint_name, c.model_id, json.dumps(c.settings),
                    HISTORY_IN_MESSAGES, c.reasoning, c.answer, c.error, c.ttft_ms, c.ttfat_ms, c.e2e_ms,
                    c.tpot_ms, c.output_tokens_per_s, c.input_tokens, c.output_tokens, c.reasoning_tokens,
                    c.token_source, c.cost_usd, c.cost_note])
                for position, message in enumerate(c.history):
                    role, content = str(message.get("role", "")), str(message.get("content", ""))
                    sha = hashlib.sha256(f"{role}\0{content}".encode("utf-8", "replace")).hexdigest()
                    cur.execute("INSERT OR IGNORE INTO run_messages VALUES (?, ?, ?)", [sha, role, content])
                    cur.execute("INSERT INTO run_history VALUES (?, ?, ?, ?)",
                                [run.run_id, c.column_index, position, sha])
            if retention_days > 0:
                cutoff = to_db_time(run.created_at - dt.timedelta(days=retention_days))
                for sql in RETENTION_SQL:
                    cur.execute(sql, [cutoff] if "?" in sql else [])
        return run.run_id

    def load(self, run_id: str) -> RunRecord | None:
        if not valid_run_id(run_id):
            return None
        with self._db.read() as cur:
            head = cur.execute("SELECT prompt, created_at FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if head is None:
                return None
            rows = cur.execute("SELECT * FROM run_columns WHERE run_id = ? ORDER BY column_index",
                               [run_id]).fetchall()
            names = [d[0] for d in cur.description]
            history_rows = cur.execute(
                "SELECT h.column_index, m.role, m.content FROM run_history h JOIN run_messages m "
                "ON m.message_sha256 = h.message_sha256 WHERE h.run_id = ? ORDER BY h.column_index, h.position",
                [run_id]).fetchall()
        histories: dict[int, list[dict]] = {}
        for column_index, role, content in history_rows:
            histories.setdefault(column_index, []).append({"role": role, "content": content})
        columns = []
        for row in rows:
            values = dict(zip(names, row))
            values.pop("run_id")
            values["settings"] = json.loads(values.pop("settings_json"))
            stored = json.loads(values.pop("history_json"))  # a list in runs saved before run_history existed
            values["history"] = stored if isinstance(stored, list) else histories.get(values["column_index"], [])
            columns.append(ColumnRecord(**values))
        return RunRecord(prompt=head[0], columns=columns, run_id=run_id, created_at=from_db_time(head[1]))

    def recent(self, limit: int = 20) -> list[tuple[str, dt.datetime, str]]:
        with self._db.read() as cur:
            rows = cur.execute("SELECT run_id, created_at, prompt FROM runs ORDER BY created_at DESC LIMIT ?",
                               [limit]).fetchall()
        return [(run_id, from_db_time(created), prompt) for run_id, created, prompt in rows]


# Retention: runs older than the cutoff, their columns and history, then messages no run refers to any more.
RETENTION_SQL = (
    "DELETE FROM run_columns WHERE run_id IN (SELECT run_id FROM runs WHERE created_at < ?)",
    "DELETE FROM run_history WHERE run_id IN (SELECT run_id FROM runs WHERE created_at < ?)",
    "DELETE FROM runs WHERE created_at < ?",
    "DELETE FROM run_messages WHERE message_sha256 NOT IN (SELECT message_sha256 FROM run_history)",
)


def _fmt(value: float | None, unit: str, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f} {unit}"


def to_markdown(run: RunRecord) -> str:
    """The run as a Markdown file. Whatever a model or a visitor wrote has its images turned into text (as on the
    page): a viewer opening the file fetches nothing they chose. Nothing is cut; the export keeps all of it."""
    lines = [f"# ModelMatch playground run {run.run_id}", "", f"{run.created_at:%Y-%m-%d %H:%M:%S} UTC", "",
             "## Prompt", "", _inert(run.prompt), ""]
    for c in run.columns:
        c = replace(c, reasoning=_inert(c.reasoning), answer=_inert(c.answer), error=_inert(c.error),
                    endpoint_name=_inert(c.endpoint_name))
        lines += [f"## {c.endpoint_name}" + (f" ({c.model_id})" if c.model_id else ""), ""]
        if c.history:
            lines += ["Earlier turns:", ""] + [f"> **{t.get('role', '?')}:** " + _inert(str(t.get("content", "")))
                                               .replace("\n", "\n> ") for t in c.history] + [""]
        lines.append(f"TTFT {_fmt(c.ttft_ms, 'ms')} · first answer token {_fmt(c.ttfat_ms, 'ms')} · "
                     f"total {_fmt(c.e2e_ms, 'ms')} · {_fmt(c.output_tokens_per_s, 'tok/s', 1)} · tokens in "
                     f"{c.input_tokens if c.input_tokens is not None else '—'} / out "
                     f"{c.output_tokens if c.output_tokens is not None else '—'}"
                     f" ({c.token_source or 'not reported'}) · cost "
                     + (f"${c.cost_usd:.6f}" if c.cost_usd is not None else c.cost_note or "—"))
        lines.append("")
        settings = ", ".join(f"{k}={v}" for k, v in c.settings.items())
        lines += [f"Settings: {settings}", ""]
        if c.reasoning:
            lines += ["<details><summary>Reasoning</summary>", "", c.reasoning, "", "</details>", ""]
        lines += [c.answer or "(no answer)", ""]
        if c.error:
            lines += [f"> Error: {c.error}", ""]
    return "\n".join(lines)


def _inert(text: str) -> str:
    return neutralize_images(strip_bidi_controls(text or "")) if text else text


def to_json(run: RunRecord) -> str:
    payload = {"run_id": run.run_id, "created_at": run.created_at.isoformat() + "Z", "prompt": run.prompt,
               "columns": [asdict(c) for c in run.columns]}
    return json.dumps(payload, indent=2, ensure_ascii=False)
