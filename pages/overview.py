"""Overview: not built yet; the page says what it will do and where the data already is."""

import streamlit as st

st.title("Overview")
st.info("Trade-off charts across the catalog: quality against price, speed against price, score against active parameters, and a leaderboard per benchmark category, with the filters leaderboards are asked for.")
st.write("This page is not built yet. The catalog it will draw on is already browsable:")
st.page_link("pages/models.py", label="Models", icon=":material/table_view:")
