"""Memory & cost planner: will a model fit on these GPUs, how fast can it decode, what will a month cost.

Thin page: it collects a PlanRequest, asks modelmatch.planning.planner.plan (the same function the CLI calls) and renders
the PlanResult.
"""

import dataclasses
import json

import pandas as pd
import streamlit as st

from modelmatch.planning.fit import DOES_NOT_FIT, FITS
from modelmatch.planning.plan_text import plan_cli_command, to_jsonable
from modelmatch.planning.request import PlanRequest, UsageProfile, resolve_precision

from modelmatch import settings

from modelmatch.decision.state import DEFAULT_GPU_ID, page_params, parse_decision
from modelmatch.planning.engine_memory import ENGINE_LABELS, ENGINES
from modelmatch.planning.architecture import KV_DTYPES, PlanInputError
from modelmatch.planning.weights import PRECISIONS
from modelmatch.planning.published import published_points
from modelmatch.chat.render import md_text
from pages import common, decide_support, decision_flow

OTHER_DEVICE = "__other__"
PAGE = "planner"
# Opens on a model that fits the shared default hardware (one H100), the same start as the wizard.
DEFAULT_MODEL = "Qwen/Qwen3-32B"
SEEDED_KEYS = ("plan_model", "plan_gpu", "plan_gpus", "plan_context", "plan_batch", "plan_input_mtok",
               "plan_output_mtok", "plan_cached_share", "plan_thinking", "plan_usd_hour")

st.title("Memory & cost planner")
st.caption("Weight and cache memory from the model's real architecture (GQA, sliding-window layers, DeepSeek's MLA and "
           "Sparse Attention, hybrid linear attention), tensor, pipeline and expert parallelism, the serving engine's "
           "predicted peak held against published measurements, a decode roofline next to measured speed, and API "
           "versus self-hosting cost. Every formula is shown with its numbers.")

build_id = common.require_catalog()
catalog = decide_support.decision_catalog(build_id)
open_models = [m for m in catalog.models.values() if m.open_weights]
if not open_models:
    st.info("The catalog has no open-weights model to plan for yet. Add one under data/models (see the Data page).")
    st.stop()
model_ids = [m.model_id for m in open_models]

gpu_ids = list(catalog.gpus) + [OTHER_DEVICE]
names = {m.model_id: m.display_name for m in catalog.models.values()}


def seed(url: dict[str, list[str]]) -> list[str]:
    """Widgets from the link's decision: the wizard's hardware, context and volume arrive here unchanged."""
    state, notices = parse_decision(url, decision_flow.choices(build_id))
    notices += [f"Ignored unknown parameter '{k}' in the link." for k in page_params(url)]
    default_model = DEFAULT_MODEL if DEFAULT_MODEL in model_ids else model_ids[0]
    wanted = state.plan_model or state.choice
    raw = (url.get("model") or [None])[0]
    if wanted in model_ids:
        default_model = wanted
    elif wanted or raw:
        notices.append(f"The link asks for model '{md_text(wanted or raw, 80)}', which is not an open-weights model in the "
                       f"catalog; showing {catalog.models[default_model].display_name} instead.")
    ss = st.session_state
    ss.plan_decision = state
    ss.plan_model = default_model
    ss.plan_gpu = state.gpu if state.gpu in catalog.gpus else (DEFAULT_GPU_ID if DEFAULT_GPU_ID in catalog.gpus
                                                                 else gpu_ids[0])
    ss.plan_gpus, ss.plan_context, ss.plan_batch = state.gpu_count, state.context_tokens, state.concurrent_sequences
    ss.plan_input_mtok, ss.plan_output_mtok, ss.plan_usd_hour = (state.input_mtok, state.output_mtok,
                                                                 state.gpu_usd_per_hour)
    ss.plan_cached_share, ss.plan_thinking = state.cached_share, state.thinking_ratio
    return notices


common.show_notices(common.sync_from_url(PAGE, seed, SEEDED_KEYS))

left, right = st.columns(2)
with left:
    st.subheader("Model and workload")
    model_id = st.selectbox("Model", model_ids, index=common.shown_index("plan_model", model_ids),
                            format_func=lambda m: f"{catalog.models[m].display_name} ({m})", key="plan_model")
    weights = st.selectbox("Weight precision", list(PRECISIONS), format_func=lambda p: PRECISIONS[p].label,
                           index=list(PRECISIONS).index("fp8"), key="plan_weights",
                           help="How the weights are stored. Hover the result's formula to see the bits per weight.")
    kv_dtype = st.selectbox("KV-cache dtype", list(KV_DTYPES), key="plan_kv_dtype",
                            help="fp8 halves the KV cache (vLLM --kv-cache-dtype fp8).")
    context = st.number_input("Context per sequence (tokens, prompt + output)", min_value=1, step=1024,
                              value=common.shown("plan_context"), key="plan_context")
    batch = st.number_input("Concurrent sequences", min_value=1, step=1, value=common.shown("plan_batch"),
                            key="plan_batch")
with right:
    st.subheader("Hardware")
    gpu_choice = st.selectbox("GPU", gpu_ids, index=common.shown_index("plan_gpu", gpu_ids), key="plan_gpu",
                              format_func=lambda g: "Other device (enter its memory)" if g == OTHER_DEVICE
                              else f"{catalog.gpus[g].name} ({catalog.gpus[g].memory_gb:g} GB)")
    custom_memory = None
    if gpu_choice == OTHER_DEVICE:
        custom_memory = st.number_input("Device memory (GB) — your input", min_value=0.1, value=24.0,
                                        key="plan_custom_memory")
    gpu_count = st.number_input("Number of GPUs (tensor parallel)", min_value=1, max_value=1024, step=1,
                                value=common.shown("plan_gpus"), key="plan_gpus",
                                help="Weights and KV heads are split across them; their memories are never simply "
                                     "added up.")
    with st.expander("Assumptions you can change"):
        utilization = st.slider("Engine memory utilization", 0.5, 1.0, settings.planner_gpu_memory_utilization(),
                                0.01, key="plan_utilization",
                                help="Share of each GPU the serving engine may use (vLLM's --gpu-memory-utilization).")
        reserve = st.number_input("Runtime reserve per GPU (GB)", min_value=0.0,
                                  value=settings.planner_runtime_reserve_gb(), step=0.5, key="plan_reserve",
                                  help="Activations, CUDA graphs and the runtime: an assumption, not a measurement.")
        bandwidth = st.number_input("Memory bandwidth (GB/s) — your input, only if you trust a figure", min_value=0.0,
                                    value=None, key="plan_bandwidth",
                                    help="Used for the roofline when the catalog has no official bandwidth; "
                                         "labelled as yours wherever it is used.")
    engine = st.selectbox("Serving engine", list(ENGINES), format_func=lambda e: ENGINE_LABELS[e], key="plan_engine",
                          help="vLLM and SGLang take their share of each GPU at start; transformers allocates the "
                               "weights, the cache of the tokens in use and the prompt's activations as it goes.")
    with st.expander("Parallelism and extra weights"):
        pipeline = st.number_input("Pipeline stages (GPUs = tensor parallel × stages)", min_value=1, max_value=1024,
                                   value=1, step=1, key="plan_pipeline",
                                   help="Each stage holds its share of the layers and their cache. transformers "
                                        "always splits layers over its GPUs (device_map=auto).")
        expert_parallel = st.checkbox("Expert parallel (MoE: routed experts split over the GPUs, attention "
                                      "replicated)", key="plan_expert_parallel")
        include_mtp = st.checkbox("Load the multi-token-prediction module (MTP speculative decoding)",
                                  key="plan_mtp")
    compare = st.multiselect("Compare KV cache with", [m for m in model_ids if m != model_id], key="plan_compare",
                             format_func=lambda m: catalog.models[m].display_name)

st.subheader("Monthly volume and prices")
c1, c2, c3, c4, c5 = st.columns(5)
input_mtok = c1.number_input("Input tokens / month (M)", min_value=0.0, value=common.shown("plan_input_mtok"),
                             key="plan_input_mtok")
output_mtok = c2.number_input("Output tokens / month (M)", min_value=0.0, value=common.shown("plan_output_mtok"),
                              key="plan_output_mtok")
cached_share = c3.slider("Cached share of input", 0.0, 1.0, common.shown("plan_cached_share"), step=0.05,
                         key="plan_cached_share",
                         help="Share of input tokens the provider serves from its prompt cache.")
thinking = c4.number_input("Thinking tokens per output token", min_value=0.0, step=0.5,
                           value=common.shown("plan_thinking"), key="plan_thinking",
                           help="Reasoning models only: billed and generated like output.")
usd_per_hour = c5.number_input("Your GPU price (USD per GPU-hour)", min_value=0.0, value=common.shown("plan_usd_hour"),
                               key="plan_usd_hour",
                               help="Rental prices are not in the catalog: enter your quote to see self-hosting cost.")

request = PlanRequest(
    model_id=model_id, weights=weights, kv_dtype=kv_dtype, context_tokens=int(context),
    concurrent_sequences=int(batch), gpu=None if gpu_choice == OTHER_DEVICE else gpu_choice,
    gpu_count=int(gpu_count), custom_gpu_memory_gb=custom_memory, gpu_bandwidth_gbps=bandwidth or None,
    gpu_usd_per_hour=usd_per_hour or None, gpu_memory_utilization=float(utilization),
    runtime_reserve_gb=float(reserve),
    usage=UsageProfile(float(input_mtok), float(output_mtok), float(cached_share), float(thinking)),
    compare_model_ids=tuple(compare), engine=engine, pipeline_parallel=int(pipeline),
    expert_parallel=bool(expert_parallel), include_mtp=bool(include_mtp))

# The decision as this page now shows it (the wizard's other answers pass through untouched), in the URL and in
# the links to the other steps.
decision = dataclasses.replace(
    st.session_state.get("plan_decision") or parse_decision({}, decision_flow.choices(build_id))[0],
    gpu=None if gpu_choice == OTHER_DEVICE else gpu_choice, gpu_count=int(gpu_count), context_tokens=int(context),
    concurrent_sequences=int(batch), input_mtok=float(input_mtok), output_mtok=float(output_mtok),
    cached_share=float(cached_share), thinking_ratio=float(thinking), gpu_usd_per_hour=usd_per_hour or None,
    plan_model=model_id)
if model_id not in decision.models:
    decision = dataclasses.replace(decision, models=(model_id, *decision.models)[:6])
common.write_url(PAGE, decision_flow.params(decision))
decision_flow.links(decision, decision_flow.PLANNER, names)

try:
    result = decide_support.plan(build_id, request)
except PlanInputError as problem:
    st.error(f"Cannot plan this: {problem}")
    st.stop()

mem = result.memory
st.divider()
{FITS: st.success, DOES_NOT_FIT: st.error}.get(mem.verdict, st.warning)(mem.verdict_text)
evidence_gpu = None if gpu_choice == OTHER_DEVICE else gpu_choice
st.caption("How sure: " + common.evidence_line(build_id, model_id, evidence_gpu)
           + " (the weakest provenance tier among the numbers each result uses; see Glossary).")
m1, m2, m3, m4 = st.columns(4)
m1.metric("Weights per GPU", f"{mem.weights_per_gpu_gb:,.1f} GB",
          help=f"{mem.weights_formula}" + (" — a lower bound" if mem.weights_lower_bound else ""))
m2.metric("KV cache per GPU", "unknown" if mem.kv_cache_per_gpu_gb is None else f"{mem.kv_cache_per_gpu_gb:,.2f} GB",
          help=mem.kv_cache_formula)
m3.metric("Overhead per GPU", f"{mem.overhead_per_gpu_gb:,.1f} GB", help=mem.overhead_formula)
m4.metric(f"Total per GPU (of {mem.gpu_memory_gb:g} GB)",
          "unknown" if mem.total_per_gpu_gb is None else f"{mem.total_per_gpu_gb:,.1f} GB",
          delta=None if mem.margin_gb is None else f"{mem.margin_gb:+,.1f} GB", delta_color="normal")
st.metric(f"Predicted peak per GPU ({mem.engine})", "unknown" if mem.peak_gb is None else
          f"{mem.peak_gb:,.1f} GB" + (" or more" if mem.peak_lower_bound else ""), help=mem.peak_formula)
st.write(mem.limits_text)

st.markdown("**How it is computed**")
for part, formula in (("KV cache per token", mem.kv.formula), ("KV cache", mem.kv_cache_formula),
                      ("Weights", mem.weights_formula), ("Overhead", mem.overhead_formula),
                      ("Peak", mem.peak_formula)):
    st.markdown(f"- {part}: `{formula}`")
st.caption(f"Attention: {mem.attention_kind}; {mem.parallelism}; engine {ENGINE_LABELS[mem.engine]}.")

st.subheader("Predicted against published")
st.write(result.published_status)
model_points = published_points(catalog, (model_id,))
same_format = [p for p in model_points if p.precision == resolve_precision(weights)]
model_points = same_format or model_points  # the chosen weight format's points; all of them when it has none
if model_points:
    st.dataframe(pd.DataFrame([{"weights": p.precision, "engine": f"{p.engine} {p.engine_version}",
                                "GPUs": p.gpu_count,
                                "hardware": p.hardware, "input tokens": p.input_len,
                                "published GB": p.published_gb, "scope": p.scope, "predicted GB": p.predicted_gb,
                                "predicted ÷ published": p.ratio, "complete": not p.lower_bound,
                                "source": p.source_url} for p in model_points]),
                 hide_index=True, width="stretch", **common.WHOLE_TABLE,
                 column_config={"predicted ÷ published": st.column_config.NumberColumn(format="%.2f"),
                                "source": st.column_config.LinkColumn(display_text="published table")})
    st.caption("Each prediction is for exactly the published configuration (batch 1, the published prompt + 2,048 "
               "generated tokens): the transformers peak, or, where the scope is end-of-generation (figures that "
               "hold no prefill transient), weights + the cache of prompt and generated tokens; a row that is not "
               "complete is a lower bound because the catalog lacks an architecture number. "
               "`python -m bench.published_memory` prints every point.")

st.subheader("KV cache against context")
if result.kv_curve:
    st.vega_lite_chart(decide_support.kv_curve_spec(build_id, request), width="stretch")
    st.caption("Everything one sequence keeps: sliding-window layers stop growing at their window, hybrid "
               "linear-attention models carry a fixed state (the flat part at short contexts) and grow only on their "
               "full-attention layers, DeepSeek Sparse Attention adds its indexer keys.")
for line in result.kv_curve_missing:
    st.caption(f"Not charted — {line}")

st.subheader("Speed (decoding)")
speed = result.speed
s1, s2 = st.columns(2)
s1.metric("Roofline, one sequence", "—" if speed.batch1.tokens_per_s is None else
          f"{speed.batch1.tokens_per_s:,.0f} tokens/s", help="An upper bound: bandwidth ÷ bytes read per token.")
s2.metric(f"Roofline, {mem.concurrent_sequences} sequence{'s' if mem.concurrent_sequences > 1 else ''} together",
          "—" if speed.at_concurrency.tokens_per_s is None else f"{speed.at_concurrency.tokens_per_s:,.0f} tokens/s")
st.caption(f"One sequence: {speed.batch1.formula}")
if mem.concurrent_sequences > 1:
    st.caption(f"{mem.concurrent_sequences} sequences: {speed.at_concurrency.formula}")
st.write(speed.measured_status)
if speed.measurements:
    st.dataframe(pd.DataFrame([vars(m) for m in speed.measurements]), hide_index=True, width="stretch", **common.WHOLE_TABLE,
                 column_order=["run_id", "engine", "hardware", "gpu_count", "precision", "concurrency",
                               "output_tokens_per_s", "roofline_tokens_per_s", "measured_to_roofline_ratio",
                               "comparison", "measured_at"],
                 column_config={"measured_to_roofline_ratio": st.column_config.NumberColumn("measured ÷ roofline",
                                                                                            format="percent")})
for note in speed.notes:
    st.caption(note)

st.subheader("Cost per month")
cost = result.cost
st.write(cost.api_status)
if cost.api:
    st.dataframe(pd.DataFrame([vars(a) for a in cost.api]), hide_index=True, width="stretch", **common.WHOLE_TABLE,
                 column_order=["provider", "provider_model", "tier", "effective_from", "input_usd_per_mtok",
                               "cached_input_usd_per_mtok", "output_usd_per_mtok", "usd_per_month", "formula",
                               "source_url"],
                 column_config={"usd_per_month": st.column_config.NumberColumn("USD / month", format="$%.2f"),
                                "effective_from": st.column_config.TextColumn("price effective from"),
                                "source_url": st.column_config.LinkColumn("source", display_text="pricing page")})
st.markdown(f"**Self-hosting:** {cost.self_host_status}")
if cost.self_host:
    for note in cost.self_host.notes:
        st.caption(note)
for be in cost.break_even:
    st.write(f"• {be.text}")

if result.notes:
    st.subheader("Notes and assumptions")
    for note in result.notes:
        st.write(f"- {note}")

st.divider()
st.caption("The same plan from the command line (prints exactly these numbers):")
st.code(plan_cli_command(request), language="bash")
# Written when clicked, not on every rerun (as the chart and CSV downloads).
how_sure = common.evidence_jsonable(build_id, model_id, evidence_gpu)
st.download_button("Download this plan (JSON)",
                   lambda: json.dumps({**to_jsonable(result), "how_sure": how_sure}, indent=2).encode(),
                   "modelmatch-plan.json", "application/json", on_click="ignore")
