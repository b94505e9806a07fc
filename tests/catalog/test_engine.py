"""The read side's DuckDB engine is the duckdb package's own C++ extension, imported without the package's Python
layer: the same functions and exception classes, and a process that reads the catalog never loads the package."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from modelmatch.catalog import engine
from modelmatch.catalog.reader import CatalogMissing, CatalogReader
from tests.conftest import REPO_ROOT


def test_the_engine_is_what_the_duckdb_package_re_exports():
    # Holds for the locked duckdb; a version that split them differently would fail here, not in a page.
    assert engine.connect is duckdb.connect
    assert engine.Error is duckdb.Error and engine.DuckDBPyConnection is duckdb.DuckDBPyConnection


def test_an_engine_error_is_a_duckdb_error(live_catalog):
    cursor = CatalogReader(live_catalog).connection()
    with pytest.raises(duckdb.CatalogException):
        cursor.execute("SELECT * FROM no_such_table")


def test_a_file_that_is_not_a_catalog_is_still_reported_as_missing(tmp_path):
    bad = tmp_path / "catalog.duckdb"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(CatalogMissing, match="cannot open the catalog"):
        CatalogReader(bad).build_info()


READ_ONE_ROW = """
import json, sys
from pathlib import Path
from modelmatch.catalog.models import model_ids
from modelmatch.catalog.reader import CatalogReader
reader = CatalogReader(Path(sys.argv[1]))
ids = model_ids(reader)
print(json.dumps({"models": len(ids), "package_loaded": "duckdb" in sys.modules}))
"""


def test_reading_the_catalog_loads_no_duckdb_package_regression(live_catalog):
    """`import duckdb` loaded the package's relational and expression layer before the first query: 4.5x the
    extension's import (bench.engine_import), on every page's first run and every command line run."""
    out = subprocess.run([sys.executable, "-c", READ_ONE_ROW, str(live_catalog)], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["models"] > 0 and report["package_loaded"] is False
