"""Cached queries and file reads for the Data page (kept out of pages/common.py, which other pages own).

Catalog results are cached per build id (a rebuilt catalog is never answered from the old build's cache); anything
read from data/ on disk (validation, mappings, import summaries) is what a maintainer is editing right now: mappings
and import summaries are read fresh on every run, and validation (a few hundred milliseconds of DuckDB and SQL rules)
is reused only while every data file keeps its name, size, modification time and inode.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from ingest.changes import BuildChanges, read_changes
from ingest.importers.mapping import SPECS, MappingError, load_mapping, mapping_path
from ingest.review import HeldRow, review_queue
from ingest.stat_check import RACY_WINDOW_S
from ingest.tier_coverage import TierReport, coverage_matrix, tier_report
from ingest.data_files import data_files
from ingest.validate import Problem, validate
from modelmatch.catalog import freshness
from modelmatch.catalog import models as catalog
from modelmatch.catalog import prices
from modelmatch import settings
from pages import common

MAX_CACHED = 32


@dataclass(frozen=True)
class CoverageView:
    report: TierReport
    matrix: object  # pyarrow.Table: one row per model (its index), one column per field, each cell a tier
    checks: list[dict]  # the parameter-count checks that did not verify, with both numbers


HOW_TO_FALLBACK = """1. Open the official sources: model card or README, `config.json`, tech report, the provider's pricing page.
2. Add one row to the vendor's file in `data/models/`.
3. `python -m ingest fetch hf-config <model_id>` writes its architecture row from `config.json` (or type it into
   `data/architectures/`).
4. Add its scores to `data/scores/`, its license to `data/licenses/` if new.
5. Map its API ids in `data/mappings/` and run `python -m ingest fetch openrouter` / `litellm` for prices.
6. `python -m ingest check`, fix every problem, then `python -m ingest build`."""


@dataclass(frozen=True)
class DataCheck:
    """What the page shows of validating data/ now."""

    queue: list[HeldRow]
    problems: list[Problem]  # without the held rows (the review queue shows those)
    file_count: int
    known_models: frozenset[str]


def checked_data(data_dir: Path) -> DataCheck:
    """Validation of data/ as it is on disk now. Reused while no data file changed (same names, sizes, modification
    times and inodes); a file written within the last seconds is not trusted to that (a second write in the same
    timestamp tick would go unseen), so it is validated again, as is everything when a stat fails."""
    stats = _data_file_stats(data_dir)
    if stats is None or any(time.time() - mtime_ns / 1e9 < RACY_WINDOW_S for _, _, mtime_ns, _ in stats):
        return _check(data_dir)
    return _check_cached(str(data_dir), stats)


def _data_file_stats(data_dir: Path) -> tuple[tuple[str, int, int, int], ...] | None:
    try:
        return tuple((p.relative_to(data_dir).as_posix(), st_.st_size, st_.st_mtime_ns, st_.st_ino)
                     for p, st_ in ((p, os.stat(p)) for p in data_files(data_dir)))
    except OSError:
        return None


@st.cache_data(max_entries=4, show_spinner=False)
def _check_cached(data_dir: str, stats: tuple) -> DataCheck:
    return _check(Path(data_dir))


def _check(data_dir: Path) -> DataCheck:
    result = validate(data_dir)
    return DataCheck(queue=review_queue(result),
                     problems=[p for p in result.problems if p.column != "review"],
                     file_count=len(result.files),
                     known_models=frozenset(r.values["model_id"] for r in result.tables.get("models", [])))


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
def price_history_chart_spec(build_id: str, model_id: str, offering: str, today: dt.date) -> dict:
    """The step chart of one offering's prices as a Vega-Lite spec (what st.altair_chart would send)."""
    return prices.history_chart(price_history(build_id, model_id), offering, today).to_dict()


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED, show_spinner=False)
def build_changes(build_id: str) -> BuildChanges | None:
    return read_changes(common.catalog_reader())


# Shared, not copied per call (cache_resource): the page only draws it, and unpickling a copy on every rerun was a
# quarter of this page's warm rerun on a 5,000-model catalog (a row per model and field).
@st.cache_resource(ttl=settings.query_cache_ttl_s(), max_entries=4, show_spinner=False)
def tier_coverage(build_id: str) -> CoverageView:
    """The coverage-by-tier report and what the page draws from it: every table's rows read and each cell's tier
    worked out, two thirds of a rerun of this page when it was computed on every run."""
    import pyarrow as pa

    report = tier_report(common.catalog_reader())
    checks = [{"model_id": v.model_id, "status": v.status, "why": v.reason,
               "computed total (B)": None if v.count.total is None else round(v.count.total / 1e9, 3),
               "computed active (B)": None if v.count.active is None else round(v.count.active / 1e9, 3)}
              for v in report.verifications if v.status != "verified"]
    # Arrow tables, ready to send: converting the model x field frame on every rerun was the next largest cost.
    return CoverageView(report, pa.Table.from_pandas(coverage_matrix(report), preserve_index=True), checks)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED, show_spinner=False)
def source_count(build_id: str) -> int:
    return catalog.source_count(common.catalog_reader())


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED, show_spinner=False)
def table_counts(build_id: str) -> dict[str, int]:
    return catalog.table_counts(common.catalog_reader())


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
