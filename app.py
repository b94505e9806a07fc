"""ModelMatch: choose and run an open LLM on evidence. Streamlit entry point: navigation and the shared sidebar."""

import streamlit as st

from modelmatch import settings
from pages import common

# The scales emoji drawn as an inline SVG data: URL. A ":material/...:" icon is fetched from an external font host
# on every visit (the app must work offline and leak no visit); the emoji given as text is checked against
# Streamlit's emoji list, whose import costs each new process about 150 ms before its first page.
PAGE_ICON = ("data:image/svg+xml,%3Csvg%20xmlns='http://www.w3.org/2000/svg'"
             "%20viewBox='0%200%20100%20100'%3E%3Ctext%20y='.9em'%20font-size='90'%3E"
             "%E2%9A%96%EF%B8%8F%3C/text%3E%3C/svg%3E")
st.set_page_config(page_title="ModelMatch", page_icon=PAGE_ICON, layout="wide")

bad_settings = settings.check_all()
if bad_settings:
    # The same lines the command line prints; nothing else can run with a setting it cannot read.
    # The values are shown as plain text (st.code), never as markdown.
    st.error("ModelMatch cannot start: an environment variable holds a value it cannot use. Fix it and restart.")
    st.code("\n".join(bad_settings), language=None)
    st.stop()

common.log_upload_limit_disagreement()
startup = common.startup(str(settings.data_dir()), str(settings.catalog_path()))

models_page = st.Page("pages/models.py", title="Models", icon=":material/table_view:", url_path="home", default=True)


def _models_by_name() -> None:
    """/models: the default page is served at "/", so its own name would otherwise open "Page not found"."""
    st.switch_page(models_page, query_params=st.query_params.to_dict())


pages = {
    "Explore": [
        st.Page("pages/overview.py", title="Overview", icon=":material/insights:", url_path="overview"),
        models_page,
        st.Page(_models_by_name, title="Models", url_path="models", visibility="hidden"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
        st.Page("pages/glossary.py", title="Glossary", icon=":material/menu_book:", url_path="glossary"),
    ],
    "Decide": [
        st.Page("pages/planner.py", title="Memory & cost planner", icon=":material/memory:", url_path="planner"),
        st.Page("pages/wizard.py", title="Recommendation wizard", icon=":material/assistant:", url_path="wizard"),
        st.Page("pages/summary.py", title="Decision summary", icon=":material/summarize:", url_path="summary"),
    ],
    "Try": [
        st.Page("pages/playground.py", title="Playground", icon=":material/chat:", url_path="playground"),
        st.Page("pages/evals.py", title="Your evals", icon=":material/fact_check:", url_path="evals"),
    ],
    "Maintain": [
        st.Page("pages/data.py", title="Data", icon=":material/database:", url_path="data"),
    ],
}
navigation = st.navigation(pages)

with st.sidebar:
    if startup.problems:
        st.warning(f"data/ has {len(startup.problems)} problem(s); the last good catalog build is shown. "
                   "See the Data page.")
    try:
        info = common.catalog_reader().build_info()
        st.caption(f"Catalog build `{info.build_id}` · built {info.built_at:%Y-%m-%d %H:%M} UTC")
    except common.CatalogMissing:
        st.caption("No catalog yet.")

navigation.run()
