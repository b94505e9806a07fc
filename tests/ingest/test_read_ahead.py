"""The big files are read, hashed and read by DuckDB on a second thread while validation works through the files
before them (ingest.staging.ReadAhead). That must change nothing but the time: each file is read once, the catalog
and the problems are the ones validation gives reading every file in turn, a file that cannot be read is reported
the same way, memory stays bounded, and the thread never outlives validation, even one that fails."""

from __future__ import annotations

import threading
import time

import pytest

import ingest.staging as staging
import ingest.validate as validate_module
from ingest.build import BuildFailed, build
from ingest.validate import validate
from modelmatch.catalog.schema import TABLE_BY_NAME, TABLES
from tests.fixture_data import FIXTURE_ROWS, write_table
from tests.ingest.test_build_duckdb_reader import catalog_differences

THREAD_PREFIX = "modelmatch-read-ahead"


@pytest.fixture
def every_file_read_ahead(monkeypatch):
    """The catalog's files are small: here every file counts as big, so every one is read ahead."""
    monkeypatch.setattr(staging, "FAST_DOOR_MIN_BYTES", 0)


def no_read_ahead(monkeypatch) -> None:
    """Every file read in turn, table by table in validation order, as before files were read ahead."""
    monkeypatch.setattr(staging, "_worth_reading_ahead", lambda path: False)


def count_reads(monkeypatch) -> list:
    """Every read of a data file, by either thread."""
    reads = []
    real = staging.read_regular_file

    def counted(path, *args, **kwargs):
        reads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(staging, "read_regular_file", counted)
    monkeypatch.setattr(validate_module, "read_regular_file", counted)
    return reads


def read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_each_file_is_read_once_and_the_catalog_is_the_one_built_reading_in_turn(
        fixture_data_dir, tmp_path, monkeypatch, every_file_read_ahead):
    claimed = []
    real_claim = staging.ReadAhead.claim

    def spy_claim(self, file_index, data):
        raw = real_claim(self, file_index, data)
        claimed.append(raw is not None)
        return raw

    monkeypatch.setattr(staging.ReadAhead, "claim", spy_claim)
    reads = count_reads(monkeypatch)
    messages_ahead, messages_in_turn = [], []
    build(fixture_data_dir, tmp_path / "ahead.duckdb", progress=messages_ahead.append)
    assert len(reads) == len({str(p) for p in reads}) > 10  # each file read once (the fixture has 14)
    files = validate(fixture_data_dir).files
    assert any(claimed), "no table DuckDB read ahead was used: nothing was compared"
    no_read_ahead(monkeypatch)
    build(fixture_data_dir, tmp_path / "in_turn.duckdb", progress=messages_in_turn.append)
    assert catalog_differences(tmp_path / "ahead.duckdb", tmp_path / "in_turn.duckdb") == []
    assert [(f.relpath, f.sha256, f.rows) for f in files] == \
           [(f.relpath, f.sha256, f.rows) for f in validate(fixture_data_dir).files]
    # The same messages in the same order, though the tables were not validated in that order.
    assert [m for m in messages_ahead if m.startswith("[")] == [m for m in messages_in_turn if m.startswith("[")]


def test_the_tables_read_ahead_are_validated_after_the_others_and_reported_in_order(
        fixture_data_dir, tmp_path, monkeypatch):
    """Only the scores file is big here: the other tables are validated while it is read, then the scores."""
    rows = [{**FIXTURE_ROWS["scores"][0], "source_location": f"bulk {number}"} for number in range(20_000)]
    write_table(fixture_data_dir, "scores", rows, filename="zz-big.csv")
    validated = []
    real_finish = staging.Staging.finish_table
    monkeypatch.setattr(staging.Staging, "finish_table",
                        lambda self, table: (validated.append(table.name), real_finish(self, table)))
    messages = []
    result = validate(fixture_data_dir, progress=messages.append)
    names = [t.name for t in TABLES]
    assert validated == [n for n in names if n != "scores"] + ["scores"]
    assert [m.split(":")[0].split()[1] for m in messages] == names
    assert [f.relpath for f in result.files] == sorted((f.relpath for f in result.files),
                                                       key=lambda r: (names.index(r.split("/")[1]), r))


def test_a_file_that_cannot_be_read_ahead_is_reported_as_when_read_in_turn(
        fixture_data_dir, monkeypatch, every_file_read_ahead):
    with open(fixture_data_dir / "scores" / "zz_too_big.csv", "wb") as f:
        f.truncate(70 * 1024 * 1024)  # sparse: over the size limit, no disk used
    (fixture_data_dir / "models" / "fixture.csv").write_text("model_id,display_name\n\"unterminated\n")
    ahead = validate(fixture_data_dir)
    no_read_ahead(monkeypatch)
    in_turn = validate(fixture_data_dir)
    assert any("zz_too_big.csv" in str(p) and "byte limit" in str(p) for p in ahead.problems), ahead.problems
    assert ahead.problems == in_turn.problems
    assert [(f.relpath, f.sha256, f.rows) for f in ahead.files] == \
           [(f.relpath, f.sha256, f.rows) for f in in_turn.files]


@pytest.mark.timeout(60)
def test_the_thread_ends_with_validation_and_with_a_validation_that_fails(
        fixture_data_dir, tmp_path, monkeypatch, every_file_read_ahead):
    validate(fixture_data_dir)
    assert read_ahead_threads() == []
    with pytest.raises(BuildFailed):
        (fixture_data_dir / "models" / "fixture.csv").write_text("model_id\n")
        build(fixture_data_dir, tmp_path / "c.duckdb")
    assert read_ahead_threads() == []

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the careful door")

    # A failure on the validating thread while files are still being read ahead: the thread is stopped, and the
    # failure is what the caller sees (no hang waiting for files nobody will take).
    monkeypatch.setattr(validate_module, "read_table", broken)
    with pytest.raises(RuntimeError, match="a bug in the careful door"):
        validate(fixture_data_dir)
    assert read_ahead_threads() == []


@pytest.mark.timeout(60)
def test_files_not_yet_taken_hold_at_most_the_budget_plus_one_file(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "READ_AHEAD_MAX_BYTES", 1)
    reads = count_reads(monkeypatch)
    table = TABLE_BY_NAME["benchmarks"]
    paths = []
    for number in range(3):
        path = tmp_path / f"{number}.csv"
        path.write_text("benchmark_id,name\n" + f"b{number},B{number}\n" * 1000)
        paths.append(path)
    stage = staging.Staging()
    try:
        ahead = staging.ReadAhead(stage, [(table, number, path) for number, path in enumerate(paths)])
        first = ahead.take(0)
        time.sleep(0.3)  # time enough for the thread to read a file more, if it did not wait
        assert reads == paths[:2]  # the first was taken (no longer held); the second is held; the third waits
        assert first.data == paths[0].read_bytes()
        assert ahead.take(1).data == paths[1].read_bytes()
        assert ahead.take(2).data == paths[2].read_bytes()
        assert reads == paths
        assert read_ahead_threads() == []  # the last file taken ends the thread
    finally:
        stage.close()


def test_the_rules_over_the_other_tables_run_while_a_big_file_is_still_read(fixture_data_dir, monkeypatch):
    """Validation waited for the big files and only then ran every rule across rows; the rules that read only the
    tables already in now run in that wait, one check at a time, and the problems are the same."""
    rows = [{**FIXTURE_ROWS["scores"][0], "source_location": f"bulk {number}"} for number in range(20_000)]
    write_table(fixture_data_dir, "scores", rows, filename="zz-big.csv")
    models = [dict(r) for r in FIXTURE_ROWS["models"]]
    write_table(fixture_data_dir, "models", models + [models[0]])  # a duplicate key: a problem the rules find
    events = []
    real_read, real_take = staging.ReadAhead._read, staging.ReadAhead.take

    def slow_read(self, table, file_index, path):
        time.sleep(0.5)  # a file big enough to keep the second thread busy
        return real_read(self, table, file_index, path)

    def take(self, file_index):
        ahead = real_take(self, file_index)
        if ahead is not None:  # the other files were not read ahead
            events.append("took the big file")
        return ahead

    real_keys, real_params = validate_module._Rules._keys_of, validate_module._Rules.param_counts

    def keys_of(self, table):
        events.append(f"keys of {table.name}")
        return real_keys(self, table)

    def param_counts(self, ready):
        for step in real_params(self, ready):
            events.append("parameter counts")
            yield step

    monkeypatch.setattr(staging.ReadAhead, "_read", slow_read)
    monkeypatch.setattr(staging.ReadAhead, "take", take)
    monkeypatch.setattr(validate_module._Rules, "_keys_of", keys_of)
    monkeypatch.setattr(validate_module._Rules, "param_counts", param_counts)
    ahead = validate(fixture_data_dir)
    took = events.index("took the big file")
    assert {"keys of models", "parameter counts"} <= set(events[:took]), events
    assert events.index("keys of scores") > took and events.count("keys of models") == 1
    no_read_ahead(monkeypatch)
    in_turn = validate(fixture_data_dir)
    assert any("duplicate key" in p.reason for p in ahead.problems)
    assert ahead.problems == in_turn.problems and ahead.warnings == in_turn.warnings
