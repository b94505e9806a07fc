"""Data: for maintainers. The review queue, validation of data/ now, what the last build changed, how old every number
is, price history, the importers' last runs, and how to add a model."""

import datetime as dt

import pandas as pd
import streamlit as st

from ingest.guards import GUARDS
from ingest.review import import_summaries
from modelmatch.catalog import freshness
from modelmatch.catalog import prices
from modelmatch import settings
from pages import common, data_support

st.title("Data")
st.caption("For maintainers. The CSV files in data/ are the source of truth: edit them (or let an importer write a "
           "review batch), run `python -m ingest check`, then `python -m ingest build`. This page reads data/ as it "
           "is on disk now and the live catalog build; it never writes anything.")

build_id = common.require_catalog()
reader = common.catalog_reader()
info = reader.build_info()
today = dt.date.today()
data_dir = settings.data_dir()

checked = data_support.checked_data(data_dir)
queue, problems = checked.queue, checked.problems
fresh = data_support.freshness_summary(build_id, today)
mappings, mapping_problems = data_support.mapping_status(data_dir, set(checked.known_models))

m1, m2, m3, m4 = st.columns(4)
m1.metric("Held for review", len(queue), help="Imported rows a guard flagged; the build refuses them until accepted.")
m2.metric("Validation problems", len(problems) + len(mapping_problems),
          help="Problems in data/ now (the next build is refused until they are fixed) and in data/mappings/.")
m3.metric("Stale rows", int(fresh["stale_rows"].sum()),
          help="Rows older than their table's threshold (see Freshness).")
built_days = (dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - info.built_at).days
m4.metric("Catalog built", freshness.human_age(built_days),
          help=f"Live build {info.build_id}, built {info.built_at:%Y-%m-%d %H:%M} UTC")

DATE = st.column_config.DateColumn(format="YYYY-MM-DD")
DATES = {c: DATE for c in ("effective_from", "effective_until", "as_of", "oldest_as_of", "newest_as_of")}
SOURCE = {"source_url": st.column_config.LinkColumn("source")}

# Only the open tab runs (on_change="rerun": switching tabs reruns the page), as on Overview: drawing every tab's
# tables on each rerun was most of this page's warm rerun. A widget in a hidden tab is not drawn and so loses its
# state; common.kept gives its last value back as the widget's default when its tab opens again.
tabs = st.tabs(["Review queue", "Validation", "Last build", "Freshness", "Price history", "Imports",
                "How to add a model", "Coverage by tier"], key="data_tab", on_change="rerun")

if tabs[0].open:
    with tabs[0]:
        st.subheader("Review queue")
        if not queue:
            st.success("Nothing is waiting for review: no row is held.")
        else:
            st.warning(f"{len(queue)} row(s) held for review. `python -m ingest build` refuses them until a maintainer "
                       "checks each one at its source and accepts it, or rejects (deletes) it.")
            st.dataframe(pd.DataFrame([{
                "row": h.target, "table": h.table, "what": h.key, "model_id": h.model_id, "why held": h.reason,
                "accept with": h.accept_command, "or reject with": f"python -m ingest reject {h.target}",
                "source_url": h.values.get("source_url"),
            } for h in queue]), hide_index=True, width="stretch", column_config=SOURCE)
        with st.expander("What the import guards hold back"):
            st.dataframe(pd.DataFrame({"guard": list(GUARDS), "holds a row when": list(GUARDS.values())}),
                         hide_index=True, width="stretch")
            st.markdown("A held row carries `review=held` and `review_reason`. `python -m ingest accept FILE:LINE "
                        "--note \"what you checked\"` sets `review=accepted` and records the note; "
                        "`python -m ingest reject FILE:LINE` deletes it. `python -m ingest review` lists the queue.")

if tabs[1].open:
    with tabs[1]:
        st.subheader("Validation of data/ now")
        if not problems:
            st.success(f"No problems in {checked.file_count} files" +
                       (" apart from the held rows above." if queue else "."))
        else:
            st.error(f"{len(problems)} problem(s): the next build will be refused until they are fixed.")
            st.dataframe(pd.DataFrame([p.__dict__ for p in problems]), hide_index=True, width="stretch")
        st.markdown("**Mapping files** (`data/mappings/`: which external id is which catalog model)")
        st.dataframe(mappings, hide_index=True, width="stretch")
        if mapping_problems:
            st.error(f"{len(mapping_problems)} mapping problem(s): `python -m ingest fetch` refuses to run until they "
                     "are fixed.")
            st.dataframe(pd.DataFrame([p.__dict__ for p in mapping_problems]), hide_index=True, width="stretch")

if tabs[2].open:
    with tabs[2]:
        st.subheader("Live build")
        st.write(f"Build `{info.build_id}`, built {info.built_at:%Y-%m-%d %H:%M:%S} UTC, "
                 f"from {data_support.source_count(build_id)} distinct sources.")
        changes = data_support.build_changes(build_id)
        if changes is None:
            st.info("This build predates change tracking; the next `python -m ingest build` records what it changes.")
        else:
            if changes.previous_build_id is None:
                st.info("First build: there was no previous catalog to compare with.")
            else:
                st.write(f"Changes against the previous build `{changes.previous_build_id}`"
                         + ("" if changes.any else ": none."))
            counts = data_support.table_counts(build_id)
            st.dataframe(pd.DataFrame([{"table": t.table, "rows now": counts.get(t.table, 0), "added": t.added,
                                        "changed": t.changed, "removed": t.removed} for t in changes.tables]),
                         hide_index=True, width="stretch")
            if changes.previous_build_id is not None and not changes.rows.empty:
                with st.expander(f"The {len(changes.rows)} row(s) added, changed or removed"):
                    st.dataframe(changes.rows.rename(columns={"row_key": "row (key)"}), hide_index=True,
                                 width="stretch")
        with st.expander("Files in the live build"):
            st.dataframe(data_support.build_files(build_id), hide_index=True, width="stretch")

if tabs[3].open:
    with tabs[3]:
        st.subheader("Freshness")
        st.caption("Age counts from each row's as_of: the date of the source version that was read, or the day an "
                   "importer last confirmed the number. Thresholds are settings (environment variables), one per "
                   "table. " + freshness.PINNED_RULE)
        st.dataframe(fresh, hide_index=True, width="stretch",
                     column_config={**DATES, "stale_after_days": st.column_config.NumberColumn("stale after (days)"),
                                    "stale_rows": "stale rows", "undated_rows": "rows without date",
                                    "oldest_as_of": st.column_config.DateColumn("oldest as_of", format="YYYY-MM-DD"),
                                    "newest_as_of": st.column_config.DateColumn("newest as_of", format="YYYY-MM-DD"),
                                    "median_age": "median age", "setting": "threshold setting"})
        left, right = st.columns([2, 1])
        tables = list(freshness.FRESHNESS_TABLES)
        table = common.keep("data_fresh_table", left.selectbox(
            "Rows of table", tables, index=common.kept_index("data_fresh_table", tables, "prices"),
            key="data_fresh_table"))
        stale_only = common.keep("data_fresh_stale", right.toggle(
            "Stale rows only", value=common.kept("data_fresh_stale", False), key="data_fresh_stale"))
        aged = data_support.rows_by_age(build_id, table, today, stale_only)
        if aged.empty:
            st.success(f"No stale rows in {table}." if stale_only else f"{table} has no rows.")
        else:
            st.dataframe(aged, hide_index=True, width="stretch",
                         column_config={**DATES, **SOURCE, "age_days": st.column_config.NumberColumn("age (days)")})

if tabs[4].open:
    with tabs[4]:
        st.subheader("Price history")
        priced = data_support.priced_models(build_id)
        if priced.empty:
            st.info("The catalog has no prices yet.")
        else:
            names = dict(zip(priced["model_id"], priced["display_name"]))
            left, mid, right = st.columns([2, 2, 1])
            model_id = common.keep("data_price_model", left.selectbox(
                "Model", list(names), index=common.kept_index("data_price_model", list(names)),
                format_func=lambda m: f"{names[m]} ({m})", key="data_price_model"))
            history = data_support.price_history(build_id, model_id)
            offerings = sorted(history["offering"].unique(),
                               key=lambda o: (-int((history["offering"] == o).sum()), o))
            offering = common.keep("data_price_offering", mid.selectbox(
                "Offering (provider, API name, tier)", offerings,
                index=common.kept_index("data_price_offering", offerings), key="data_price_offering"))
            on = common.keep("data_price_date", right.date_input(
                "Price in force on", value=common.kept("data_price_date", today), key="data_price_date"))
            in_force = prices.price_on(history, on)
            if in_force.empty:
                st.info(f"No price of {names[model_id]} was in force on {on}.")
            else:
                st.markdown(f"**In force on {on}** (the row with the latest effective_from on or before that date):")
                st.dataframe(freshness.add_freshness(in_force, "prices", today)[
                    ["offering", "input_usd_per_mtok", "cached_input_usd_per_mtok", "output_usd_per_mtok",
                     "context_length", "effective_from", "as_of", "freshness", "source_url"]],
                    hide_index=True, width="stretch", column_config={**DATES, **SOURCE})
            # The spec is cached per offering: building the Altair chart and validating it on every rerun was the
            # largest part of this page's warm rerun. The downloads build the chart when clicked.
            st.vega_lite_chart(data_support.price_history_chart_spec(build_id, model_id, offering, today),
                               width="stretch")
            common.chart_downloads_built_on_click(lambda: prices.history_chart(history, offering, today),
                                                  "price-history", key="data_price_chart")
            st.caption("Each step is a new price row (a change never overwrites the old row). A line that stops means "
                       "later rows no longer state that price.")
            st.dataframe(freshness.add_freshness(history[history["offering"] == offering], "prices", today)[
                ["effective_from", "effective_until", "input_usd_per_mtok", "cached_input_usd_per_mtok",
                 "output_usd_per_mtok", "context_length", "as_of", "freshness", "review", "source_url",
                 "source_location"]], hide_index=True, width="stretch", column_config={**DATES, **SOURCE})

if tabs[5].open:
    with tabs[5]:
        st.subheader("Importers: last runs")
        summaries = import_summaries(data_dir)
        if not summaries:
            st.info("No importer has run yet. `python -m ingest fetch openrouter`, `python -m ingest fetch litellm` "
                    "or `python -m ingest fetch hf-config --missing` write a review batch under data/imports/.")
        for summary in summaries:
            folder = summary.get("folder", "?")
            retrieved = str(summary.get("retrieved_at", ""))
            try:
                age = freshness.human_age((today - dt.date.fromisoformat(retrieved[:10])).days)
            except ValueError:
                age = "unknown age"
            st.markdown(f"**{folder}** · fetched `{retrieved}` ({age} ago)" if age not in ("today", "unknown age")
                        else f"**{folder}** · fetched `{retrieved}` ({age})")
            st.text(str(summary.get("headline", "")))
            rows = pd.DataFrame(summary.get("rows") or [])
            # Text that came from a source goes into tables or plain text, never markdown (no links or images from
            # someone else's JSON).
            notes = pd.DataFrame(
                [{"kind": "check by hand", "detail": str(f)} for f in summary.get("facts") or []]
                + [{"kind": "mapped but missing from the source", "detail": str(m)}
                   for m in summary.get("missing") or []]
                + [{"kind": "skipped", "detail": str(s)} for s in summary.get("skipped") or []])
            with st.expander(f"Details: data/imports/{folder}/last_fetch.md"):
                if not rows.empty:
                    st.dataframe(rows, hide_index=True, width="stretch")
                if not notes.empty:
                    st.dataframe(notes, hide_index=True, width="stretch")
                suggestions = summary.get("unmapped_with_suggestion") or []
                if suggestions:
                    st.markdown("Unmapped ids that look like catalog models (paste into the mapping file after "
                                "checking):")
                    st.code("\n".join(s.get("mapping_line", "") for s in suggestions), language="text")

if tabs[6].open:
    with tabs[6]:
        st.subheader("How to add a model")
        st.markdown(data_support.readme_section(data_dir, "How to add a model") or data_support.HOW_TO_FALLBACK)
        fresh_howto = data_support.readme_section(data_dir, "Keeping data fresh: importers and the review queue")
        if fresh_howto:
            with st.expander("Keeping data fresh: importers and the review queue"):
                st.markdown(fresh_howto)

if tabs[7].open:
    with tabs[7]:
        st.subheader("Coverage by provenance tier")
        st.caption("How sure each number is: official (the vendor's own document), official-copy (an exact copy read "
                   "elsewhere), derived (a stated formula over official numbers), secondary (two independent sources "
                   "that agree), measured (this project's runs); missing = no number. The same report: "
                   "`python -m ingest report`.")
        coverage = data_support.tier_coverage(build_id)
        report = coverage.report
        t1, t2, t3 = st.columns(3)
        t1.metric("Models the planner cannot size", len(report.cannot_size),
                  help="Open-weights models whose weights or KV cache cannot be computed from the catalog.")
        t2.metric("Parameter counts verified", len(report.verified),
                  help="Architecture rows whose computed parameter count matches the official count.")
        t3.metric("Parameter-count mismatches", len(report.mismatched))
        st.markdown("**Rows by tier**")
        st.dataframe(pd.DataFrame(report.rows_by_tier).fillna(0).astype(int).T, width="stretch")
        st.markdown("**Each model's fields by tier** (empty: the field does not apply)")
        st.dataframe(coverage.matrix, width="stretch")
        if report.cannot_size:
            st.markdown("**Open-weights models the planner cannot size**")
            st.dataframe(pd.DataFrame([{"model_id": m, "lacks": ", ".join(lacks)}
                                       for m, lacks in report.cannot_size.items()]), hide_index=True, width="stretch")
        checks = coverage.checks
        st.markdown("**Parameter-count check: every row that did not verify, with both numbers**")
        if checks:
            st.dataframe(pd.DataFrame(checks), hide_index=True, width="stretch")
        else:
            st.success("Every architecture row reproduces its model's official parameter count.")
