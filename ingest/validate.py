"""Read every CSV under data/, check it against the schema, and collect ALL problems (file, line, column, reason).

Nothing here writes anything: validation is a pure function of the files' bytes, so `check` and `build` agree.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from modelmatch.catalog.provenance import tier_problems
from ingest.regular_file import DataFileError, read_regular_file
from modelmatch.catalog.schema import PERCENT_MAX, TABLES, Column, Table
from modelmatch.planning.param_count import verify as verify_params

FORMULA_RE = re.compile(r"^[=+\-@][A-Za-z]")
INT_RE = re.compile(r"^[+-]?\d+$")
FLOAT_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TRUE_WORDS = {"true": True, "false": False}


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        col = f" column '{self.column}'" if self.column else ""
        return f"{where}:{col} {self.reason}"


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
    tables: dict[str, list[Row]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Printed by check and build but not refusing the build: a row without a tier, a parameter-count mismatch.
    warnings: list[Problem] = field(default_factory=list)
    files: list[SourceFile] = field(default_factory=list)
    # Tables with a file that could not be read at all: references into them are not checked, because every
    # row pointing at the unreadable file would be reported again as a false "does not exist".
    incomplete: set[str] = field(default_factory=set)

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


# Importers (`python -m ingest fetch`) write their rows to data/imports/<source>/<table>.csv: those files are part of
# their table (same columns, same checks) but stay apart from hand-transcribed files, so a review sees what came
# from where. Mapping files and importer reports are CSVs too, but not tables.
IMPORTS_DIR = "imports"
MAPPINGS_DIR = "mappings"
IMPORT_REPORT_FILES = ("unmapped.csv",)


def table_files(data_dir: Path, table: Table) -> list[Path]:
    return (sorted((data_dir / table.name).glob("*.csv"))
            + sorted((data_dir / IMPORTS_DIR).glob(f"*/{table.name}.csv")))


def _is_known_non_table_csv(path: Path, data_dir: Path) -> bool:
    parent = path.parent.resolve()
    if parent == (data_dir / MAPPINGS_DIR).resolve():
        return True
    return parent.parent == (data_dir / IMPORTS_DIR).resolve() and path.name in IMPORT_REPORT_FILES


def data_files(data_dir: Path) -> list[Path]:
    return [p for t in TABLES for p in table_files(data_dir, t)]


def parse_cell(raw: str, column: Column) -> tuple[Any, str | None]:
    """Return (value, problem). Empty cells are None; type and range checks come from the column."""
    text = raw.strip()
    if text == "":
        return None, ("is required but empty" if column.required else None)
    if FORMULA_RE.match(text):
        return None, f"starts with {text[0]!r} followed by letters (looks like a spreadsheet formula): {_short(text)}"
    kind = column.kind
    value: Any
    if kind == "int":
        if not INT_RE.match(text):
            return None, f"expected a whole number, got {_short(text)}"
        value = int(text)
    elif kind == "float":
        if not FLOAT_RE.match(text):
            return None, f"expected a number, got {_short(text)}"
        value = float(text)
        if not math.isfinite(value):
            return None, f"expected a finite number, got {_short(text)}"
    elif kind == "bool":
        if text.lower() not in TRUE_WORDS:
            return None, f"expected true or false, got {_short(text)}"
        value = TRUE_WORDS[text.lower()]
    elif kind == "date":
        if not DATE_RE.match(text):
            return None, f"expected a date YYYY-MM-DD, got {_short(text)}"
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            return None, f"not a real date: {_short(text)}"
    elif kind == "datetime":
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None, f"expected an ISO date-time (2026-01-31T12:00:00Z), got {_short(text)}"
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    elif kind == "url":
        problem = url_problem(text)
        if problem:
            return None, problem
        value = text
    elif kind == "enum":
        if text not in column.choices:
            return None, f"{_short(text)} is not one of: {', '.join(column.choices)}"
        value = text
    else:
        value = text
    if column.is_numeric:
        if column.minimum is not None and value < column.minimum:
            return None, f"{value} is below the minimum {column.minimum:g}"
        if column.maximum is not None and value > column.maximum:
            return None, f"{value} is above the maximum {column.maximum:g} (absurd value?)"
    return value, None


def url_problem(text: str) -> str | None:
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        return f"URL contains spaces or control characters: {_short(text)}"
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or "." not in parsed.netloc:
        return f"expected an http(s) URL with a host, got {_short(text)}"
    return None


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _decode(relpath: str, data: bytes, problems: list[Problem]) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(Problem(relpath, line, "", f"file is not UTF-8 (byte {data[exc.start]:#04x} at offset "
                                                  f"{exc.start}); save it as UTF-8"))
        return None


def read_table(path: Path, relpath: str, table: Table, problems: list[Problem]) -> tuple[list[Row], str]:
    try:
        data = read_regular_file(path)
    except DataFileError as unreadable:
        via = f" (read through the symlink {path.name})" if path.is_symlink() else ""
        problems.append(Problem(relpath, 0, "", f"{unreadable}{via}"))
        return [], "unreadable"
    sha = hashlib.sha256(data).hexdigest()
    text = _decode(relpath, data, problems)
    if text is None:
        return [], sha
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        problems.append(Problem(relpath, 1, "", "file is empty: it needs at least a header row"))
        return [], sha
    except csv.Error as exc:
        problems.append(Problem(relpath, 1, "", f"cannot parse the header row: {exc}"))
        return [], sha
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
        return [], sha

    rows: list[Row] = []
    while True:
        start_line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(relpath, start_line, "", f"malformed CSV: {exc}"))
            return rows, sha
        line = start_line
        if not cells or all(c.strip() == "" for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(Problem(relpath, line, "", f"has {len(cells)} cells but the header has {len(header)} "
                                                       "(a missing quote around a comma?)"))
            continue
        values: dict[str, Any] = {c.name: None for c in table.columns}
        for name, raw in zip(header, cells):
            value, problem = parse_cell(raw, table.column_by_name[name])
            if problem:
                problems.append(Problem(relpath, line, name, problem))
            values[name] = value
        for col in table.columns:
            if col.required and col.name not in header:
                values[col.name] = None
        rows.append(Row(relpath, line, values))
    return rows, sha


def validate(data_dir: Path, progress=None) -> ValidationResult:
    """Validate every table folder under data_dir. `progress(message)` is called per table."""
    data_dir = Path(data_dir)
    result = ValidationResult()
    root = data_dir.parent
    table_paths = {p.resolve() for t in TABLES for p in table_files(data_dir, t)}
    for stray in sorted(data_dir.rglob("*.csv")):
        if stray.resolve() not in table_paths and not _is_known_non_table_csv(stray, data_dir):
            result.problems.append(Problem(_rel(stray, root), 0, "", "CSV file is outside every table folder; "
                                           f"tables are: {', '.join(t.name for t in TABLES)}"))
    for index, table in enumerate(TABLES, start=1):
        folder = data_dir / table.name
        if not folder.is_dir():
            result.problems.append(Problem(_rel(folder, root) + "/", 0, "", f"folder for table '{table.name}' is missing"))
            result.tables[table.name] = []
            continue
        rows: list[Row] = []
        paths = table_files(data_dir, table)
        for path in paths:
            relpath = _rel(path, root)
            problems_before = len(result.problems)
            file_rows, sha = read_table(path, relpath, table, result.problems)
            if any(p.line <= 1 or not p.column for p in result.problems[problems_before:]):
                result.incomplete.add(table.name)
            rows.extend(file_rows)
            result.files.append(SourceFile(relpath, sha, len(file_rows)))
        result.tables[table.name] = rows
        if progress:
            progress(f"[{index}/{len(TABLES)}] {table.name}: {len(paths)} file(s), {len(rows)} row(s) read")
    _check_keys(result)
    _check_references(result)
    _check_cross_rules(result)
    _check_held_rows(result)
    _check_tiers(result)
    _check_param_counts(result)
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


def _check_keys(result: ValidationResult) -> None:
    for table in TABLES:
        first_seen: dict[tuple, Row] = {}
        for row in result.tables.get(table.name, []):
            key = key_of(table, row.values)
            if all(part == "" for part in key):
                continue
            if key in first_seen:
                other = first_seen[key]
                shown = ", ".join(f"{k}={v!r}" for k, v in zip(table.key, key))
                result.problems.append(Problem(row.file, row.line, table.key[0],
                                               f"duplicate key ({shown}); first at {other.file}:{other.line}"))
            else:
                first_seen[key] = row


def _check_references(result: ValidationResult) -> None:
    for table in TABLES:
        for col in table.columns:
            if not col.references:
                continue
            target_table, target_col = col.references
            if target_table in result.incomplete:
                continue
            known = {r.values.get(target_col) for r in result.tables.get(target_table, [])}
            for row in result.tables.get(table.name, []):
                value = row.values.get(col.name)
                if value is not None and value not in known:
                    result.problems.append(Problem(row.file, row.line, col.name,
                                                   f"{value!r} does not exist in table '{target_table}' "
                                                   f"(no row with {target_col}={value!r})"))


def _check_cross_rules(result: ValidationResult) -> None:
    units = {r.values["benchmark_id"]: r.values.get("unit") for r in result.tables.get("benchmarks", [])}
    for row in result.tables.get("scores", []):
        value = row.values.get("value")
        if value is None:
            continue
        if units.get(row.values.get("benchmark_id")) == "percent" and not (0 <= value <= PERCENT_MAX):
            result.problems.append(Problem(row.file, row.line, "value",
                                           f"{value:g} is outside 0-100 but benchmark "
                                           f"'{row.values['benchmark_id']}' is measured in percent"))
    for row in result.tables.get("models", []):
        total, active = row.values.get("params_total_b"), row.values.get("params_active_b")
        if total is not None and active is not None and active > total:
            result.problems.append(Problem(row.file, row.line, "params_active_b",
                                           f"active parameters {active:g}B exceed total {total:g}B"))


def _check_held_rows(result: ValidationResult) -> None:
    """A row an import guard held is refused until a maintainer accepts it (or deletes it)."""
    for table in TABLES:
        if "review" not in table.column_by_name:
            continue
        for row in result.tables.get(table.name, []):
            if row.values.get("review") == "held":
                reason = row.values.get("review_reason") or "no reason recorded"
                result.problems.append(Problem(
                    row.file, row.line, "review",
                    f"held for review: {reason}. Check the source, then `python -m ingest accept {row.file}:"
                    f"{row.line}` or delete the row with `python -m ingest reject {row.file}:{row.line}`"))


def _check_tiers(result: ValidationResult) -> None:
    """Each tier needs what makes it true (ingest/provenance.py); a sourced row without a tier is a warning."""
    for table in TABLES:
        if "provenance" not in table.column_by_name:
            continue
        for row in result.tables.get(table.name, []):
            if row.values.get("provenance") is None and table.sourced:
                result.warnings.append(Problem(row.file, row.line, "provenance",
                                               "no provenance tier: its numbers show as 'no tier' until one is set"))
            for column, reason in tier_problems(row.values, table):
                result.problems.append(Problem(row.file, row.line, column, reason))


def _check_param_counts(result: ValidationResult) -> None:
    """Parameters counted from each architecture row against the model row's official count.

    A difference over the tolerance is a warning with both numbers. A row copied from elsewhere (official-copy or
    secondary) is trusted only when it reproduces the official count to the precision stated (at most three
    significant figures): otherwise it is held back (refused), because a copy that does not add up may not be the
    vendor's config.
    """
    models = {r.values.get("model_id"): r for r in result.tables.get("models", [])}
    for row in result.tables.get("architectures", []):
        model = models.get(row.values.get("model_id"))
        if model is None:
            continue
        check = verify_params(row.values, model.values)
        copied = row.values.get("provenance") in ("official-copy", "secondary")
        if check.status == "mismatch":
            result.warnings.append(Problem(row.file, row.line, "", f"parameter count check: {check.reason}"))
        if copied and check.status in ("verified", "mismatch"):
            off = [c for c in check.checks if c.stated_b is not None and not c.to_precision_of_stated()]
            if off:
                shown = "; ".join(f"{c.what} {c.computed_b:.3g}B vs official {c.stated_b:g}B" for c in off)
                result.problems.append(Problem(
                    row.file, row.line, "provenance",
                    f"held back: a {row.values['provenance']} architecture must reproduce the official parameter "
                    f"count to the precision stated (up to 3 significant figures), and it does not: {shown}"))
