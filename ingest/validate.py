"""Read every CSV under data/, check it against the schema, and collect ALL problems (file, line, column, reason).

Nothing here writes anything: validation is a pure function of the files' bytes, so `check` and `build` agree.
DuckDB reads and types the files and holds the rows (ingest/staging.py); the rules across rows are SQL queries that
find the offending rows with their file and line, and Python words every message. A file with any problem is read
again cell by cell by Python's csv module, which reports each one.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from ingest.cells import DATE_RE, FLOAT_RE, FORMULA_RE, INT_RE, TRUE_WORDS, parse_cell, url_problem  # noqa: F401
from ingest.data_files import is_known_non_table_csv, table_files
from ingest.problems import Problem
from ingest.regular_file import DataFileError, read_regular_file
from ingest.staging import FILE_COLUMN, LINE_COLUMN, Staging, StagedTables, q
from modelmatch.catalog.provenance import OWN_SOURCES, own_source_problems, tier_problems
from modelmatch.catalog.schema import PERCENT_MAX, TABLE_BY_NAME, TABLES, Table
from modelmatch.planning.param_count import verify as verify_params


@dataclass
class Row:
    file: str
    line: int
    values: dict[str, Any]


@dataclass
class SourceFile:
    relpath: str
    sha256: str
    rows: int


@dataclass
class ValidationResult:
    # Row objects per table, made on first use from the staged tables (the build copies those directly).
    tables: Mapping[str, list[Row]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Printed by check and build but not refusing the build: a row without a tier, a parameter-count mismatch.
    warnings: list[Problem] = field(default_factory=list)
    files: list[SourceFile] = field(default_factory=list)
    # Tables with a file that could not be read at all: references into them are not checked, because every
    # row pointing at the unreadable file would be reported again as a false "does not exist".
    incomplete: set[str] = field(default_factory=set)
    # The typed rows of every table, in DuckDB (None only for a result made by hand).
    staging: Staging | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def data_sha256(self) -> str:
        return fingerprint(self.files)


def fingerprint(files: list[SourceFile]) -> str:
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relpath):
        digest.update(f"{f.relpath}\0{f.sha256}\n".encode())
    return digest.hexdigest()


def _decode(relpath: str, data: bytes, problems: list[Problem]) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(Problem(relpath, line, "", f"file is not UTF-8 (byte {data[exc.start]:#04x} at offset "
                                                  f"{exc.start}); save it as UTF-8"))
        return None


# Distinct texts whose check each column of a file keeps (a bound on memory for a large file the careful door reads).
CELL_CACHE_LIMIT = 50_000


def read_table(data: bytes, relpath: str, table: Table, problems: list[Problem]) -> list[Row]:
    """The careful door: Python's csv module, cell by cell, reporting every problem with its line and column."""
    text = _decode(relpath, data, problems)
    if text is None:
        return []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        problems.append(Problem(relpath, 1, "", "file is empty: it needs at least a header row"))
        return []
    except csv.Error as exc:
        problems.append(Problem(relpath, 1, "", f"cannot parse the header row: {exc}"))
        return []
    header = [h.strip() for h in header]
    header_ok = True
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(Problem(relpath, 1, name, "column appears twice in the header"))
            header_ok = False
        seen.add(name)
        if name not in table.column_by_name:
            problems.append(Problem(relpath, 1, name, f"unknown column for table '{table.name}' "
                                                      f"(allowed: {', '.join(table.column_names)})"))
            header_ok = False
    for col in table.columns:
        if col.required and col.name not in seen:
            problems.append(Problem(relpath, 1, col.name, "required column is missing from the header"))
            header_ok = False
    if not header_ok:
        return []

    rows: list[Row] = []
    # A cell's check depends on its text and column only, and most texts repeat (vendors, licenses, URLs, dates,
    # small numbers): each column keeps the answers it has given, up to CELL_CACHE_LIMIT distinct texts.
    columns = [table.column_by_name[name] for name in header]
    answers: list[dict[str, tuple[Any, str | None]]] = [{} for _ in header]
    blank = {c.name: None for c in table.columns}
    missing_required = [c.name for c in table.columns if c.required and c.name not in header]
    while True:
        start_line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(relpath, start_line, "", f"malformed CSV: {exc}"))
            return rows
        line = start_line
        if not cells or all(c.strip() == "" for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(Problem(relpath, line, "", f"has {len(cells)} cells but the header has {len(header)} "
                                                       "(a missing quote around a comma?)"))
            continue
        values: dict[str, Any] = blank.copy()
        for name, column, known, raw in zip(header, columns, answers, cells):
            answer = known.get(raw)
            if answer is None:
                answer = parse_cell(raw, column)
                if len(known) < CELL_CACHE_LIMIT:
                    known[raw] = answer
            value, problem = answer
            if problem:
                problems.append(Problem(relpath, line, name, problem))
            values[name] = value
        for name in missing_required:
            values[name] = None
        rows.append(Row(relpath, line, values))
    return rows



def _read_file(path: Path, relpath: str, file_index: int, table: Table, result: ValidationResult,
               staging: Staging) -> SourceFile:
    """Validate and stage one file; its SHA-256 and row count (problems go to result.problems)."""
    problems_before = len(result.problems)
    ahead = staging.take_read_ahead(file_index)
    try:
        if ahead is None:
            data = read_regular_file(path)
            sha = hashlib.sha256(data).hexdigest()
        elif ahead.error is not None:
            raise ahead.error
        else:
            data, sha = ahead.data, ahead.sha256
    except DataFileError as unreadable:
        via = f" (read through the symlink {path.name})" if path.is_symlink() else ""
        result.problems.append(Problem(relpath, 0, "", f"{unreadable}{via}"))
        result.incomplete.add(table.name)
        return SourceFile(relpath, "unreadable", 0)
    del ahead
    rows = staging.try_add_file(table, file_index, data)
    if rows is None:
        file_rows = read_table(data, relpath, table, result.problems)
        staging.add_rows(table, file_index, file_rows)
        rows = len(file_rows)
    if any(p.line <= 1 or not p.column for p in result.problems[problems_before:]):
        result.incomplete.add(table.name)
    return SourceFile(relpath, sha, rows)


def validate(data_dir: Path, progress=None) -> ValidationResult:
    """Validate every table folder under data_dir. `progress(message)` is called per table."""
    data_dir = Path(data_dir)
    staging = Staging()
    try:
        return _validate(data_dir, staging, progress)
    except BaseException:
        staging.close()  # stops the read-ahead thread too
        raise


_NO_CHECK_LEFT = object()  # what next() gives for a finished iteration of _Rules.checks (a step gives None)


def _validate(data_dir: Path, staging: Staging, progress) -> ValidationResult:
    result = ValidationResult(staging=staging)
    result.tables = StagedTables(staging, Row)
    root = data_dir.parent
    table_paths = {p.resolve() for t in TABLES for p in table_files(data_dir, t)}
    for stray in sorted(data_dir.rglob("*.csv")):
        if stray.resolve() not in table_paths and not is_known_non_table_csv(stray, data_dir):
            result.problems.append(Problem(_rel(stray, root), 0, "", "CSV file is outside every table folder; "
                                           f"tables are: {', '.join(t.name for t in TABLES)}"))
    # Every table's files in validation order, each with its index, before any is read: the big ones are read
    # ahead on a second thread while the tables before them are validated.
    planned: list[tuple[int, Table, list[tuple[Path, str, int]]]] = []
    for index, table in enumerate(TABLES, start=1):
        folder = data_dir / table.name
        if not folder.is_dir():
            result.problems.append(Problem(_rel(folder, root) + "/", 0, "",
                                           f"folder for table '{table.name}' is missing"))
            continue
        files = []
        for path in table_files(data_dir, table):
            relpath = _rel(path, root)
            files.append((path, relpath, staging.add_file(relpath)))
        planned.append((index, table, files))
    tables_read_ahead = staging.read_ahead([(table, file_index, path) for _, table, files in planned
                                            for path, _, file_index in files])
    # The tables with a file read ahead are validated last, so the other tables' files are validated while those
    # files are read. The files keep their indexes and their order in result.files, the messages their order.
    by_file_index: dict[int, SourceFile] = {}
    messages: dict[int, str] = {}
    in_order = [index for index, _, _ in planned]
    rules = _Rules(result, staging)
    # The rules over the tables not read ahead, one check at a time, run while a big file is still being read: the
    # first thread would otherwise wait for it (900,000 synthetic score rows: about a third of a second of waits).
    early = rules.checks(frozenset(t.name for t in TABLES) - tables_read_ahead)
    for index, table, files in sorted(planned, key=lambda entry: entry[1].name in tables_read_ahead):
        for path, relpath, file_index in files:
            if table.name in tables_read_ahead:
                while not staging.read_ahead_done(file_index) and next(early, _NO_CHECK_LEFT) is not _NO_CHECK_LEFT:
                    pass
            by_file_index[file_index] = _read_file(path, relpath, file_index, table, result, staging)
        staging.finish_table(table)
        messages[index] = (f"[{index}/{len(TABLES)}] {table.name}: {len(files)} file(s), {staging.count(table)} "
                           "row(s) read")
        while in_order and in_order[0] in messages:
            message = messages.pop(in_order.pop(0))
            if progress:
                progress(message)
    result.files = [by_file_index[file_index] for file_index in sorted(by_file_index)]
    staging.end_read_ahead()  # every file was taken; this only makes sure no thread outlives the reading
    for _ in early:  # what the waits left
        pass
    for _ in rules.checks(frozenset(t.name for t in TABLES)):
        pass
    result.problems.sort()
    result.warnings.sort()
    return result


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def key_of(table: Table, values: dict[str, Any]) -> tuple:
    return tuple("" if values.get(k) is None else str(values[k]) for k in table.key)


def _has(table: Table, column: str) -> str:
    """The column, or NULL where this table has no such column (rules read a few columns of many tables)."""
    return q(column) if column in table.column_by_name else "NULL"


class _Rules:
    """The rules across rows. Each is a query for the offending rows (with `_file` and `_line`) over the staged
    tables; Python words the message exactly as the row-by-row version did."""

    def __init__(self, result: ValidationResult, staging: Staging):
        self.result, self.staging, self.con = result, staging, staging.con
        self._done: set[tuple[str, ...]] = set()

    def checks(self, ready: frozenset[str]) -> Iterator[None]:
        """Run the checks that read only these tables (all of whose files are in) and have not run yet, one per
        step of the iteration, so a caller can stop between two. The problems are sorted once every check has run,
        so the order they run in does not show."""
        for rule in (self.keys, self.references, self.cross_rules, self.held_rows, self.tiers, self.param_counts):
            yield from rule(ready)

    def _due(self, ready: frozenset[str], check: tuple[str, ...], *reads: str) -> bool:
        """Whether a check (named by `check`) that reads these tables runs now: all of them are ready, and it has
        not run before."""
        if check in self._done or not ready.issuperset(reads):
            return False
        self._done.add(check)
        return True

    def _problem(self, file_index: int, line: int, column: str, reason: str) -> Problem:
        return Problem(self.staging.relpaths[file_index], line, column, reason)

    def keys(self, ready: frozenset[str]) -> Iterator[None]:
        for table in TABLES:
            if self._due(ready, ("keys", table.name), table.name):
                self._keys_of(table)
                yield

    def _keys_of(self, table: Table) -> None:
        """The first row with a key wins; every later row with the same key is a duplicate."""
        keys = ", ".join(q(k) for k in table.key)
        some_key = " OR ".join(f"{q(k)} IS NOT NULL" for k in table.key)
        # One 64-bit hash per key first: a collision only costs the exact query below, which finds nothing.
        duplicated = self.con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {q(table.name)} WHERE {some_key} "
                                      f"GROUP BY hash({keys}) HAVING count(*) > 1)").fetchall()[0][0]
        if not duplicated:
            return
        found = self.con.execute(f"""
            SELECT {FILE_COLUMN}, {LINE_COLUMN}, first_file, first_line, {keys} FROM (
                SELECT *, row_number() OVER w AS n, first_value({FILE_COLUMN}) OVER w AS first_file,
                       first_value({LINE_COLUMN}) OVER w AS first_line
                FROM {q(table.name)} WHERE {some_key}
                WINDOW w AS (PARTITION BY {keys} ORDER BY {FILE_COLUMN}, {LINE_COLUMN}))
            WHERE n > 1""").fetchall()
        for file_index, line, first_file, first_line, *key in found:
            parts = ("" if v is None else str(v) for v in key)
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(table.key, parts))
            self.result.problems.append(self._problem(
                file_index, line, table.key[0],
                f"duplicate key ({shown}); first at {self.staging.relpaths[first_file]}:{first_line}"))

    def references(self, ready: frozenset[str]) -> Iterator[None]:
        for table in TABLES:
            for col in table.columns:
                if col.references and self._due(ready, ("references", table.name, col.name), table.name,
                                                col.references[0]):
                    self._references_of(table, col.name, *col.references)
                    yield

    def _references_of(self, table: Table, column: str, target_table: str, target_col: str) -> None:
        if target_table in self.result.incomplete:
            return
        found = self.con.execute(f"""
            SELECT {FILE_COLUMN}, {LINE_COLUMN}, {q(column)} FROM {q(table.name)} s
            WHERE {q(column)} IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {q(target_table)} t WHERE t.{q(target_col)} = s.{q(column)})""").fetchall()
        for file_index, line, value in found:
            self.result.problems.append(self._problem(
                file_index, line, column, f"{value!r} does not exist in table '{target_table}' "
                                          f"(no row with {target_col}={value!r})"))

    def cross_rules(self, ready: frozenset[str]) -> Iterator[None]:
        if self._due(ready, ("percent scores",), "benchmarks", "scores"):
            self._percent_scores()
            yield
        if self._due(ready, ("active parameters",), "models"):
            self._active_parameters()
            yield

    def _percent_scores(self) -> None:
        # A benchmark id given twice takes its last row's unit (that duplicate is reported by keys()).
        found = self.con.execute(f"""
            WITH units AS (
                SELECT benchmark_id, unit FROM (
                    SELECT benchmark_id, unit, row_number() OVER (PARTITION BY benchmark_id
                                                                 ORDER BY {FILE_COLUMN} DESC, {LINE_COLUMN} DESC) AS n
                    FROM benchmarks) WHERE n = 1)
            SELECT s.{FILE_COLUMN}, s.{LINE_COLUMN}, s.value, s.benchmark_id
            FROM scores s JOIN units u ON s.benchmark_id IS NOT DISTINCT FROM u.benchmark_id
            WHERE u.unit = 'percent' AND s.value IS NOT NULL AND NOT (s.value >= 0 AND s.value <= ?)""",
                                 [PERCENT_MAX]).fetchall()
        for file_index, line, value, benchmark_id in found:
            self.result.problems.append(self._problem(
                file_index, line, "value",
                f"{value:g} is outside 0-100 but benchmark '{benchmark_id}' is measured in percent"))

    def _active_parameters(self) -> None:
        found = self.con.execute(f"""
            SELECT {FILE_COLUMN}, {LINE_COLUMN}, params_total_b, params_active_b FROM models
            WHERE params_total_b IS NOT NULL AND params_active_b IS NOT NULL
              AND params_active_b > params_total_b""").fetchall()
        for file_index, line, total, active in found:
            self.result.problems.append(self._problem(
                file_index, line, "params_active_b", f"active parameters {active:g}B exceed total {total:g}B"))

    def held_rows(self, ready: frozenset[str]) -> Iterator[None]:
        """A row an import guard held is refused until a maintainer accepts it (or deletes it)."""
        for table in TABLES:
            if "review" not in table.column_by_name or not self._due(ready, ("held rows", table.name), table.name):
                continue
            found = self.con.execute(f"SELECT {FILE_COLUMN}, {LINE_COLUMN}, review_reason FROM {q(table.name)} "
                                     "WHERE review = 'held'").fetchall()
            for file_index, line, reason in found:
                file = self.staging.relpaths[file_index]
                self.result.problems.append(Problem(
                    file, line, "review",
                    f"held for review: {reason or 'no reason recorded'}. Check the source, then `python -m ingest "
                    f"accept {file}:{line}` or delete the row with `python -m ingest reject {file}:{line}`"))
            yield

    def tiers(self, ready: frozenset[str]) -> Iterator[None]:
        """Each tier needs what makes it true (modelmatch/catalog/provenance.py); a sourced row without a tier is a
        warning. Without a formula, a row's tier problems depend only on its tier, its URLs and whether it names
        who measured it: those are checked once per distinct combination."""
        for table in TABLES:
            if "provenance" not in table.column_by_name or not self._due(ready, ("tiers", table.name), table.name):
                continue
            if table.sourced:
                for file_index, line in self.con.execute(
                        f"SELECT {FILE_COLUMN}, {LINE_COLUMN} FROM {q(table.name)} WHERE provenance IS NULL"
                ).fetchall():
                    self.result.warnings.append(self._problem(
                        file_index, line, "provenance",
                        "no provenance tier: its numbers show as 'no tier' until one is set"))
            combo = ["provenance", "source_url", "copy_url", "second_source_url"]
            combo_sql = [_has(table, c) for c in combo] + [f"{_has(table, 'measured_by')} IS NOT NULL"]
            where_plain = f"{_has(table, 'formula')} IS NULL"
            distinct = self.con.execute(f"SELECT DISTINCT {', '.join(combo_sql)} FROM {q(table.name)} "
                                        f"WHERE {where_plain}").fetchall()
            for *parts, measured in distinct:
                values = dict(zip(combo, parts), measured_by="named" if measured else None)
                reasons = tier_problems(values, table)
                if not reasons:
                    continue
                match = " AND ".join(f"{sql} IS NOT DISTINCT FROM ?" for sql in combo_sql)
                for file_index, line in self.con.execute(
                        f"SELECT {FILE_COLUMN}, {LINE_COLUMN} FROM {q(table.name)} WHERE {where_plain} AND {match}",
                        [*parts, measured]).fetchall():
                    for column, reason in reasons:
                        self.result.problems.append(self._problem(file_index, line, column, reason))
            if "formula" in table.column_by_name:
                for file, line, values in self.staging.rows(table, "formula IS NOT NULL"):
                    for column, reason in tier_problems(values, table):
                        self.result.problems.append(Problem(file, line, column, reason))
            for group in OWN_SOURCES:
                if group.tier_column not in table.column_by_name:
                    continue
                # A model's cells with their own source (models.params_*, models.context_*), checked row by row.
                where = " OR ".join(f"{c} IS NOT NULL" for c in group.source_columns)
                for file, line, values in self.staging.rows(table, where):
                    for column, reason in own_source_problems(values, group):
                        self.result.problems.append(Problem(file, line, column, reason))
            yield

    def param_counts(self, ready: frozenset[str]) -> Iterator[None]:
        """Parameters counted from each architecture row against the model row's official count.

        A difference over the tolerance is a warning with both numbers. A row copied from elsewhere (official-copy or
        secondary) is trusted only when it reproduces the official count to the precision stated (at most three
        significant figures): otherwise it is held back (refused), because a copy that does not add up may not be
        the vendor's config.
        """
        if not self._due(ready, ("parameter counts",), "models", "architectures"):
            return
        models = {values.get("model_id"): values for _, _, values in self.staging.rows(TABLE_BY_NAME["models"])}
        for file, line, values in self.staging.rows(TABLE_BY_NAME["architectures"]):
            model = models.get(values.get("model_id"))
            if model is None:
                continue
            check = verify_params(values, model)
            copied = values.get("provenance") in ("official-copy", "secondary")
            if check.status == "mismatch":
                self.result.warnings.append(Problem(file, line, "", f"parameter count check: {check.reason}"))
            if copied and check.status in ("verified", "mismatch"):
                off = [c for c in check.checks if c.stated_b is not None and not c.to_precision_of_stated()]
                if off:
                    shown = "; ".join(f"{c.what} {c.computed_b:.3g}B vs official {c.stated_b:g}B" for c in off)
                    self.result.problems.append(Problem(
                        file, line, "provenance",
                        f"held back: a {values['provenance']} architecture must reproduce the official parameter "
                        f"count to the precision stated (up to 3 significant figures), and it does not: {shown}"))
        yield
