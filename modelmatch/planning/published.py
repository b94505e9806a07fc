"""Predicted against published: the planner's peak memory for every published measurement point in the catalog.

A published point is a `measurements` row with a `peak_memory_gb` (the Qwen team's speed-benchmark tables, tier
`official`, or our own runs). For each, the planner predicts the engine's peak for exactly that configuration (model,
engine, GPU and count, prompt and generated tokens, batch) and the error is (predicted - published) / published.
The bench script `bench/published_memory.py` prints the table with its median and worst error; the planner page
shows the point nearest to the plan.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from modelmatch.planning.fit import memory_plan
from modelmatch.planning.architecture import PlanInputError
from modelmatch.planning.records import DecisionCatalog, GpuSpec, MeasurementRow
from modelmatch.planning.speed import _precision_of, match_hardware

GB = 1e9
# peak_memory_scope of a figure that holds weights + cache at the end of generation but no prefill transient.
END_OF_GENERATION = "end-of-generation"


@dataclass(frozen=True)
class PublishedPoint:
    run_id: str
    model_id: str
    engine: str
    engine_version: str
    hardware: str
    gpu_count: int
    input_len: int
    output_len: int
    precision: str | None
    published_gb: float  # as the row states it (decimal GB), summed over GPUs when scope says so
    scope: str
    predicted_gb: float | None  # the planner's prediction on the same scope
    error_pct: float | None  # (predicted - published) / published x 100
    lower_bound: bool  # the prediction lacks a term the catalog cannot give (it names them)
    formula: str
    source_url: str | None
    source_location: str | None
    missing: tuple[str, ...] = ()  # the architecture numbers a lower-bound prediction lacks

    @property
    def ratio(self) -> float | None:
        return None if self.predicted_gb is None else self.predicted_gb / self.published_gb


def _engine_of(row: MeasurementRow) -> str | None:
    name = row.engine.lower()
    for engine in ("transformers", "vllm", "sglang"):
        if engine in name:
            return engine
    return None


def predict_point(catalog: DecisionCatalog, row: MeasurementRow) -> PublishedPoint | None:
    """The planner's prediction for one measurement row with a peak memory; None when the row has none."""
    if row.peak_memory_gb is None:
        return None
    model = catalog.models.get(row.model_id)
    arch = catalog.architectures.get(row.model_id)
    gpus = row.gpu_count or 1
    scope = row.peak_memory_scope or "per-gpu"
    base = dict(run_id=row.run_id, model_id=row.model_id, engine=row.engine, engine_version=row.engine_version,
                hardware=row.hardware, gpu_count=gpus, input_len=row.input_len or 0, output_len=row.output_len or 0,
                precision=_precision_of(row),
                published_gb=row.peak_memory_gb, scope=scope, source_url=row.source_url,
                source_location=row.source_location)
    engine = _engine_of(row)
    gpu: GpuSpec | None = match_hardware(catalog, row.hardware)
    precision = _precision_of(row)
    why = None
    if model is None:
        why = "model not in the catalog"
    elif engine is None:
        why = f"engine {row.engine!r} is not one the planner models"
    elif gpu is None:
        why = f"cannot tell which catalog GPU {row.hardware!r} is"
    elif precision is None:
        why = f"weight format {row.dtype!r} / {row.quantization!r} not modelled here"
    if why:
        return PublishedPoint(**base, predicted_gb=None, error_pct=None, lower_bound=False, formula=why)
    context = (row.input_len or 0) + (row.output_len or 0)
    try:
        mp = memory_plan(model, arch, precision, "bf16", max(context, 1), row.concurrency or 1, gpu, gpus, 0.9, 0.0,
                         engine=engine, prompt_tokens=max(row.input_len or 1, 1))
    except PlanInputError as exc:
        return PublishedPoint(**base, predicted_gb=None, error_pct=None, lower_bound=False, formula=str(exc))
    if mp.peak_gb is None:
        return PublishedPoint(**base, predicted_gb=None, error_pct=None, lower_bound=True, formula=mp.peak_formula)
    if scope == END_OF_GENERATION and engine == "transformers":
        predicted, formula, lower, missing = end_of_generation_gb(mp, context, row.concurrency or 1)
    else:
        predicted = mp.peak_gb * (gpus if scope == "sum-over-gpus" else 1)
        formula = mp.peak_formula + (f"; × {gpus} GPUs (the published figure adds every GPU's peak)"
                                     if scope == "sum-over-gpus" and gpus > 1 else "")
        lower, missing = mp.peak_lower_bound, mp.peak_missing
    if lower and not missing and mp.weights_lower_bound:
        # The weights term is the lower bound: a 16-bit-embedding format without the embedding's size.
        missing = tuple(n for n in ("vocab_size", "hidden_size") if arch is None or getattr(arch, n) is None) \
            or ("the weight format's exact size",)
    error = (predicted - row.peak_memory_gb) / row.peak_memory_gb * 100
    return PublishedPoint(**base, predicted_gb=predicted, error_pct=error, lower_bound=lower,
                          formula=formula, missing=missing)


def end_of_generation_gb(mp, context_tokens: int, sequences: int) -> tuple[float, str, bool, tuple[str, ...]]:
    """The planner's end-of-decoding term on one GPU: weights + the cache of prompt and generated tokens.

    A published figure with scope `end-of-generation` grows with the prompt by exactly the cache of the extra prompt
    tokens (the row's notes give the arithmetic), so the prompt's forward pass is not in it; it is held against this
    term, not against the prefill peak. Returns (GB, formula, lower bound, what the catalog lacks)."""
    cache = mp.cache
    cache_gb = (cache.bytes_for(context_tokens) or 0) * sequences / GB
    total = mp.weights_per_gpu_gb + cache_gb
    missing = tuple(dict.fromkeys(cache.missing))
    formula = (f"end of generation (the published figure holds no prefill transient): {mp.weights_per_gpu_gb:,.2f} GB "
               f"weights + {cache_gb:,.3f} GB cache of {context_tokens:,} tokens = {total:,.2f} GB")
    if missing:
        formula += f" (lower bound: the catalog lacks {', '.join(missing)})"
    return total, formula, bool(missing) or mp.weights_lower_bound, missing


def published_points(catalog: DecisionCatalog, model_ids: tuple[str, ...] | None = None) -> list[PublishedPoint]:
    rows = [r for mid, rs in sorted(catalog.measurements.items()) if model_ids is None or mid in model_ids
            for r in rs]
    points = [predict_point(catalog, r) for r in rows]
    return sorted((p for p in points if p is not None),
                  key=lambda p: (p.model_id, p.engine, p.precision or "", p.gpu_count, p.input_len, p.run_id))


@dataclass(frozen=True)
class ErrorSummary:
    points: int
    predicted: int
    complete: int  # predictions with every term (not lower bounds)
    median_abs_error_pct: float | None
    worst: PublishedPoint | None
    median_abs_error_complete_pct: float | None
    worst_complete: PublishedPoint | None
    within_10pct: int


def summarize(points: list[PublishedPoint]) -> ErrorSummary:
    done = [p for p in points if p.error_pct is not None]
    complete = [p for p in done if not p.lower_bound]

    def med(ps):
        return statistics.median(abs(p.error_pct) for p in ps) if ps else None

    def worst(ps):
        return max(ps, key=lambda p: abs(p.error_pct)) if ps else None

    return ErrorSummary(len(points), len(done), len(complete), med(done), worst(done), med(complete),
                        worst(complete), sum(1 for p in done if abs(p.error_pct) <= 10))


def nearest_published(catalog: DecisionCatalog, model_id: str, gpu_id: str | None, prompt_tokens: int,
                      precision: str | None = None) -> PublishedPoint | None:
    """The published point of this model nearest to the plan: same weight format first, then the same GPU, then the
    closest prompt length."""
    points = published_points(catalog, (model_id,))
    if not points:
        return None

    def key(p: PublishedPoint):
        gpu = match_hardware(catalog, p.hardware)
        return (0 if p.precision == precision else 1, 0 if gpu is not None and gpu.gpu_id == gpu_id else 1,
                abs(p.input_len - prompt_tokens))

    return min(points, key=key)
