"""Streamlit glue shared by the pages: the cached catalog reader and cached query results.

st.cache_resource holds only the reader (a connection); st.cache_data holds pure results, keyed by the build id so
that a rebuilt catalog is never answered from the previous build's cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from ingest.build import BuildFailed, ensure_current
from ingest.validate import Problem
from modelmatch import catalog, settings
from modelmatch.catalog_reader import CatalogMissing, CatalogReader

MAX_CACHED_RESULTS = 64


@dataclass(frozen=True)
class Startup:
    built_now: bool
    problems: tuple[Problem, ...]


@st.cache_resource(show_spinner="Building the catalog from data/ (first start)…")
def startup(data_dir: str, db_path: str) -> Startup:
    """Build the catalog once per process if it is missing or was built from other CSVs."""
    try:
        report = ensure_current(Path(data_dir), Path(db_path))
    except BuildFailed as failed:
        return Startup(False, tuple(failed.problems))
    return Startup(report is not None, ())


@st.cache_resource
def reader(db_path: str) -> CatalogReader:
    return CatalogReader(Path(db_path))


def catalog_reader() -> CatalogReader:
    return reader(str(settings.catalog_path()))


def current_build_id() -> str:
    return catalog_reader().build_info().build_id


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def models_table(build_id: str, flt: catalog.ModelFilter) -> pd.DataFrame:
    return catalog.models_table(catalog_reader(), flt)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def filter_choices(build_id: str) -> catalog.FilterChoices:
    return catalog.filter_choices(catalog_reader())


def require_catalog() -> str:
    """Return the live build id, or explain what is missing and stop the page."""
    try:
        return current_build_id()
    except CatalogMissing as missing:
        st.error(str(missing))
        st.stop()
        raise  # unreachable; st.stop raises


def _leave_pages_directory_mode() -> None:
    """Make app.py's st.navigation the only way pages run.

    Streamlit decides per process whether a folder named pages/ beside the main script means its old multipage
    mode; it leaves that mode only once st.navigation has been called. When the very first request of a new
    process is a deep link (/compare?models=...), it would run pages/compare.py directly, skipping app.py's
    startup build and navigation. This module is imported by every page, so the first run in the process flips
    the mode and reruns through app.py, which resolves the same URL to the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_directory_mode()
