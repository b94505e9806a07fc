"""Memory & cost planner: not built yet; the page says what it will do and where the data already is."""

import streamlit as st

st.title("Memory & cost planner")
st.info("Will it fit, how fast, at what cost: weight and KV-cache memory computed from the real architecture (GQA or MLA), tensor parallelism, a decode roofline next to measured speed, and API versus self-hosting cost.")
st.write("This page is not built yet. The catalog it will draw on is already browsable:")
st.page_link("pages/models.py", label="Models", icon=":material/table_view:")
