"""Recommendation wizard: describe the job, get a ranked shortlist with every reason, and why not for the rest.

Thin page: it collects a WizardRequest, asks modelmatch.planning.wizard.recommend.recommend (the same function the
CLI calls) and renders the RecommendResult.
"""

import json

import pyarrow as pa
import streamlit as st

from modelmatch.catalog import languages as language_names
from modelmatch.planning.plan_text import to_jsonable
from modelmatch.planning.request import UsageProfile
from modelmatch.planning.wizard.modes import WIZARD_MODE_RULE
from modelmatch.planning.wizard.request import use_cases
from modelmatch.planning.wizard.text import recommend_cli_command
from modelmatch import settings
from modelmatch.decision.state import DEFAULT_GPU_ID, DecisionState, page_params, parse_decision, with_models
from modelmatch.decision.summary import language_evidence, wizard_request
from modelmatch.planning.architecture import PlanInputError
from modelmatch.planning.weights import PRECISION_QUALITY_ORDER, PRECISIONS
from pages import common, decide_support, decision_flow

OTHER_DEVICE = "__other__"
PAGE = "wizard"
SEEDED_KEYS = ("wiz_use_cases", "wiz_languages", "wiz_deployment", "wiz_gpu", "wiz_gpus", "wiz_context",
               "wiz_concurrency", "wiz_input_mtok", "wiz_output_mtok", "wiz_cached_share", "wiz_thinking",
               "wiz_latency", "wiz_usd_hour", "wiz_budget", "wiz_commercial", "wiz_over_100m", "wiz_attribution")
DEPLOYMENT_LABELS = {"either": "Either (cheapest that fits)", "self-host": "Self-host on my GPUs", "api": "API only"}

st.title("Recommendation wizard")
st.caption("Hard requirements exclude a model (each with its reason); the rest are ranked by a transparent score: "
           "per use case, weights over raw benchmark categories plus cost and speed. Missing data lowers "
           "confidence and is said, never counted as zero.")

build_id = common.require_catalog()
catalog = decide_support.decision_catalog(build_id)
cases = use_cases(catalog)
if not cases:
    st.info("The catalog has no use-case weights yet: add data/use_case_weights/*.csv (see data/README.md).")
    st.stop()
gpu_ids = list(catalog.gpus) + [OTHER_DEVICE]
names = {m.model_id: m.display_name for m in catalog.models.values()}


def seed(url: dict[str, list[str]]) -> list[str]:
    """Widgets from the link's decision (the same state the planner, Compare and the summary read)."""
    state, notices = parse_decision(url, decision_flow.choices(build_id))
    notices += [f"Ignored unknown parameter '{k}' in the link." for k in page_params(url)]
    ss = st.session_state
    ss.wiz_use_cases = list(state.use_cases) or (["general-chat"] if "general-chat" in cases else [next(iter(cases))])
    ss.wiz_languages = ", ".join(state.languages)
    ss.wiz_deployment = state.deployment
    ss.wiz_gpu = state.gpu if state.gpu in catalog.gpus else (DEFAULT_GPU_ID if DEFAULT_GPU_ID in catalog.gpus
                                                                else gpu_ids[0])
    ss.wiz_gpus, ss.wiz_context, ss.wiz_concurrency = state.gpu_count, state.context_tokens, state.concurrent_sequences
    ss.wiz_input_mtok, ss.wiz_output_mtok = state.input_mtok, state.output_mtok
    ss.wiz_cached_share, ss.wiz_thinking, ss.wiz_latency = (state.cached_share, state.thinking_ratio,
                                                             state.min_tokens_per_s)
    ss.wiz_usd_hour, ss.wiz_budget = state.gpu_usd_per_hour, state.budget_usd_per_month
    ss.wiz_commercial, ss.wiz_over_100m, ss.wiz_attribution = (state.commercial_use, state.over_100m_users,
                                                               state.attribution_ok)
    ss.wiz_chosen_models = state.models
    return notices


common.show_notices(common.sync_from_url(PAGE, seed, SEEDED_KEYS))

st.subheader("The job")
j1, j2 = st.columns([2, 1])
chosen = j1.multiselect("Use case(s)", list(cases), format_func=lambda u: cases[u].label,
                        default=common.shown("wiz_use_cases"), key="wiz_use_cases")
languages_text = j2.text_input("Languages that must be served", placeholder="e.g. Thai, Vietnamese or th, vi",
                               value=common.shown("wiz_languages"), key="wiz_languages",
                               help="Comma-separated names or ISO 639-1 codes (th, vi). Checked against each "
                                    "model's official language note; a language not named there is flagged.")
k1, k2, k3 = st.columns(3)
context = k1.number_input("Context needed (tokens)", min_value=1, step=1024, value=common.shown("wiz_context"),
                          key="wiz_context")
concurrency = k2.number_input("Sequences served at once", min_value=1, step=1,
                              value=common.shown("wiz_concurrency"), key="wiz_concurrency")
latency = k3.number_input("Latency target: tokens/s per user (optional)", min_value=0.0,
                          value=common.shown("wiz_latency"), key="wiz_latency",
                          help="Decode speed each user should see. Excludes a model only when even its bandwidth "
                               "roofline (an upper bound) is below it.")

st.subheader("Deployment")
d1, d2, d3, d4 = st.columns(4)
deployment = d1.radio("Deployment", list(DEPLOYMENT_LABELS), format_func=DEPLOYMENT_LABELS.get,
                      index=common.shown_index("wiz_deployment", list(DEPLOYMENT_LABELS)), key="wiz_deployment")
gpu_choice = d2.selectbox("GPU", gpu_ids, index=common.shown_index("wiz_gpu", gpu_ids), key="wiz_gpu",
                          format_func=lambda g: "Other device (enter its memory)" if g == OTHER_DEVICE
                          else f"{catalog.gpus[g].name} ({catalog.gpus[g].memory_gb:g} GB)",
                          disabled=deployment == "api")
custom_memory = None
if gpu_choice == OTHER_DEVICE:
    custom_memory = d2.number_input("Device memory (GB) — your input", min_value=0.1, value=8.0,
                                    key="wiz_custom_memory")
gpu_count = d3.number_input("GPUs", min_value=1, max_value=1024, step=1, value=common.shown("wiz_gpus"),
                            key="wiz_gpus", disabled=deployment == "api")
usd_per_hour = d4.number_input("Your GPU price (USD per GPU-hour)", min_value=0.0,
                               value=common.shown("wiz_usd_hour"), key="wiz_usd_hour", disabled=deployment == "api",
                               help="Not in the catalog: enter your quote to compare self-hosting cost.")

st.subheader("Volume, budget and license")
v1, v2, v3, v4, v5 = st.columns(5)
input_mtok = v1.number_input("Input tokens / month (M)", min_value=0.0, value=common.shown("wiz_input_mtok"),
                             key="wiz_input_mtok")
output_mtok = v2.number_input("Output tokens / month (M)", min_value=0.0, value=common.shown("wiz_output_mtok"),
                              key="wiz_output_mtok")
cached_share = v3.slider("Cached share of input", 0.0, 1.0, common.shown("wiz_cached_share"), step=0.05,
                         key="wiz_cached_share")
thinking = v4.number_input("Thinking tokens per output token", min_value=0.0, step=0.5,
                           value=common.shown("wiz_thinking"), key="wiz_thinking",
                           help="Reasoning models spend these before answering; billed as output.")
budget = v5.number_input("Budget (USD / month, optional)", min_value=0.0, value=common.shown("wiz_budget"),
                         key="wiz_budget")
MODE_LABELS = {"": "each model's default", "thinking": "thinking", "non-thinking": "non-thinking"}
score_mode = st.radio("Rank hybrid models on their", list(MODE_LABELS), format_func=MODE_LABELS.get,
                      key="wiz_score_mode", horizontal=True, help=WIZARD_MODE_RULE)
st.caption(WIZARD_MODE_RULE)
l1, l2, l3 = st.columns(3)
commercial = l1.checkbox("Commercial use", value=common.shown("wiz_commercial"), key="wiz_commercial")
over_100m = l2.checkbox("More than 100M monthly active users", value=common.shown("wiz_over_100m"),
                        key="wiz_over_100m")
attribution_ok = l3.checkbox("Attribution (crediting the model) is acceptable",
                             value=common.shown("wiz_attribution"), key="wiz_attribution")

with st.expander("More options"):
    o1, o2, o3 = st.columns(3)
    image = o1.selectbox("Image input", ["auto", "required", "not required"], key="wiz_image",
                         help="auto: required for the multimodal-agents use case")
    base = o2.selectbox("Base (not instruction-tuned) models", ["auto", "include", "exclude"], key="wiz_base",
                        help="auto: included for the fine-tuning use case")
    top_n = o3.number_input("Shortlist length", min_value=1, max_value=100, value=10, key="wiz_top")
    precisions = st.multiselect("Weight precisions allowed for self-hosting", list(PRECISION_QUALITY_ORDER),
                                default=list(PRECISION_QUALITY_ORDER), format_func=lambda p: PRECISIONS[p].label,
                                key="wiz_precisions")
    p1, p2 = st.columns(2)
    utilization = p1.slider("Engine memory utilization", 0.5, 1.0, settings.planner_gpu_memory_utilization(), 0.01,
                            key="wiz_utilization")
    reserve = p2.number_input("Runtime reserve per GPU (GB)", min_value=0.0,
                              value=settings.planner_runtime_reserve_gb(), step=0.5, key="wiz_reserve")
    bandwidth = st.number_input("Memory bandwidth (GB/s) — your input, only if you trust a figure", min_value=0.0,
                                value=None, key="wiz_bandwidth",
                                help="For the speed roofline when the catalog has no official bandwidth.")

# Names and ISO codes ("th, vi") both work; a value that is neither is said by the recommendation below.
language_list, _ = language_names.parse_list(languages_text)
decision = DecisionState(
    use_cases=tuple(chosen), languages=tuple(language_list), deployment=deployment,
    gpu=gpu_choice if gpu_choice != OTHER_DEVICE else None, gpu_count=int(gpu_count), context_tokens=int(context),
    concurrent_sequences=int(concurrency), input_mtok=float(input_mtok), output_mtok=float(output_mtok),
    cached_share=float(cached_share), thinking_ratio=float(thinking), min_tokens_per_s=latency or None,
    gpu_usd_per_hour=usd_per_hour or None, budget_usd_per_month=budget, commercial_use=bool(commercial),
    over_100m_users=bool(over_100m), attribution_ok=bool(attribution_ok),
    models=tuple(st.session_state.get("wiz_chosen_models", ())))
common.write_url(PAGE, decision_flow.params(decision))

if not chosen:
    st.info("Choose at least one use case to get a recommendation.")
    st.stop()

self_hosting = deployment != "api"
request = wizard_request(
    decision, languages=tuple(x.strip() for x in languages_text.split(",") if x.strip()),
    gpu=gpu_choice if self_hosting and gpu_choice != OTHER_DEVICE else None,
    custom_gpu_memory_gb=custom_memory if self_hosting else None,
    gpu_bandwidth_gbps=(bandwidth or None) if self_hosting else None,
    usage=UsageProfile(float(input_mtok), float(output_mtok), float(cached_share), float(thinking)),
    min_tokens_per_s=latency or None,
    needs_image_input={"auto": None, "required": True, "not required": False}[image],
    include_base_models={"auto": None, "include": True, "exclude": False}[base],
    precisions=tuple(precisions), gpu_memory_utilization=float(utilization), runtime_reserve_gb=float(reserve),
    top_n=int(top_n), score_mode=score_mode)

try:
    result = decide_support.recommendation(build_id, request)
except PlanInputError as problem:
    st.error(f"Cannot recommend: {problem}")
    st.stop()

st.divider()
weights_text = ", ".join(f"{c} {w:.0%}" for c, w in result.weights)
st.markdown(f"**{' + '.join(result.use_case_labels)}** — weights: {weights_text}")
for assumption in result.assumptions:
    st.info(assumption)

st.subheader("Shortlist")
if not result.shortlist:
    st.error("No model meets every hard requirement. The reasons for each are below; the what-if table shows "
             "which change would let models in.")
else:
    rows = [{
        "rank": c.rank, "model": c.display_name, "model_id": c.model_id,
        "score": c.score, "coverage": c.coverage, "confidence": c.confidence,
        "deployment": c.deployment.text.split(";")[0], "usd_per_month": c.deployment.usd_per_month,
        "tokens_per_s": c.deployment.tokens_per_s_per_sequence,
        "unverified": "; ".join(sorted({u.requirement for u in c.unverified})),
    } for c in result.shortlist]
    st.dataframe(pa.Table.from_pylist(rows), hide_index=True, width="stretch", **common.WHOLE_TABLE,
                 column_order=["rank", "model", "score", "coverage", "confidence", "usd_per_month", "tokens_per_s",
                               "unverified", "deployment"], column_config={
        "score": st.column_config.ProgressColumn("score", min_value=0.0, max_value=1.0, format="%.3f"),
        "coverage": st.column_config.NumberColumn("coverage", format="percent",
                                                  help="Share of the weight that has data for this model."),
        "usd_per_month": st.column_config.NumberColumn("USD / month", format="$%.0f"),
        "tokens_per_s": st.column_config.NumberColumn("tokens/s per user", format="%.0f",
                                                      help="Measured, or the bandwidth roofline (an upper bound)."),
        "unverified": st.column_config.TextColumn("cannot confirm", help="Requirements the catalog cannot confirm."),
    })
    if result.other_eligible:
        st.caption(f"{len(result.other_eligible)} more model(s) meet the requirements but rank lower.")
    st.caption(result.ranking_rule)

    # The answer: the chosen model (the person's pick if it is shortlisted, else the top one) and the runner-up,
    # with the rest of the decision carried to the planner, Compare and the one-page summary.
    listed = [c.model_id for c in result.shortlist]
    picked = [m for m in decision.models if m in listed]
    choice_id = picked[0] if picked else listed[0]
    runner_id = next((m for m in picked[1:] + listed if m != choice_id), None)
    flow_state = with_models(decision, [choice_id] + ([runner_id] if runner_id else []))
    st.success(f"**Choice: {names.get(choice_id, choice_id)}**"
               + (f" · runner-up: {names.get(runner_id, runner_id)}" if runner_id else "")
               + ". Take it to the planner, compare it, or open the one-page decision summary:")
    decision_flow.model_links(flow_state, choice_id, runner_id, names)
    for evidence in language_evidence(catalog, decision.languages, tuple(listed)):
        (st.caption if evidence.found else st.warning)(evidence.text)

    # Each card runs only while it is open (on_change="rerun": opening one reruns the page): every card's tables,
    # evidence line and links were drawn on each rerun, most of the wizard's warm rerun.
    for c in result.shortlist:
        score = "not scored" if c.score is None else f"score {c.score:.3f}"
        card = st.expander(f"{c.rank}. {c.display_name} — {score}, coverage {c.coverage:.0%}, "
                           f"confidence {c.confidence}", key=f"wiz_card_{c.model_id}", on_change="rerun")
        if not card.open:
            continue
        with card:
            st.markdown(f"**Assumed deployment:** {c.deployment.text}")
            st.caption("How sure: " + common.evidence_line(
                build_id, c.model_id, None if gpu_choice == OTHER_DEVICE else gpu_choice))
            if c.deployment.cost_text:
                st.markdown(f"**Cost:** {c.deployment.cost_text}")
            st.markdown(f"**Speed:** {c.deployment.speed_text}")
            if c.alternative is not None:
                alt_cost = ("unknown cost" if c.alternative.usd_per_month is None
                            else f"${c.alternative.usd_per_month:,.0f} per month")
                st.caption(f"Alternative: {c.alternative.text} ({alt_cost})")
            terms = pa.Table.from_pylist([{"term": t.category, "weight": t.weight, "value": t.value,
                                           "contribution": t.contribution, "how": t.how} for t in c.terms])
            st.dataframe(terms, hide_index=True, width="stretch", **common.WHOLE_TABLE, column_config={
                "weight": st.column_config.NumberColumn(format="percent"),
                "value": st.column_config.NumberColumn("normalized value", format="%.2f"),
                "contribution": st.column_config.NumberColumn(format="%.3f"),
                "how": st.column_config.TextColumn("how it was computed", width="large")})
            evidence = [{"category": t.category, "benchmark": e.name, "value": e.value, "setting": e.setting,
                         "provenance": e.provenance, "catalog range": f"{e.catalog_lowest:g}–{e.catalog_highest:g} "
                                                                      f"({e.catalog_models} models)",
                         "normalized": e.normalized, "other rows": e.other_rows, "source": e.source_url}
                        for t in c.terms for e in t.evidence]
            if evidence:
                st.dataframe(pa.Table.from_pylist(evidence), hide_index=True, width="stretch", **common.WHOLE_TABLE,
                             column_config={"normalized": st.column_config.NumberColumn(format="%.2f"),
                                            "source": st.column_config.LinkColumn(display_text="source")})
            for u in c.unverified:
                st.warning(f"Cannot confirm {u.requirement}: {u.detail}")
            if c.confirmed:
                st.caption("Confirmed: " + "; ".join(c.confirmed))
            other = choice_id if c.model_id != choice_id else runner_id
            decision_flow.model_links(decision, c.model_id, other, names)

st.subheader(f"Why not: {len(result.excluded)} excluded")
if result.excluded:
    st.dataframe(pa.Table.from_pylist([{"model": e.display_name, "model_id": e.model_id,
                                        "why not": "; ".join(e.reasons)} for e in result.excluded]),
                 hide_index=True, width="stretch", **common.WHOLE_TABLE, column_order=["model", "why not"],
                 column_config={"why not": st.column_config.TextColumn(width="large")})

if result.sensitivity:
    st.subheader("What would change the answer")
    st.dataframe(pa.Table.from_pylist([{"if": s.label, "eligible": s.eligible, "top pick": s.top_display_name,
                                        "what changes": s.text} for s in result.sensitivity]),
                 hide_index=True, width="stretch", **common.WHOLE_TABLE,
                 column_config={"what changes": st.column_config.TextColumn(width="large")})

with st.expander("Why these weights (data/use_case_weights)"):
    st.dataframe(pa.Table.from_pylist([{"use case": cases[u].label, "category": cat, "weight": w, "why": why}
                                       for u in chosen for cat, w, why in cases[u].weights]),
                 hide_index=True, width="stretch", **common.WHOLE_TABLE,
                 column_config={"weight": st.column_config.NumberColumn(format="%.2f"),
                                "why": st.column_config.TextColumn(width="large")})

st.divider()
st.caption("The same recommendation from the command line (prints exactly this result):")
st.code(recommend_cli_command(request), language="bash")
# Written when clicked, not on every rerun (as the chart and CSV downloads).
st.download_button("Download this recommendation (JSON)", lambda: json.dumps(to_jsonable(result), indent=2).encode(),
                   "modelmatch-recommendation.json", "application/json", on_click="ignore")
