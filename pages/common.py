"""Streamlit glue shared by the pages: the cached catalog reader and cached query results.

st.cache_resource holds only the reader (a connection); st.cache_data holds pure results, keyed by the build id so
that a rebuilt catalog is never answered from the previous build's cache.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import altair as alt
import pandas as pd
import streamlit as st

from ingest.problems import BuildFailed, Problem
from ingest.stat_check import ensure_current_unless_unchanged
from modelmatch.catalog import models as catalog
from modelmatch.explore import charts
from modelmatch.explore import overview
from modelmatch.catalog import scores
from modelmatch import settings
from modelmatch.catalog.reader import CatalogMissing, CatalogReader
from modelmatch.evals import upload_limit
from modelmatch.explore.view_state import Choices, OverviewState

if TYPE_CHECKING:
    # Imported where used: Overview and Models, the pages a visit starts on, need neither Compare's module nor the
    # chat modules (endpoints, caps, the runs database: those live in pages/try_support.py).
    from modelmatch.explore import compare

MAX_CACHED_RESULTS = 64
# Tables show every row (no 10-row scroll box hiding license, price or benchmark rows) and a dash, never the text
# "None", where a value is missing.
WHOLE_TABLE = {"height": "content", "placeholder": "—"}


def only_shown(frame: pd.DataFrame, column_order: list[str]) -> pd.DataFrame:
    """The columns a table shows, in its column_order, and the row's model id (hidden) where it has one. A column
    the table only hides still travels to the browser, and the pages' frames carry many: Compare's score rows sent
    28 columns to show 13 (736 KB for six models), Overview's numbers 18 to show 11."""
    hidden_id = ["model_id"] if "model_id" in frame.columns and "model_id" not in column_order else []
    return frame[hidden_id + [c for c in column_order if c in frame.columns]]


@dataclass(frozen=True)
class Startup:
    built_now: bool
    problems: tuple[Problem, ...]


@st.cache_resource(show_spinner="Building the catalog from data/ (first start)…")
def startup(data_dir: str, db_path: str) -> Startup:
    """Build the catalog once per process if it is missing or was built from other CSVs (the CSVs are hashed only
    when their file stats differ from the last check's)."""
    try:
        report = ensure_current_unless_unchanged(Path(data_dir), Path(db_path))
    except BuildFailed as failed:
        return Startup(False, tuple(failed.problems))
    except Exception as exc:  # noqa: BLE001 - any failure to rebuild: keep serving the last good catalog, say why
        return Startup(False, (Problem(Path(data_dir).name + "/", 0, "", f"the catalog could not be rebuilt "
                                       f"({type(exc).__name__}: {exc}); the last good build is shown"),))
    return Startup(report is not None, ())


def server_upload_limit_mb() -> float:
    """The upload limit this server really applies (server.maxUploadSize, from whichever config file, variable or
    flag set it), in MB."""
    return float(st.get_option("server.maxUploadSize"))


def upload_limit_disagreement() -> str | None:
    """The warning when MODELMATCH_EVAL_MAX_FILE_MB is over the server's upload limit, else None."""
    return upload_limit.disagreement(server_upload_limit_mb(), "as this server runs")


_WARNED: set[str] = set()


def log_upload_limit_disagreement() -> None:
    """At start: the operator's log says once per process (and again if the values change) when the two limits
    disagree; the Evals page shows the same words where files are uploaded."""
    warning = upload_limit_disagreement()
    if warning and warning not in _WARNED:
        _WARNED.add(warning)
        logging.getLogger("modelmatch.upload_limit").warning("%s", warning)


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


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def view_choices(build_id: str) -> Choices:
    return overview.choices(catalog_reader())


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def overview_data(build_id: str, state: OverviewState, today: dt.date) -> overview.OverviewData:
    return overview.overview_data(catalog_reader(), state, today)


def overview_chart(data: overview.OverviewData, which: str) -> charts.SpecChart:
    """One of Overview's charts ("price", "size" or "speed") of its points."""
    if which == "price":
        return charts.quality_vs_price(overview.priced_points(data), data.score_title)
    if which == "size":
        return charts.score_vs_active_params(overview.sized_points(data), data.score_title)
    return charts.speed_vs_price(overview.measured_points(data))


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def overview_chart_spec(build_id: str, state: OverviewState, today: dt.date, which: str) -> dict:
    """The chart as the Vega-Lite spec st.vega_lite_chart draws (its points a frame beside it, sent as Arrow), once
    per filter state: a warm rerun of Overview builds no chart (when it built and validated an Altair chart, that was
    over half of the rerun). The downloads build the chart when clicked."""
    return overview_chart(overview_data(build_id, state, today), which).for_page()


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def leaderboard(build_id: str, state: OverviewState, category: str) -> pd.DataFrame:
    return overview.leaderboard(catalog_reader(), state, category)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def benchmarks_table(build_id: str) -> pd.DataFrame:
    return scores.benchmarks(catalog_reader())


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def default_benchmark(build_id: str, vendors: tuple[str, ...] = ()) -> str | None:
    """The benchmark with charted numbers for the most models (of these vendors, when given)."""
    return overview.vendors_default_benchmark(catalog_reader(), vendors)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def evidence_line(build_id: str, model_id: str, gpu_id: str | None = None) -> str:
    """The "How sure" line of a model card: four catalog lookups per model, on every rerun when uncached."""
    from modelmatch.catalog import tiers

    return tiers.evidence_line(catalog_reader(), model_id, gpu_id)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def evidence_jsonable(build_id: str, model_id: str, gpu_id: str | None = None) -> list[dict]:
    """The same evidence for an export (the planner's JSON download)."""
    from modelmatch.catalog import tiers

    return tiers.evidence_jsonable(catalog_reader(), model_id, gpu_id)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def display_names(build_id: str) -> dict[str, str]:
    df = catalog_reader().query("SELECT model_id, display_name FROM models")
    return dict(zip(df["model_id"], df["display_name"]))


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def compare_data(build_id: str, model_ids: tuple[str, ...], price_date: dt.date,
                 mode: str = "") -> compare.CompareData:
    from modelmatch.explore import compare

    return compare.compare_data(catalog_reader(), model_ids, price_date, mode)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def compare_view(build_id: str, model_ids: tuple[str, ...], price_date: dt.date, mode: str, category: str | None,
                 today: dt.date) -> compare.CompareView:
    """The Compare page's tables for one view: a rerun with the same choices (a toggle, an expander) rebuilds none."""
    from modelmatch.explore import compare

    return compare.compare_view(compare_data(build_id, model_ids, price_date, mode), model_ids, category, today)


def visible_eval_runs() -> set[str]:
    """Eval runs this visitor's shared views may show: published ones and this session's own (private by default)."""
    from modelmatch.chat.runs_db import runs_file_exists
    from modelmatch.evals import visibility as eval_visibility
    from modelmatch.evals.store import shared_store

    if not runs_file_exists(settings.runs_db_path()):
        return set(st.session_state.get("ev_my_runs", ()))
    return eval_visibility.visible_run_ids(shared_store(settings.runs_db_path()), st.session_state.get("ev_my_runs", ()))


def url_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params.keys()}


def sync_from_url(page_key: str, seed: Callable[[dict[str, list[str]]], list[str]],
                  widget_keys: tuple[str, ...] = ()) -> list[str]:
    """Seed a page's widgets from the URL when the URL is not the one this page last wrote (a pasted link,
    back/forward, arriving from another page), or when Streamlit dropped one of `widget_keys` (it drops the values
    of widgets not drawn in a run, e.g. after a visit to another page): the URL still holds them. `seed` sets
    widget keys in session_state and returns notices. Widgets drawn only in some runs stay out of `widget_keys`."""
    current = url_params()
    written_key, notices_key = f"{page_key}__written_params", f"{page_key}__notices"
    if st.session_state.get(written_key) != current or any(k not in st.session_state for k in widget_keys):
        st.session_state[notices_key] = seed(current)
        # This link is handled: if the visitor's input cuts this run before it writes the link back, the next run
        # keeps that input instead of seeding the same link over it.
        st.session_state[written_key] = current
    return st.session_state.get(notices_key, [])


def shown(key: str):
    """A seeded widget's current value, to give as its default (value=/default=) in every run.

    A value `seed` puts in st.session_state reaches the browser only with the run that seeded it. A browser that
    first draws the widget in a later run (the visitor's input interrupted the seeding run before the widget was
    drawn) starts it from the default the page gave, and sends that back with the visitor's next input, replacing
    the seeded value: seen as context 1, the first GPU and "commercial use" unchecked after one click on the wizard.
    With the current value as the default, the browser's first drawing of the widget is right whenever it happens.
    """
    return st.session_state.get(key)


def shown_index(key: str, options: list) -> int:
    """shown() for a selectbox or radio, which take the position of their default among the options."""
    value = st.session_state.get(key)
    return options.index(value) if value in options else 0


def write_url(page_key: str, params: dict[str, str]) -> None:
    if url_params() != {k: [v] for k, v in params.items()}:
        st.query_params.from_dict(params)
    st.session_state[f"{page_key}__written_params"] = {k: [v] for k, v in params.items()}


def show_notices(notices: list[str]) -> None:
    for notice in notices:
        st.warning(notice, icon=":material/link_off:")


def chart_downloads(chart: alt.Chart, file_stem: str, key: str) -> None:
    """SVG and PNG of the chart, rendered only when the button is clicked."""
    chart_downloads_built_on_click(lambda: chart, file_stem, key)


def chart_downloads_built_on_click(make_chart: Callable[[], alt.TopLevelMixin | charts.SpecChart], file_stem: str,
                                   key: str) -> None:
    """The same, for a page that draws a cached Vega-Lite spec: the chart itself is built only when clicked."""
    left, right, _ = st.columns([1, 1, 4])
    left.download_button("Chart as SVG", lambda: charts.to_svg(make_chart()), f"{file_stem}.svg", "image/svg+xml",
                         key=f"{key}_svg", on_click="ignore", icon=":material/download:")
    right.download_button("Chart as PNG", lambda: charts.to_png(make_chart()), f"{file_stem}.png", "image/png",
                          key=f"{key}_png", on_click="ignore", icon=":material/download:")


def kept(key: str, default: Any) -> Any:
    """The last value of the widget `key` drawn in a tab or expander that runs only while open. A widget that is
    not drawn in a run loses its state, so its value is kept under a key of its own (see `keep`) and given back as
    the widget's default when it is drawn again (given as the default, not set through session state, so Streamlit
    does not warn that the widget has both)."""
    return st.session_state.get(f"{key}__kept", default)


def kept_index(key: str, options: Sequence[Any], default: Any = None) -> int:
    """`kept` for a selectbox: the index of the kept value, else of `default`, else 0 (options can change between
    visits, e.g. after a rebuild)."""
    for value in (kept(key, None), default):
        if value is not None and value in options:
            return list(options).index(value)
    return 0


def keep(key: str, value: Any) -> Any:
    """Remember a drawn widget's value for `kept`; returns the value."""
    st.session_state[f"{key}__kept"] = value
    return value


def csv_download(label: str, frame: pd.DataFrame, file_name: str, **button_args) -> None:
    """A CSV download of `frame`, written only when the button is clicked: building it on every rerun cost more
    than the rest of a warm page (the chart downloads above work the same way)."""
    st.download_button(label, lambda: frame.to_csv(index=False).encode(), file_name, "text/csv", **button_args)


def glossary_link() -> None:
    st.page_link("pages/glossary.py", label="What do these benchmarks and metrics measure? Glossary",
                 icon=":material/menu_book:")


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


def _skip_streamlit_repl_check() -> None:
    """Skip the REPL check Streamlit makes before the first element of each process.

    To decide whether to print "use streamlit run", Streamlit's first element calls inspect.stack(), which resolves
    the source file of every module loaded so far: once pandas, Altair and DuckDB are in, that is 150-200 ms of the
    first visitor's first page on this machine (a fifth of a cold Overview). Under `streamlit run` the answer is
    always no and nothing is printed, and Streamlit keeps it in this flag so that it asks once; setting it first
    means it never asks. (Started the wrong way, as `python app.py`, the app no longer gets Streamlit's one-line
    hint to use `streamlit run`; the README says how to start it.) tests/pages/test_first_run_work.py fails if a
    Streamlit upgrade moves the check.
    """
    from streamlit import delta_generator

    delta_generator._use_warning_has_been_displayed = True


def _freeze_what_the_server_keeps() -> None:
    """Move everything alive now out of the cyclic collector's passes, once per process (at this module's import).

    By now the process has imported Streamlit, pandas, Altair, DuckDB and the app's modules, objects that live as
    long as the server. Left in the collector's oldest generation, they were walked by every full collection: one
    landed in every few reruns of a page and took 60-70 ms of it (an Overview rerun of 40 ms took 115). Frozen,
    those passes walk only what visitors' runs make. Objects still freed by reference counting are freed as before.
    """
    gc.freeze()


_skip_streamlit_repl_check()
_leave_pages_directory_mode()
_freeze_what_the_server_keeps()
