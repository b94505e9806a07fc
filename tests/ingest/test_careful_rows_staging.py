"""Rows Python read cell by cell reach DuckDB as DuckDB's parameters when they are few and through pyarrow when they
are many (ingest/staging.py, ARROW_MIN_ROWS). Either way they must be the same typed rows, and a build of small files
must not pay for importing pyarrow and pandas (0.3 s of every build, over half of the repository's own)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ingest.staging as staging
from ingest.validate import validate
from modelmatch.catalog.schema import TABLES
from tests.conftest import REPO_ROOT
from tests.fixture_data import FIXTURE_ROWS, write_table

# Values where a conversion could go wrong: quotes, commas, line breaks of every kind, text beyond ASCII, the
# largest and smallest numbers a column takes, and a date-time with microseconds.
AWKWARD_GPU_ROWS = [
    {"gpu_id": "g-quotes", "name": 'say "hi", ok', "vendor": "TestCorp", "memory_gb": "80", "notes": "two\nlines"},
    {"gpu_id": "g-cr", "name": "GPU\rCR", "vendor": "TestCorp", "memory_gb": "0.1", "notes": "a\r\nb"},
    {"gpu_id": "g-unicode", "name": "Zürich 東京", "vendor": "TestCorp", "memory_gb": "1e3", "notes": ""},
    {"gpu_id": "g-precise", "name": "GPU precise", "vendor": "TestCorp", "memory_gb": "141.00000000000003",
     "notes": "x"},
]


def staged_rows(data_dir) -> dict[str, list]:
    result = validate(data_dir)
    try:
        return {t.name: [(r.file, r.line, r.values) for r in result.tables[t.name]] for t in TABLES}
    finally:
        result.staging.close()


def test_rows_python_read_are_the_same_through_parameters_and_through_pyarrow(fixture_data_dir, monkeypatch):
    template = FIXTURE_ROWS["gpus"][0]
    write_table(fixture_data_dir, "gpus", [*FIXTURE_ROWS["gpus"], *({**template, **row} for row in AWKWARD_GPU_ROWS)])
    fixture_gpus = []
    for data_dir in (fixture_data_dir, REPO_ROOT / "data"):
        by_parameters = staged_rows(data_dir)
        monkeypatch.setattr(staging, "ARROW_MIN_ROWS", 0)
        by_arrow = staged_rows(data_dir)
        monkeypatch.undo()
        assert sum(len(rows) for rows in by_parameters.values()) > len(AWKWARD_GPU_ROWS)
        assert by_parameters == by_arrow
        fixture_gpus = fixture_gpus or by_parameters["gpus"]  # the fixture's, staged once above
    fixture = {values["gpu_id"]: values for _, _, values in fixture_gpus}
    assert fixture["g-quotes"]["name"] == 'say "hi", ok' and fixture["g-quotes"]["notes"] == "two\nlines"
    assert fixture["g-cr"]["name"] == "GPU\rCR" and fixture["g-cr"]["notes"] == "a\r\nb"
    assert fixture["g-unicode"]["name"] == "Zürich 東京" and fixture["g-unicode"]["notes"] is None
    assert fixture["g-precise"]["memory_gb"] == 141.00000000000003


BUILD_PROBE = """
import json, sys
from pathlib import Path
from ingest.build import build
build(Path(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps(sorted(m for m in ("pyarrow", "pandas") if m in sys.modules)))
"""


@pytest.mark.parametrize("arrow_min_rows", [None, 0])
def test_a_build_of_the_repositorys_data_imports_neither_pyarrow_nor_pandas(tmp_path, arrow_min_rows):
    """Every file of the repository's data is small, so Python reads them all; with the threshold at 0 (the probe
    itself failing as it should) they all go through pyarrow, which imports pandas."""
    probe = BUILD_PROBE if arrow_min_rows is None else (
        f"import ingest.staging; ingest.staging.ARROW_MIN_ROWS = {arrow_min_rows}\n" + BUILD_PROBE)
    out = subprocess.run([sys.executable, "-c", probe, str(REPO_ROOT / "data"), str(tmp_path / "c.duckdb")],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported == ([] if arrow_min_rows is None else ["pandas", "pyarrow"])
