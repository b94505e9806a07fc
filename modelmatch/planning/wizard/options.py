"""The ways a model can be deployed for a request: self-hosted on the given GPUs (fit, speed, capacity, cost) or
through a priced API; each option says what it would cost and what, if anything, rules it out."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from modelmatch.planning.cost import (
    HOURS_PER_MONTH,
    SECONDS_PER_MONTH,
    api_cost,
    current_prices,
    serving_seconds,
)
from modelmatch.planning.fit import FITS, UNKNOWN, FitNumbers, Layout, MemoryPlan, describe, fit_on, layout
from modelmatch.planning.architecture import PlanInputError
from modelmatch.planning.weights import PRECISIONS
from modelmatch.planning.records import DecisionCatalog, ModelInfo
from modelmatch.planning.speed import _matching_measurement, measured_speeds, roofline
from modelmatch.planning.wizard.modes import model_mode, tier_mode, usage_in_mode
from modelmatch.planning.wizard.request import WizardContext
from modelmatch.planning.wizard.results import Deployment, Unverified


@dataclass(frozen=True)
class DeploymentOption:
    """One way to deploy a model for a request, and what rules it out, if anything."""

    deployment: Deployment
    unverified: tuple[Unverified, ...]
    failure: str | None = None  # set when the option violates a hard constraint


@functools.lru_cache(maxsize=64)
def _tp_sizes(gpu_count: int) -> tuple[int, ...]:
    sizes = {1 << i for i in range(11) if 1 << i <= gpu_count} | {gpu_count}
    return tuple(sorted(sizes))


def _layouts(catalog: DecisionCatalog, model: ModelInfo, kv_dtype: str, context: int, sequences: int
             ) -> dict[tuple[str, int], Layout]:
    """The layouts worked out for one model and request shape, by (precision, GPUs per replica), kept per catalog:
    the same for every GPU a what-if tries. One memo entry per model, filled as the walk tries each layout: a memo
    lookup per layout tried (some 176,000 over the what-ifs of a 5,000-model catalog) cost more than the fits.
    fit_on itself (a few additions on the layout's numbers) is not kept: looking it up cost as much as computing
    it."""
    return catalog.derived(("layouts", model.model_id, kv_dtype, context, sequences), dict)


def _plan(catalog: DecisionCatalog, numbers: FitNumbers) -> MemoryPlan:
    """The memory plan of the layout the walk settled on, written out once per catalog (the other layouts it tried
    are compared by their numbers only)."""
    n = numbers
    lay = n.layout
    key = ("memory_plan", lay.model.model_id, lay.precision, lay.kv_dtype, lay.context_tokens,
           lay.concurrent_sequences, n.gpu.memory_gb, lay.gpu_count, n.gpu_memory_utilization, n.runtime_reserve_gb)
    return catalog.derived(key, lambda: describe(numbers))


def self_host_option(ctx: WizardContext, catalog: DecisionCatalog, model: ModelInfo, brief: bool = False
                     ) -> DeploymentOption:
    """brief: only what ranks the model is worked out (the what-ifs read nothing else): whether it is ruled out, its
    cost and speed, and which kinds of requirement stay unverified. The texts are left empty and the chosen layout's
    memory plan is not written out."""
    req, gpu = ctx.request, ctx.gpu
    if not model.open_weights:
        return DeploymentOption(_no_deployment("self-host"), (), "API-only: the weights are not downloadable, so it "
                                                                 "cannot be self-hosted")
    if model.params_total_b is None:
        return DeploymentOption(_no_deployment("self-host"), (), "no official parameter count in the catalog, so the "
                                                                 "fit on your GPUs cannot be checked")
    arch = catalog.architectures.get(model.model_id)
    chosen_fit: FitNumbers | None = None
    smallest_fit: FitNumbers | None = None
    tp_errors: list[str] = []
    tp_sizes = _tp_sizes(req.gpu_count)
    # Memory to spare grows with the GPU's memory at every precision and split, so a model that fits no layout on a
    # GPU of some size fits none on a smaller one: the what-ifs on smaller GPUs skip the walk (a brief answer needs
    # no "closest" layout). The key names every input of the walk but the GPU.
    no_fit = catalog.derived(("no_fit_up_to_gb", model.model_id, req.kv_dtype, req.context_tokens,
                              req.concurrent_sequences, req.gpu_memory_utilization, req.runtime_reserve_gb,
                              ctx.precisions, tp_sizes), lambda: [0.0])
    if brief and gpu.memory_gb <= no_fit[0]:
        return _DOES_NOT_FIT
    # The model and its architecture row are the catalog's own, so the model id names all the input.
    layouts = _layouts(catalog, model, req.kv_dtype, req.context_tokens, req.concurrent_sequences)
    for precision in ctx.precisions:
        for tp in tp_sizes:
            lay = layouts.get((precision, tp))
            if lay is None:
                try:
                    lay = layouts[precision, tp] = layout(model, arch, precision, req.kv_dtype, req.context_tokens,
                                                          req.concurrent_sequences, tp)
                except PlanInputError as exc:
                    tp_errors.append(str(exc))
                    continue
            mp = fit_on(lay, gpu, req.gpu_memory_utilization, req.runtime_reserve_gb)
            if smallest_fit is None or mp.free_for_kv_per_gpu_gb > smallest_fit.free_for_kv_per_gpu_gb:
                smallest_fit = mp
            if mp.verdict in (FITS, UNKNOWN):
                chosen_fit = mp
                break
        if chosen_fit is not None:
            break
    where = f"{req.gpu_count} × {gpu.name}"
    if chosen_fit is None:
        no_fit[0] = max(no_fit[0], gpu.memory_gb)
        if brief:
            return _DOES_NOT_FIT
        if smallest_fit is None:
            detail = tp_errors[0] if tp_errors else "no precision allowed"
            return DeploymentOption(_no_deployment("self-host"), (), f"cannot be split over {where}: {detail}")
        smallest = _plan(catalog, smallest_fit)
        return DeploymentOption(_no_deployment("self-host"), (),
                                f"does not fit {where} at any allowed precision; closest is "
                                f"{PRECISIONS[smallest.precision].label} on {smallest.gpu_count} GPU(s): "
                                f"{smallest.verdict_text}")
    chosen = None if brief else _plan(catalog, chosen_fit)
    unverified: list[str] = []
    if chosen_fit.verdict == UNKNOWN:
        unverified.append(Unverified("fit", "" if brief else (
            f"fit not fully checked: {chosen.kv.formula} (the weights leave {chosen.free_for_kv_per_gpu_gb:,.1f} GB "
            "per GPU for it)")))
    if chosen_fit.layout.wpg.lower_bound:
        unverified.append(Unverified("fit", "" if brief else (
            f"{chosen.precision_label} weights are a lower bound ({chosen.verdict_text})")))
    tp = chosen_fit.layout.gpu_count
    replicas = req.gpu_count // tp
    # The model and its architecture row are the catalog's own, so the model id names all the input.
    measured = catalog.derived(("measured_runs", model.model_id),
                               lambda: measured_speeds(catalog, model, arch, compare=False))
    exact = _matching_measurement(catalog, measured, gpu, tp, chosen_fit.layout.precision, req.concurrent_sequences)
    line = roofline(model, arch, chosen_fit.layout.precision, chosen_fit.layout.kv, gpu, tp, req.context_tokens,
                    req.concurrent_sequences, explain=not brief)
    speed_text = ""
    if exact is not None:
        tps_replica = exact.output_tokens_per_s
        per_seq = tps_replica / req.concurrent_sequences
        if not brief:
            speed_text = f"measured {per_seq:,.1f} tokens/s per sequence (run {exact.run_id})"
        source = "measured"
    elif line.tokens_per_s:
        tps_replica = line.tokens_per_s
        per_seq = line.tokens_per_s_per_sequence
        if not brief:
            speed_text = (f"at most {per_seq:,.1f} tokens/s per sequence (bandwidth roofline, no measurement yet): "
                          f"{line.formula}")
        source = "roofline (upper bound)"
    else:
        tps_replica, per_seq, source = None, None, None
        speed_text = line.formula
    failure = None
    if req.min_tokens_per_s is not None:
        if per_seq is None:
            unverified.append(Unverified("latency", "" if brief else f"latency target not checked: {speed_text}"))
        elif per_seq < req.min_tokens_per_s:
            bound = "measured" if source == "measured" else "even the roofline (an upper bound) gives"
            failure = "too slow" if brief else (f"too slow for your target: {bound} {per_seq:,.1f} tokens/s per "
                                                f"sequence, below {req.min_tokens_per_s:g}")
        elif source != "measured":
            unverified.append(Unverified("latency", "" if brief else (
                f"speed target met only by the roofline ({per_seq:,.1f} tokens/s, an upper bound); "
                "no measurement yet")))
    usd = None
    cost_text = ("no GPU price per hour given, so self-hosting cost is unknown" if req.gpu_usd_per_hour is None
                 else "")
    needed_replicas = None
    if tps_replica:
        seconds, _, _ = serving_seconds(usage_in_mode(req.usage, model, req.score_mode), model, gpu, tp, tps_replica)
        needed_replicas = max(1, math.ceil(seconds / SECONDS_PER_MONTH))
        if needed_replicas > replicas and failure is None:
            failure = "too little capacity" if brief else (
                f"the given GPUs cannot serve the monthly volume: it needs {needed_replicas} replicas of {tp} "
                f"GPU(s) at {tps_replica:,.0f} tokens/s ({source}), and {where} hold {replicas}")
    elif not req.usage.is_empty:
        unverified.append(Unverified("capacity", (
            "whether the given GPUs can serve the monthly volume is unknown (no throughput)")))
    if req.gpu_usd_per_hour is not None:
        usd = req.gpu_usd_per_hour * req.gpu_count * HOURS_PER_MONTH
        if not brief:
            cost_text = (f"{req.gpu_count} GPUs × ${req.gpu_usd_per_hour:g}/h (your price) × {HOURS_PER_MONTH:g} h "
                         f"= ${usd:,.0f} per month, whatever the volume")
    if brief:
        return DeploymentOption(Deployment("self-host", "", usd, "", per_seq, "",
                                           precision=chosen_fit.layout.precision, gpu_id=gpu.gpu_id, gpu_name=gpu.name, gpus_per_replica=tp,
                                           replicas=replicas, memory_verdict=chosen_fit.verdict,
                                           total_per_gpu_gb=chosen_fit.total_per_gpu_gb),
                                tuple(unverified), failure)
    text = (f"self-host {chosen.precision_label}, {tp} GPU(s) per replica × {replicas} replica(s) on {where}; "
            f"{chosen.verdict_text}")
    dep = Deployment("self-host", text, usd, cost_text, per_seq, speed_text, precision=chosen.precision,
                     precision_label=chosen.precision_label, gpu_id=gpu.gpu_id, gpu_name=gpu.name,
                     gpus_per_replica=tp, replicas=replicas, memory_verdict=chosen.verdict,
                     memory_text=chosen.verdict_text, total_per_gpu_gb=chosen.total_per_gpu_gb)
    return DeploymentOption(dep, tuple(unverified), failure)


def _no_deployment(kind: str) -> Deployment:
    return Deployment(kind, "", None, "", None, "")


_DOES_NOT_FIT = DeploymentOption(_no_deployment("self-host"), (), "does not fit")  # a brief answer's, shared


def api_option(ctx: WizardContext, catalog: DecisionCatalog, model: ModelInfo) -> DeploymentOption:
    prices = current_prices(catalog.prices.get(model.model_id, ()), ctx.as_of)
    if not prices:
        return DeploymentOption(_no_deployment("api"), (), "no API price in the catalog for this model")
    standard = [p for p in prices if not p.tier] or prices
    # A provider may price one model per mode (Huawei Cloud: Qwen3-32B output by "reasoning pattern"): bill the mode
    # the model is ranked in, never the cheaper tier of the other mode.
    mode = model_mode(model, ctx.request.score_mode)
    standard = [p for p in standard if tier_mode(p.tier) in (None, mode)] or standard
    costs = [api_cost(p, usage_in_mode(ctx.request.usage, model, ctx.request.score_mode), model) for p in standard]
    known = [c for c in costs if c.usd_per_month is not None]
    if not known:
        return DeploymentOption(_no_deployment("api"), (), f"API price incomplete: {costs[0].formula}")
    best = min(known, key=lambda c: c.usd_per_month)
    tier = f" ({best.tier})" if best.tier else ""
    others = len(prices) - 1
    text = (f"API: {best.provider} {best.provider_model}{tier}, prices effective {best.effective_from}"
            + (f"; {others} other price row(s) in effect" if others else ""))
    unverified = []
    # Providers move an API name to a newer model (deepseek-reasoner went from R1 to V3.1); the older model's last
    # price row then stays in the history, but that model may no longer be offered.
    for rows in catalog.prices.values():
        for row in rows:
            if (row.model_id != model.model_id and row.provider == best.provider
                    and row.provider_model == best.provider_model and best.effective_from < row.effective_from
                    <= ctx.as_of):
                other = catalog.models.get(row.model_id)
                unverified.append(Unverified("availability", (
                    f"since {row.effective_from} {best.provider}'s {best.provider_model} serves "
                    f"{other.display_name if other else row.model_id}: this model may no longer be offered at this "
                    "price")))
                break
        if unverified:
            break
    speed_text = "no speed measurement for API models in the catalog"
    if ctx.request.min_tokens_per_s is not None:
        unverified.append(Unverified("latency", f"latency target not checked: {speed_text}"))
    dep = Deployment("api", text, best.usd_per_month, best.formula, None, speed_text, provider=best.provider,
                     provider_model=best.provider_model, tier=best.tier, price_effective_from=best.effective_from,
                     price_source_url=best.source_url)
    return DeploymentOption(dep, tuple(unverified))
