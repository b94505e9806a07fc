"""The start-up check skips hashing data/ only when every data file and the catalog have the stats of the last check
that found them matching; any change, and any file too recent to trust by its stats, falls back to the full check."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import ingest.build
from ingest.stat_check import ensure_current_unless_unchanged, record_path
from ingest.data_files import data_files
from modelmatch.catalog.reader import CatalogReader
from tests.fixture_data import FIXTURE_ROWS, write_table

AN_HOUR_AGO_NS = time.time_ns() - 3600 * 10**9


def age(data_dir: Path) -> None:
    """Set every data file's modification time an hour back: older than the racy window."""
    for path in data_files(data_dir):
        os.utime(path, ns=(AN_HOUR_AGO_NS, AN_HOUR_AGO_NS))


@pytest.fixture
def full_checks(monkeypatch) -> list[Path]:
    """Counts the full (hashing) checks by wrapping the real ensure_current."""
    calls: list[Path] = []
    real = ingest.build.ensure_current

    def counting(data_dir, db_path, *args, **kwargs):
        calls.append(Path(db_path))
        return real(data_dir, db_path, *args, **kwargs)

    monkeypatch.setattr(ingest.build, "ensure_current", counting)
    return calls


def test_an_unchanged_data_folder_is_not_hashed_again(fixture_data_dir, tmp_path, full_checks):
    db = tmp_path / "catalog.duckdb"
    age(fixture_data_dir)
    told: list[int] = []

    def before_full_check() -> None:
        told.append(len(full_checks))  # called before the full check starts, not after

    assert ensure_current_unless_unchanged(fixture_data_dir, db, before_full_check) is not None  # no catalog: built
    assert not record_path(db).exists()  # nothing to compare with before the build
    assert ensure_current_unless_unchanged(fixture_data_dir, db, before_full_check) is None  # hashed: remembered
    assert record_path(db).exists() and len(full_checks) == 2
    assert ensure_current_unless_unchanged(fixture_data_dir, db, before_full_check) is None
    assert len(full_checks) == 2  # stats unchanged: no hashing
    assert told == [0, 1]  # only before the two full checks


def test_a_changed_file_is_checked_and_rebuilt(fixture_data_dir, tmp_path, full_checks):
    db = tmp_path / "catalog.duckdb"
    age(fixture_data_dir)
    ensure_current_unless_unchanged(fixture_data_dir, db)
    ensure_current_unless_unchanged(fixture_data_dir, db)
    rows = [dict(r) for r in FIXTURE_ROWS["gpus"]]
    rows[0]["memory_gb"] = "94"
    write_table(fixture_data_dir, "gpus", rows)  # same size: the modification time tells
    assert ensure_current_unless_unchanged(fixture_data_dir, db) is not None
    assert CatalogReader(db).query("SELECT memory_gb FROM gpus")["memory_gb"].tolist() == [94.0]
    assert len(full_checks) == 3


def test_a_new_file_or_a_replaced_catalog_means_a_full_check(fixture_data_dir, tmp_path, full_checks):
    db = tmp_path / "catalog.duckdb"
    age(fixture_data_dir)
    ensure_current_unless_unchanged(fixture_data_dir, db)
    ensure_current_unless_unchanged(fixture_data_dir, db)
    assert len(full_checks) == 2
    extra = fixture_data_dir / "gpus" / "more.csv"
    extra.write_text((fixture_data_dir / "gpus").glob("*.csv").__next__().read_text().splitlines()[0] + "\n")
    age(fixture_data_dir)
    ensure_current_unless_unchanged(fixture_data_dir, db)
    assert len(full_checks) == 3
    extra.unlink()
    ensure_current_unless_unchanged(fixture_data_dir, db)
    assert len(full_checks) == 4
    ingest.build.build(fixture_data_dir, db)  # another process rebuilt the catalog: a new file
    ensure_current_unless_unchanged(fixture_data_dir, db)
    assert len(full_checks) == 5


def test_a_file_changed_just_now_is_not_trusted_by_its_stats(fixture_data_dir, tmp_path, full_checks):
    db = tmp_path / "catalog.duckdb"
    ensure_current_unless_unchanged(fixture_data_dir, db)  # the fixture files were written a moment ago
    ensure_current_unless_unchanged(fixture_data_dir, db)
    ensure_current_unless_unchanged(fixture_data_dir, db)
    assert not record_path(db).exists()
    assert len(full_checks) == 3
