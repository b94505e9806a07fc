"""Copying the runs of the earlier DuckDB runs file into the SQLite one, once per table, on the first start.

The DuckDB file is opened read-only and never changed or deleted (an operator can keep it as a backup, or go back to
the earlier version). Each store copies its own tables after creating them, inside one SQLite write transaction that
also records the copy: a failure leaves the SQLite file as it was, the reason is raised, and the next start tries
again. Two processes starting at once copy once: the second finds the record inside its own transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Sequence

from modelmatch.chat.runs_db import RunsDatabase, RunsDatabaseBusy, RunsUnavailable, reason, to_db_time

IDENTIFIER = re.compile(r"[a-z_]+")
MARKER_SQL = ("CREATE TABLE IF NOT EXISTS legacy_copies (table_name TEXT PRIMARY KEY, source_name TEXT, "
              "rows_copied INTEGER, copied_at TEXT)")


def _sqlite_value(value):
    if isinstance(value, dt.datetime):
        return to_db_time(value.replace(tzinfo=None))
    if isinstance(value, bool):
        return int(value)
    return value


def copy_legacy_tables(db: RunsDatabase, legacy: Path | None, tables: Sequence[str]) -> dict[str, int]:
    """Copy these tables' rows from the DuckDB file into the same tables of the SQLite file (which the store has
    created), unless done before; rows already there (same primary key) are kept. Returns rows copied per table."""
    if legacy is None:
        return {}
    with db.write() as cur:
        cur.execute(MARKER_SQL)
        done = {row[0] for row in cur.execute("SELECT table_name FROM legacy_copies").fetchall()}
    if not all(IDENTIFIER.fullmatch(t) for t in tables):  # names go into SQL text: the stores' own constants only
        raise ValueError(f"not a table name: {tables!r}")
    todo = [t for t in tables if t not in done]
    if not todo:
        return {}
    import duckdb  # only for this one-time copy

    def failed(exc: BaseException) -> RunsUnavailable:
        cls = RunsDatabaseBusy if "lock" in str(exc).lower() else RunsUnavailable
        return cls(f"runs cannot be saved: copying the earlier runs in {legacy.name} into {db.path.name} failed "
                   f"({reason(exc)}); neither file was changed, the copy is tried again at the next start"
                   + ("; the file is in use by another process" if cls is RunsDatabaseBusy else ""))

    try:
        source = duckdb.connect(str(legacy), read_only=True)
    except (duckdb.Error, OSError) as exc:
        raise failed(exc) from exc
    copied: dict[str, int] = {}
    try:
        present = {row[0] for row in source.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        with db.write() as cur:
            cur.execute(MARKER_SQL)
            done = {row[0] for row in cur.execute("SELECT table_name FROM legacy_copies").fetchall()}
            for table in todo:
                if table in done:  # another process copied it between our look and our lock
                    continue
                rows = 0
                if table in present:
                    ours = [row[1] for row in cur.execute(f"PRAGMA table_info({table})").fetchall()]
                    theirs = [d[0] for d in source.execute(f"SELECT * FROM {table} LIMIT 0").description]
                    columns = [c for c in ours if c in theirs]
                    placeholders = ", ".join("?" * len(columns))
                    names = ", ".join(columns)
                    result = source.execute(f"SELECT {names} FROM {table}")
                    while batch := result.fetchmany(1000):
                        cur.executemany(f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({placeholders})",
                                        [[_sqlite_value(v) for v in row] for row in batch])
                        rows += len(batch)
                cur.execute("INSERT INTO legacy_copies VALUES (?, ?, ?, ?)",
                            [table, legacy.name, rows, to_db_time(dt.datetime.now(dt.timezone.utc))])
                copied[table] = rows
    except RunsUnavailable as exc:  # the SQLite side: a value it cannot store, a full disk, a lock
        raise failed(exc.__cause__ or exc) from exc
    except (duckdb.Error, OSError) as exc:
        raise failed(exc) from exc
    finally:
        source.close()
    return copied
