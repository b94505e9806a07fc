"""Cached queries and file reads for the Data page (kept out of pages/common.py, which other pages own).

Catalog results are cached per build id (a rebuilt catalog is never answered from the old build's cache); anything
read from data/ on disk (validation, mappings, import summaries) is read fresh on every run, since it is what a
maintainer is editing right now.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from ingest.changes import BuildChanges, read_changes
from ingest.importers.mapping import SPECS, MappingError, load_mapping, mapping_path
from ingest.validate import Problem
from modelmatch.catalog import freshness
from modelmatch.catalog import prices
from modelmatch import settings
from pages import common

MAX_CACHED = 32

HOW_TO_FALLBACK = """1. Open the official sources: model card or README, `config.json`, tech report, the provider's pricing page.
2. Add one row to the vendor's file in `data/models/`.
3. `python -m ingest fetch hf-config <model_id>` writes its architecture row from `config.json` (or type it into
   `data/architectures/`).
4. Add its scores to `data/scores/`, its license to `data/licenses/` if new.
5. Map its API ids in `data/mappings/` and run `python -m ingest fetch openrouter` / `litellm` for prices.
6. `python -m ingest check`, fix every problem, then `python -m ingest build`."""


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED, show_spinner=False)
def freshness_summary(build_id: str, today: dt.date) -> pd.DataFrame:
    return freshness.summary(common.catalog_reader(), today)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED, show_spinner=False)
def rows_by_age(build_id: str, table: str, today: dt.date, stale_only: bool) -> pd.DataFrame:
    return freshness.rows_by_age(common.catalog_reader(), table, today, stale_only)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED, show_spinner=False)
def priced_models(build_id: str) -> pd.DataFrame:
    return prices.priced_models(common.catalog_reader())


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED, show_spinner=False)
def price_history(build_id: str, model_id: str) -> pd.DataFrame:
    return prices.price_history(common.catalog_reader(), model_id)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED, show_spinner=False)
def build_changes(build_id: str) -> BuildChanges | None:
    return read_changes(common.catalog_reader())


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED, show_spinner=False)
def build_files(build_id: str) -> pd.DataFrame:
    return common.catalog_reader().query("SELECT path, rows, sha256 FROM build_files ORDER BY path")


def mapping_status(data_dir: Path, known_models: set[str]) -> tuple[pd.DataFrame, list[Problem]]:
    """Each mapping file: entries and problems (read from disk now)."""
    rows, problems = [], []
    for source, spec in SPECS.items():
        path = mapping_path(data_dir, source)
        try:
            entries = len(load_mapping(data_dir, source, known_models))
            state = "ok" if path.exists() else "no file (nothing mapped)"
        except MappingError as exc:
            entries, state = 0, f"{len(exc.problems)} problem(s)"
            problems += exc.problems
        rows.append({"source": source, "file": f"data/mappings/{spec.filename}", "entries": entries,
                     "state": state, "what it maps": spec.help})
    return pd.DataFrame(rows), problems


def readme_section(data_dir: Path, heading: str) -> str | None:
    """The text under `## heading` in data/README.md (up to the next ## heading), or None."""
    path = Path(data_dir) / "README.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    return match.group(1).strip() if match else None
