"""Recommendation wizard: not built yet; the page says what it will do and where the data already is."""

import streamlit as st

st.title("Recommendation wizard")
st.info("Describe the use case, languages, hardware or budget and license needs; get a ranked shortlist with the reasons for each rank and for each exclusion.")
st.write("This page is not built yet. The catalog it will draw on is already browsable:")
st.page_link("pages/models.py", label="Models", icon=":material/table_view:")
