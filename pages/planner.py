"""Memory & cost planner: will a model fit on these GPUs, how fast can it decode, what will a month cost.

Thin page: it collects a PlanRequest, asks modelmatch.planner.plan (the same function the CLI calls) and renders
the PlanResult.
"""

import json

import altair as alt
import pandas as pd
import streamlit as st

from modelmatch import planner, settings
from modelmatch.memory import KV_DTYPES, PRECISIONS, PlanInputError
from modelmatch.render import md_text
from pages import common, decide_support

OTHER_DEVICE = "__other__"

st.title("Memory & cost planner")
st.caption("Weight and KV-cache memory from the model's real architecture (GQA or DeepSeek's MLA), tensor "
           "parallelism that splits weights and KV heads, a decode roofline next to measured speed, and API versus "
           "self-hosting cost. Every formula is shown with its numbers.")

build_id = common.require_catalog()
catalog = decide_support.decision_catalog(build_id)
open_models = [m for m in catalog.models.values() if m.open_weights]
if not open_models:
    st.info("The catalog has no open-weights model to plan for yet. Add one under data/models (see the Data page).")
    st.stop()
model_ids = [m.model_id for m in open_models]

wanted = st.query_params.get("model")
default_model = "deepseek-ai/DeepSeek-V3" if "deepseek-ai/DeepSeek-V3" in model_ids else model_ids[0]
if wanted:
    if wanted in model_ids:
        default_model = wanted
    else:
        st.warning(f"The link asks for model '{md_text(wanted, 80)}', which is not an open-weights model in the "
                   f"catalog; showing {catalog.models[default_model].display_name} instead.")

left, right = st.columns(2)
with left:
    st.subheader("Model and workload")
    model_id = st.selectbox("Model", model_ids, index=model_ids.index(default_model),
                            format_func=lambda m: f"{catalog.models[m].display_name} ({m})", key="plan_model")
    weights = st.selectbox("Weight precision", list(PRECISIONS), format_func=lambda p: PRECISIONS[p].label,
                           index=list(PRECISIONS).index("fp8"), key="plan_weights",
                           help="How the weights are stored. Hover the result's formula to see the bits per weight.")
    kv_dtype = st.selectbox("KV-cache dtype", list(KV_DTYPES), key="plan_kv_dtype",
                            help="fp8 halves the KV cache (vLLM --kv-cache-dtype fp8).")
    context = st.number_input("Context per sequence (tokens, prompt + output)", min_value=1, value=32768, step=1024,
                              key="plan_context")
    batch = st.number_input("Concurrent sequences", min_value=1, value=8, step=1, key="plan_batch")
with right:
    st.subheader("Hardware")
    gpu_ids = list(catalog.gpus) + [OTHER_DEVICE]
    gpu_choice = st.selectbox("GPU", gpu_ids, key="plan_gpu",
                              index=gpu_ids.index("h200-sxm") if "h200-sxm" in gpu_ids else 0,
                              format_func=lambda g: "Other device (enter its memory)" if g == OTHER_DEVICE
                              else f"{catalog.gpus[g].name} ({catalog.gpus[g].memory_gb:g} GB)")
    custom_memory = None
    if gpu_choice == OTHER_DEVICE:
        custom_memory = st.number_input("Device memory (GB) — your input", min_value=0.1, value=24.0,
                                        key="plan_custom_memory")
    # The default plan is the example (DeepSeek-V3 in FP8 on 8 H200s); other models start on one GPU.
    gpu_count = st.number_input("Number of GPUs (tensor parallel)", min_value=1, max_value=1024,
                                value=8 if default_model == "deepseek-ai/DeepSeek-V3" else 1, step=1,
                                key="plan_gpus", help="Weights and KV heads are split across them; their memories "
                                                      "are never simply added up.")
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
    compare = st.multiselect("Compare KV cache with", [m for m in model_ids if m != model_id], key="plan_compare",
                             format_func=lambda m: catalog.models[m].display_name)

st.subheader("Monthly volume and prices")
c1, c2, c3, c4, c5 = st.columns(5)
input_mtok = c1.number_input("Input tokens / month (M)", min_value=0.0, value=100.0, key="plan_input_mtok")
output_mtok = c2.number_input("Output tokens / month (M)", min_value=0.0, value=20.0, key="plan_output_mtok")
cached_share = c3.slider("Cached share of input", 0.0, 1.0, 0.0, 0.05, key="plan_cached_share",
                         help="Share of input tokens the provider serves from its prompt cache.")
thinking = c4.number_input("Thinking tokens per output token", min_value=0.0, value=0.0, step=0.5,
                           key="plan_thinking", help="Reasoning models only: billed and generated like output.")
usd_per_hour = c5.number_input("Your GPU price (USD per GPU-hour)", min_value=0.0, value=None, key="plan_usd_hour",
                               help="Rental prices are not in the catalog: enter your quote to see self-hosting cost.")

request = planner.PlanRequest(
    model_id=model_id, weights=weights, kv_dtype=kv_dtype, context_tokens=int(context),
    concurrent_sequences=int(batch), gpu=None if gpu_choice == OTHER_DEVICE else gpu_choice,
    gpu_count=int(gpu_count), custom_gpu_memory_gb=custom_memory, gpu_bandwidth_gbps=bandwidth or None,
    gpu_usd_per_hour=usd_per_hour or None, gpu_memory_utilization=float(utilization),
    runtime_reserve_gb=float(reserve),
    usage=planner.UsageProfile(float(input_mtok), float(output_mtok), float(cached_share), float(thinking)),
    compare_model_ids=tuple(compare))

try:
    result = decide_support.plan(build_id, request)
except PlanInputError as problem:
    st.error(f"Cannot plan this: {problem}")
    st.stop()

mem = result.memory
st.divider()
{planner.FITS: st.success, planner.DOES_NOT_FIT: st.error}.get(mem.verdict, st.warning)(mem.verdict_text)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Weights per GPU", f"{mem.weights_per_gpu_gb:,.1f} GB",
          help=f"{mem.weights_formula}" + (" — a lower bound" if mem.weights_lower_bound else ""))
m2.metric("KV cache per GPU", "unknown" if mem.kv_cache_per_gpu_gb is None else f"{mem.kv_cache_per_gpu_gb:,.2f} GB",
          help=mem.kv_cache_formula)
m3.metric("Overhead per GPU", f"{mem.overhead_per_gpu_gb:,.1f} GB", help=mem.overhead_formula)
m4.metric(f"Total per GPU (of {mem.gpu_memory_gb:g} GB)",
          "unknown" if mem.total_per_gpu_gb is None else f"{mem.total_per_gpu_gb:,.1f} GB",
          delta=None if mem.margin_gb is None else f"{mem.margin_gb:+,.1f} GB", delta_color="normal")
st.write(mem.limits_text)

st.markdown("**How it is computed**")
for part, formula in (("KV cache per token", mem.kv.formula), ("KV cache", mem.kv_cache_formula),
                      ("Weights", mem.weights_formula), ("Overhead", mem.overhead_formula)):
    st.markdown(f"- {part}: `{formula}`")

st.subheader("KV cache against context")
if result.kv_curve:
    curve = pd.DataFrame([vars(p) for p in result.kv_curve])
    chart = alt.Chart(curve).mark_line(point=True).encode(
        x=alt.X("context_tokens:Q", scale=alt.Scale(type="log", base=2), title="context (tokens)"),
        y=alt.Y("kv_cache_gb:Q", title=f"KV cache of one sequence, {kv_dtype} (GB)"),
        color=alt.Color("display_name:N", title="model"),
        tooltip=["display_name", alt.Tooltip("context_tokens:Q", format=","),
                 alt.Tooltip("kv_cache_gb:Q", format=".3f")],
    )
    st.altair_chart(chart, width="stretch")
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
    st.dataframe(pd.DataFrame([vars(m) for m in speed.measurements]), hide_index=True, width="stretch",
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
    st.dataframe(pd.DataFrame([vars(a) for a in cost.api]), hide_index=True, width="stretch",
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
st.code(planner.plan_cli_command(request), language="bash")
st.download_button("Download this plan (JSON)", json.dumps(planner.to_jsonable(result), indent=2).encode(),
                   "modelmatch-plan.json", "application/json")
