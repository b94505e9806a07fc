"""Second hardening round, catalog files: a CSV that vanishes mid-build, a dangling symlink, a directory named
*.csv, a named pipe and a link to a device file each give the file and the reason (never a traceback, never a
hang), the live catalog stays byte-identical, and the app keeps serving the last good catalog."""

from __future__ import annotations

import os
import shutil

import pytest

from ingest.build import BuildFailed, build, current_data_sha256
from ingest.regular_file import DataFileError, read_regular_file


@pytest.fixture
def data_and_live_catalog(fixture_data_dir, tmp_path):
    data = tmp_path / "copy" / "data"
    shutil.copytree(fixture_data_dir, data, ignore=shutil.ignore_patterns("*.duckdb", "*.wal"))
    live = tmp_path / "live.duckdb"
    build(data, live)
    return data, live


def _plant(data, how):
    target = data / "models" / "zz_planted.csv"
    if how == "dangling-symlink":
        target.symlink_to(data / "models" / "does-not-exist.csv")
        return target, "symlink to nothing"
    if how == "directory":
        target.mkdir()
        return target, "is a directory"
    if how == "named-pipe":
        os.mkfifo(target)
        return target, "is a named pipe"
    if how == "device-link":
        target.symlink_to("/dev/zero")
        return target, "is a device file"
    if how == "too-big":
        with open(target, "wb") as f:
            f.truncate(70 * 1024 * 1024)  # sparse: no disk used
        return target, "byte limit"
    raise AssertionError(how)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["dangling-symlink", "directory", "named-pipe", "device-link", "too-big"])
def test_catalog_file_that_is_not_a_regular_file_is_a_reason_not_a_traceback_or_a_hang(data_and_live_catalog, how):
    data, live = data_and_live_catalog
    before = live.read_bytes()
    planted, reason = _plant(data, how)
    assert current_data_sha256(data)  # the startup check reads every file too: no hang, no traceback
    with pytest.raises(BuildFailed) as failed:
        build(data, live)
    messages = [str(p) for p in failed.value.problems]
    assert any("zz_planted.csv" in m and reason in m for m in messages), messages
    assert live.read_bytes() == before  # the live catalog is byte-identical


def test_catalog_file_that_vanishes_mid_read_is_a_reason(tmp_path, monkeypatch):
    path = tmp_path / "gone.csv"
    path.write_text("a,b\n")
    real_open = os.open

    def vanish_then_open(p, flags, *args):
        os.remove(p)
        return real_open(p, flags, *args)

    monkeypatch.setattr(os, "open", vanish_then_open)
    with pytest.raises(DataFileError, match="gone"):
        read_regular_file(path)


def _grow_when_sized(monkeypatch, path, extra: bytes) -> None:
    """The file gets `extra` appended right after the reader took its size (fstat on the open file)."""
    real_fstat = os.fstat

    def fstat_then_grow(fd):
        sized = real_fstat(fd)
        with open(path, "ab") as f:
            f.write(extra)
        return sized

    monkeypatch.setattr(os, "fstat", fstat_then_grow)


def test_catalog_file_that_grows_while_read_is_read_to_its_end(tmp_path, monkeypatch):
    """The first read asks for the size fstat gave; what was appended after it is read on, not cut off."""
    path = tmp_path / "growing.csv"
    path.write_bytes(b"a,b\n1,2\n")
    _grow_when_sized(monkeypatch, path, b"3,4\n" * 300_000)
    assert read_regular_file(path) == b"a,b\n1,2\n" + b"3,4\n" * 300_000


def test_catalog_file_that_grows_past_the_bound_while_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "growing.csv"
    path.write_bytes(b"a,b\n1,2\n")
    _grow_when_sized(monkeypatch, path, b"3,4\n" * 100)
    with pytest.raises(DataFileError, match="grew past the 100-byte limit"):
        read_regular_file(path, max_bytes=100)


def test_catalog_file_problems_keep_the_app_serving_the_last_good_catalog(data_and_live_catalog, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO_ROOT

    data, live = data_and_live_catalog
    _plant(data, "named-pipe")
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(data))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(live))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("the last good catalog build is shown" in w.value for w in at.sidebar.warning)
    assert any("Catalog build" in c.value for c in at.sidebar.caption)


def test_catalog_file_that_vanishes_mid_build_is_a_reason_and_the_live_catalog_stays(data_and_live_catalog,
                                                                                    monkeypatch):
    """The same finding through the whole build (the test above is the reader alone): the file is listed, then
    deleted before it is read. The former build let FileNotFoundError out as a traceback."""
    import ingest.validate as validate_module

    data, live = data_and_live_catalog
    before = live.read_bytes()
    planted = data / "models" / "zz_planted.csv"
    first_models_csv = sorted((data / "models").glob("*.csv"))[0]
    planted.write_bytes(first_models_csv.read_bytes().splitlines(keepends=True)[0])  # the header alone
    real_read = validate_module.read_regular_file

    def vanish_then_read(path, *args, **kwargs):
        if path.name == planted.name:
            path.unlink()
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(validate_module, "read_regular_file", vanish_then_read)
    with pytest.raises(BuildFailed) as failed:
        build(data, live)
    messages = [str(p) for p in failed.value.problems]
    assert any("zz_planted.csv" in m and "gone" in m for m in messages), messages
    assert live.read_bytes() == before


def test_catalog_file_over_the_size_bound_is_refused_before_it_is_read(data_and_live_catalog):
    """The size bound itself: the former build read a 70 MB file whole (and decoded it) before finding anything
    wrong; now its size refuses it before a byte is read, so the build never holds it in memory."""
    import tracemalloc

    data, live = data_and_live_catalog
    _plant(data, "too-big")
    tracemalloc.start()
    try:
        with pytest.raises(BuildFailed) as failed:
            build(data, live)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_bytes < 16 * 1024 * 1024, f"{peak_bytes:,} bytes held while building"
    assert any("zz_planted.csv" in str(p) and "byte limit" in str(p) for p in failed.value.problems)
