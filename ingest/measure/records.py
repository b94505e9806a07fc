"""Measurement rows -> the CSV files the catalog build reads (data/measurements, data/measurement_requests).

Every cell is checked against modelmatch/catalog/schema.py before anything is written, and files are replaced atomically (temp
file in the same folder, fsync, os.replace), so a reader or a build never sees half a file. A session's summary
file is replaced before its per-request file: at every instant the per-request rows refer to summary rows that
exist, so the catalog stays buildable even if the process dies between the two.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from pathlib import Path
from typing import Any, Iterable

from modelmatch.catalog.schema import MEASUREMENT_REQUESTS, MEASUREMENTS, Table
from ingest.validate import FORMULA_RE, parse_cell

_SLUG_RE = re.compile(r"[^A-Za-z0-9.]+")


class RowProblem(ValueError):
    """A row the harness built does not fit the schema (a bug in the harness, never the user's fault)."""


def slug(text: str) -> str:
    return _SLUG_RE.sub("-", text).strip("-").lower()[:60] or "model"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Significant figures, not decimal places: a small figure (a roofline fraction of 0.00006 on a CPU, a
        # latency in hours) must not be written as 0.0.
        return repr(float(f"{value:.6g}"))
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = " ".join(str(value).split())  # one line, no stray whitespace
    return "'" + text if FORMULA_RE.match(text) else text  # never a spreadsheet formula


def render(table: Table, rows: Iterable[dict[str, Any]]) -> str:
    """The CSV text for rows of `table`, after checking every cell the way `ingest check` will."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=table.column_names, lineterminator="\n")
    writer.writeheader()
    problems = []
    for number, row in enumerate(rows, start=2):
        unknown = set(row) - set(table.column_names)
        if unknown:
            problems.append(f"line {number}: unknown column(s) {', '.join(sorted(unknown))}")
        cells = {name: _cell(row.get(name)) for name in table.column_names}
        for column in table.columns:
            _, problem = parse_cell(cells[column.name], column)
            if problem:
                problems.append(f"line {number} column '{column.name}': {problem}")
        writer.writerow(cells)
    if problems:
        raise RowProblem(f"{table.name}: " + "; ".join(problems[:10]))
    return out.getvalue()


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f".{path.name}.tmp-{os.getpid()}"  # not *.csv: a build running now ignores it
    try:
        with open(temp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def session_paths(out_dir: Path, session: str) -> tuple[Path, Path]:
    name = f"{session}.csv"
    return out_dir / MEASUREMENTS.name / name, out_dir / MEASUREMENT_REQUESTS.name / name


def write_session(out_dir: Path, session: str, summaries: list[dict], requests: list[dict]) -> tuple[Path, Path]:
    """Write (or replace) one session's two files; both are rendered and checked before either is touched."""
    summary_text = render(MEASUREMENTS, summaries)
    request_text = render(MEASUREMENT_REQUESTS, requests)
    summary_path, request_path = session_paths(out_dir, session)
    write_atomic(summary_path, summary_text)
    write_atomic(request_path, request_text)
    return summary_path, request_path
