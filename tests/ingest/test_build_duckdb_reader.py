"""DuckDB reads and types the CSVs; Python reads a file cell by cell only when DuckDB's reading could differ or the
file has a problem. These tests hold the two readers to the same result: the same catalog, row by row in stored
order, the same problems and warnings, and the right line numbers from a file DuckDB read."""

from __future__ import annotations

import copy
from pathlib import Path

import duckdb
import pytest

import ingest.staging as staging
from ingest.build import build
from ingest.validate import validate
from modelmatch.catalog.schema import TABLES
from tests.conftest import REPO_ROOT
from tests.fixture_data import FIXTURE_ROWS, write_table


@pytest.fixture(autouse=True)
def duckdb_reads_small_files_too(monkeypatch):
    """The catalog's files are small, so DuckDB would leave them all to Python: here it reads every file it can."""
    monkeypatch.setattr(staging, "FAST_DOOR_MIN_BYTES", 0)


def spy_on_fast_door(monkeypatch, note) -> None:
    """note(table, staged) after each try of the DuckDB reader (rows staged, or None when it left the file to
    Python)."""
    real = staging.Staging.try_add_file

    def spy(self, table, file_index, data):
        staged = real(self, table, file_index, data)
        note(table, staged)
        return staged

    monkeypatch.setattr(staging.Staging, "try_add_file", spy)


@pytest.fixture
def fast_door_files(monkeypatch) -> list[int | None]:
    """What each try of the DuckDB reader returned (rows staged, or None when it left the file to Python)."""
    seen: list[int | None] = []
    spy_on_fast_door(monkeypatch, lambda table, staged: seen.append(staged))
    return seen


def python_only(monkeypatch) -> None:
    monkeypatch.setattr(staging.Staging, "try_add_file", lambda self, table, file_index, data: None)


def catalog_differences(a: Path, b: Path) -> list[str]:
    con = duckdb.connect(":memory:")
    con.execute("ATTACH ? AS a (READ_ONLY)", [str(a)])
    con.execute("ATTACH ? AS b (READ_ONLY)", [str(b)])
    differences = []
    for table in TABLES:
        for left, right in (("a", "b"), ("b", "a")):
            only = con.execute(f'SELECT count(*) FROM (SELECT rowid, * FROM {left}."{table.name}" EXCEPT ALL '
                               f'SELECT rowid, * FROM {right}."{table.name}")').fetchall()[0][0]
            if only:
                differences.append(f"{table.name}: {only} row(s) only in {left}")
    con.close()
    return differences


@pytest.mark.parametrize("which", ["fixture", "real"])
def test_duckdb_and_python_readers_build_the_same_catalog(which, request, tmp_path, monkeypatch, fast_door_files):
    data_dir = request.getfixturevalue("fixture_data_dir") if which == "fixture" else REPO_ROOT / "data"
    build(data_dir, tmp_path / "duckdb.duckdb")
    assert any(staged is not None for staged in fast_door_files), "DuckDB read no file: nothing was compared"
    checked = validate(data_dir)
    python_only(monkeypatch)
    build(data_dir, tmp_path / "python.duckdb")
    assert catalog_differences(tmp_path / "duckdb.duckdb", tmp_path / "python.duckdb") == []
    by_python = validate(data_dir)
    assert (checked.problems, checked.warnings) == (by_python.problems, by_python.warnings)
    assert [(f.relpath, f.sha256, f.rows) for f in checked.files] == \
           [(f.relpath, f.sha256, f.rows) for f in by_python.files]


GPU_HEADER = "gpu_id,name,vendor,memory_gb,bf16_tflops_dense,tdp_w,source_url,as_of,notes,interconnect"
GPU_ROW = "g{n},GPU {n},TestCorp,{memory},100,300,https://example.org/g,2024-01-01,{notes},NVLink"

# Files where DuckDB's reader and Python's csv module could part ways; each must end in the same rows and problems.
TRICKY_FILES = {
    "plain": [GPU_ROW.format(n=1, memory="80", notes="ok")],
    "blank line between rows": [GPU_ROW.format(n=1, memory="80", notes=""), "", GPU_ROW.format(n=2, memory="40",
                                                                                                notes="")],
    "row of empty cells": [",,,,,,,,,", GPU_ROW.format(n=1, memory="80", notes="")],
    "row of blanks": [" , ,,,,,,,,", GPU_ROW.format(n=1, memory="80", notes="")],
    "quoted comma": [GPU_ROW.format(n=1, memory="80", notes='"a, b"')],
    "quoted line break": [GPU_ROW.format(n=1, memory="80", notes='"two\nlines"'), GPU_ROW.format(n=2, memory="40",
                                                                                                 notes="")],
    "blank before a quote": [GPU_ROW.format(n=1, memory="80", notes=' "x"')],
    "blank after a quote": [GPU_ROW.format(n=1, memory="80", notes='"x" ')],
    "doubled quotes": [GPU_ROW.format(n=1, memory="80", notes='"say ""hi"" , ok"')],
    "padded number": [GPU_ROW.format(n=1, memory=" 80 ", notes="")],
    "padded text": [GPU_ROW.format(n=1, memory="80", notes=" spaced ")],
    "tab-padded text": [GPU_ROW.format(n=1, memory="80", notes="\tx")],
    "exponent and sign": [GPU_ROW.format(n=1, memory="+8e1", notes="")],
    "not a number": [GPU_ROW.format(n=1, memory="eighty", notes="")],
    "infinite": [GPU_ROW.format(n=1, memory="1e999", notes="")],
    "non-ASCII digits": [GPU_ROW.format(n=1, memory="\u0668\u0660", notes="")],
    "formula": [GPU_ROW.format(n=1, memory="80", notes="=SUM(A1)")],
    "too few cells": ["g1,GPU 1,TestCorp,80"],
    "too many cells": [GPU_ROW.format(n=1, memory="80", notes="x") + ",extra"],
    "unterminated quote": [GPU_ROW.format(n=1, memory="80", notes='"open')],
    "text after a closing quote": [GPU_ROW.format(n=1, memory="80", notes='"x"y')],
    "duplicate key": [GPU_ROW.format(n=1, memory="80", notes=""), GPU_ROW.format(n=1, memory="40", notes="")],
}
LINE_ENDINGS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}


@pytest.mark.parametrize("ending", LINE_ENDINGS)
@pytest.mark.parametrize("case", TRICKY_FILES)
def test_tricky_files_read_the_same_by_both_readers(fixture_data_dir, monkeypatch, case, ending):
    text = "\n".join([GPU_HEADER, *TRICKY_FILES[case]]) + "\n"
    data = text.encode().replace(b"\n", LINE_ENDINGS[ending])
    (fixture_data_dir / "gpus" / "fixture.csv").write_bytes(b"\xef\xbb\xbf" + data if case == "plain" else data)
    both = validate(fixture_data_dir)
    rows = [(r.file, r.line, r.values) for r in both.tables["gpus"]]
    python_only(monkeypatch)
    by_python = validate(fixture_data_dir)
    assert (both.problems, both.warnings) == (by_python.problems, by_python.warnings)
    assert rows == [(r.file, r.line, r.values) for r in by_python.tables["gpus"]]


@pytest.mark.parametrize("notes, door", [("Zürich 東京 ünïcode".encode(), "duckdb"), (b"caf\xe9", "python")])
def test_files_beyond_ascii_read_the_same_by_both_readers(fixture_data_dir, monkeypatch, notes, door):
    """A plain-ASCII file skips the UTF-8 decode; a file with other UTF-8 text is still decoded and read by DuckDB,
    and one that is not UTF-8 is left to Python, which reports it: the same rows and problems either way."""
    gpu_file = fixture_data_dir / "gpus" / "fixture.csv"
    row = GPU_ROW.format(n=1, memory="80", notes="NOTES").encode().replace(b"NOTES", notes)
    gpu_file.write_bytes(GPU_HEADER.encode() + b"\n" + row + b"\n")
    doors = {}
    spy_on_fast_door(monkeypatch, lambda table, staged: doors.__setitem__(
        table.name, "python" if staged is None else "duckdb"))
    both = validate(fixture_data_dir)
    assert doors["gpus"] == door
    rows = [(r.file, r.line, r.values) for r in both.tables["gpus"]]
    python_only(monkeypatch)
    by_python = validate(fixture_data_dir)
    assert (both.problems, both.warnings) == (by_python.problems, by_python.warnings)
    assert rows == [(r.file, r.line, r.values) for r in by_python.tables["gpus"]]
    if door == "duckdb":
        assert rows[0][2]["notes"] == notes.decode()
    else:
        assert any(p.file.endswith("gpus/fixture.csv") for p in both.problems), both.problems


def test_lines_of_a_large_file_read_by_duckdb_are_the_csv_lines(fixture_data_dir, fast_door_files):
    """A file big enough for DuckDB to read in parallel; a missing model and a duplicate far down are reported at
    their own lines, found by SQL over the rows DuckDB read."""
    template = copy.deepcopy(FIXTURE_ROWS["scores"][0])
    rows = [{**template, "source_location": f"row {n}"} for n in range(150_000)]
    rows[45_676]["model_id"] = "test-org/Nope-1B"  # line 45,678
    rows.append(dict(rows[29_998]))  # a copy of line 30,000, at line 150,002
    write_table(fixture_data_dir, "scores", rows, filename="big.csv")
    result = validate(fixture_data_dir)
    assert 150_001 in fast_door_files, "DuckDB did not read the big file"
    where = sorted((p.file, p.line, p.column, p.reason) for p in result.problems)
    assert where == [
        ("data/scores/big.csv", 45_678, "model_id", "'test-org/Nope-1B' does not exist in table 'models' "
                                                    "(no row with model_id='test-org/Nope-1B')"),
        ("data/scores/big.csv", 150_002, "model_id",
         f"duplicate key (model_id={template['model_id']!r}, benchmark_id={template['benchmark_id']!r}, "
         f"setting={template.get('setting', '')!r}, mode={template.get('mode', '')!r}, "
         f"source_url={template['source_url']!r}, source_location='row 29998'); first at data/scores/big.csv:30000"),
    ]
