"""Compare: 2 to 6 models side by side, every number with its source, gaps said out loud."""

import dataclasses
import datetime as dt

import streamlit as st

from modelmatch.evals import summary as evals

from modelmatch.catalog import scores
from modelmatch.evals.store import RunsDatabaseBusy
from modelmatch.decision.state import DECISION_KEYS, has_decision, parse_decision, with_models
from modelmatch.explore.view_state import MAX_COMPARE_MODELS, MIN_COMPARE_MODELS, CompareState, compare_params, parse_compare
from pages import common, compare_support, decision_flow

PAGE = "compare"
ALL_CATEGORIES = "all categories"
DEFAULT_MODE_LABEL = "each model's default"
# label -> (model ids, score mode or "" for each model's default)
EXAMPLES = {
    "Qwen2.5-72B-Instruct vs DeepSeek-V3": (("Qwen/Qwen2.5-72B-Instruct", "deepseek-ai/DeepSeek-V3"), ""),
    "Qwen3-235B-A22B vs DeepSeek-R1": (("Qwen/Qwen3-235B-A22B", "deepseek-ai/DeepSeek-R1"), ""),
    "2026: Qwen3.5-397B-A17B vs DeepSeek-V3.2": (("Qwen/Qwen3.5-397B-A17B", "deepseek-ai/DeepSeek-V3.2"), ""),
    "2026, newest: Qwen3.5-397B-A17B vs DeepSeek-V4-Pro": (
        ("Qwen/Qwen3.5-397B-A17B", "deepseek-ai/DeepSeek-V4-Pro"), ""),
    # The newest pair with official scores on shared benchmarks in the same mode.
    "Thinking, newest scored: Qwen3-235B-A22B-Thinking-2507 vs DeepSeek-V3.1": (
        ("Qwen/Qwen3-235B-A22B-Thinking-2507", "deepseek-ai/DeepSeek-V3.1"), "thinking"),
    "Small models: Qwen2.5-7B vs Llama-3.1-8B vs R1-Distill-Qwen-7B": ((
        "Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"), ""),
}

st.title("Compare")
st.caption("Pick 2 to 6 models. Cards, a chart of the benchmarks they share, and every score with its setting and "
           "source. Copy the address bar to share this comparison.")

build_id = common.require_catalog()
choices = common.view_choices(build_id)
names = common.display_names(build_id)
today = dt.date.today()
# The widgets the link seeds; when Streamlit drops one (after a visit to another page) the link seeds them again.
SEEDED_KEYS = ("cmp_models", "cmp_category", "cmp_mode", "cmp_price_date")


def seed(params: dict[str, list[str]]) -> list[str]:
    # A link from the wizard or planner also carries the decision; Compare keeps it and passes it on.
    own = {k: v for k, v in params.items() if k not in DECISION_KEYS or k == "models"}
    state, notices = parse_compare(own, choices)
    decision = None
    if has_decision(params):
        decision, decision_notices = parse_decision(params, decision_flow.choices(build_id))
        notices += [n for n in decision_notices if "model" not in n]
    st.session_state.cmp_decision = decision
    st.session_state.cmp_models = list(state.model_ids)
    st.session_state.cmp_category = state.category or ALL_CATEGORIES
    st.session_state.cmp_price_date = state.price_date or today
    st.session_state.cmp_mode = state.mode or DEFAULT_MODE_LABEL
    return notices


common.show_notices(common.sync_from_url(PAGE, seed, SEEDED_KEYS))

pick, cat, mode_box, when = st.columns([4, 1.3, 1.3, 1.2])
pick.multiselect("Models", sorted(names, key=lambda m: names[m].lower()), default=common.shown("cmp_models"),
                 key="cmp_models",
                 format_func=lambda m: names.get(m, m), max_selections=MAX_COMPARE_MODELS,
                 placeholder="Type a model name, e.g. Qwen2.5-72B or DeepSeek-V3")
category_options = [ALL_CATEGORIES, *sorted(choices.categories)]
cat.selectbox("Chart category", category_options, index=common.shown_index("cmp_category", category_options),
              key="cmp_category")
mode_options = [DEFAULT_MODE_LABEL, *scores.MODES]
mode_box.selectbox("Score mode", mode_options, index=common.shown_index("cmp_mode", mode_options), key="cmp_mode",
                   help=scores.MODE_DEFAULT_RULE)
when.date_input("Prices in force on", value=common.shown("cmp_price_date"), key="cmp_price_date")

ss = st.session_state
state = CompareState(model_ids=tuple(ss.cmp_models),
                     category=None if ss.cmp_category == ALL_CATEGORIES else ss.cmp_category,
                     price_date=ss.cmp_price_date if ss.cmp_price_date != today else None,
                     mode=None if ss.cmp_mode == DEFAULT_MODE_LABEL else ss.cmp_mode)
decision = st.session_state.get("cmp_decision")
if decision is not None:
    # The first model picked here is the choice the planner and the summary open on.
    decision = dataclasses.replace(with_models(decision, state.model_ids), plan_model=None)
    common.write_url(PAGE, {**decision_flow.params(decision), **compare_params(state)})
    decision_flow.links(decision, decision_flow.COMPARE, names)
else:
    common.write_url(PAGE, compare_params(state))

if len(state.model_ids) < MIN_COMPARE_MODELS:
    st.info(f"Pick at least {MIN_COMPARE_MODELS} models to compare (up to {MAX_COMPARE_MODELS}). Or start from "
            "one of these:")
    for label, (ids, mode) in EXAMPLES.items():
        if all(i in names for i in ids):
            st.page_link("pages/compare.py", label=label, icon=":material/compare:",
                         query_params={"models": ",".join(ids), **({"mode": mode} if mode else {})})
    st.stop()

view_args = (build_id, tuple(state.model_ids), state.price_date or today, state.mode or "", state.category, today)
view = common.compare_view(*view_args)
st.caption(f"Scores charted in: **{state.mode or DEFAULT_MODE_LABEL}** mode. {scores.MODE_DEFAULT_RULE}")

# Cards: one column per model, same facts in the same order so the eye can run across.
columns = st.columns(len(view.cards))
for column, card in zip(columns, view.cards):
    with column.container(border=True):
        st.subheader(card.title)
        st.caption(card.caption)
        st.metric("Parameters", card.parameters, help="Total parameters as officially stated.")
        if card.active is not None:
            st.caption(card.active)
        st.metric("Context", card.context)
        st.markdown(card.kv_cache)
        st.markdown(card.license)
        if card.license_conditions is not None:
            with st.expander("License conditions"):
                st.write(card.license_conditions)
        if not card.prices:
            st.markdown("**API prices:** none in catalog")
        else:
            with st.expander(f"API prices ({len(card.prices)})", expanded=True):
                for line in card.prices:
                    st.markdown(line)
        st.markdown(card.speed)
        st.caption("How sure: " + common.evidence_line(build_id, card.model_id))
        st.markdown(card.source)

st.subheader("Side by side")
compare_support.draw_side_by_side(view_args)

st.subheader("Benchmarks they share")
shared = view.shared
if shared.empty:
    st.info("These models have no benchmark in common" + (f" in {state.category}" if state.category else "")
            + ". The table below still lists every score each of them has.")
else:
    compare_support.draw_shared_chart(view_args)
    common.chart_downloads(view.chart, "modelmatch-compare", "cmp_chart")
    st.caption(scores.CHARTED_RULE)

st.subheader("Every score")
compare_support.draw_every_score(view_args)
st.caption("Best number per benchmark in green. Text 'no official number' means no official or third-party source "
           "in the catalog reports it.")

st.markdown("**Your evals** — accuracy on your own prompt sets, next to the public numbers above: runs from this "
            "session and runs their authors published (a run is private until then)")
try:
    your_evals = evals.latest_eval_accuracy(tuple(state.model_ids), run_ids=common.visible_eval_runs())
except RunsDatabaseBusy as busy:
    your_evals = None
    st.caption(f"Your eval results cannot be read right now: {busy}")
if your_evals is None:
    pass
elif your_evals.empty:
    st.caption("None of these models has been through one of your eval sets yet.")
    st.page_link("pages/evals.py", label="Run your own eval set", icon=":material/fact_check:")
else:
    shown = your_evals.assign(model=your_evals["model_id"].map(names))
    st.dataframe(shown, hide_index=True, width="stretch", **common.WHOLE_TABLE,
                 column_order=["model", "eval_accuracy", "ci_low", "ci_high", "scored", "languages", "set_name",
                               "endpoint_name", "run_at"],
                 column_config={"eval_accuracy": st.column_config.NumberColumn("Accuracy (%)", format="%.1f"),
                                "ci_low": st.column_config.NumberColumn("95% low", format="%.1f"),
                                "ci_high": st.column_config.NumberColumn("95% high", format="%.1f"),
                                "scored": st.column_config.NumberColumn("Items scored"),
                                "set_name": "Eval set", "endpoint_name": "Endpoint",
                                "run_at": st.column_config.DatetimeColumn("Run at")})
    for _, row in your_evals.iterrows():
        st.page_link("pages/evals.py", label=f"{names.get(row['model_id'], row['model_id'])}: open the eval run",
                     icon=":material/fact_check:", query_params={"run": row["run_id"]})

rows, conflicts = view.score_rows, view.conflicts
official_only = st.toggle("Official numbers only", key="cmp_official_only",
                          help="Only numbers the model's own vendor published (tier official or official-copy); hides "
                               "other vendors' re-measurements and derived, secondary or measured numbers.")
if official_only:
    rows = scores.official_only(rows)
    conflicts = scores.disagreements(rows)
with st.expander(f"All {len(rows)} score rows with setting, provenance and source", expanded=False):
    compare_support.draw_score_rows(view_args, official_only)
common.csv_download("Every score row as CSV", rows, "modelmatch-compare-scores.csv", key="cmp_csv",
                    on_click="ignore", icon=":material/download:")

if not conflicts.empty:
    pairs = conflicts.groupby(["display_name", "benchmark_name"]).ngroups
    with st.expander(f"Sources disagree on {pairs} model × benchmark pair(s)"):
        st.write(scores.CHARTED_RULE)
        shown = ["display_name", "benchmark_name", "value", "mode", "setting", "provenance", "measured_by",
                 "charted", "source_location", "source_url", "as_of"]
        st.dataframe(common.only_shown(conflicts, shown), hide_index=True, width="stretch", **common.WHOLE_TABLE,
                     column_order=shown,
                     column_config={"source_url": st.column_config.LinkColumn("Source", display_text="open"),
                                    "charted": st.column_config.CheckboxColumn("Charted")})

with st.expander("Where every other fact comes from"):
    st.dataframe(view.sources, hide_index=True, width="stretch", **common.WHOLE_TABLE,
                 column_config={"source_url": st.column_config.LinkColumn("Source", display_text="open"),
                                "as_of": st.column_config.DateColumn("As of")})
common.glossary_link()
