"""Memory and cost planner: will a model fit on these GPUs, how fast can it decode, and what will a month cost.

`plan(request, catalog)` is the one code path behind the planner page and `python -m modelmatch plan`; both
render the same `PlanResult`. The catalog is read once into a `DecisionCatalog` (fixed SQL, read-only) and every
computation after that is pure, so results are reproducible and easy to test. A plan reads top-down: the request
is checked and resolved (request), then memory (fit), decode speed (speed) and a month's cost (cost); plan_text
prints the result.

Honesty rules the code follows: a number the catalog does not have is reported as missing with the model or GPU it
is missing for, never replaced by a typical value; GPU rental prices are user input only; a roofline is an upper
bound on speed and is labelled as one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from modelmatch.planning.cost import (
    CostPlan,
    api_cost,
    billed_output_mtok,
    break_even,
    current_prices,
    self_host_cost,
)
from modelmatch.planning.engine_memory import check_engine, parallelism_for
from modelmatch.planning.fit import DOES_NOT_FIT, MemoryPlan, memory_plan
from modelmatch.planning.architecture import KV_DTYPES, PlanInputError
from modelmatch.planning.sequence_cache import sequence_cache
from modelmatch.planning.published import nearest_published
from modelmatch.planning.records import GB, DecisionCatalog, GpuSpec, ModelInfo
from modelmatch.planning.request import (
    PlanRequest,
    _positive_int,
    gpu_price_per_hour,
    prices_day,
    resolve_gpu,
    resolve_model,
    resolve_precision,
)
from modelmatch.planning.speed import SpeedEstimate, _matching_measurement, measured_speeds, roofline


@dataclass(frozen=True)
class KVCurvePoint:
    model_id: str
    display_name: str
    context_tokens: int
    kv_cache_gb: float
    attention_kind: str = ""


@dataclass(frozen=True)
class PlanResult:
    build_id: str
    request: PlanRequest
    model: ModelInfo
    gpu: GpuSpec
    memory: MemoryPlan
    speed: SpeedEstimate
    cost: CostPlan
    kv_curve: tuple[KVCurvePoint, ...]
    kv_curve_missing: tuple[str, ...]
    notes: tuple[str, ...]
    published: Any = None  # modelmatch.planning.published.PublishedPoint nearest to this plan, or None
    published_status: str = ""


def validate_request(request: PlanRequest, catalog: DecisionCatalog) -> tuple[ModelInfo, GpuSpec, str]:
    model = resolve_model(catalog, request.model_id)
    precision = resolve_precision(request.weights)
    if request.kv_dtype not in KV_DTYPES:
        raise PlanInputError(f"unknown KV-cache dtype {request.kv_dtype!r}; choose one of {', '.join(KV_DTYPES)}")
    _positive_int(request.context_tokens, "context length (tokens)", 100_000_000)
    _positive_int(request.concurrent_sequences, "concurrent sequences", 1_000_000)
    _positive_int(request.gpu_count, "GPU count", 1024)
    if not (0 < request.gpu_memory_utilization <= 1):
        raise PlanInputError(f"engine memory utilization must be above 0 and at most 1, "
                             f"got {request.gpu_memory_utilization!r}")
    if request.runtime_reserve_gb < 0 or not math.isfinite(request.runtime_reserve_gb):
        raise PlanInputError(f"runtime reserve must be 0 GB or more, got {request.runtime_reserve_gb!r}")
    gpu_price_per_hour(request.gpu_usd_per_hour)
    prices_day(request.prices_as_of)
    request.usage.validate()
    if not model.open_weights:
        raise PlanInputError(f"{model.model_id} is API-only (no open weights), so there is nothing to host; compare "
                             "its API prices in the recommendation wizard or on the Compare page")
    if model.context_length is not None and request.context_tokens > model.context_length:
        raise PlanInputError(f"impossible combination: a context of {request.context_tokens:,} tokens is longer "
                             f"than {model.display_name}'s official {model.context_length:,}-token window")
    gpu = resolve_gpu(catalog, request.gpu, request.custom_gpu_memory_gb, request.gpu_bandwidth_gbps)
    check_engine(request.engine)
    _positive_int(request.pipeline_parallel, "pipeline-parallel size", 1024)
    if request.prompt_tokens is not None:
        _positive_int(request.prompt_tokens, "prompt length (tokens)", 100_000_000)
    parallelism_for(request.engine, int(request.gpu_count), int(request.pipeline_parallel),
                    bool(request.expert_parallel))
    return model, gpu, precision


def kv_curve(catalog: DecisionCatalog, model_ids: Iterable[str], kv_dtype: str, max_context: int
             ) -> tuple[tuple[KVCurvePoint, ...], tuple[str, ...]]:
    """KV cache of one sequence against context length, for each model whose KV cache can be computed."""
    contexts = sorted({2 ** p for p in range(10, 31) if 2 ** p <= max_context} | {max_context})
    points: list[KVCurvePoint] = []
    missing: list[str] = []
    for model_id in dict.fromkeys(model_ids):
        model = resolve_model(catalog, model_id)
        arch = catalog.architectures.get(model.model_id)
        if arch is None:
            missing.append(f"{model.display_name}: no architecture row in the catalog")
            continue
        cache = sequence_cache(arch, model.attention, kv_dtype)
        if not cache.ok:
            missing.append(f"{model.display_name}: {cache.message or cache.formula}")
            continue
        limit = model.context_length or max_context
        points.extend(KVCurvePoint(model.model_id, model.display_name, c, cache.bytes_for(c) / GB, cache.kind)
                      for c in contexts if c <= max(limit, 1024))
    return tuple(points), tuple(missing)


def plan(request: PlanRequest, catalog: DecisionCatalog) -> PlanResult:
    catalog.start_request()
    model, gpu, precision = validate_request(request, catalog)
    arch = catalog.architectures.get(model.model_id)
    tp = int(request.gpu_count)
    memory = memory_plan(model, arch, precision, request.kv_dtype, int(request.context_tokens),
                         int(request.concurrent_sequences), gpu, tp, request.gpu_memory_utilization,
                         request.runtime_reserve_gb, request.engine, int(request.pipeline_parallel),
                         bool(request.expert_parallel), bool(request.include_mtp), request.prompt_tokens)
    notes: list[str] = list(memory.notes)
    if gpu.bandwidth_source == "user-entered":
        notes.append(f"memory bandwidth {gpu.memory_bandwidth_gbps:g} GB/s is your input, not catalog data")
    if gpu.user_entered:
        notes.append(f"{gpu.name}: memory size is your input, not catalog data")

    batch1 = roofline(model, arch, precision, memory.kv, gpu, tp, memory.context_tokens, 1, memory.cache)
    at_b = roofline(model, arch, precision, memory.kv, gpu, tp, memory.context_tokens, memory.concurrent_sequences,
                    memory.cache)
    measured = measured_speeds(catalog, model, arch)
    measured_status = (f"{len(measured)} measured run(s) of {model.display_name} in the catalog" if measured
                       else f"no measurement yet for {model.display_name}: only the roofline is shown")
    speed_notes = ["the roofline is an upper bound for decoding: it ignores compute, kernel efficiency and the "
                   "communication between tensor-parallel GPUs",
                   "every active parameter is counted as read once per step (the input embedding table is really "
                   "read one row at a time, so this overstates bytes read slightly)"]
    speed = SpeedEstimate(batch1, at_b, measured, measured_status, tuple(speed_notes))

    as_of = prices_day(request.prices_as_of)
    usage = request.usage
    prices = current_prices(catalog.prices.get(model.model_id, ()), as_of)
    api = tuple(api_cost(p, usage, model) for p in prices)
    api_status = (f"{len(api)} API price(s) in effect on {as_of}" if api
                  else f"no API price for {model.model_id} in the catalog")
    exact = _matching_measurement(catalog, measured, gpu, tp, precision, memory.concurrent_sequences)
    if exact is not None:
        tps, source = exact.output_tokens_per_s, f"measured, run {exact.run_id}"
    elif at_b.tokens_per_s:
        tps, source = at_b.tokens_per_s, "roofline (upper bound)"
    else:
        tps, source = None, at_b.formula
    self_host = None
    if request.gpu_usd_per_hour is None:
        self_host_status = ("enter your GPU rental price per hour to see the self-hosting cost (rental prices are not "
                            "in the catalog)")
    elif memory.verdict == DOES_NOT_FIT:
        self_host_status = "the model does not fit this configuration, so it cannot be self-hosted on it"
    else:
        self_host = self_host_cost(usage, model, gpu, tp, request.gpu_usd_per_hour, tps, source)
        self_host_status = self_host.formula
    breaks = tuple(break_even(a, self_host, usage, model) for a in api) if self_host else ()
    cost = CostPlan(usage, model.thinks and usage.thinking_tokens_per_output_token > 0,
                    billed_output_mtok(usage, model), api, api_status, self_host, self_host_status, breaks)
    if model.thinks and usage.thinking_tokens_per_output_token == 0 and model.reasoning == "yes":
        notes.append(f"{model.display_name} always thinks before answering: set the expected thinking tokens per "
                     "output token, or the cost leaves them out")
    if model.reasoning == "hybrid" and usage.thinking_tokens_per_output_token > 0:
        notes.append(f"{model.display_name} can think or not: thinking tokens are counted for every price row; set "
                     "the ratio to 0 if you will run it with thinking off")

    compare_ids = (model.model_id, *request.compare_model_ids)
    for other in request.compare_model_ids:
        resolve_model(catalog, other)
    contexts = [memory.context_tokens] + [catalog.models[m].context_length or 0 for m in compare_ids
                                          if m in catalog.models]
    curve, curve_missing = kv_curve(catalog, compare_ids, request.kv_dtype, max(contexts))
    near = nearest_published(catalog, model.model_id, gpu.gpu_id, memory.prompt_tokens or memory.context_tokens,
                             precision)
    if near is None:
        published_status = f"no published memory measurement of {model.display_name} in the catalog"
    elif near.predicted_gb is None:
        published_status = (f"nearest published point: {near.published_gb:,.2f} GB ({near.engine} "
                            f"{near.engine_version}, {near.hardware}, prompt {near.input_len:,}); no prediction: "
                            f"{near.formula}")
    else:
        published_status = (f"nearest published point: {near.published_gb:,.2f} GB ({near.precision} weights, "
                            f"{near.engine} {near.engine_version}, {near.gpu_count} × {near.hardware}, prompt "
                            f"{near.input_len:,} + "
                            f"{near.output_len:,} generated, {near.scope}); predicted {near.predicted_gb:,.2f} GB = "
                            f"{near.ratio:.2f} × published ({near.error_pct:+.1f} %)"
                            + (" — a lower bound, the catalog lacks terms" if near.lower_bound else ""))
    return PlanResult(catalog.build_id, request, model, gpu, memory, speed, cost, curve, curve_missing, tuple(notes),
                      near, published_status)
