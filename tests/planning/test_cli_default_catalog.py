"""Without --db (the README's way) `plan` and `recommend` use the configured catalog, checked against data/ as the app
checks it at start: by file stats, hashing the CSVs only when a stat differs from the last check's; a stale catalog
is rebuilt, and data with problems keeps the last good build (or, with none, exits with a reason)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ingest.stat_check import record_path
from ingest.data_files import data_files
from modelmatch.catalog.reader import CatalogReader
from tests.conftest import REPO_ROOT
from tests.fixture_data import FIXTURE_ROWS, write_table

AN_HOUR_AGO_NS = time.time_ns() - 3600 * 10**9

# Reports, after the command, whether the build module (which hashes and builds) and the validation were loaded.
PROBE = """
import json, sys
from modelmatch.__main__ import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "build_module_loaded": "ingest.build" in sys.modules,
                  "validation_loaded": "ingest.validate" in sys.modules}), file=sys.stderr)
"""

RECOMMEND = ["recommend", "--use-case", "general-chat", "--gpu", "test-gpu", "--json"]


def age(data_dir: Path) -> None:
    """Every data file's modification time an hour back: older than the window in which stats are not trusted."""
    for path in data_files(data_dir):
        os.utime(path, ns=(AN_HOUR_AGO_NS, AN_HOUR_AGO_NS))


def run(data_dir: Path, *args: str) -> tuple[dict, subprocess.CompletedProcess]:
    env = {**os.environ, "MODELMATCH_DATA_DIR": str(data_dir), "MODELMATCH_CATALOG": str(data_dir / "catalog.duckdb")}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    return json.loads(proc.stderr.strip().splitlines()[-1]), proc


def test_without_db_unchanged_data_is_not_hashed_again(fixture_data_dir):
    """The regression: every run without --db hashed every CSV to learn that nothing had changed (438 ms against
    380 ms for the README's `recommend` on the real catalog)."""
    age(fixture_data_dir)
    built, first = run(fixture_data_dir, *RECOMMEND)  # no catalog yet: built
    checked, second = run(fixture_data_dir, *RECOMMEND)  # hashed: current, and the stats are remembered
    trusted, third = run(fixture_data_dir, *RECOMMEND)
    assert [built, checked] == [{"status": 0, "build_module_loaded": True, "validation_loaded": True}] * 2, (
        first.stderr + second.stderr)
    assert record_path(fixture_data_dir / "catalog.duckdb").exists()
    # Listing and comparing the files' stats needs neither the build nor the validation (10 ms of imports).
    assert trusted == {"status": 0, "build_module_loaded": False, "validation_loaded": False}, third.stderr
    assert json.loads(third.stdout) == json.loads(first.stdout)


def test_without_db_a_changed_csv_is_seen_and_the_catalog_rebuilt(fixture_data_dir):
    age(fixture_data_dir)
    run(fixture_data_dir, *RECOMMEND)
    run(fixture_data_dir, *RECOMMEND)
    rows = [dict(r) for r in FIXTURE_ROWS["gpus"]]
    rows[0]["memory_gb"] = "94"
    write_table(fixture_data_dir, "gpus", rows)  # the same size: its modification time tells
    report, proc = run(fixture_data_dir, *RECOMMEND)
    assert report == {"status": 0, "build_module_loaded": True, "validation_loaded": True}, proc.stderr
    db = fixture_data_dir / "catalog.duckdb"
    assert CatalogReader(db).query("SELECT memory_gb FROM gpus")["memory_gb"].tolist() == [94.0]


def test_without_db_data_with_problems_keeps_the_last_good_catalog_and_says_so(fixture_data_dir):
    run(fixture_data_dir, *RECOMMEND)
    db = fixture_data_dir / "catalog.duckdb"
    before = db.read_bytes()
    last_good_build = CatalogReader(db).build_info().build_id
    rows = [dict(r) for r in FIXTURE_ROWS["gpus"]]
    rows[0]["memory_gb"] = "lots"
    write_table(fixture_data_dir, "gpus", rows)
    report, proc = run(fixture_data_dir, *RECOMMEND)
    assert report["status"] == 0, proc.stderr
    assert "warning: data/ has 1 problem(s); using the last good catalog build" in proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["build_id"] == last_good_build and answer["shortlist"]
    assert db.read_bytes() == before


def test_without_db_data_with_problems_and_no_catalog_is_explained(fixture_data_dir):
    rows = [dict(r) for r in FIXTURE_ROWS["gpus"]]
    rows[0]["memory_gb"] = "lots"
    write_table(fixture_data_dir, "gpus", rows)
    report, proc = run(fixture_data_dir, *RECOMMEND)
    assert report["status"] == 2
    assert ("error: data/ has 1 problem(s) and there is no catalog yet; run `python -m ingest check` to see them"
            in proc.stderr)
    assert not (fixture_data_dir / "catalog.duckdb").exists()
