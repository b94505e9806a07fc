"""Glossary: what every benchmark measures, and what every metric and label on the charts means."""

import streamlit as st

from modelmatch.explore.glossary import TERMS
from pages import common

st.title("Glossary")
st.caption("What each benchmark measures and how to read each number. Charts and tables link here.")

build_id = common.require_catalog()
bench = common.benchmarks_table(build_id)

st.subheader("Benchmarks")
category = st.multiselect("Category", sorted(bench["category"].unique()), key="glossary_category")
shown = bench[bench["category"].isin(category)] if category else bench
st.dataframe(shown, hide_index=True, width="stretch",
             column_order=["name", "category", "metric", "unit", "higher_is_better", "description", "score_count",
                           "url"],
             column_config={"name": st.column_config.TextColumn("Benchmark", pinned=True),
                            "higher_is_better": st.column_config.CheckboxColumn("Higher is better"),
                            "description": st.column_config.TextColumn("What it measures", width="large"),
                            "score_count": st.column_config.NumberColumn("Scores in catalog"),
                            "url": st.column_config.LinkColumn("Paper or site", display_text="open")})

st.subheader("Terms")
for term, meaning in TERMS:
    st.markdown(f"**{term}** — {meaning}")
