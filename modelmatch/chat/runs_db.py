"""The runs database: one SQLite file in WAL mode shared by the playground's runs, the eval store and the shared
request caps (never the catalog, which stays DuckDB).

DuckDB lets one process at a time open a file, so the stores used to open it for every read and write (about 18
save+load operations a second, ~30 ms per scored eval item). SQLite in WAL mode lets many processes keep the file
open at once: readers never wait for a writer, writers queue on the file lock for up to LOCK_RETRY_S (busy_timeout).

Each process holds one connection per file (`runs_database`), shared by every thread (Streamlit script threads, eval
worker threads) under one lock: a sqlite3 connection may be used from any thread as long as two never use it at once.
Each store declares its tables as numbered schema steps (`ensure_schema`); the file records how far each store's
schema has been brought, so a newer app adds its columns or tables to an older file exactly once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

LOCK_RETRY_S = 5.0  # how long a write waits for another process's write before "in use by another process"
SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file
LEGACY_SUFFIX = ".duckdb"  # the runs file before it moved to SQLite (runs/runs.duckdb by default)
SQLITE_SUFFIX = ".sqlite"


class RunsUnavailable(Exception):
    """The runs database cannot be opened or written (corrupt, read-only, a directory, busy): its message starts
    "runs cannot be saved" and gives the reason, so a page can say so and keep working."""


class RunsDatabaseBusy(RunsUnavailable):
    """Another process held the runs database for longer than LOCK_RETRY_S."""


def reason(exc: BaseException) -> str:
    """A short reason without the database's full path (the file name is enough for the operator)."""
    text = (getattr(exc, "strerror", None) or str(exc)).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


# -- values SQLite has no type for -----------------------------------------------------------------------------

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # fixed width, so text order is time order


def to_db_time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime(TIMESTAMP_FORMAT)


def from_db_time(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


# -- which file ------------------------------------------------------------------------------------------------


def file_kind(path: Path) -> str:
    """'missing', 'sqlite', 'duckdb', or 'other' (a directory, an unreadable or foreign file), by its header."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "other"
    if head == SQLITE_MAGIC or head == b"":
        return "sqlite"  # an empty file is a new SQLite database
    if head[8:12] == DUCKDB_MAGIC:
        return "duckdb"
    return "other"


@dataclass(frozen=True)
class RunsFile:
    sqlite_path: Path  # where runs are kept
    legacy_path: Path | None  # a DuckDB runs file of an earlier version to copy from once, if there is one


def resolve_runs_file(configured: Path) -> RunsFile:
    """The SQLite file for the configured runs path, and the earlier version's DuckDB file beside it.

    MODELMATCH_RUNS_DB used to name a DuckDB file (runs/runs.duckdb). If the configured path is such a file, runs
    move to the same name with .sqlite; otherwise the configured path is the SQLite file and a DuckDB file of the
    same name with .duckdb (the old default beside the new one) is the one to copy from. The old file is only read.
    """
    configured = Path(configured)
    if file_kind(configured) == "duckdb":
        target = configured.with_suffix(SQLITE_SUFFIX)
        if target == configured:
            target = configured.with_name(configured.name + SQLITE_SUFFIX)
        return RunsFile(target, configured)
    legacy = configured.with_suffix(LEGACY_SUFFIX)
    if legacy != configured and file_kind(legacy) == "duckdb":
        return RunsFile(configured, legacy)
    return RunsFile(configured, None)


# -- the connection ------------------------------------------------------------------------------------------


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class RunsDatabase:
    """One SQLite connection to the runs file for this process, used by one thread at a time."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunsUnavailable(f"runs cannot be saved: {self.path.parent.name}: {reason(exc)}") from exc
        if self.path.is_dir():
            raise RunsUnavailable(f"runs cannot be saved: {self.path.name}: is a directory")
        try:
            # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE itself, so it takes
            # the file's write lock up front (and waits busy_timeout for it) instead of failing half-way.
            self._con = sqlite3.connect(str(self.path), timeout=LOCK_RETRY_S, isolation_level=None,
                                        check_same_thread=False)
        except sqlite3.Error as exc:
            raise RunsUnavailable(f"runs cannot be saved: {self.path.name}: {reason(exc)}") from exc
        try:
            self._con.execute(f"PRAGMA busy_timeout = {int(LOCK_RETRY_S * 1000)}")
            mode = self._wal_mode()
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"journal mode {mode}, not WAL (a read-only folder?)")
            # In WAL mode NORMAL loses no committed transaction on an application crash (only on power loss, the
            # last few), and spares an fsync per write.
            self._con.execute("PRAGMA synchronous = NORMAL")
            self._con.execute("CREATE TABLE IF NOT EXISTS schema_versions (store TEXT PRIMARY KEY, version INTEGER)")
        except sqlite3.Error as exc:
            self._con.close()
            raise self._unavailable(exc) from exc

    def _wal_mode(self) -> str:
        """Switch the file to WAL. Seen in CI: with busy_timeout set, this pragma still answered "database is locked"
        at once while other processes were opening the same new file (replicas starting together), so the switch is
        retried for up to LOCK_RETRY_S like any other wait for the file."""
        deadline = time.monotonic() + LOCK_RETRY_S
        while True:
            try:
                return self._con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def _unavailable(self, exc: BaseException) -> RunsUnavailable:
        if isinstance(exc, sqlite3.Error) and _is_busy(exc):
            return RunsDatabaseBusy(f"runs cannot be saved: the runs database {self.path.name} is in use by another "
                                    "process; try again, or point MODELMATCH_RUNS_DB at another file")
        return RunsUnavailable(f"runs cannot be saved: {self.path.name}: {reason(exc)}")

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction: everything in the block is committed together or not at all."""
        with self._lock:
            cur = self._con.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                cur.close()
                raise self._unavailable(exc) from exc
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
                if isinstance(exc, (sqlite3.Error, OSError)):
                    raise self._unavailable(exc) from exc
                raise
            finally:
                cur.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Cursor]:
        """One consistent read (a snapshot: a writer in another process neither blocks nor changes it)."""
        with self._lock:
            cur = self._con.cursor()
            try:
                cur.execute("BEGIN")
                yield cur
            except (sqlite3.Error, OSError) as exc:
                raise self._unavailable(exc) from exc
            finally:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("COMMIT")
                cur.close()

    def ensure_schema(self, store: str, steps: Sequence[str]) -> None:
        """Bring one store's tables to its latest schema: step i (1-based) runs once per file, in order, each in
        the same transaction as the version it records. Two processes starting at once cannot both run a step."""
        with self.write() as cur:
            row = cur.execute("SELECT version FROM schema_versions WHERE store = ?", [store]).fetchone()
            done = row[0] if row else 0
            if done > len(steps):
                raise RunsUnavailable(f"runs cannot be saved: {self.path.name} was written by a newer ModelMatch "
                                      f"({store} schema {done}, this version knows {len(steps)})")
            for step in steps[done:]:
                for statement in (s for s in step.split(";") if s.strip()):
                    cur.execute(statement)
            if done < len(steps):
                cur.execute("INSERT OR REPLACE INTO schema_versions VALUES (?, ?)", [store, len(steps)])

    def close(self) -> None:
        with self._lock:
            self._con.close()


_OPEN: dict[str, RunsDatabase] = {}
_OPEN_LOCK = threading.Lock()


def runs_database(path: Path) -> RunsDatabase:
    """This process's connection to a runs file (opened the first time it is asked for)."""
    key = str(Path(path).resolve())
    with _OPEN_LOCK:
        db = _OPEN.get(key)
        if db is None:
            db = _OPEN[key] = RunsDatabase(Path(path))
        return db


def runs_file_exists(configured: Path) -> bool:
    """Whether there are runs to read: the SQLite file, or an earlier version's DuckDB file not yet copied."""
    where = resolve_runs_file(Path(configured))
    return where.sqlite_path.exists() or where.legacy_path is not None
