"""Read-only access to the catalog file, safe across threads and across atomic rebuilds.

Why ATTACH from an in-memory database instead of duckdb.connect(path): DuckDB caches database instances per path
inside a process, so connect(path) keeps returning the old build for as long as any connection to it is open.
ATTACH opens the file afresh, and the open handle keeps reading the build it opened even after os.replace swaps a
new file in, so every query sees exactly one build.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from modelmatch.catalog import engine

if TYPE_CHECKING:  # imported by query(): the CLI reads rows with records() and never loads pandas
    import pandas as pd


class CatalogMissing(Exception):
    """The catalog file does not exist or is not a catalog; the message says what to run."""


@dataclass(frozen=True)
class FileIdentity:
    """Which file is on disk at a path (inode, modification time, size): a new build is a new identity."""

    inode: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path) -> "FileIdentity":
        st = os.stat(path)
        return cls(st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class BuildInfo:
    """The stamp a build writes into the catalog: its id, when it ran, and the hash of the data it read."""

    build_id: str
    built_at: Any
    data_sha256: str


class CatalogReader:
    """Opens the catalog read-only; reopens when the file on disk is replaced by a new build."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._con: engine.DuckDBPyConnection | None = None
        self._identity: FileIdentity | None = None
        self._build_info: tuple[FileIdentity, BuildInfo] | None = None

    def _open(self) -> engine.DuckDBPyConnection:
        con = engine.connect(":memory:")
        try:
            con.execute("ATTACH ? AS catalog (READ_ONLY)", [str(self.path)])
            con.execute("USE catalog")
            # Readers never need files or extensions: refuse them so no query can reach outside the catalog.
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        except engine.Error as exc:
            con.close()
            raise CatalogMissing(f"cannot open the catalog at {self.path}: {exc}. "
                                 "Run `python -m ingest build` to create it.") from exc
        return con

    def connection(self) -> engine.DuckDBPyConnection:
        """A cursor on the newest build; each caller (thread) gets its own cursor."""
        try:
            identity = FileIdentity.of(self.path)
        except FileNotFoundError as exc:
            raise CatalogMissing(f"no catalog at {self.path}. Run `python -m ingest build` to create it.") from exc
        with self._lock:
            if self._con is None or identity != self._identity:
                # The old connection is dropped, not closed: cursors still running in other threads finish on the
                # build they started with, and the old file is released when the last of them is gone.
                self._con = self._open()
                self._identity = identity
            cursor = self._con.cursor()
        # A cursor starts in the default (in-memory) database; point it at the attached catalog.
        cursor.execute("USE catalog")
        return cursor

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        import pandas  # noqa: F401  (DuckDB's .df() needs it; imported here so records() callers skip it)

        cursor = self.connection()
        try:
            return cursor.execute(sql, list(params)).df()
        finally:
            cursor.close()

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts of plain Python values (NULL is None, DATE a datetime.date), without pandas."""
        cursor = self.connection()
        try:
            result = cursor.execute(sql, list(params))
            names = [d[0] for d in result.description]
            return [dict(zip(names, row)) for row in result.fetchall()]
        finally:
            cursor.close()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows as tuples of plain Python values, in the query's column order: records() without a dict per row."""
        cursor = self.connection()
        try:
            return cursor.execute(sql, list(params)).fetchall()
        finally:
            cursor.close()

    def build_info(self) -> BuildInfo:
        """The stamp of the build now on disk, read once per catalog file: every page asks for it on every rerun, and
        a new build is a new file (see connection()), so the file's identity says when to read it again."""
        try:
            identity = FileIdentity.of(self.path)
        except FileNotFoundError as exc:
            raise CatalogMissing(f"no catalog at {self.path}. Run `python -m ingest build` to create it.") from exc
        known = self._build_info
        if known is not None and known[0] == identity:
            return known[1]
        cursor = self.connection()
        try:
            row = cursor.execute("SELECT build_id, built_at, data_sha256 FROM build_meta").fetchone()
        finally:
            cursor.close()
        if row is None:
            raise CatalogMissing(f"{self.path} has no build stamp; rebuild it with `python -m ingest build`.")
        info = BuildInfo(*row)
        with self._lock:
            # Remembered only if the connection that read it is on the file stat'ed above.
            if self._identity == identity:
                self._build_info = (identity, info)
        return info
