"""Your evals: not built yet; the page says what it will do and where the data already is."""

import streamlit as st

st.title("Your evals")
st.info("Run your own prompt set with expected answers across models and languages, and see accuracy per language, cross-language consistency and cost.")
st.write("This page is not built yet. The catalog it will draw on is already browsable:")
st.page_link("pages/models.py", label="Models", icon=":material/table_view:")
