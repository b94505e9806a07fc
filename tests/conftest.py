from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ingest.build import build  # noqa: E402
from tests.fixture_data import write_fixture_data  # noqa: E402


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _no_test_touches_the_repos_runtime_files(monkeypatch, tmp_path_factory):
    """Runs databases and endpoints files default to the repository; tests (and the apps they start) use their own,
    so a test never reads an operator's endpoints or locks a runs file another process needs."""
    private = tmp_path_factory.mktemp("runtime")
    monkeypatch.setenv("MODELMATCH_RUNS_DB", str(private / "runs.sqlite"))
    monkeypatch.setenv("MODELMATCH_ENDPOINTS", str(private / "endpoints.toml"))


@pytest.fixture
def fixture_data_dir(tmp_path: Path) -> Path:
    return write_fixture_data(tmp_path / "data")


@pytest.fixture
def live_catalog(fixture_data_dir: Path) -> Path:
    """A catalog built from the fixture data; tests that break the data check it stays byte-for-byte the same."""
    db_path = fixture_data_dir / "catalog.duckdb"
    build(fixture_data_dir, db_path)
    return db_path


@pytest.fixture(scope="session")
def real_catalog(tmp_path_factory) -> Path:
    """The real catalog built from the repository's data/ into a temporary file."""
    db_path = tmp_path_factory.mktemp("real") / "catalog.duckdb"
    build(REPO_ROOT / "data", db_path)
    return db_path


def pytest_sessionfinish(session, exitstatus):
    """Close what the in-process page tests left open (catalog readers cached by st.cache_resource hold DuckDB
    connections) before the interpreter shuts down, so DuckDB's bindings do not report them as leaked."""
    import gc

    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    gc.collect()
