"""Streamlit glue for Compare: its highlighted tables, its chart and its table of score rows, drawn from a cache.

pandas' Styler (the highlighting) re-rendered every cell on each rerun, about a third of a warm Compare rerun, and
Altair validated the chart and pyarrow converted the score rows again. A function cached with st.cache_data records
the elements it draws and, on a hit, Streamlit replays them as they were sent: a rerun with the same choices sends
the same elements without building them again. The cache key is the view's arguments (build, models, price date,
mode, category, day), as for common.compare_view (ViewArgs). No widget is drawn here (a cached function may not draw
one)."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from modelmatch import settings
from modelmatch.catalog import scores
from pages import common

# (build id, model ids, price date, mode, category, today): the arguments of common.compare_view.
ViewArgs = tuple[str, tuple[str, ...], dt.date, str, str | None, dt.date]

FACT_DIFFERS = "background-color: #fff3cd"
BEST_SCORE = "background-color: #d4edda; font-weight: 600"


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=common.MAX_CACHED_RESULTS, show_spinner=False)
def draw_side_by_side(view_args: ViewArgs) -> None:
    """The facts side by side, a row highlighted where the models differ."""
    view = common.compare_view(*view_args)
    st.dataframe(
        view.facts.style.apply(lambda row: [FACT_DIFFERS if row["differs"] else "" for _ in row], axis=1),
        hide_index=True, width="stretch", **common.WHOLE_TABLE,
        column_config={"fact": st.column_config.TextColumn("", pinned=True),
                       "differs": st.column_config.CheckboxColumn("Differs")})


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=common.MAX_CACHED_RESULTS, show_spinner=False)
def draw_every_score(view_args: ViewArgs) -> None:
    """Every benchmark's number per model, the best per benchmark highlighted."""
    view = common.compare_view(*view_args)
    best_style = view.best.replace({True: BEST_SCORE, False: ""})
    st.dataframe(
        view.matrix.style.apply(lambda _: best_style, axis=None),
        hide_index=True, width="stretch", **common.WHOLE_TABLE,
        column_config={"benchmark": st.column_config.TextColumn("Benchmark", pinned=True),
                       "higher_is_better": st.column_config.CheckboxColumn("Higher is better")})


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=common.MAX_CACHED_RESULTS, show_spinner=False)
def draw_shared_chart(view_args: ViewArgs) -> None:
    """The benchmarks the models share, as a grouped bar chart."""
    view = common.compare_view(*view_args)
    st.altair_chart(view.chart, width="stretch")


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=common.MAX_CACHED_RESULTS, show_spinner=False)
def draw_score_rows(view_args: ViewArgs, official_only: bool) -> None:
    """Every score row with its setting, provenance and source (the vendor's own numbers only, if asked)."""
    rows = common.compare_view(*view_args).score_rows
    shown = ["display_name", "benchmark_name", "value", "mode", "setting", "provenance", "measured_by", "charted",
             "source_location", "source_url", "as_of", "freshness", "notes"]
    st.dataframe(common.only_shown(scores.official_only(rows) if official_only else rows, shown), hide_index=True,
                 width="stretch", **common.WHOLE_TABLE, column_order=shown,
                 column_config={"display_name": st.column_config.TextColumn("Model", pinned=True),
                                "benchmark_name": "Benchmark",
                                "charted": st.column_config.CheckboxColumn("Charted"),
                                "source_url": st.column_config.LinkColumn("Source", display_text="open"),
                                "as_of": st.column_config.DateColumn("As of")})
