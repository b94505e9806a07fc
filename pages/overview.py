"""Overview: the catalog's trade-offs at a glance (quality vs price, score vs size, speed vs price, leaderboards)."""

import datetime as dt
from dataclasses import replace

import streamlit as st

from modelmatch.explore import overview

from modelmatch.catalog import prices

from modelmatch.catalog import scores

from modelmatch import settings
from modelmatch.catalog.models import CONTEXT_WINDOW_CHOICES
from modelmatch.explore.view_state import OverviewState, overview_params, parse_overview
from pages import common

PAGE = "overview"
# A bare link opens on the product's question: the Qwen (Alibaba) and DeepSeek families against each other.
QUESTION_VENDORS = ("Alibaba", "DeepSeek")
QUESTION_TAB = "Score vs size"

st.title("Overview")
st.caption("Quality against price and size across the catalog. Pick a benchmark or a whole category, filter the "
           "way you would on a leaderboard; the link in your address bar reopens this exact view.")

build_id = common.require_catalog()
choices = common.view_choices(build_id)
bench_names = dict(choices.benchmark_names)
bench_options = sorted(bench_names, key=lambda b: bench_names[b].lower())
categories = sorted(choices.categories)
today = dt.date.today()


# The widgets drawn in every run (the benchmark and category boxes take turns, so Streamlit drops one of them).
SEEDED_KEYS = ("ov_mode",)
# The filters' widgets, drawn only while the Filters expander is open: Streamlit drops a widget's value after a run
# that did not draw it, so each value is also kept under a key of its own and given back (common.keep).
FILTER_KEYS = ("ov_vendor", "ov_family", "ov_arch", "ov_open", "ov_commercial", "ov_reasoning", "ov_total_min",
               "ov_total_max", "ov_active_min", "ov_active_max", "ov_ctx", "ov_from", "ov_to", "ov_price_date")
# Link parameters that choose the score, not a filter: a link that sets only these opens with the filters closed.
SCORE_PARAMS = frozenset({"benchmark", "category"})


def seed(params: dict[str, list[str]]) -> list[str]:
    state, notices = parse_overview(params, choices)
    if not params:
        state = replace(state, vendors=tuple(v for v in QUESTION_VENDORS if v in choices.vendors))
    ss = st.session_state
    ss.ov_question_view = not params and bool(state.vendors)
    ss.ov_mode = "Category" if state.category else "Benchmark"
    ss.ov_benchmark = state.benchmark_id or common.default_benchmark(build_id, state.vendors)
    ss.ov_category = state.category or ("knowledge" if "knowledge" in categories else categories[0])
    ss.ov_vendor, ss.ov_family = list(state.vendors), list(state.families)
    ss.ov_open, ss.ov_commercial, ss.ov_reasoning = (state.open_weights_only, state.commercial_only,
                                                     state.reasoning_only)
    ss.ov_arch = list(state.architectures)
    ss.ov_ctx = next((k for k, v in CONTEXT_WINDOW_CHOICES.items() if v == state.min_context_tokens), "any")
    ss.ov_total_min, ss.ov_total_max = state.params_total_b
    ss.ov_active_min, ss.ov_active_max = state.params_active_b
    ss.ov_from, ss.ov_to = state.released_from, state.released_to
    ss.ov_price_date = state.price_date or today
    # The filters open on a link that filters; the question view and a link that only picks the score open on the
    # chart, and the filters' widgets are not drawn until opened: their scripts load and run in the browser even in a
    # closed expander (a new visitor's chart came about 0.4 s later with them drawn, in chromium on a 2-core machine).
    ss.ov_filters = not ss.ov_question_view and bool(set(overview_params(state)) - SCORE_PARAMS)
    for key in FILTER_KEYS:
        common.keep(key, ss[key])
    return notices


common.show_notices(common.sync_from_url(PAGE, seed, SEEDED_KEYS))
ss = st.session_state

left, right = st.columns([1, 3])
score_by = ["Benchmark", "Category"]
mode = left.radio("Score by", score_by, index=common.shown_index("ov_mode", score_by), key="ov_mode", horizontal=True)
if mode == "Benchmark":
    right.selectbox("Benchmark", bench_options, index=common.shown_index("ov_benchmark", bench_options),
                    key="ov_benchmark", format_func=lambda b: bench_names.get(b, b))
else:
    right.selectbox("Category", categories, index=common.shown_index("ov_category", categories), key="ov_category",
                    help="Mean of the percent-scored benchmarks in the category that each model has.")

# On the question view the chart comes first; the filters stay one click away (opening them reruns the page).
filters = st.expander("Filters", key="ov_filters", on_change="rerun", icon=":material/filter_list:")
if filters.open:
    with filters:
        c1, c2, c3 = st.columns(3)
        c1.multiselect("Vendor", sorted(choices.vendors), default=common.shown("ov_vendor"), key="ov_vendor")
        c2.multiselect("Family", sorted(choices.families), default=common.shown("ov_family"), key="ov_family")
        c3.multiselect("Architecture", ["dense", "moe"], default=common.shown("ov_arch"), key="ov_arch",
                       format_func=lambda a: {"moe": "MoE"}.get(a, a))
        c1.toggle("Open weights only", value=common.shown("ov_open"), key="ov_open")
        c2.toggle("Commercial use allowed", value=common.shown("ov_commercial"), key="ov_commercial",
                  help="License allows commercial use, with or without conditions (see each license).")
        c3.toggle("Reasoning models only", value=common.shown("ov_reasoning"), key="ov_reasoning")
        c4, c5, c6, c7 = st.columns(4)
        c4.number_input("Total params ≥ (B)", min_value=0.0, step=1.0, value=common.shown("ov_total_min"),
                        key="ov_total_min")
        c5.number_input("Total params ≤ (B)", min_value=0.0, step=1.0, value=common.shown("ov_total_max"),
                        key="ov_total_max")
        c6.number_input("Active params ≥ (B)", min_value=0.0, step=1.0, value=common.shown("ov_active_min"),
                        key="ov_active_min")
        c7.number_input("Active params ≤ (B)", min_value=0.0, step=1.0, value=common.shown("ov_active_max"),
                        key="ov_active_max")
        c8, c9, c10, c11 = st.columns(4)
        windows = list(CONTEXT_WINDOW_CHOICES)
        c8.selectbox("Context window", windows, index=common.shown_index("ov_ctx", windows), key="ov_ctx")
        c9.date_input("Released from", value=common.shown("ov_from"), key="ov_from")
        c10.date_input("Released until", value=common.shown("ov_to"), key="ov_to")
        c11.date_input("Prices in force on", value=common.shown("ov_price_date"), key="ov_price_date",
                       help=prices.BLEND_RULE)
else:
    # Not drawn in this run. Once a filter's widget is gone, its key can read an older value (the one seeded before
    # the widget was first drawn), so the values of the last run are given back.
    for key in FILTER_KEYS:
        ss[key] = common.kept(key, ss.get(key))
for key in FILTER_KEYS:
    common.keep(key, ss[key])

state = OverviewState(
    benchmark_id=ss.ov_benchmark if mode == "Benchmark" else None,
    category=ss.ov_category if mode == "Category" else None,
    vendors=tuple(ss.ov_vendor), families=tuple(ss.ov_family), open_weights_only=ss.ov_open,
    commercial_only=ss.ov_commercial, architectures=tuple(ss.ov_arch),
    min_context_tokens=CONTEXT_WINDOW_CHOICES[ss.ov_ctx], reasoning_only=ss.ov_reasoning,
    params_total_b=(ss.ov_total_min, ss.ov_total_max), params_active_b=(ss.ov_active_min, ss.ov_active_max),
    released_from=ss.ov_from, released_to=ss.ov_to,
    price_date=ss.ov_price_date if ss.ov_price_date != today else None,
)
common.write_url(PAGE, overview_params(state))
data = common.overview_data(build_id, state, today)

if data.model_count == 0:
    st.info("No model matches these filters. Loosen a filter (for example the parameter range or the release "
            "dates) to see models again.")
    st.stop()

priced = overview.priced_points(data)
st.write(f"**{data.model_count}** models match; **{len(data.points)}** have a number for "
         f"*{data.score_title}*, **{len(priced)}** of those also have an API price.")

question_view = st.session_state.get("ov_question_view") and set(state.vendors) == set(QUESTION_VENDORS)
if question_view:
    st.info("**Qwen vs DeepSeek.** Each point is one model, named beside it and colored by vendor (Alibaba's Qwen, "
            "DeepSeek); hover a point for its source. Open Filters and clear Vendor to see every model.")
# Only the open tab runs (on_change="rerun": switching tabs reruns the page): the hidden tabs' charts and the
# leaderboard's query were the larger part of the first visit and of every rerun.
tab_price, tab_size, tab_speed, tab_boards = st.tabs(["Quality vs price", QUESTION_TAB, "Speed vs price",
                                                      "Leaderboards"], default=QUESTION_TAB if question_view else None,
                                                     key="ov_tab", on_change="rerun")
if tab_price.open:
    with tab_price:
        if priced.empty:
            st.info("None of the matching models with this score has an API price in the catalog. Open-weights "
                    "models you host yourself are on the *Score vs size* tab.")
        else:
            st.vega_lite_chart(common.overview_chart_spec(build_id, state, today, "price"), width="stretch")
            common.chart_downloads_built_on_click(lambda: common.overview_chart(data, "price"),
                                                  "modelmatch-quality-vs-price", "ov_price")
            st.caption(f"{prices.BLEND_RULE} {scores.CHARTED_RULE}")
if tab_size.open:
    with tab_size:
        sized = overview.sized_points(data)
        if sized.empty:
            st.info("None of the matching models with this score has a published parameter count.")
        else:
            st.vega_lite_chart(common.overview_chart_spec(build_id, state, today, "size"), width="stretch")
            common.chart_downloads_built_on_click(lambda: common.overview_chart(data, "size"),
                                                  "modelmatch-score-vs-active-params", "ov_size")
            st.caption("Mixture-of-experts models use only their active parameters per token, which drives speed; "
                       "memory still needs all of them. " + scores.CHARTED_RULE)
if tab_speed.open:
    with tab_speed:
        measured = overview.measured_points(data)
        if measured.empty:
            st.info("No measured speed for these models yet. Speed comes from runs of the measurement harness on "
                    "real GPUs (rows appear here once measured); the planner estimates speed meanwhile.")
        else:
            st.vega_lite_chart(common.overview_chart_spec(build_id, state, today, "speed"), width="stretch")
            common.chart_downloads_built_on_click(lambda: common.overview_chart(data, "speed"),
                                                  "modelmatch-speed-vs-price", "ov_speed")
if tab_boards.open:
    with tab_boards:
        # A widget that is not drawn loses its state: the category is kept while another tab is open.
        board_category = common.keep("ov_board_category", st.selectbox(
            "Category", categories, index=common.kept_index("ov_board_category", categories),
            key="ov_board_category"))
        board = common.leaderboard(build_id, replace(state, price_date=None), board_category)
        if board.empty:
            st.info(f"No {board_category} scores for the matching models.")
        else:
            st.dataframe(board.drop(columns=["model_id"]), hide_index=True, width="stretch", **common.WHOLE_TABLE,
                         column_config={"display_name": st.column_config.TextColumn("Model", pinned=True),
                                        "category mean": st.column_config.NumberColumn(format="%.1f")})
            common.csv_download("Leaderboard as CSV", board, f"modelmatch-leaderboard-{board_category}.csv",
                                on_click="ignore", icon=":material/download:")
            st.caption("Cells are charted numbers (one per model and benchmark). Empty: no official number. "
                       + scores.CHARTED_RULE)

# Opened on demand (opening it reruns the page): the table's scripts load and run in the browser even in a closed
# expander, and a new visitor's chart came about 0.4 s later with the table drawn (the filters' measurement, above).
# The label stays the same in every run: a changed label would be a new expander, closed again.
numbers = st.expander("The numbers behind the charts, with their sources", key="ov_numbers", on_change="rerun",
                      icon=":material/table_view:")
if numbers.open:
    with numbers:
        table = data.points.sort_values("score", ascending=False)
        shown = ["display_name", "vendor", "score", "benchmarks_counted", "score_detail", "blended_usd_per_mtok",
                 "provider", "effective_from", "params_active_b", "params_total_b", "price_source_url"]
        # The CSV below keeps every column; the browser gets the shown ones.
        st.dataframe(common.only_shown(table, shown), hide_index=True, width="stretch", **common.WHOLE_TABLE,
                     column_order=shown,
                     column_config={
                         "display_name": st.column_config.TextColumn("Model", pinned=True),
                         "score": st.column_config.NumberColumn(data.score_title, format="%.1f"),
                         "benchmarks_counted": st.column_config.NumberColumn("Benchmarks"),
                         "score_detail": st.column_config.TextColumn("Score from"),
                         "blended_usd_per_mtok": st.column_config.NumberColumn("Blended $/Mtok", format="%.3f"),
                         "provider": st.column_config.TextColumn("Price from"),
                         "effective_from": st.column_config.DateColumn("Price since"),
                         "params_active_b": st.column_config.NumberColumn("Active (B)", format="%.1f"),
                         "params_total_b": st.column_config.NumberColumn("Total (B)", format="%.1f"),
                         "price_source_url": st.column_config.LinkColumn("Price source", display_text="pricing page"),
                     })
        common.csv_download("This table as CSV", table, "modelmatch-overview.csv", on_click="ignore",
                            icon=":material/download:")
common.glossary_link()
st.caption(f"Score rows whose source is older than {settings.stale_after_days_for('scores')} days are marked stale "
           "on Compare (thresholds per table: see the Data page).")
