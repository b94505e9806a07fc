"""The careful door keeps each column's answers for texts it has checked: every row must still get the value and
every line the problem that checking its cell afresh gives, repeated texts included, with or without room left in
the cache."""

from __future__ import annotations

import csv
import io

import pytest

import ingest.validate as validate
from ingest.cells import parse_cell
from ingest.validate import read_table
from modelmatch.catalog.schema import TABLE_BY_NAME, TABLES
from tests.conftest import REPO_ROOT


def _checked_afresh(data: bytes, relpath: str, table) -> tuple[list[tuple[int, dict]], list[tuple]]:
    """Each cell through parse_cell, as the careful door did before it kept answers."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), strict=True)
    header = [h.strip() for h in next(reader)]
    rows, problems = [], []
    for cells in reader:
        line = reader.line_num
        if not cells or all(c.strip() == "" for c in cells):
            continue
        values = {c.name: None for c in table.columns}
        for name, raw in zip(header, cells):
            value, problem = parse_cell(raw, table.column_by_name[name])
            if problem:
                problems.append((relpath, line, name, problem))
            values[name] = value
        rows.append((line, values))
    return rows, problems


@pytest.mark.parametrize("limit", [validate.CELL_CACHE_LIMIT, 1])
def test_read_table_gives_every_cell_its_own_answer(monkeypatch, limit):
    monkeypatch.setattr(validate, "CELL_CACHE_LIMIT", limit)
    checked_files = 0
    for table in TABLES:
        for path in sorted((REPO_ROOT / "data" / table.name).glob("*.csv")):
            data = path.read_bytes()
            problems: list = []
            rows = read_table(data, path.name, table, problems)
            expected_rows, expected_problems = _checked_afresh(data, path.name, table)
            assert [(r.line, r.values) for r in rows] == expected_rows
            assert [list(r.values) for r in rows] == [[c.name for c in table.columns]] * len(rows)
            assert [(p.file, p.line, p.column, p.reason) for p in problems] == expected_problems
            checked_files += 1
    assert checked_files > 20


def test_a_bad_text_repeated_on_several_lines_is_reported_on_each(monkeypatch):
    table = TABLE_BY_NAME["models"]
    path = REPO_ROOT / "data" / "models" / "qwen3.csv"
    records = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    column = records[0].index("context_length")
    for record in records[1:4]:
        record[column] = "about 32k"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(records)
    problems: list = []
    rows = read_table(out.getvalue().encode(), "models/qwen3.csv", table, problems)
    bad = [(p.line, p.column, p.reason) for p in problems if p.column == "context_length"]
    assert bad == [(line, "context_length", "expected a whole number, got 'about 32k'") for line in (2, 3, 4)]
    assert [r.values["context_length"] for r in rows[:3]] == [None, None, None]
