"""Will it fit: weights, KV cache, overhead and the engine's peak per GPU, and the longest context and the most
sequences that fit."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

from modelmatch.planning.engine_memory import (
    PREALLOCATING_ENGINES,
    Activations,
    check_engine,
    engine_peak,
    parallelism_for,
    prefill_activations,
    weights_per_gpu,
)
from modelmatch.planning.architecture import KV_DTYPES, Architecture, PlanInputError
from modelmatch.planning.memory import KVCachePerToken, kv_cache_bytes_per_token
from modelmatch.planning.sequence_cache import CachePart, SequenceCache, sequence_cache
from modelmatch.planning.weights import PRECISIONS
from modelmatch.planning.records import GB, GpuSpec, ModelInfo

FITS, DOES_NOT_FIT, UNKNOWN = "fits", "does-not-fit", "unknown"


@dataclass(frozen=True)
class MemoryPlan:
    """Whether a model fits the GPUs at one precision: every term of the memory per GPU, written out."""

    model_id: str
    precision: str
    precision_label: str
    kv_dtype: str
    context_tokens: int
    concurrent_sequences: int
    gpu_count: int
    gpu_memory_gb: float
    weights_total_gb: float
    weights_per_gpu_gb: float
    weights_formula: str
    weights_lower_bound: bool
    kv: KVCachePerToken  # per GPU
    kv_unsharded: KVCachePerToken  # one sequence, whole model
    kv_cache_per_gpu_gb: float | None
    kv_cache_formula: str
    overhead_per_gpu_gb: float
    overhead_formula: str
    total_per_gpu_gb: float | None
    verdict: str  # fits | does-not-fit | unknown
    margin_gb: float | None  # memory left per GPU (negative: how much is missing)
    free_for_kv_per_gpu_gb: float
    max_context_tokens: int | None
    max_concurrent_sequences: int | None
    limits_text: str
    verdict_text: str
    notes: tuple[str, ...]
    engine: str = "vllm"
    parallelism: str = ""
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    expert_parallel: bool = False
    prompt_tokens: int | None = None
    cache: SequenceCache | None = None  # the whole per-sequence cache by layer kind, per GPU
    attention_kind: str | None = None
    mtp_weights_gb: float = 0.0
    activations_gb: float | None = None
    activations_formula: str = ""
    peak_gb: float | None = None  # predicted peak allocated memory per GPU for this engine
    peak_formula: str = ""
    peak_lower_bound: bool = False
    peak_missing: tuple[str, ...] = ()


def _max_context(cache: SequenceCache, free_bytes: float, sequences: int, limit: int) -> int:
    """Longest context whose cache for `sequences` sequences fits in `free_bytes` (the cache only grows with context).
    The cache must be ok (every part known)."""
    # cache.bytes_for, with the parts read once: the bisection below asks it some 25 times.
    parts = [(p.bytes_per_token, p.window_tokens, p.bytes_per_sequence) for p in cache.parts]

    def fits(tokens: int) -> bool:
        return sum(per_token * (tokens if window is None else min(tokens, window)) + per_sequence
                   for per_token, window, per_sequence in parts) * sequences <= free_bytes

    if not fits(1):
        return 0
    lo, hi = 1, max(limit, 1)
    if fits(hi):
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def transformers_mla_cache(arch: Architecture, cache: SequenceCache, kv_dtype: str, pipeline: int) -> SequenceCache:
    """Hugging Face transformers' DeepSeek code caches K and V per head (the expanded form), not MLA's latent."""
    need = [n for n in ("num_attention_heads", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
            if getattr(arch, n) is None]
    if need:
        return dataclasses.replace(cache, parts=(), missing=tuple(need),
                                   formula=f"transformers caches MLA expanded per head, which needs "
                                           f"{', '.join(need)}: the catalog lacks them for {arch.model_id}")
    layers = -(-arch.num_layers // pipeline)
    bpe = KV_DTYPES[kv_dtype]
    per_token = layers * arch.num_attention_heads * (arch.qk_nope_head_dim + arch.qk_rope_head_dim +
                                                     arch.v_head_dim) * bpe
    part = CachePart("expanded K and V (transformers)", layers, bytes_per_token=per_token,
                     formula=f"{layers} layers × {arch.num_attention_heads} heads × ({arch.qk_nope_head_dim} + "
                             f"{arch.qk_rope_head_dim} key + {arch.v_head_dim} value) × {bpe} bytes = "
                             f"{per_token:,} bytes per token (transformers expands MLA per head)")
    return dataclasses.replace(cache, kind="mla (expanded)", parts=(part,), formula=part.formula,
                               decode_topk_tokens=None)


# A recommendation asks memory_plan for every model at every precision on every GPU its what-ifs try; what a model
# holds and caches per GPU does not depend on the GPU, so each layout is computed once. Pure functions of hashable
# arguments (Architecture is a frozen dataclass) returning frozen dataclasses; a PlanInputError is not kept.
_weights_per_gpu = functools.lru_cache(maxsize=4096)(weights_per_gpu)
_kv_cache_bytes_per_token = functools.lru_cache(maxsize=4096)(kv_cache_bytes_per_token)
_sequence_cache = functools.lru_cache(maxsize=4096)(sequence_cache)


class Layout(NamedTuple):
    """What a model holds and caches per GPU at a precision and split, whatever the GPU: fit_on() sets it against one
    GPU's memory. A walk over GPUs (the wizard's what-ifs) works each layout out once."""

    model: ModelInfo
    arch: Architecture | None
    precision: str
    kv_dtype: str
    context_tokens: int
    concurrent_sequences: int
    gpu_count: int
    engine: str
    par: Any
    prompt_tokens: int
    wpg: Any
    kv: KVCachePerToken
    kv_unsharded: KVCachePerToken
    cache: SequenceCache
    expanded_mla: bool
    activations: Activations
    per_sequence_bytes: int | None
    kv_cache_per_gpu_gb: float | None
    prefill_gb: float | None  # engines that do not preallocate: cache of the prompt plus prefill activations


class FitNumbers(NamedTuple):
    """The numbers behind a MemoryPlan, without its texts: what a walk over precisions and splits compares (the
    verdict and the room left for the cache), so only the layout it settles on is written out. Holds its layout and
    inputs, so describe() can write that plan. A named tuple: a walk builds thousands, and a frozen dataclass costs
    more."""

    layout: "Layout"
    gpu: GpuSpec
    gpu_memory_utilization: float
    runtime_reserve_gb: float
    overhead_gb: float
    free_for_kv_per_gpu_gb: float
    total_per_gpu_gb: float | None
    margin_gb: float | None
    verdict: str


def layout(model: ModelInfo, arch: Architecture | None, precision: str, kv_dtype: str, context_tokens: int,
           concurrent_sequences: int, gpu_count: int, engine: str = "vllm", pipeline_parallel: int = 1,
           expert_parallel: bool = False, include_mtp: bool = False, prompt_tokens: int | None = None) -> Layout:
    if model.params_total_b is None:
        try:
            cache_text = sequence_cache(arch or Architecture(model.model_id), model.attention, kv_dtype).message
        except PlanInputError as exc:
            cache_text = str(exc)
        raise PlanInputError(f"no official total parameter count for {model.model_id} in the catalog, so its "
                             "weight memory cannot be computed" + (f"; the cache: {cache_text}" if cache_text else ""))
    check_engine(engine)
    par = parallelism_for(engine, gpu_count, pipeline_parallel, expert_parallel)
    tp, pp = par.tensor, par.pipeline
    prompt = context_tokens if prompt_tokens is None else min(prompt_tokens, context_tokens)
    wpg = _weights_per_gpu(model.params_total_b, precision, arch, par, include_mtp, model.architecture)
    arch_for_kv = arch or Architecture(model.model_id)
    kv = _kv_cache_bytes_per_token(arch_for_kv, model.attention, kv_dtype, tp)
    kv1 = _kv_cache_bytes_per_token(arch_for_kv, model.attention, kv_dtype, 1)
    cache = _sequence_cache(arch_for_kv, model.attention, kv_dtype, tp, pp)
    expanded_mla = engine == "transformers" and cache.kind in ("mla", "mla+dsa") and cache.ok
    if expanded_mla:
        cache = transformers_mla_cache(arch_for_kv, cache, kv_dtype, pp)
    if arch is None and model.attention is not None:
        kv = dataclasses.replace(kv, formula=f"cannot compute the KV cache for {model.model_id}: the catalog has "
                                             "no architecture row for it", missing=("architecture row",))
        kv1 = dataclasses.replace(kv1, bytes_per_token=None, formula=kv.formula, missing=kv.missing)
        cache = dataclasses.replace(cache, parts=(), missing=("architecture row",), formula=kv.formula)
    if engine in PREALLOCATING_ENGINES:
        activations = _PREALLOCATED_ACTIVATIONS
    else:
        activations = prefill_activations(arch, model.architecture, prompt)
    per_seq = kv_gb = prefill_gb = None
    if cache.ok:
        per_seq = cache.bytes_for(context_tokens)
        kv_gb = per_seq * concurrent_sequences / GB
        if engine not in PREALLOCATING_ENGINES:
            prefill_gb = cache.bytes_for(prompt) * concurrent_sequences / GB + (activations.bytes or 0) * \
                concurrent_sequences / GB
    return Layout(model, arch, precision, kv_dtype, context_tokens, concurrent_sequences, gpu_count, engine, par,
                  prompt, wpg, kv, kv1, cache, expanded_mla, activations, per_seq, kv_gb, prefill_gb)


def fit_on(lay: Layout, gpu: GpuSpec, gpu_memory_utilization: float, runtime_reserve_gb: float) -> FitNumbers:
    """The layout on one GPU: overhead, room left for the cache, total and verdict."""
    weights_per_gpu_b = lay.wpg.per_gpu_bytes
    if lay.engine in PREALLOCATING_ENGINES:
        overhead_gb = gpu.memory_gb * (1 - gpu_memory_utilization) + runtime_reserve_gb
    else:
        overhead_gb = runtime_reserve_gb + (lay.activations.bytes or 0) * lay.concurrent_sequences / GB
    free_gb = gpu.memory_gb - overhead_gb - weights_per_gpu_b / GB
    total = margin = None
    kv_gb = lay.kv_cache_per_gpu_gb
    if lay.cache.ok:
        total = weights_per_gpu_b / GB + kv_gb + overhead_gb
        if lay.engine not in PREALLOCATING_ENGINES:
            # Prefill activations are gone by the time the whole context is cached: the larger moment counts.
            total = weights_per_gpu_b / GB + max(lay.prefill_gb, kv_gb) + runtime_reserve_gb
        margin = gpu.memory_gb - total
        verdict = FITS if margin >= 0 else DOES_NOT_FIT
    else:
        verdict = DOES_NOT_FIT if free_gb < 0 else UNKNOWN
    return FitNumbers(lay, gpu, gpu_memory_utilization, runtime_reserve_gb, overhead_gb, free_gb, total, margin,
                      verdict)


def fit_numbers(model: ModelInfo, arch: Architecture | None, precision: str, kv_dtype: str, context_tokens: int,
                concurrent_sequences: int, gpu: GpuSpec, gpu_count: int, gpu_memory_utilization: float,
                runtime_reserve_gb: float, engine: str = "vllm", pipeline_parallel: int = 1,
                expert_parallel: bool = False, include_mtp: bool = False, prompt_tokens: int | None = None
                ) -> FitNumbers:
    """memory_plan's verdict and numbers, computed exactly as it computes them; describe() adds the texts."""
    return fit_on(layout(model, arch, precision, kv_dtype, context_tokens, concurrent_sequences, gpu_count, engine,
                         pipeline_parallel, expert_parallel, include_mtp, prompt_tokens),
                  gpu, gpu_memory_utilization, runtime_reserve_gb)


_PREALLOCATED_ACTIVATIONS = Activations(0.0, "inside the runtime reserve (the engine's preallocated share)")


def memory_plan(model: ModelInfo, arch: Architecture | None, precision: str, kv_dtype: str, context_tokens: int,
                concurrent_sequences: int, gpu: GpuSpec, gpu_count: int, gpu_memory_utilization: float,
                runtime_reserve_gb: float, engine: str = "vllm", pipeline_parallel: int = 1,
                expert_parallel: bool = False, include_mtp: bool = False, prompt_tokens: int | None = None
                ) -> MemoryPlan:
    """Weights + cache + overhead per GPU, and the engine's predicted peak. Parallelism splits weights and cache; it
    never pools GPU memories."""
    return describe(fit_numbers(model, arch, precision, kv_dtype, context_tokens, concurrent_sequences, gpu, gpu_count,
                                gpu_memory_utilization, runtime_reserve_gb, engine, pipeline_parallel, expert_parallel,
                                include_mtp, prompt_tokens))


def describe(n: FitNumbers) -> MemoryPlan:
    """The MemoryPlan of these numbers: the texts (formulas, verdict, limits, notes) written out."""
    lay, gpu = n.layout, n.gpu
    model, precision, kv_dtype, engine = lay.model, lay.precision, lay.kv_dtype, lay.engine
    context_tokens, concurrent_sequences, gpu_count = lay.context_tokens, lay.concurrent_sequences, lay.gpu_count
    gpu_memory_utilization, runtime_reserve_gb = n.gpu_memory_utilization, n.runtime_reserve_gb
    par, prompt, wpg, kv, kv1, cache, activations = (lay.par, lay.prompt_tokens, lay.wpg, lay.kv, lay.kv_unsharded,
                                                     lay.cache, lay.activations)
    tp, pp = par.tensor, par.pipeline
    overhead_gb, free_gb, total, margin = n.overhead_gb, n.free_for_kv_per_gpu_gb, n.total_per_gpu_gb, n.margin_gb
    kv_gb, verdict = lay.kv_cache_per_gpu_gb, n.verdict
    notes: list[str] = []
    notes.extend(wpg.notes)
    if model.architecture == "moe":
        notes.append(f"MoE: memory holds all {model.params_total_b:g}B parameters (every expert must be resident); "
                     f"speed uses the {model.params_active_b or '?'}B active per token")
    if engine == "transformers" and gpu_count > 1:
        notes.append(f"transformers with device_map=\"auto\" splits the layers over the {gpu_count} GPUs (a pipeline "
                     "that runs one GPU at a time), not tensor parallel")
    weights_per_gpu_b = wpg.per_gpu_bytes
    if lay.expanded_mla:
        notes.append("transformers caches DeepSeek's MLA expanded per head (K and V of every head), far more than "
                     "vLLM's or SGLang's latent cache")
    notes.extend(note for note in (*kv.notes, *cache.notes) if note not in notes)
    if engine in PREALLOCATING_ENGINES:
        overhead_formula = (f"{gpu.memory_gb:g} GB × (1 − {gpu_memory_utilization:g} engine memory utilization) + "
                            f"{runtime_reserve_gb:g} GB runtime reserve (activations, CUDA graphs, context) = "
                            f"{overhead_gb:,.2f} GB per GPU")
    else:
        act_gb = (activations.bytes or 0) * concurrent_sequences / GB
        overhead_formula = (f"{act_gb:,.2f} GB prefill activations ({activations.formula}) + {runtime_reserve_gb:g} "
                            "GB reserve for what the allocator does not count (CUDA context, fragmentation) = "
                            f"{overhead_gb:,.2f} GB per GPU")
    weights_formula = wpg.formula
    lower = " (lower bound)" if wpg.lower_bound else ""
    limit = model.context_length or 100_000_000
    if cache.ok:
        per_seq = lay.per_sequence_bytes
        kv_formula = (f"{per_seq:,} bytes per sequence{' per GPU' if gpu_count > 1 else ''} at {context_tokens:,} "
                      f"tokens ({cache.formula}) × {concurrent_sequences:,} sequences = {kv_gb:,.2f} GB")
        if free_gb > 0:
            free_bytes = free_gb * GB
            max_context = _max_context(cache, free_bytes, concurrent_sequences, limit)
            cap = " (the model's own limit)" if model.context_length is not None and max_context == limit else ""
            max_batch = int(free_bytes // per_seq) if per_seq else 0
            growing = cache.growing_bytes_per_token
            plain = len(cache.parts) == 1 and not cache.constant_bytes and cache.parts[0].window_tokens is None
            room = (f"Room for {int(free_bytes // growing):,} cached tokens per GPU: " if plain and growing
                    else f"Room for {free_gb:,.1f} GB of cache per GPU: ")
            limits_text = (f"{room}up to {max_context:,} tokens of context at {concurrent_sequences:,} sequences"
                           f"{cap}, or up to {max_batch:,} concurrent sequences at {context_tokens:,} tokens.")
        else:
            max_context, max_batch = 0, 0
            limits_text = "No room for any KV cache: the weights and overhead already exceed the GPU memory."
        if verdict == FITS:
            verdict_text = (f"Fits: {total:,.1f} GB of {gpu.memory_gb:g} GB used per GPU, {margin:,.1f} GB to spare"
                            f"{lower}.")
        else:
            verdict_text = (f"Does not fit: needs {total:,.1f} GB per GPU, {-margin:,.1f} GB more than the "
                            f"{gpu.memory_gb:g} GB each GPU has{lower}.")
    else:
        max_context, max_batch = None, None
        kv_formula = cache.message or cache.formula
        limits_text = f"The largest context and concurrency cannot be computed: {kv_formula}."
        if verdict == DOES_NOT_FIT:
            need_gb = weights_per_gpu_b / GB + overhead_gb
            verdict_text = (f"Does not fit: weights and overhead alone need {need_gb:,.1f} GB "
                            f"per GPU, {-free_gb:,.1f} GB more than the {gpu.memory_gb:g} GB each GPU has{lower}.")
        else:
            verdict_text = (f"Weights and overhead fit ({weights_per_gpu_b / GB + overhead_gb:,.1f} GB per GPU, "
                            f"{free_gb:,.1f} GB left for the KV cache), but the KV cache cannot be computed: "
                            f"{kv_formula}.")
    if wpg.lower_bound:
        notes.append("weights are a lower bound, so a 'fits' with little to spare may not hold for the real files")
    peak = engine_peak(engine, gpu.memory_gb, gpu_memory_utilization, weights_per_gpu_b / GB, cache, context_tokens,
                       prompt, concurrent_sequences, activations, wpg.lower_bound)
    return MemoryPlan(
        model_id=model.model_id, precision=precision, precision_label=PRECISIONS[precision].label, kv_dtype=kv_dtype,
        context_tokens=context_tokens, concurrent_sequences=concurrent_sequences, gpu_count=gpu_count,
        gpu_memory_gb=gpu.memory_gb, weights_total_gb=wpg.total_bytes / GB, weights_per_gpu_gb=weights_per_gpu_b / GB,
        weights_formula=weights_formula, weights_lower_bound=wpg.lower_bound, kv=kv, kv_unsharded=kv1,
        kv_cache_per_gpu_gb=kv_gb, kv_cache_formula=kv_formula, overhead_per_gpu_gb=overhead_gb,
        overhead_formula=overhead_formula, total_per_gpu_gb=total, verdict=verdict, margin_gb=margin,
        free_for_kv_per_gpu_gb=free_gb, max_context_tokens=max_context, max_concurrent_sequences=max_batch,
        limits_text=limits_text, verdict_text=verdict_text, notes=tuple(notes), engine=engine,
        parallelism=par.text, tensor_parallel=tp, pipeline_parallel=pp, expert_parallel=par.expert,
        prompt_tokens=prompt, cache=cache, attention_kind=cache.kind, mtp_weights_gb=wpg.mtp_bytes / GB,
        activations_gb=None if activations.bytes is None else activations.bytes * concurrent_sequences / GB,
        activations_formula=activations.formula, peak_gb=peak.peak_gb, peak_formula=peak.formula,
        peak_lower_bound=peak.lower_bound, peak_missing=peak.missing)
