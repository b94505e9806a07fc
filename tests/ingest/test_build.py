"""The single write path: round-trip fidelity, atomic swap, a build killed half-way, readers during rebuilds."""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.build import build, ensure_current
from ingest.score_modes import BUILD_FILLED
from modelmatch.catalog.schema import TABLE_BY_NAME, TABLES
from ingest.data_files import table_files
from ingest.validate import parse_cell
from modelmatch.catalog.reader import CatalogMissing, CatalogReader
from tests.conftest import REPO_ROOT, file_sha256
from tests.fixture_data import FIXTURE_ROWS, write_table


def csv_rows(data_dir: Path, table) -> list[tuple]:
    rows = []
    for path in table_files(data_dir, table):
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for record in csv.DictReader(handle):
                values = []
                for col in table.columns:
                    if (table.name, col.name) in BUILD_FILLED:
                        continue
                    value, problem = parse_cell(record.get(col.name) or "", col)
                    assert problem is None, (path, col.name, problem)
                    values.append(value)
                rows.append(tuple(values))
    return rows


def db_rows(db_path: Path, table) -> list[tuple]:
    cols = ", ".join(f'"{c.name}"' for c in table.columns if (table.name, c.name) not in BUILD_FILLED)
    return [tuple(r) for r in CatalogReader(db_path).connection().execute(f'SELECT {cols} FROM "{table.name}"').fetchall()]


def _key(row: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in row)


@pytest.mark.parametrize("which", ["fixture", "real"])
def test_round_trip_csv_to_catalog_equals_csv(which, request):
    if which == "fixture":
        data_dir, db_path = request.getfixturevalue("fixture_data_dir"), request.getfixturevalue("live_catalog")
    else:
        data_dir, db_path = REPO_ROOT / "data", request.getfixturevalue("real_catalog")
    compared = 0
    for table in TABLES:
        expected = sorted(csv_rows(data_dir, table), key=_key)
        actual = sorted(db_rows(db_path, table), key=_key)
        assert actual == expected, f"table {table.name} differs after the build"
        compared += len(expected)
    assert compared > 0
    # The columns the build fills: a stated mode survives as stated, and no row is left without a mode.
    con = CatalogReader(db_path).connection()
    assert con.execute("SELECT count(*) FROM scores WHERE mode IS NULL OR mode_source IS NULL").fetchone()[0] == 0
    stated = sorted((r[0], r[1], r[2]) for path in table_files(data_dir, TABLE_BY_NAME["scores"])
                    for r in [(rec["model_id"], rec["benchmark_id"], rec.get("mode") or "")
                              for rec in csv.DictReader(open(path, newline="", encoding="utf-8-sig"))] if r[2])
    in_db = sorted(con.execute("SELECT model_id, benchmark_id, mode FROM scores WHERE mode_source = 'stated'")
                   .fetchall())
    assert [tuple(r) for r in in_db] == stated


def test_build_stamps_meta_and_counts(fixture_data_dir, tmp_path):
    report = build(fixture_data_dir, tmp_path / "c.duckdb")
    reader = CatalogReader(tmp_path / "c.duckdb")
    assert reader.build_info().build_id == report.build_id
    counts = dict(reader.connection().execute("SELECT table_name, rows FROM build_tables").fetchall())
    assert counts["models"] == len(FIXTURE_ROWS["models"]) and counts["scores"] == len(FIXTURE_ROWS["scores"])
    files = reader.connection().execute("SELECT path FROM build_files ORDER BY path").fetchall()
    assert ("data/models/fixture.csv",) in files


def test_the_build_stamp_is_read_once_per_catalog_file_and_again_after_a_rebuild(fixture_data_dir, tmp_path,
                                                                                 monkeypatch):
    """Every page asks for the build id on every rerun, and it was a DuckDB query each time (1-6 ms of a warm rerun):
    it is read once per catalog file, and a rebuild (a new file) is read again."""
    db = tmp_path / "c.duckdb"
    first = build(fixture_data_dir, db)
    reader = CatalogReader(db)
    opened: list[int] = []
    real = reader.connection
    monkeypatch.setattr(reader, "connection", lambda: opened.append(1) or real())
    assert reader.build_info().build_id == first.build_id
    assert reader.build_info().build_id == first.build_id
    assert len(opened) == 1
    second = build(fixture_data_dir, db)  # the same CSVs, a new file
    assert reader.build_info().build_id == second.build_id != first.build_id
    assert reader.build_info().build_id == second.build_id
    assert len(opened) == 2
    db.unlink()
    with pytest.raises(CatalogMissing, match="python -m ingest build"):
        reader.build_info()


def test_ensure_current_rebuilds_only_when_csvs_change(fixture_data_dir, tmp_path):
    db = tmp_path / "c.duckdb"
    assert ensure_current(fixture_data_dir, db) is not None  # missing -> built
    before = file_sha256(db)
    assert ensure_current(fixture_data_dir, db) is None  # current -> untouched
    assert file_sha256(db) == before
    rows = [dict(r) for r in FIXTURE_ROWS["gpus"]]
    rows[0]["memory_gb"] = "94"
    write_table(fixture_data_dir, "gpus", rows)
    assert ensure_current(fixture_data_dir, db) is not None  # changed -> rebuilt
    assert CatalogReader(db).query("SELECT memory_gb FROM gpus")["memory_gb"].tolist() == [94.0]


def test_reader_explains_a_missing_catalog(tmp_path):
    with pytest.raises(CatalogMissing, match="python -m ingest build"):
        CatalogReader(tmp_path / "nothing.duckdb").build_info()


def test_reader_cannot_write_or_read_files(live_catalog):
    con = CatalogReader(live_catalog).connection()
    with pytest.raises(Exception):
        con.execute("DELETE FROM models")
    with pytest.raises(Exception):
        con.execute("SELECT * FROM read_csv('/etc/hostname')")


KILL_SCRIPT = """
import sys, time
import ingest.build as b
real_write = b.write_catalog
def slow_write(result, path, build_id, progress=print, **kwargs):
    def stall(message):
        if message.startswith("wrote models"):
            open(sys.argv[3], "w").write(str(path))
            time.sleep(60)
    return real_write(result, path, build_id, stall, **kwargs)
b.write_catalog = slow_write
b.build(sys.argv[1], sys.argv[2])
"""


def test_build_killed_half_way_leaves_live_catalog_unchanged(fixture_data_dir, live_catalog, tmp_path):
    before = file_sha256(live_catalog)
    rows = [dict(r) for r in FIXTURE_ROWS["gpus"]]
    rows[0]["memory_gb"] = "141"
    write_table(fixture_data_dir, "gpus", rows)
    marker = tmp_path / "half-way"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(fixture_data_dir), str(live_catalog),
                             str(marker)], cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the build exited before reaching the half-way point"
            assert time.monotonic() < deadline, "the build never reached the half-way point"
            time.sleep(0.05)
        temp_file = Path(marker.read_text())
        assert temp_file.exists() and temp_file.parent == live_catalog.parent
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert file_sha256(live_catalog) == before
    assert CatalogReader(live_catalog).query("SELECT memory_gb FROM gpus")["memory_gb"].tolist() == [80.0]
    # The next build cleans up what the killed one left and goes live.
    build(fixture_data_dir, live_catalog)
    assert not temp_file.exists()
    assert CatalogReader(live_catalog).query("SELECT memory_gb FROM gpus")["memory_gb"].tolist() == [141.0]


def test_readers_in_threads_see_one_consistent_build_during_rebuilds(fixture_data_dir, live_catalog, tmp_path):
    """Two datasets alternate; every query must see a build id and a row count that belong together."""
    data_b = tmp_path / "data_b"
    shutil.copytree(fixture_data_dir, data_b)
    extra = [dict(r) for r in FIXTURE_ROWS["models"]]
    extra.append({**extra[0], "model_id": "test-org/Delta-1B", "display_name": "Delta"})
    write_table(data_b, "models", extra)

    expected: dict[str, int] = {}
    reader = CatalogReader(live_catalog)
    expected[reader.build_info().data_sha256] = len(FIXTURE_ROWS["models"])
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[tuple[str, int]] = []
    expected_lock = threading.Lock()

    def rebuild_forever():
        try:
            for i in range(12):
                source = data_b if i % 2 == 0 else fixture_data_dir
                report = build(source, live_catalog)
                with expected_lock:
                    expected[report.data_sha256] = len(FIXTURE_ROWS["models"]) + (1 if source == data_b else 0)
                time.sleep(0.02)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    def read_forever():
        try:
            while not stop.is_set():
                con = reader.connection()
                try:
                    row = con.execute("SELECT (SELECT data_sha256 FROM build_meta), "
                                      "(SELECT count(*) FROM models)").fetchone()
                finally:
                    con.close()
                seen.append((row[0], row[1]))
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read_forever) for _ in range(4)]
    writer = threading.Thread(target=rebuild_forever)
    for t in readers:
        t.start()
    writer.start()
    writer.join(timeout=120)
    stop.set()
    for t in readers:
        t.join(timeout=30)
    assert not errors, errors
    assert len({sha for sha, _ in seen}) >= 2, "readers never saw a rebuild"
    for sha, count in seen:
        assert expected[sha] == count, "a query saw rows from two different builds"
