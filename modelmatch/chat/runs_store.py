"""Saved playground runs, in their own DuckDB file (never the catalog), written through one lock in this process.

A run keeps the prompt, each column's endpoint name, settings, reasoning, answer and metrics. It never holds an
API key or a URL: endpoints are recorded by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import datetime as dt
import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import duckdb

from modelmatch.chat.render import neutralize_images, strip_bidi_controls

SCHEMA = """
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
"""
# Each turn of a conversation is stored once: a run's history is a list of references into run_messages (a message
# is stored the first time any run sends it). Storing the whole history in every column of every run made the file
# grow with the square of the conversation's length (8 turns of 2 MB prompts: 310 MB from one visitor).
HISTORY_IN_MESSAGES = "null"  # history_json of a run whose history is in run_history
RUN_ID_CHARS = set("0123456789abcdef")
LOCK_RETRY_S = 5.0


class RunsUnavailable(Exception):
    """The runs database cannot be opened or written (corrupt, read-only, a directory, busy): its message starts
    "runs cannot be saved" and gives the reason, so a page can say so and keep working."""


class RunsDatabaseBusy(RunsUnavailable):
    """Another process held the runs database for longer than LOCK_RETRY_S."""


def _reason(exc: BaseException) -> str:
    """A short reason without the database's full path (the file name is enough for the operator)."""
    text = (getattr(exc, "strerror", None) or str(exc)).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def create_tables(path: Path, schema: str) -> None:
    """Make the runs database's folder and the tables of one store (the playground's runs, the eval store) in the
    shared file; RunsUnavailable says why not: a folder or file that cannot be written, a directory, or a file that
    is not a runs database."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunsUnavailable(f"runs cannot be saved: {path.parent.name}: {_reason(exc)}") from exc
    with open_runs_db(path) as con:
        try:
            con.execute(schema)
        except duckdb.Error as exc:  # a read-only file, or one that is not a runs database
            raise RunsUnavailable(f"runs cannot be saved: {path.name}: {_reason(exc)}") from exc


@contextlib.contextmanager
def open_runs_db(path: Path):
    """A connection held only for one read or write. DuckDB locks a file per process while it is open, so holding
    it would lock out every other app process (replicas, the CLI); brief opens with a short retry share it."""
    deadline = time.monotonic() + LOCK_RETRY_S
    while True:
        try:
            con = duckdb.connect(str(path))
            break
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower() and time.monotonic() > deadline:
                raise RunsDatabaseBusy(f"runs cannot be saved: the runs database {Path(path).name} is in use by "
                                       "another process; try again, or point MODELMATCH_RUNS_DB at another file"
                                       ) from exc
            if "lock" not in str(exc).lower():  # read-only, a directory, no space: not a matter of waiting
                raise RunsUnavailable(f"runs cannot be saved: {Path(path).name}: {_reason(exc)}") from exc
            time.sleep(0.05)
        except (duckdb.Error, OSError) as exc:  # a corrupt or foreign file
            raise RunsUnavailable(f"runs cannot be saved: {Path(path).name}: {_reason(exc)}") from exc
    try:
        yield con
    except (duckdb.IOException, duckdb.PermissionException, OSError) as exc:  # I/O failing mid-operation
        raise RunsUnavailable(f"runs cannot be saved: {Path(path).name}: {_reason(exc)}") from exc
    finally:
        con.close()


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
    """Saved playground runs; the file is opened only for each read or write (see open_runs_db)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        create_tables(self.path, SCHEMA)

    def _connection(self):
        return open_runs_db(self.path)

    def save(self, run: RunRecord, retention_days: float = 0) -> str:
        """Save the run; with retention_days > 0, runs older than that are deleted in the same transaction."""
        with self._lock, self._connection() as con:
            cur = con.cursor()
            try:
                cur.execute("BEGIN")
                cur.execute("INSERT INTO runs VALUES (?, ?, ?, ?)", [run.run_id, run.created_at, run.prompt, "1"])
                for c in run.columns:
                    cur.execute("INSERT INTO run_columns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
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
                    cutoff = run.created_at - dt.timedelta(days=retention_days)
                    for sql in RETENTION_SQL:
                        cur.execute(sql, [cutoff] if "?" in sql else [])
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
        return run.run_id

    def load(self, run_id: str) -> RunRecord | None:
        if not valid_run_id(run_id):
            return None
        with self._lock, self._connection() as con:
            cur = con.cursor()
            try:
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
            finally:
                cur.close()
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
        return RunRecord(prompt=head[0], columns=columns, run_id=run_id, created_at=head[1])

    def recent(self, limit: int = 20) -> list[tuple[str, dt.datetime, str]]:
        with self._lock, self._connection() as con:
            return con.execute("SELECT run_id, created_at, prompt FROM runs ORDER BY created_at DESC LIMIT ?",
                               [limit]).fetchall()


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
