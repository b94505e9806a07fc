"""The first page of a new process does not pay for Streamlit's REPL check: before its first element Streamlit asked
inspect.stack() whether it runs in a Python REPL, which resolves the source file of every loaded module (150-200 ms
of a cold Overview once pandas, Altair and DuckDB are loaded), and after it the imported modules are frozen out of the
cyclic collector's full passes. Each case runs in a fresh interpreter, since both happen once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.data_files import data_files
from ingest.stat_check import ensure_current_unless_unchanged, record_path

REPO_ROOT = Path(__file__).resolve().parents[2]
AN_HOUR_AGO_NS = time.time_ns() - 3600 * 10**9

# One fresh process: count the REPL checks while the script runs its first page, print the count.
COUNT_REPL_CHECKS = '''import json, sys
from streamlit import env_util
from streamlit.testing.v1 import AppTest
calls = []
real = env_util.is_repl
def counted():
    calls.append(1)
    return real()
env_util.is_repl = counted
at = AppTest.from_file(sys.argv[1], default_timeout=120)
if sys.argv[2]:
    at.switch_page(sys.argv[2])
at.run()
assert not at.exception, [e.message for e in at.exception]
print(json.dumps({"repl_checks": len(calls)}))
'''


def first_page_report(tmp_path: Path, worker_code: str, data_dir: Path, script: Path, page: str = "") -> dict:
    """Run worker_code (one of the workers above) in a fresh interpreter on the script and page; its JSON line."""
    env = {**os.environ, "MODELMATCH_DATA_DIR": str(data_dir), "MODELMATCH_CATALOG": str(data_dir / "catalog.duckdb"),
           "PYTHONPATH": str(REPO_ROOT)}
    worker = tmp_path / "first_page_worker.py"
    worker.write_text(worker_code)
    proc = subprocess.run([sys.executable, str(worker), str(script), page], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def repl_checks(tmp_path: Path, data_dir: Path, script: Path, page: str = "") -> int:
    return first_page_report(tmp_path, COUNT_REPL_CHECKS, data_dir, script, page)["repl_checks"]


def test_a_plain_streamlit_script_makes_the_repl_check_once(tmp_path, fixture_data_dir):
    # The premise: without the app's setting, Streamlit's first element makes the check.
    script = tmp_path / "plain.py"
    script.write_text('import streamlit as st\nst.title("Plain page")\n')
    assert repl_checks(tmp_path, fixture_data_dir, script) == 1


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/models.py"])
def test_the_first_page_of_a_process_makes_no_repl_check_regression(tmp_path, live_catalog, page):
    assert repl_checks(tmp_path, live_catalog.parent, REPO_ROOT / "app.py", page) == 0


# One fresh process: run a page once, then say in which of the collector's generations the imported modules' objects
# are (pandas' DataFrame class, the catalog reader's class), or "frozen" when none holds them.
WHERE_THE_IMPORTS_ARE = '''import gc, json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120)
if sys.argv[2]:
    at.switch_page(sys.argv[2])
at.run()
assert not at.exception, [e.message for e in at.exception]
import pandas
from modelmatch.catalog.reader import CatalogReader
def generation(obj):
    return next((g for g in range(3) if any(o is obj for o in gc.get_objects(generation=g))), "frozen")
print(json.dumps({"DataFrame": generation(pandas.DataFrame), "CatalogReader": generation(CatalogReader)}))
'''


def where_the_imports_are(tmp_path: Path, data_dir: Path, script: Path, page: str = "") -> dict:
    return first_page_report(tmp_path, WHERE_THE_IMPORTS_ARE, data_dir, script, page)


def test_a_plain_streamlit_script_leaves_its_imports_to_the_collector(tmp_path, fixture_data_dir):
    # The premise: without the app, what a page imported stays in a generation that full collections walk.
    script = tmp_path / "plain.py"
    script.write_text('import pandas\nimport streamlit as st\nfrom modelmatch.catalog.reader import CatalogReader\n'
                      'st.title("Plain page")\n')
    assert "frozen" not in where_the_imports_are(tmp_path, fixture_data_dir, script).values()


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/models.py"])
def test_a_full_collection_in_a_rerun_does_not_walk_the_imported_modules_regression(tmp_path, live_catalog, page):
    """A full collection landed in every few reruns and walked every imported module (an Overview rerun of 40 ms
    took 115); after the first page of a process they are frozen out of it."""
    assert where_the_imports_are(tmp_path, live_catalog.parent, REPO_ROOT / "app.py", page) == {
        "DataFrame": "frozen", "CatalogReader": "frozen"}


def modules_loaded(matching: str) -> str:
    """Worker code for one fresh process: run a page once, then print which loaded modules `matching` (a Python
    expression over the module name `m`) selects."""
    return f'''import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120)
if sys.argv[2]:
    at.switch_page(sys.argv[2])
at.run()
assert not at.exception, [e.message for e in at.exception]
print(json.dumps(sorted(m for m in sys.modules if {matching})))
'''


WRITE_SIDE_LOADED = modules_loaded('m in ("ingest.validate", "ingest.staging", "ingest.build")')


def test_the_first_page_with_data_unchanged_loads_neither_the_validation_nor_the_build(tmp_path, live_catalog):
    """The start-up check compares file stats only; it and the warning it may show need neither the validation (it
    loaded it for the Problem class: 10 ms of imports after DuckDB) nor the build."""
    data_dir = live_catalog.parent
    for path in data_files(data_dir):  # older than the window in which stats are not trusted
        os.utime(path, ns=(AN_HOUR_AGO_NS, AN_HOUR_AGO_NS))
    assert ensure_current_unless_unchanged(data_dir, live_catalog) is None  # hashed once: stats recorded
    assert record_path(live_catalog).exists()
    loaded = first_page_report(tmp_path, WRITE_SIDE_LOADED, data_dir, REPO_ROOT / "app.py", "pages/overview.py")
    assert loaded == []


OTHER_PAGES_MODULES_LOADED = modules_loaded(
    'm.startswith("modelmatch.chat") or m in ("sqlite3", "modelmatch.explore.compare")')


@pytest.mark.parametrize("page", ["", "pages/overview.py"])
def test_the_pages_a_visit_starts_on_load_neither_the_chat_modules_nor_compare(tmp_path, live_catalog, page):
    """Models (the default page) and Overview: the Try pages' glue (endpoints, runs store and SQLite, request caps)
    and Compare's module were imported by pages/common.py for every page (about 25 ms of a first run)."""
    loaded = first_page_report(tmp_path, OTHER_PAGES_MODULES_LOADED, live_catalog.parent, REPO_ROOT / "app.py", page)
    assert loaded == []


DUCKDB_PACKAGE_LOADED = modules_loaded('m == "duckdb" or m.startswith("duckdb.")')


@pytest.mark.parametrize("page", ["", "pages/overview.py"])
def test_the_pages_a_visit_starts_on_load_no_duckdb_package_regression(tmp_path, live_catalog, page):
    """The catalog reader imported the duckdb package, whose Python layer (relational and expression builders, unused
    here) cost a new process 4.5x the import of the C++ extension the reader uses (bench.engine_import)."""
    data_dir = live_catalog.parent
    for path in data_files(data_dir):  # unchanged data: the start-up check compares stats and builds nothing
        os.utime(path, ns=(AN_HOUR_AGO_NS, AN_HOUR_AGO_NS))
    assert ensure_current_unless_unchanged(data_dir, live_catalog) is None
    assert first_page_report(tmp_path, DUCKDB_PACKAGE_LOADED, data_dir, REPO_ROOT / "app.py", page) == []
