"""The validated rows of every table, held typed in an in-memory DuckDB database instead of Python dicts.

Each table is staged as a DuckDB table with the catalog's columns plus `_file` (the file's index in validation order)
and `_line` (the CSV line the row starts on), so the rules across rows run as SQL and still name file and line.

A file enters by one of two doors:
- the fast one: DuckDB reads and types the file, and Python checks each *distinct* value of a column once with the
  same per-cell checks as before (ingest/cells.py). It is taken only when the file is provably read the same way by
  DuckDB as by Python's csv module, every record sits on its own line, and no value has any problem; it reports
  nothing itself.
- the careful one: Python's csv module, cell by cell, which reports every problem with its file, line and column.
  Every file the fast door refuses, for whatever reason, goes through it, so messages never depend on DuckDB.

The big files are read, hashed and read by DuckDB into their untyped tables on a second thread while validation
works through the files before them (ReadAhead); everything that decides what is staged, and every message, stays
on the validating thread, in file order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ingest.cells import parse_cell
from ingest.regular_file import DataFileError, read_regular_file
from modelmatch.catalog.schema import DUCKDB_TYPES, TABLES, Column, Table

FILE_COLUMN, LINE_COLUMN = "_file", "_line"
UTF8_BOM = b"\xef\xbb\xbf"
# Where DuckDB's reader and Python's csv module part ways: DuckDB drops blanks between a delimiter or a line's start
# and an opening quote (` "x"` reads as x; Python keeps ` "x"` as text), and between a closing quote and the next
# delimiter or line end (`"x" ,` reads as x; Python refuses it). A file with such a spot takes the careful door. (The
# pattern also matches such text inside a quoted cell: that only costs speed.)
QUOTE_BESIDE_BLANK = re.compile(rb'(?m)(^|,)[ \t\f\v]+"|"[ \t\f\v]+(,|\r?$)')

STAGING_MEMORY_LIMIT = "256MB"
# Below this size a file is read by Python's csv module directly: DuckDB's fixed cost per file (a copy, a handful of
# queries) is more than Python's whole read of it. The catalog's hand-written files are all far smaller.
FAST_DOOR_MIN_BYTES = 1024 * 1024
TYPED_KINDS = {"int", "float", "bool", "date", "datetime"}
# Bytes of files read ahead (below) and not yet taken by validation: a bound on what reading ahead adds to memory.
READ_AHEAD_MAX_BYTES = 64 * 1024 * 1024


# From this many rows Python read into one table, the rows go to DuckDB through pyarrow: below it, as DuckDB's
# parameters, which convert each value on its own (about 10 us a row of 17 columns, 8x pyarrow's time) but need no
# import. pyarrow's import, with the pandas it imports, was 0.3 s of every build, more than half of the build of the
# repository's own data (all of whose files Python reads: 0.7-1.0 s in all).
ARROW_MIN_ROWS = 30_000


def arrow_types() -> dict:
    """Each column kind's Arrow type. pyarrow is imported here, when a build first stages many rows Python read, not
    with this module: the CLIs import the build only to check whether the catalog needs one."""
    import pyarrow as pa

    return {"text": pa.string(), "url": pa.string(), "enum": pa.string(), "int": pa.int64(), "float": pa.float64(),
            "bool": pa.bool_(), "date": pa.date32(), "datetime": pa.timestamp("us")}


def quote_beside_blank(data: bytes) -> bool:
    """Whether QUOTE_BESIDE_BLANK matches. Every match has a blank right beside a quote, so plain substring scans
    (fast) rule most files out; the regex, about 0.7 s on a 34 MB file, runs only where one of them hits."""
    if b'"' not in data:
        return False
    blanks = [b" "] + [blank for blank in (b"\t", b"\f", b"\v") if blank in data]
    if not any(blank + b'"' in data or b'"' + blank in data for blank in blanks):
        return False
    return QUOTE_BESIDE_BLANK.search(data) is not None


def q(name: str) -> str:
    """A quoted SQL identifier (names come from the schema, never from data)."""
    return '"' + name.replace('"', '""') + '"'


class Staging:
    """The staged tables of one validation run (an in-memory DuckDB database, with a scratch folder for copies)."""

    def __init__(self) -> None:
        # DuckDB keeps the staged rows within STAGING_MEMORY_LIMIT and moves the rest to files in the scratch
        # folder, so a build's memory stays bounded whatever the catalog's size.
        self._scratch = tempfile.TemporaryDirectory(prefix="modelmatch-staging-")
        self.con = duckdb.connect(":memory:", config={
            "memory_limit": STAGING_MEMORY_LIMIT, "temp_directory": str(Path(self._scratch.name) / "spill"),
            "preserve_insertion_order": True})
        self.con.execute("SET enable_progress_bar = false")
        self._checked: dict[tuple[str, str, str | None], tuple[Any, str | None]] = {}
        self.relpaths: list[str] = []
        # Per table, the SELECTs whose UNION ALL is the table, one per file in validation order: the rows DuckDB
        # read (typed from their raw text on the fly, so no typed copy is made) or those Python read cell by cell.
        # A UNION ALL of single-table SELECTs keeps its order, so the table reads in file and line order.
        self._parts: dict[str, list[str]] = {}
        self._pending: dict[str, list[tuple[int, list]]] = {}
        self._read_ahead: ReadAhead | None = None
        for table in TABLES:
            cols = ", ".join(f"{q(c.name)} {DUCKDB_TYPES[c.kind]}" for c in table.columns)
            self.con.execute(f"CREATE TABLE {q(careful_table(table))} ({cols}, {FILE_COLUMN} INTEGER, "
                             f"{LINE_COLUMN} BIGINT)")
            self._parts[table.name] = [f"SELECT * FROM {q(careful_table(table))} WHERE false"]
            self._define(table)

    def _define(self, table: Table) -> None:
        parts = " UNION ALL ".join(self._parts[table.name])
        self.con.execute(f"CREATE OR REPLACE VIEW {q(table.name)} AS {parts}")

    def close(self) -> None:
        self.end_read_ahead()
        self.con.close()
        self._scratch.cleanup()

    def add_file(self, relpath: str) -> int:
        self.relpaths.append(relpath)
        return len(self.relpaths) - 1

    # --- the careful door -------------------------------------------------------------------------------------
    def add_rows(self, table: Table, file_index: int, rows: list) -> None:
        """Rows parsed cell by cell (ingest.validate.Row); bad cells are already None, as the rules expect. They
        wait until finish_table, so a table of many small files costs one insert, not one per file."""
        self._pending.setdefault(table.name, []).append((file_index, rows))

    def _flush_careful(self, table: Table) -> None:
        pending = self._pending.pop(table.name, [])
        rows = [(file_index, row) for file_index, file_rows in pending for row in file_rows]
        if not rows:
            return
        columns = [[row.values.get(col.name) for _, row in rows] for col in table.columns]
        columns += [[file_index for file_index, _ in rows], [row.line for _, row in rows]]
        if len(rows) < ARROW_MIN_ROWS:
            # DuckDB's parameters carry each column as a list, typed as the staged column, and the unnests side by
            # side are the rows, in order. A column with no value at all (not in the files, or every cell empty)
            # is a typed NULL, not a list of them: each value in a list costs about as much as any other.
            kinds = [DUCKDB_TYPES[col.kind] for col in table.columns] + ["INTEGER", "BIGINT"]  # + _file, _line
            empty = [all(value is None for value in values) for values in columns]
            selected = ", ".join(f"NULL::{kind}" if none else f"unnest(?::{kind}[])"
                                 for kind, none in zip(kinds, empty))
            self.con.execute(f"INSERT INTO {q(careful_table(table))} SELECT {selected}",
                             [values for values, none in zip(columns, empty) if not none])
        else:
            import pyarrow as pa

            by_kind = arrow_types()
            types = [by_kind[col.kind] for col in table.columns] + [pa.int32(), pa.int64()]
            arrays = {f"c{i}": pa.array(values, type=kind) for i, (values, kind) in enumerate(zip(columns, types))}
            self.con.register("incoming_rows", pa.table(arrays))
            try:
                self.con.execute(f"INSERT INTO {q(careful_table(table))} SELECT * FROM incoming_rows")
            finally:
                self.con.unregister("incoming_rows")
        # Consecutive files read by Python are one part: a single-table WHERE keeps the insertion (file) order.
        first, last = pending[0][0], pending[-1][0]
        self._parts[table.name].append(f"SELECT * FROM {q(careful_table(table))} "
                                       f"WHERE {FILE_COLUMN} BETWEEN {first:d} AND {last:d}")

    def finish_table(self, table: Table) -> None:
        """Every file of the table is in: define the table (a view over its parts, in file order)."""
        self._flush_careful(table)
        self._define(table)

    # --- the fast door ----------------------------------------------------------------------------------------
    def read_ahead(self, files: list[tuple[Table, int, Path]]) -> set[str]:
        """Start reading those of these files (table, file index, path) big enough for the fast door on a second
        thread (see ReadAhead); the names of the tables with a file read ahead."""
        big = [(table, file_index, path) for table, file_index, path in files if _worth_reading_ahead(path)]
        if big:
            self._read_ahead = ReadAhead(self, big)
        return {table.name for table, _, _ in big}

    def end_read_ahead(self) -> None:
        """Stop reading ahead: files not taken by now never will be."""
        if self._read_ahead is not None:
            self._read_ahead.close()

    def read_ahead_done(self, file_index: int) -> bool:
        """Whether taking this file would not wait: it was read ahead and is ready, or it is not read ahead."""
        return self._read_ahead is None or self._read_ahead.done(file_index)

    def take_read_ahead(self, file_index: int) -> ReadAheadFile | None:
        """The file as it was read ahead (waiting for it if need be), or None where it was not read ahead."""
        return self._read_ahead.take(file_index) if self._read_ahead is not None else None

    def try_add_file(self, table: Table, file_index: int, data: bytes) -> int | None:
        """Stage a file read and typed by DuckDB; the number of rows staged, or None when the careful door must
        read it (anything unusual, or any problem at all: only the careful door reports)."""
        if len(data) < FAST_DOOR_MIN_BYTES:
            return None  # Python reads a small file faster than DuckDB starts a query
        raw = self._read_ahead.claim(file_index, data) if self._read_ahead is not None else None
        if raw is None:
            raw = self._read_raw(self.con, table, file_index, data)
            if raw is None:
                return None
        try:
            staged = self._stage_raw(table, file_index, raw)
        except duckdb.Error:
            staged = None  # whatever stopped DuckDB (a cell it cannot read, memory), Python reads the file instead
        if staged is None:
            self.con.execute(f"DROP VIEW IF EXISTS {raw.name}_rows")
            self.con.execute(f"DROP TABLE IF EXISTS {raw.name}")
        return staged

    def _read_raw(self, con: duckdb.DuckDBPyConnection, table: Table, file_index: int,
                  data: bytes) -> RawFile | None:
        """The part of the fast door that needs only the file's bytes (so it can run ahead, on its own connection):
        the checks on the bytes, then DuckDB's read of them into an untyped table of one record per line. None, with
        nothing left behind, where the careful door must read the file."""
        if data.startswith(UTF8_BOM):
            data = data[len(UTF8_BOM):]
        if not data or b"\x00" in data:
            return None
        if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
            return None  # a lone CR ends a line for Python's csv module: line numbers would need the careful door
        if quote_beside_blank(data):
            return None
        # Plain ASCII is valid UTF-8: checking that is ~10x faster than decoding, and big CSVs are mostly ASCII.
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return None
        header = _header(data, table)
        if header is None:
            return None
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        copy = Path(self._scratch.name) / f"{file_index}.csv"
        # DuckDB reads a private copy of the bytes already read and checked (regular file, size bound, no blocking),
        # so what is hashed is what is parsed, and a file swapped for a pipe meanwhile cannot make DuckDB wait.
        copy.write_bytes(data)
        del data
        raw = RawFile(f"raw_file_{file_index}", tuple(header))
        positions = ", ".join(f"'{p}': 'VARCHAR'" for p in raw.positions)
        try:
            con.execute(
                f"CREATE TABLE {raw.name} AS SELECT * FROM read_csv(?, header = true, auto_detect = false, "
                f"columns = {{{positions}}}, delim = ',', quote = '\"', escape = '\"', strict_mode = true, "
                f"null_padding = false, ignore_errors = false, max_line_size = 67108864)", [str(copy)])
            records = con.execute(f"SELECT count(*) FROM {raw.name}").fetchall()[0][0]
        except duckdb.Error:
            # Ragged rows, an unterminated quote (the careful door says where), or whatever else stopped DuckDB.
            con.execute(f"DROP TABLE IF EXISTS {raw.name}")
            return None
        finally:
            copy.unlink(missing_ok=True)
        if records + 1 != lines:
            con.execute(f"DROP TABLE {raw.name}")
            return None  # a blank line, or a quoted cell over several lines: rowid + 2 would not be the line
        return raw

    def _stage_raw(self, table: Table, file_index: int, raw: RawFile) -> int | None:
        """The rest of the fast door, once the file is in its untyped table: each distinct value of each column
        checked once, and the table's typed rows defined over it. None where the careful door must read the file."""
        positions = raw.positions
        # Python skips a record whose cells are all empty; a record of blanks other than that still has a required
        # column, whose distinct-value check below sends the file to the careful door.
        not_blank = " OR ".join(f"{p} IS NOT NULL" for p in positions)
        rows = f"{raw.name}_rows"
        self.con.execute(f"CREATE VIEW {rows} AS SELECT *, rowid + 2 AS {LINE_COLUMN} FROM {raw.name} "
                         f"WHERE {not_blank}")
        staged = self.con.execute(f"SELECT count(*) FROM {rows}").fetchall()[0][0]
        if not staged:
            return 0
        # One scan for the distinct values of every column ('' and NULL are the same empty cell to the checks).
        lists = ", ".join(f"list(DISTINCT coalesce({p}, ''))" for p in positions)
        distinct = self.con.execute(f"SELECT {lists} FROM {rows}").fetchall()[0]
        values_by_name = dict(zip(raw.header, distinct))
        select = []
        for col in table.columns:
            if col.name not in values_by_name:
                select.append(f"NULL::{DUCKDB_TYPES[col.kind]} AS {q(col.name)}")
                continue
            expression = self._checked_expression(table, col, raw.header.index(col.name), values_by_name[col.name])
            if expression is None:
                return None
            select.append(f"{expression} AS {q(col.name)}")
        self._flush_careful(table)  # the files before this one keep their place
        self._parts[table.name].append(f"SELECT {', '.join(select)}, {file_index:d}::INTEGER AS {FILE_COLUMN}, "
                                       f"{LINE_COLUMN} FROM {rows}")
        return staged

    def _checked_expression(self, table: Table, col: Column, position: int, raw_values: list[str]) -> str | None:
        """The SQL giving this column's typed values, once every distinct raw value passed the cell checks and
        DuckDB's value for it equals Python's; None otherwise."""
        checked = []
        for raw in raw_values:
            key = (table.name, col.name, raw)
            result = self._checked.get(key)
            if result is None:
                result = self._checked[key] = parse_cell(raw, col)
            if result[1] is not None:
                return None  # a problem: the careful door reports it with its line
            checked.append(result[0])
        if col.kind in TYPED_KINDS:
            sql_type = DUCKDB_TYPES[col.kind]
            duck_values = [v for (v,) in self.con.execute(
                f"SELECT TRY_CAST(v AS {sql_type}) FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(v, i) ORDER BY i",
                [raw_values]).fetchall()]
            expression = f"TRY_CAST(c{position} AS {sql_type})"
        else:
            duck_values = [raw or None for raw in raw_values]
            expression = f"nullif(c{position}, '')"
        for value, duck_value in zip(checked, duck_values):
            if value != duck_value or type(value) is not type(duck_value):
                return None
        return expression

    # --- reading back -----------------------------------------------------------------------------------------
    def rows(self, table: Table, where: str = "TRUE", params: list | None = None) -> Iterator[tuple[str, int, dict]]:
        """(file, line, values) of the staged rows matching `where`, in file and line order, fetched in batches."""
        names = table.column_names
        # A cursor of its own: the caller may run other queries between batches.
        cursor = self.con.cursor().execute(
            f"SELECT {FILE_COLUMN}, {LINE_COLUMN}, {', '.join(q(n) for n in names)} FROM {q(table.name)} "
            f"WHERE {where} ORDER BY {FILE_COLUMN}, {LINE_COLUMN}", params or [])
        while batch := cursor.fetchmany(10_000):
            for file_index, line, *values in batch:
                yield self.relpaths[file_index], line, dict(zip(names, values))

    def count(self, table: Table) -> int:
        return self.con.execute(f"SELECT count(*) FROM {q(table.name)}").fetchall()[0][0]


def _worth_reading_ahead(path: Path) -> bool:
    """Whether a file is big enough for the fast door, so worth reading ahead."""
    try:
        return path.stat().st_size >= FAST_DOOR_MIN_BYTES
    except OSError:
        return False  # read in turn, which reports why it cannot be


@dataclass(frozen=True)
class RawFile:
    """A file DuckDB has read, untyped, into the table `name` (columns c0..cN in the header's order)."""
    name: str
    header: tuple[str, ...]

    @property
    def positions(self) -> list[str]:
        return [f"c{i}" for i in range(len(self.header))]


@dataclass(frozen=True)
class ReadAheadFile:
    """One file as the read-ahead thread left it: its bytes and their SHA-256, or why it could not be read; and its
    untyped table where DuckDB could read it."""
    data: bytes | None
    sha256: str | None
    error: DataFileError | None
    raw: RawFile | None


class ReadAhead:
    """The big files, read, hashed and read by DuckDB into their untyped tables on a second thread, in validation
    order, while validation works through the files before them on the first.

    DuckDB and hashlib let go of the GIL while they work, and DuckDB's CSV reader does not keep two cores busy, so
    the first thread's Python (the careful door's cell checks of the smaller tables, the checks of each distinct
    value) runs beside them. Each file is still read once: validation takes the bytes and the hash from here, and
    the untyped table is used only for those very bytes. Files not yet taken hold at most READ_AHEAD_MAX_BYTES (one
    file more where a single file is larger)."""

    def __init__(self, staging: Staging, files: list[tuple[Table, int, Path]]) -> None:
        self._staging = staging
        # A connection of its own: DuckDB runs one query at a time per connection.
        self._con: duckdb.DuckDBPyConnection | None = staging.con.cursor()
        self._room = threading.Condition()
        self._held_bytes = 0
        self._stopped = False
        self._claimable: dict[int, tuple[bytes, RawFile]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelmatch-read-ahead")
        self._futures: dict[int, Future] = {
            file_index: self._executor.submit(self._read, table, file_index, path)
            for table, file_index, path in files}

    def _read(self, table: Table, file_index: int, path: Path) -> ReadAheadFile | None:
        with self._room:
            self._room.wait_for(lambda: self._stopped or self._held_bytes < READ_AHEAD_MAX_BYTES)
            if self._stopped:
                return None
        try:
            data = read_regular_file(path)
        except DataFileError as error:
            return ReadAheadFile(None, None, error, None)
        with self._room:
            self._held_bytes += len(data)
        sha256 = hashlib.sha256(data).hexdigest()
        raw = None
        if len(data) >= FAST_DOOR_MIN_BYTES:
            raw = self._staging._read_raw(self._con, table, file_index, data)
        return ReadAheadFile(data, sha256, None, raw)

    def done(self, file_index: int) -> bool:
        future = self._futures.get(file_index)
        return future is None or future.done()

    def take(self, file_index: int) -> ReadAheadFile | None:
        """The file as read ahead, waiting for it; None where it was not read ahead. A failure of the thread (not a
        file it could not read: that is in the result) is raised here."""
        future = self._futures.pop(file_index, None)
        if future is None:
            return None
        try:
            ahead = future.result()
        finally:
            if not self._futures:
                self._release()
        if ahead is not None and ahead.data is not None:
            with self._room:
                self._held_bytes -= len(ahead.data)
                self._room.notify_all()
            if ahead.raw is not None:
                self._claimable[file_index] = (ahead.data, ahead.raw)
        return ahead

    def claim(self, file_index: int, data: bytes) -> RawFile | None:
        """The untyped table read ahead from these very bytes (the same object), once; None otherwise."""
        data_and_raw = self._claimable.pop(file_index, None)
        if data_and_raw is None or data_and_raw[0] is not data:
            return None
        return data_and_raw[1]

    def _release(self) -> None:
        """End the thread (after the file it is reading, if any) and close its connection; once."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._con is not None:
            self._con.close()
            self._con = None

    def close(self) -> None:
        """Stop reading ahead: files not started are never read."""
        with self._room:
            self._stopped = True
            self._room.notify_all()
        self._futures.clear()
        self._release()


def careful_table(table: Table) -> str:
    """The staged table of a table's rows that Python read cell by cell."""
    return f"careful_{table.name}"


def _header(data: bytes, table: Table) -> list[str] | None:
    """The header's names when it is one plain line that names each column once, all known, every required one
    there; None otherwise (the careful door then reports what is wrong with it)."""
    end = data.find(b"\n")
    first = (data if end < 0 else data[:end]).decode("utf-8").rstrip("\r")
    try:
        rows = list(csv.reader(io.StringIO(first, newline=""), strict=True))
    except csv.Error:
        return None
    if len(rows) != 1:
        return None
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or any(h not in table.column_by_name for h in header):
        return None
    if any(c.required and c.name not in header for c in table.columns):
        return None
    return header


class StagedTables(Mapping):
    """`ValidationResult.tables` for callers that want rows as Row objects: each table is turned into a list on
    first use only (the build never asks: it copies the staged tables straight into the catalog)."""

    def __init__(self, staging: Staging, make_row) -> None:
        self._staging = staging
        self._make_row = make_row
        self._lists: dict[str, list] = {}

    def __getitem__(self, name: str) -> list:
        if name not in self._lists:
            table = next((t for t in TABLES if t.name == name), None)
            if table is None:
                raise KeyError(name)
            self._lists[name] = [self._make_row(f, line, values) for f, line, values in self._staging.rows(table)]
        return self._lists[name]

    def __iter__(self) -> Iterator[str]:
        return iter(t.name for t in TABLES)

    def __len__(self) -> int:
        return len(TABLES)

