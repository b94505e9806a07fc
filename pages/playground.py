"""Playground: not built yet; the page says what it will do and where the data already is."""

import streamlit as st

st.title("Playground")
st.info("One prompt to several models at once, streaming side by side, reasoning shown apart from the answer, with live time to first token, tokens per second and cost.")
st.write("This page is not built yet. The catalog it will draw on is already browsable:")
st.page_link("pages/models.py", label="Models", icon=":material/table_view:")
