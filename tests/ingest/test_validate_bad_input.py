"""One test per class of bad input: the build refuses, says file/line/column/reason, and the live file is untouched."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.build import BuildFailed, build
from ingest.validate import Problem, validate
from tests.conftest import REPO_ROOT, file_sha256
from tests.fixture_data import FIXTURE_ROWS, write_table


def rows_of(table: str) -> list[dict[str, str]]:
    return copy.deepcopy(FIXTURE_ROWS[table])


def refuse(data_dir: Path, db_path: Path) -> list[Problem]:
    before = file_sha256(db_path)
    with pytest.raises(BuildFailed) as failed:
        build(data_dir, db_path)
    assert file_sha256(db_path) == before, "a refused build changed the live catalog"
    assert not list(db_path.parent.glob(".catalog.duckdb.building-*")), "a refused build left a temp file"
    return failed.value.problems


def only_problem(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def test_unknown_column(fixture_data_dir, live_catalog):
    rows = rows_of("gpus")
    rows[0]["colour"] = "green"
    write_table(fixture_data_dir, "gpus", rows, columns=[*rows[0].keys()])
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.file, p.line, p.column) == ("data/gpus/fixture.csv", 1, "colour")
    assert "unknown column" in p.reason


def test_missing_required_column(fixture_data_dir, live_catalog):
    rows = rows_of("scores")
    columns = [c for c in rows[0] if c != "value"]
    write_table(fixture_data_dir, "scores", rows, columns=columns)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.file, p.line, p.column) == ("data/scores/fixture.csv", 1, "value")
    assert "required column is missing" in p.reason


@pytest.mark.parametrize(("column", "bad", "expected"), [
    ("context_length", "128k", "expected a whole number"),
    ("params_total_b", "seven", "expected a number"),
    ("open_weights", "yes", "expected true or false"),
])
def test_wrong_type(fixture_data_dir, live_catalog, column, bad, expected):
    rows = rows_of("models")
    rows[1][column] = bad
    write_table(fixture_data_dir, "models", rows)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.file, p.line, p.column) == ("data/models/fixture.csv", 3, column)
    assert expected in p.reason


def test_negative_value(fixture_data_dir, live_catalog):
    rows = rows_of("prices")
    rows[0]["output_usd_per_mtok"] = "-2.19"
    write_table(fixture_data_dir, "prices", rows)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.line, p.column) == (2, "output_usd_per_mtok")
    assert "below the minimum" in p.reason


def test_absurd_price(fixture_data_dir, live_catalog):
    rows = rows_of("prices")
    rows[1]["input_usd_per_mtok"] = "1500"
    write_table(fixture_data_dir, "prices", rows)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.line, p.column) == (3, "input_usd_per_mtok")
    assert "above the maximum 1000" in p.reason


def test_percent_score_over_100(fixture_data_dir, live_catalog):
    rows = rows_of("scores")
    rows[1]["value"] = "108.5"
    write_table(fixture_data_dir, "scores", rows)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.line, p.column) == (3, "value")
    assert "outside 0-100" in p.reason and "'mmlu'" in p.reason


def test_score_above_100_allowed_for_non_percent_unit(fixture_data_dir, live_catalog):
    rows = rows_of("scores")
    rows.append({**rows[0], "benchmark_id": "mt-bench", "value": "8.9"})
    rows.append({**rows[1], "benchmark_id": "mt-bench", "value": "250"})
    write_table(fixture_data_dir, "scores", rows)
    assert validate(fixture_data_dir).ok


def test_duplicate_key_across_files(fixture_data_dir, live_catalog):
    rows = rows_of("models")
    write_table(fixture_data_dir, "models", rows[:1], filename="zz_copy.csv")
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.file, p.line, p.column) == ("data/models/zz_copy.csv", 2, "model_id")
    assert "duplicate key" in p.reason and "data/models/fixture.csv:2" in p.reason


@pytest.mark.parametrize(("table", "column", "bad", "target"), [
    ("scores", "model_id", "test-org/Nope-1B", "models"),
    ("scores", "benchmark_id", "mmlu-nope", "benchmarks"),
    ("prices", "model_id", "test-org/Nope-1B", "models"),
    ("models", "license_id", "no-such-license", "licenses"),
])
def test_reference_to_missing_row(fixture_data_dir, live_catalog, table, column, bad, target):
    rows = rows_of(table)
    rows[0][column] = bad
    write_table(fixture_data_dir, table, rows)
    problems = refuse(fixture_data_dir, live_catalog)
    p = next(p for p in problems if p.column == column)
    assert p.file == f"data/{table}/fixture.csv" and p.line == 2
    assert f"does not exist in table '{target}'" in p.reason and bad in p.reason


@pytest.mark.parametrize("bad", ["2024-13-01", "19/09/2024", "2024-02-30"])
def test_malformed_date(fixture_data_dir, live_catalog, bad):
    rows = rows_of("models")
    rows[0]["release_date"] = bad
    write_table(fixture_data_dir, "models", rows)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.line, p.column) == (2, "release_date")
    assert "date" in p.reason and bad in p.reason


@pytest.mark.parametrize("bad", ["qwenlm.github.io/blog", "javascript:alert(1)", "https://exa mple.org/x", "ftp://x.org/a"])
def test_malformed_url(fixture_data_dir, live_catalog, bad):
    rows = rows_of("scores")
    rows[0]["source_url"] = bad
    write_table(fixture_data_dir, "scores", rows)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.line, p.column) == (2, "source_url")
    assert "URL" in p.reason


def test_non_utf8_file(fixture_data_dir, live_catalog):
    path = fixture_data_dir / "licenses" / "fixture.csv"
    data = path.read_bytes().replace("permissive".encode(), "permissive caf\xe9".encode("latin-1"))
    path.write_bytes(data)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.file, p.line) == ("data/licenses/fixture.csv", 2)
    assert "not UTF-8" in p.reason and "0xe9" in p.reason


@pytest.mark.parametrize("bad", ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "@SUM(A1)", "-IMPORTXML(x)"])
def test_spreadsheet_formula_cell(fixture_data_dir, live_catalog, bad):
    rows = rows_of("models")
    rows[2]["notes"] = bad
    write_table(fixture_data_dir, "models", rows)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.line, p.column) == (4, "notes")
    assert "spreadsheet formula" in p.reason


def test_negative_number_is_not_a_formula(fixture_data_dir):
    rows = rows_of("scores")
    rows.append({**rows[0], "benchmark_id": "mt-bench", "value": "-1.5", "notes": "-3 points vs. previous"})
    write_table(fixture_data_dir, "scores", rows)
    assert validate(fixture_data_dir).ok


def test_missing_source_url_is_refused(fixture_data_dir, live_catalog):
    rows = rows_of("architectures")
    rows[0]["source_url"] = ""
    write_table(fixture_data_dir, "architectures", rows)
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert (p.column, p.reason) == ("source_url", "is required but empty")


def test_every_problem_is_reported_at_once(fixture_data_dir, live_catalog):
    models = rows_of("models")
    models[0]["release_date"] = "soon"
    models[1]["vendor"] = "Acme"
    write_table(fixture_data_dir, "models", models)
    prices = rows_of("prices")
    prices[0]["input_usd_per_mtok"] = "abc"
    write_table(fixture_data_dir, "prices", prices)
    problems = refuse(fixture_data_dir, live_catalog)
    where = {(p.file, p.line, p.column) for p in problems}
    assert where == {
        ("data/models/fixture.csv", 2, "release_date"),
        ("data/models/fixture.csv", 3, "vendor"),
        ("data/prices/fixture.csv", 2, "input_usd_per_mtok"),
    }


def test_quoted_cell_with_unbalanced_columns(fixture_data_dir, live_catalog):
    path = fixture_data_dir / "gpus" / "fixture.csv"
    path.write_text(path.read_text() + "extra,Extra GPU,TestCorp,48,,,,,,https://example.org/x,ds,2024-01-01\n")
    p = only_problem(refuse(fixture_data_dir, live_catalog))
    assert p.line == 3 and "cells but the header has" in p.reason


def test_cli_check_reports_and_exits_nonzero(fixture_data_dir):
    rows = rows_of("models")
    rows[0]["context_length"] = "lots"
    write_table(fixture_data_dir, "models", rows)
    proc = subprocess.run([sys.executable, "-m", "ingest", "--data", str(fixture_data_dir), "check"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "data/models/fixture.csv:2: column 'context_length' expected a whole number, got 'lots'" in proc.stdout


def test_cli_build_refusal_leaves_live_file(fixture_data_dir, live_catalog):
    before = file_sha256(live_catalog)
    rows = rows_of("licenses")
    rows[0]["commercial_use"] = "maybe"
    write_table(fixture_data_dir, "licenses", rows)
    proc = subprocess.run([sys.executable, "-m", "ingest", "--data", str(fixture_data_dir), "build",
                           "--db", str(live_catalog)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "column 'commercial_use'" in proc.stdout and "nothing was written" in proc.stderr
    assert file_sha256(live_catalog) == before
