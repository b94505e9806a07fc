"""Compare: not built yet; the page says what it will do and where the data already is."""

import streamlit as st

st.title("Compare")
st.info("Two to six models side by side: cards with parameters, architecture, context, license conditions, prices per provider and KV cache per token, a chart of the benchmarks they share, and every score with its setting and source.")
st.write("This page is not built yet. The catalog it will draw on is already browsable:")
st.page_link("pages/models.py", label="Models", icon=":material/table_view:")
