"""Decision summary: one page with the choice, the runner-up, why, what would change the answer, memory fit,
monthly cost and every source with its tier. Everything comes from the link, so the link reopens this page
exactly; Markdown and PDF exports print the same sections (modelmatch.decision.summary)."""

import urllib.parse
from functools import partial

import streamlit as st

from modelmatch.decision import summary as decision_summary
from modelmatch.decision.state import page_params, parse_decision
from modelmatch.planning.architecture import PlanInputError
from pages import common, decide_support, decision_flow

PAGE = "summary"
SHORTLIST_FOR_SUMMARY = 1000  # every eligible model, so a pick ranked below the wizard's top 10 is still found


def _md(text: str) -> str:
    """Catalog text shown as Markdown: no formatting, links or LaTeX ($) from the data."""
    return decision_summary.markdown_escape(text).replace("$", "\\$")


st.title("Decision summary")
build_id = common.require_catalog()
catalog = decide_support.decision_catalog(build_id)
names = {m.model_id: m.display_name for m in catalog.models.values()}

url = common.url_params()
state, notices = parse_decision(url, decision_flow.choices(build_id))
common.show_notices(notices + [f"Ignored unknown parameter '{k}' in the link." for k in page_params(url)])
if not state.use_cases:
    st.info("This summary is made from a wizard answer. Describe the job in the wizard first; its answer links here.")
    st.page_link(decision_flow.WIZARD, label="Open the recommendation wizard", icon=":material/assistant:",
                 query_params=decision_flow.params(state))
    st.stop()

try:
    result = decide_support.recommendation(
        build_id, decision_summary.wizard_request(state, top_n=SHORTLIST_FOR_SUMMARY, with_sensitivity=True))
except PlanInputError as problem:
    st.error(f"Cannot summarise this decision: {problem}")
    st.stop()

summary = decision_summary.build_summary(state, result, catalog)
link_query = urllib.parse.urlencode(decision_flow.params(state))
try:
    origin = st.context.url.split("?", 1)[0]
except Exception:  # noqa: BLE001 - older Streamlit: a relative link still reopens it on the same server
    origin = "summary"
link = f"{origin}?{link_query}"

decision_flow.links(state, decision_flow.SUMMARY, names)
if summary.choice is None:
    st.error("No model meets every hard requirement. The wizard lists each model's reason.")
else:
    st.success(f"**Choice: {summary.choice.display_name}** — {summary.choice_note}"
               + (f"; runner-up: **{summary.runner_up.display_name}**" if summary.runner_up else ""))

for heading, lines in decision_summary.summary_sections(summary):
    st.subheader(heading)
    if heading == "Sources and their tiers":
        st.markdown("\n".join(f"- **{s.tier}** · {_md(s.what)} — [{urllib.parse.urlsplit(s.url).netloc or 'source'}]"
                              f"({s.url})" for s in summary.sources) or "No sources: no model was chosen.")
    elif heading == "Language evidence":
        for evidence in summary.languages:
            (st.write if evidence.found else st.warning)(evidence.text)
    else:
        st.markdown("\n".join(f"- {_md(line)}" for line in lines))

st.divider()
st.caption("This page's link reopens exactly this summary (it is in your address bar):")
st.code(link, language=None)
d1, d2, _ = st.columns([1, 1, 3])
# Built on click only (bound to this run's summary and link); the PDF especially is not free.
d1.download_button("Summary as Markdown", lambda s=summary, u=link: decision_summary.to_markdown(s, u).encode(),
                   "modelmatch-decision.md", "text/markdown", on_click="ignore", icon=":material/download:")
d2.download_button("Summary as PDF", partial(decision_summary.to_pdf, summary, link), "modelmatch-decision.pdf",
                   "application/pdf", on_click="ignore", icon=":material/download:")
