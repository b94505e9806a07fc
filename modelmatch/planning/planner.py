"""Memory and cost planner: will a model fit on these GPUs, how fast can it decode, and what will a month cost.

`plan(request, catalog)` is the one code path behind the planner page and `python -m modelmatch plan`; both
render the same `PlanResult`. The catalog is read once into a `DecisionCatalog` (fixed SQL, read-only) and every
computation after that is pure, so results are reproducible and easy to test.

Honesty rules the code follows: a number the catalog does not have is reported as missing with the model or GPU it
is missing for, never replaced by a typical value; GPU rental prices are user input only; a roofline is an upper
bound on speed and is labelled as one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from modelmatch import settings
from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.engine_memory import (
    ENGINES,
    PREALLOCATING_ENGINES,
    Activations,
    check_engine,
    engine_peak,
    parallelism_for,
    prefill_activations,
    weights_per_gpu,
)
from modelmatch.catalog.prices import PRICE_ROWS_CTE
from modelmatch.planning.memory import (
    KV_DTYPES,
    PRECISIONS,
    Architecture,
    CachePart,
    KVCachePerToken,
    PlanInputError,
    SequenceCache,
    clean,
    kv_cache_bytes_per_token,
    moe_expert_params,
    sequence_cache,
    weight_bytes,
)

__all__ = [
    "PlanInputError", "DecisionCatalog", "load_decision_catalog", "PlanRequest", "UsageProfile", "PlanResult",
    "plan", "resolve_gpu", "resolve_precision", "to_jsonable", "format_plan_text", "HOURS_PER_MONTH",
    "plan_cli_command",
]

HOURS_PER_MONTH = 8760 / 12  # 730: a month of continuous service, so monthly GPU cost = hourly price x 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
GB = 1e9  # decimal gigabytes, as GPU datasheets state memory and bandwidth
# Limits on what a user types: far beyond any real device, price or traffic, and low enough that every product of
# them stays a finite float (a month of 1e300 tokens made the replica count infinite and the plan crashed).
MAX_DEVICE_MEMORY_GB = 1e6
MIN_BANDWIDTH_GBPS, MAX_BANDWIDTH_GBPS = 1e-3, 1e6
MAX_GPU_USD_PER_HOUR = 1e6
MAX_MTOK_PER_MONTH = 1e9
MAX_THINKING_TOKENS_PER_OUTPUT_TOKEN = 1e4

PRECISION_ALIASES = {
    "bf16": "bf16", "bfloat16": "bf16", "fp16": "bf16", "float16": "bf16",
    "fp8": "fp8", "int8": "int8", "w8a8": "int8", "int8-gptq": "int8-gptq", "gptq-int8": "int8-gptq",
    "int4": "int4-awq", "awq": "int4-awq", "gptq": "int4-awq", "int4-awq": "int4-awq", "int4-gptq": "int4-awq",
    "q8_0": "gguf-q8_0", "gguf-q8_0": "gguf-q8_0", "q4_k_m": "gguf-q4_k_m", "gguf-q4_k_m": "gguf-q4_k_m",
}


# ---------------------------------------------------------------------------------------------------------------
# Catalog rows, typed


def _date_text(value: Any) -> str | None:
    value = clean(value)
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()
    if hasattr(value, "date"):
        return value.date().isoformat()
    return str(value)[:10]


def _opt_float(value: Any) -> float | None:
    value = clean(value)
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    value = clean(value)
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    value = clean(value)
    return None if value is None else str(value)


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    display_name: str
    vendor: str
    family: str
    variant: str
    reasoning: str | None
    open_weights: bool
    params_total_b: float | None
    params_active_b: float | None
    architecture: str | None
    attention: str | None
    context_length: int | None
    license_id: str | None
    modalities: str | None
    languages: str | None
    source_url: str | None

    @classmethod
    def from_row(cls, row: dict) -> "ModelInfo":
        return cls(
            model_id=row["model_id"], display_name=_opt_str(row.get("display_name")) or row["model_id"],
            vendor=_opt_str(row.get("vendor")) or "", family=_opt_str(row.get("family")) or "",
            variant=_opt_str(row.get("variant")) or "", reasoning=_opt_str(row.get("reasoning")),
            open_weights=bool(clean(row.get("open_weights"))), params_total_b=_opt_float(row.get("params_total_b")),
            params_active_b=_opt_float(row.get("params_active_b")), architecture=_opt_str(row.get("architecture")),
            attention=_opt_str(row.get("attention")), context_length=_opt_int(row.get("context_length")),
            license_id=_opt_str(row.get("license_id")), modalities=_opt_str(row.get("modalities")),
            languages=_opt_str(row.get("languages")), source_url=_opt_str(row.get("source_url")),
        )

    @property
    def thinks(self) -> bool:
        return self.reasoning in ("yes", "hybrid")

    @property
    def active_params_b(self) -> float | None:
        """Parameters touched per token: the official active count; for a dense model that is the total."""
        if self.params_active_b is not None:
            return self.params_active_b
        if self.architecture == "dense":
            return self.params_total_b
        return None


@dataclass(frozen=True)
class LicenseInfo:
    license_id: str
    name: str
    url: str | None
    commercial_use: str | None
    conditions: str | None
    attribution_required: bool | None
    source_url: str | None

    @classmethod
    def from_row(cls, row: dict) -> "LicenseInfo":
        attribution = clean(row.get("attribution_required"))
        return cls(row["license_id"], _opt_str(row.get("name")) or row["license_id"], _opt_str(row.get("url")),
                   _opt_str(row.get("commercial_use")), _opt_str(row.get("conditions")),
                   None if attribution is None else bool(attribution), _opt_str(row.get("source_url")))


@dataclass(frozen=True)
class GpuSpec:
    gpu_id: str
    name: str
    memory_gb: float
    memory_bandwidth_gbps: float | None
    bf16_tflops_dense: float | None
    source_url: str | None
    form_factor: str | None = None
    # Where the bandwidth came from: "catalog", "user-entered", or None when nobody gave one.
    bandwidth_source: str | None = None
    user_entered: bool = False  # the whole GPU was described by the user (a device not in the catalog)

    @classmethod
    def from_row(cls, row: dict) -> "GpuSpec":
        bandwidth = _opt_float(row.get("memory_bandwidth_gbps"))
        return cls(row["gpu_id"], _opt_str(row.get("name")) or row["gpu_id"], float(row["memory_gb"]), bandwidth,
                   _opt_float(row.get("bf16_tflops_dense")), _opt_str(row.get("source_url")),
                   _opt_str(row.get("form_factor")), "catalog" if bandwidth is not None else None)


@dataclass(frozen=True)
class PriceRow:
    provider: str
    model_id: str
    provider_model: str
    tier: str | None
    input_usd_per_mtok: float | None
    cached_input_usd_per_mtok: float | None
    output_usd_per_mtok: float | None
    effective_from: str
    source_url: str | None
    # The next row of the same offering (provider, API name, tier) took effect on this day, whichever model it
    # serves; None = still in force. Without it a model's last row would look current after its API name moved on.
    effective_until: str | None = None

    @classmethod
    def from_row(cls, row: dict) -> "PriceRow":
        return cls(row["provider"], row["model_id"], row["provider_model"], _opt_str(row.get("tier")),
                   _opt_float(row.get("input_usd_per_mtok")), _opt_float(row.get("cached_input_usd_per_mtok")),
                   _opt_float(row.get("output_usd_per_mtok")), _date_text(row.get("effective_from")) or "",
                   _opt_str(row.get("source_url")), _date_text(row.get("effective_until")))


@dataclass(frozen=True)
class MeasurementRow:
    run_id: str
    model_id: str
    engine: str
    engine_version: str
    hardware: str
    gpu_count: int | None
    dtype: str
    quantization: str | None
    weights: str
    concurrency: int | None
    input_len: int | None
    output_len: int | None
    output_tokens_per_s: float | None
    tpot_ms_p50: float | None
    requests_ok: int
    requests_failed: int
    measured_at: str | None
    peak_memory_gb: float | None = None
    peak_memory_scope: str | None = None  # per-gpu | sum-over-gpus
    provenance: str | None = None  # official (a vendor's published table) or measured (our harness)
    source_url: str | None = None
    source_location: str | None = None
    total_tokens_per_s: float | None = None

    @classmethod
    def from_row(cls, row: dict) -> "MeasurementRow":
        return cls(row["run_id"], row["model_id"], str(row["engine"]), str(row["engine_version"]),
                   str(row["hardware"]), _opt_int(row.get("gpu_count")), str(row["dtype"]),
                   _opt_str(row.get("quantization")), str(row["weights"]), _opt_int(row.get("concurrency")),
                   _opt_int(row.get("input_len")), _opt_int(row.get("output_len")),
                   _opt_float(row.get("output_tokens_per_s")), _opt_float(row.get("tpot_ms_p50")),
                   int(row["requests_ok"]), int(row["requests_failed"]), _date_text(row.get("measured_at")),
                   _opt_float(row.get("peak_memory_gb")), _opt_str(row.get("peak_memory_scope")),
                   _opt_str(row.get("provenance")), _opt_str(row.get("source_url")),
                   _opt_str(row.get("source_location")), _opt_float(row.get("total_tokens_per_s")))


@dataclass(frozen=True)
class ScoreRow:
    model_id: str
    benchmark_id: str
    value: float
    setting: str | None
    provenance: str
    source_url: str | None
    source_location: str | None
    measured_by: str | None = None  # another vendor's official report: shown next to the tier
    mode: str | None = None  # thinking / non-thinking / base / n.a. (filled by the build)


@dataclass(frozen=True)
class BenchmarkInfo:
    benchmark_id: str
    name: str
    category: str
    unit: str
    higher_is_better: bool


@dataclass(frozen=True)
class UseCaseWeight:
    use_case: str
    label: str
    category: str
    weight: float
    rationale: str


@dataclass(frozen=True)
class DecisionCatalog:
    """Everything the planner and the wizard read, loaded once per catalog build."""

    build_id: str
    models: dict[str, ModelInfo]
    architectures: dict[str, Architecture]
    licenses: dict[str, LicenseInfo]
    gpus: dict[str, GpuSpec]
    prices: dict[str, tuple[PriceRow, ...]]
    measurements: dict[str, tuple[MeasurementRow, ...]]
    scores: tuple[ScoreRow, ...] = ()
    benchmarks: dict[str, BenchmarkInfo] = field(default_factory=dict)
    use_case_weights: tuple[UseCaseWeight, ...] = ()


# Fixed SQL only; nothing from the user reaches these strings.
_SQL = {
    "models": "SELECT * FROM models ORDER BY vendor, family, params_total_b NULLS LAST, model_id",
    "architectures": "SELECT * FROM architectures",
    "licenses": "SELECT * FROM licenses",
    "gpus": "SELECT * FROM gpus ORDER BY vendor, memory_gb, gpu_id",
    # effective_until: the row ends at the offering's next row or when the offering stopped serving its model.
    "prices": f"WITH {PRICE_ROWS_CTE} SELECT * EXCLUDE (succeeded_by_model_id) FROM price_rows "
              "ORDER BY model_id, provider, provider_model, tier NULLS FIRST, effective_from",
    "measurements": "SELECT * FROM measurements ORDER BY model_id, measured_at",
    "scores": "SELECT model_id, benchmark_id, value, setting, provenance, measured_by, source_url, source_location, mode "
              "FROM scores",
    "benchmarks": "SELECT benchmark_id, name, category, unit, higher_is_better FROM benchmarks",
    "use_case_weights": "SELECT use_case, label, category, weight, rationale FROM use_case_weights "
                        "ORDER BY use_case, weight DESC, category",
}


def _records(reader: CatalogReader, name: str) -> list[dict]:
    return reader.records(_SQL[name])


def load_decision_catalog(reader: CatalogReader) -> DecisionCatalog:
    build_id = reader.build_info().build_id
    models = {r["model_id"]: ModelInfo.from_row(r) for r in _records(reader, "models")}
    architectures = {r["model_id"]: Architecture.from_row(r) for r in _records(reader, "architectures")}
    licenses = {r["license_id"]: LicenseInfo.from_row(r) for r in _records(reader, "licenses")}
    gpus = {r["gpu_id"]: GpuSpec.from_row(r) for r in _records(reader, "gpus")}
    prices: dict[str, list[PriceRow]] = {}
    for r in _records(reader, "prices"):
        prices.setdefault(r["model_id"], []).append(PriceRow.from_row(r))
    measurements: dict[str, list[MeasurementRow]] = {}
    for r in _records(reader, "measurements"):
        measurements.setdefault(r["model_id"], []).append(MeasurementRow.from_row(r))
    scores = tuple(
        ScoreRow(r["model_id"], r["benchmark_id"], float(r["value"]), _opt_str(r.get("setting")),
                 str(r["provenance"]), _opt_str(r.get("source_url")), _opt_str(r.get("source_location")),
                 _opt_str(r.get("measured_by")), _opt_str(r.get("mode")))
        for r in _records(reader, "scores") if clean(r.get("value")) is not None)
    benchmarks = {r["benchmark_id"]: BenchmarkInfo(r["benchmark_id"], str(r["name"]), str(r["category"]),
                                                   str(r["unit"]), bool(r["higher_is_better"]))
                  for r in _records(reader, "benchmarks")}
    weights = tuple(UseCaseWeight(str(r["use_case"]), str(r["label"]), str(r["category"]), float(r["weight"]),
                                  _opt_str(r.get("rationale")) or "")
                    for r in _records(reader, "use_case_weights"))
    return DecisionCatalog(build_id, models, architectures, licenses, gpus,
                           {k: tuple(v) for k, v in prices.items()}, {k: tuple(v) for k, v in measurements.items()},
                           scores, benchmarks, weights)


# ---------------------------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class UsageProfile:
    """A month of traffic. Thinking tokens are billed and generated like output tokens."""

    input_mtok_per_month: float = 0.0
    output_mtok_per_month: float = 0.0
    cached_input_share: float = 0.0  # share of input tokens that hit the provider's prompt cache
    thinking_tokens_per_output_token: float = 0.0  # reasoning models: thinking tokens per answer token

    @property
    def is_empty(self) -> bool:
        return self.input_mtok_per_month == 0 and self.output_mtok_per_month == 0

    def validate(self) -> None:
        for name, maximum in (("input_mtok_per_month", MAX_MTOK_PER_MONTH),
                              ("output_mtok_per_month", MAX_MTOK_PER_MONTH),
                              ("thinking_tokens_per_output_token", MAX_THINKING_TOKENS_PER_OUTPUT_TOKEN)):
            value = getattr(self, name)
            if value is None or not math.isfinite(value) or value < 0:
                raise PlanInputError(f"{name.replace('_', ' ')} must be a number of at least 0, got {value!r}")
            if value > maximum:
                raise PlanInputError(f"{name.replace('_', ' ')} of {value:g} is beyond what this planner handles "
                                     f"(at most {maximum:g})")
        if self.cached_input_share is None or not (0 <= self.cached_input_share <= 1):
            raise PlanInputError(f"the cached share of input tokens must be between 0 and 1, "
                                 f"got {self.cached_input_share!r}")


@dataclass(frozen=True)
class PlanRequest:
    model_id: str
    weights: str = "bf16"
    kv_dtype: str = "bf16"
    context_tokens: int = 8192
    concurrent_sequences: int = 1
    gpu: str | None = None  # gpu_id or an unambiguous part of its name
    gpu_count: int = 1  # tensor-parallel size
    custom_gpu_memory_gb: float | None = None  # a device the catalog does not list
    gpu_bandwidth_gbps: float | None = None  # user-entered bandwidth (labelled as such)
    gpu_usd_per_hour: float | None = None  # the user's rental quote; never defaulted
    gpu_memory_utilization: float = field(default_factory=settings.planner_gpu_memory_utilization)
    runtime_reserve_gb: float = field(default_factory=settings.planner_runtime_reserve_gb)
    usage: UsageProfile = UsageProfile()
    compare_model_ids: tuple[str, ...] = ()
    prices_as_of: str | None = None  # YYYY-MM-DD; default today
    engine: str = "vllm"  # vllm | sglang preallocate a share of each GPU; transformers allocates as it goes
    pipeline_parallel: int = 1  # pipeline stages; gpu_count = tensor parallel x pipeline stages
    expert_parallel: bool = False  # routed experts split over the GPUs, attention replicated (DP attention)
    include_mtp: bool = False  # load the multi-token-prediction module (MTP speculative decoding)
    prompt_tokens: int | None = None  # prompt part of the context (prefill activations); default: all of it


def resolve_precision(name: str) -> str:
    key = PRECISION_ALIASES.get(str(name).strip().lower())
    if key is None:
        raise PlanInputError(f"unknown weight precision {name!r}; choose one of {', '.join(PRECISIONS)}")
    return key


def resolve_model(catalog: DecisionCatalog, model_id: str) -> ModelInfo:
    if model_id in catalog.models:
        return catalog.models[model_id]
    by_lower = {m.lower(): m for m in catalog.models}
    if str(model_id).lower() in by_lower:
        return catalog.models[by_lower[str(model_id).lower()]]
    # "DeepSeek-V3" or "Qwen2.5-72B-Instruct" without the organisation: the name after the slash or the display
    # name, when exactly one model has it.
    wanted = str(model_id).strip().lower()
    named = [m for m in catalog.models.values()
             if wanted in (m.model_id.rsplit("/", 1)[-1].lower(), m.display_name.lower())]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise PlanInputError(f"model {model_id!r} matches {len(named)} catalog models: "
                             + ", ".join(m.model_id for m in named) + ". Pass the full model_id.")
    close = difflib.get_close_matches(str(model_id), list(catalog.models), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else " See the Models page for the ids."
    raise PlanInputError(f"unknown model {model_id!r}: it is not in the catalog.{hint}")


@functools.lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    # Cached: recommend's what-if runs match the same GPU and hardware names thousands of times.
    return tuple(re.findall(r"[A-Z0-9]+", text.upper()))


@functools.lru_cache(maxsize=1024)
def _gpu_codes(gpu_name: str) -> tuple[str, ...]:
    """Model codes in a catalog GPU's name (H100, MI300X), not its memory size."""
    return tuple(t for t in _tokens(gpu_name) if re.fullmatch(r"[A-Z]+\d+[A-Z]*", t) and not t.endswith("GB"))


def resolve_gpu(catalog: DecisionCatalog, query: str | None, custom_memory_gb: float | None = None,
                bandwidth_gbps: float | None = None) -> GpuSpec:
    """A catalog GPU by id or unambiguous name, or a user-described device; bandwidth may be user-entered."""
    if bandwidth_gbps is not None and (not math.isfinite(bandwidth_gbps) or bandwidth_gbps <= 0):
        raise PlanInputError(f"memory bandwidth must be a positive number of GB/s, got {bandwidth_gbps!r}")
    if bandwidth_gbps is not None and not MIN_BANDWIDTH_GBPS <= bandwidth_gbps <= MAX_BANDWIDTH_GBPS:
        raise PlanInputError(f"memory bandwidth of {bandwidth_gbps:g} GB/s is beyond what this planner handles "
                             f"(from {MIN_BANDWIDTH_GBPS:g} to {MAX_BANDWIDTH_GBPS:g} GB/s)")
    if custom_memory_gb is not None:
        if query:
            raise PlanInputError("choose either a catalog GPU or a custom memory size, not both")
        if not math.isfinite(custom_memory_gb) or custom_memory_gb <= 0:
            raise PlanInputError(f"device memory must be a positive number of GB, got {custom_memory_gb!r}")
        if custom_memory_gb > MAX_DEVICE_MEMORY_GB:
            raise PlanInputError(f"device memory of {custom_memory_gb:g} GB is beyond what this planner handles "
                                 f"(at most {MAX_DEVICE_MEMORY_GB:g} GB)")
        return GpuSpec("custom", f"your device with {custom_memory_gb:g} GB", float(custom_memory_gb),
                       bandwidth_gbps, None, None, None, "user-entered" if bandwidth_gbps else None, True)
    if not query:
        raise PlanInputError("choose a GPU (a catalog gpu_id such as "
                             f"{next(iter(catalog.gpus), 'h100-sxm')}) or give a custom device memory in GB")
    gpu = catalog.gpus.get(query) or next((g for k, g in catalog.gpus.items() if k.lower() == query.lower()), None)
    if gpu is None:
        wanted = _tokens(query)
        matches = [g for g in catalog.gpus.values()
                   if wanted and all(t in _tokens(g.name) + _tokens(g.gpu_id) for t in wanted)]
        if not matches:
            raise PlanInputError(f"unknown GPU {query!r}; the catalog has: "
                                 + ", ".join(f"{g.gpu_id} ({g.name})" for g in catalog.gpus.values()))
        sxm = [g for g in matches if (g.form_factor or "").upper() == "SXM"]
        if len(matches) > 1 and len(sxm) == 1:
            # A bare product name ("H200") means the SXM flagship in NVIDIA's own naming; the chosen gpu_id is in
            # every result, so the choice is visible, and the other variants stay one id away.
            matches = sxm
        if len(matches) > 1:
            raise PlanInputError(f"GPU {query!r} matches {len(matches)} GPUs in the catalog: "
                                 + ", ".join(f"{g.gpu_id} ({g.name})" for g in matches)
                                 + ". Pass one of these ids.")
        gpu = matches[0]
    if bandwidth_gbps is not None:
        gpu = dataclasses.replace(gpu, memory_bandwidth_gbps=float(bandwidth_gbps), bandwidth_source="user-entered")
    return gpu


def _positive_int(value: Any, what: str, maximum: int) -> int:
    # An int is whole whatever its size (math.isfinite would overflow on one too large for a float).
    whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise PlanInputError(f"{what} must be a whole number, got {value!r}")
    if value < 1:
        raise PlanInputError(f"{what} must be at least 1, got {int(value)}")
    if value > maximum:
        raise PlanInputError(f"{what} of {int(value):,} is beyond what this planner handles (at most {maximum:,})")
    return int(value)


def gpu_price_per_hour(value: float | None) -> float | None:
    """The user's GPU rental price, checked: positive, finite and below MAX_GPU_USD_PER_HOUR."""
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise PlanInputError(f"GPU price per hour must be a positive number of USD, got {value!r}")
    if value is not None and value > MAX_GPU_USD_PER_HOUR:
        raise PlanInputError(f"GPU price per hour of ${value:g} is beyond what this planner handles "
                             f"(at most ${MAX_GPU_USD_PER_HOUR:g})")
    return value


def prices_day(value: str | None) -> str:
    """The day whose prices apply, as YYYY-MM-DD; default today. Price rows are compared with it as text, so
    another ISO spelling (20260101) or a non-date must never reach that comparison."""
    if not value:
        return dt.date.today().isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise PlanInputError(f"prices date must be a date written YYYY-MM-DD, got {value!r}") from None


# ---------------------------------------------------------------------------------------------------------------
# Memory


FITS, DOES_NOT_FIT, UNKNOWN = "fits", "does-not-fit", "unknown"


@dataclass(frozen=True)
class MemoryPlan:
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
    """Longest context whose cache for `sequences` sequences fits in `free_bytes` (the cache only grows with context)."""
    if cache.bytes_for(1) * sequences > free_bytes:
        return 0
    lo, hi = 1, max(limit, 1)
    if cache.bytes_for(hi) * sequences <= free_bytes:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cache.bytes_for(mid) * sequences <= free_bytes:
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


def memory_plan(model: ModelInfo, arch: Architecture | None, precision: str, kv_dtype: str, context_tokens: int,
                concurrent_sequences: int, gpu: GpuSpec, gpu_count: int, gpu_memory_utilization: float,
                runtime_reserve_gb: float, engine: str = "vllm", pipeline_parallel: int = 1,
                expert_parallel: bool = False, include_mtp: bool = False, prompt_tokens: int | None = None
                ) -> MemoryPlan:
    """Weights + cache + overhead per GPU, and the engine's predicted peak. Parallelism splits weights and cache; it
    never pools GPU memories."""
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
    notes: list[str] = []
    wpg = weights_per_gpu(model.params_total_b, precision, arch, par, include_mtp, model.architecture)
    notes.extend(wpg.notes)
    if model.architecture == "moe":
        notes.append(f"MoE: memory holds all {model.params_total_b:g}B parameters (every expert must be resident); "
                     f"speed uses the {model.params_active_b or '?'}B active per token")
    if engine == "transformers" and gpu_count > 1:
        notes.append(f"transformers with device_map=\"auto\" splits the layers over the {gpu_count} GPUs (a pipeline "
                     "that runs one GPU at a time), not tensor parallel")
    weights_per_gpu_b = wpg.per_gpu_bytes
    arch_for_kv = arch or Architecture(model.model_id)
    kv = kv_cache_bytes_per_token(arch_for_kv, model.attention, kv_dtype, tp)
    kv1 = kv_cache_bytes_per_token(arch_for_kv, model.attention, kv_dtype, 1)
    cache = sequence_cache(arch_for_kv, model.attention, kv_dtype, tp, pp)
    if engine == "transformers" and cache.kind in ("mla", "mla+dsa") and cache.ok:
        cache = transformers_mla_cache(arch_for_kv, cache, kv_dtype, pp)
        notes.append("transformers caches DeepSeek's MLA expanded per head (K and V of every head), far more than "
                     "vLLM's or SGLang's latent cache")
    if arch is None and model.attention is not None:
        kv = dataclasses.replace(kv, formula=f"cannot compute the KV cache for {model.model_id}: the catalog has "
                                             "no architecture row for it", missing=("architecture row",))
        kv1 = dataclasses.replace(kv1, bytes_per_token=None, formula=kv.formula, missing=kv.missing)
        cache = dataclasses.replace(cache, parts=(), missing=("architecture row",), formula=kv.formula)
    notes.extend(n for n in (*kv.notes, *cache.notes) if n not in notes)
    if engine in PREALLOCATING_ENGINES:
        unused_gb = gpu.memory_gb * (1 - gpu_memory_utilization)
        overhead_gb = unused_gb + runtime_reserve_gb
        overhead_formula = (f"{gpu.memory_gb:g} GB × (1 − {gpu_memory_utilization:g} engine memory utilization) + "
                            f"{runtime_reserve_gb:g} GB runtime reserve (activations, CUDA graphs, context) = "
                            f"{overhead_gb:,.2f} GB per GPU")
        activations = Activations(0.0, "inside the runtime reserve (the engine's preallocated share)")
    else:
        activations = prefill_activations(arch, model.architecture, prompt)
        act_gb = (activations.bytes or 0) * concurrent_sequences / GB
        overhead_gb = runtime_reserve_gb + act_gb
        overhead_formula = (f"{act_gb:,.2f} GB prefill activations ({activations.formula}) + {runtime_reserve_gb:g} "
                            "GB reserve for what the allocator does not count (CUDA context, fragmentation) = "
                            f"{overhead_gb:,.2f} GB per GPU")
    free_gb = gpu.memory_gb - overhead_gb - weights_per_gpu_b / GB
    weights_formula = wpg.formula
    lower = " (lower bound)" if wpg.lower_bound else ""
    limit = model.context_length or 100_000_000
    if cache.ok:
        per_seq = cache.bytes_for(context_tokens)
        kv_gb = per_seq * concurrent_sequences / GB
        kv_formula = (f"{per_seq:,} bytes per sequence{' per GPU' if gpu_count > 1 else ''} at {context_tokens:,} "
                      f"tokens ({cache.formula}) × {concurrent_sequences:,} sequences = {kv_gb:,.2f} GB")
        total = weights_per_gpu_b / GB + kv_gb + overhead_gb
        if engine not in PREALLOCATING_ENGINES:
            # Prefill activations are gone by the time the whole context is cached: the larger moment counts.
            prefill_gb = cache.bytes_for(prompt) * concurrent_sequences / GB + (activations.bytes or 0) * \
                concurrent_sequences / GB
            total = weights_per_gpu_b / GB + max(prefill_gb, kv_gb) + runtime_reserve_gb
        margin = gpu.memory_gb - total
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
        if margin >= 0:
            verdict = FITS
            verdict_text = (f"Fits: {total:,.1f} GB of {gpu.memory_gb:g} GB used per GPU, {margin:,.1f} GB to spare"
                            f"{lower}.")
        else:
            verdict = DOES_NOT_FIT
            verdict_text = (f"Does not fit: needs {total:,.1f} GB per GPU, {-margin:,.1f} GB more than the "
                            f"{gpu.memory_gb:g} GB each GPU has{lower}.")
    else:
        kv_gb, total, margin, max_context, max_batch = None, None, None, None, None
        kv_formula = cache.message or cache.formula
        limits_text = f"The largest context and concurrency cannot be computed: {kv_formula}."
        if free_gb < 0:
            verdict = DOES_NOT_FIT
            need_gb = weights_per_gpu_b / GB + overhead_gb
            verdict_text = (f"Does not fit: weights and overhead alone need {need_gb:,.1f} GB "
                            f"per GPU, {-free_gb:,.1f} GB more than the {gpu.memory_gb:g} GB each GPU has{lower}.")
        else:
            verdict = UNKNOWN
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


# ---------------------------------------------------------------------------------------------------------------
# Speed


@dataclass(frozen=True)
class Roofline:
    tokens_per_s: float | None  # aggregate over the concurrent sequences
    tokens_per_s_per_sequence: float | None
    bytes_per_step_per_gpu: float | None
    formula: str


@dataclass(frozen=True)
class MeasuredSpeed:
    run_id: str
    engine: str
    hardware: str
    gpu_count: int | None
    precision: str | None
    concurrency: int | None
    input_len: int | None
    output_len: int | None
    output_tokens_per_s: float | None
    measured_at: str | None
    roofline_tokens_per_s: float | None
    measured_to_roofline_ratio: float | None
    comparison: str  # the ratio in words, or why there is none


@dataclass(frozen=True)
class SpeedEstimate:
    batch1: Roofline  # one sequence decoding at the planned context
    at_concurrency: Roofline  # the planned number of sequences
    measurements: tuple[MeasuredSpeed, ...]
    measured_status: str
    notes: tuple[str, ...]


def _weights_read_per_step_b(model: ModelInfo, arch: Architecture | None, sequences: int) -> tuple[float | None, str]:
    """Billions of parameters one decode step reads, for `sequences` sequences decoding together."""
    active = model.active_params_b
    if model.architecture != "moe":
        if model.params_total_b is None:
            return None, f"no official parameter count for {model.model_id} in the catalog"
        return model.params_total_b, f"{model.params_total_b:g}B parameters (dense: all of them every step)"
    if active is None:
        return None, f"no official active-parameter count for {model.model_id} in the catalog"
    if sequences == 1:
        return active, f"{active:g}B active parameters (MoE, one sequence)"
    expert = moe_expert_params(arch)
    total = model.params_total_b
    if expert is None:
        return total, (f"{total:g}B parameters: with {sequences} sequences the routed experts they touch cannot be "
                       "estimated (the catalog lacks hidden_size, moe_intermediate_size, first_k_dense or expert "
                       "counts for this model), so every weight is counted as read each step")
    per_expert, moe_layers, expert_text = expert
    e, k = arch.n_routed_experts, arch.experts_per_token
    # Under uniform routing each sequence picks k of E experts per layer; the expected number of distinct experts
    # touched by all sequences is E x (1 - (1 - k/E)^sequences).
    distinct = e * (1 - (1 - k / e) ** sequences)
    always = active * 1e9 - moe_layers * k * per_expert
    read = min(total * 1e9, always + moe_layers * distinct * per_expert) / 1e9
    return read, (f"{read:,.1f}B parameters: {active:g}B active minus the routed experts, plus {distinct:,.1f} "
                  f"distinct experts of {e} expected per layer for {sequences} sequences (uniform routing; "
                  f"{expert_text}, {moe_layers} MoE layers)")


def roofline(model: ModelInfo, arch: Architecture | None, precision: str, kv: KVCachePerToken, gpu: GpuSpec,
             gpu_count: int, context_tokens: int, sequences: int, cache: SequenceCache | None = None) -> Roofline:
    """Decode roofline: tokens/s <= bandwidth / bytes read per step (weights touched + KV cache of every sequence)."""
    if gpu.memory_bandwidth_gbps is None:
        return Roofline(None, None, None, f"no official memory bandwidth for {gpu.name} in the catalog, so there is "
                                          "no roofline; enter a bandwidth you trust to see one (it will be labelled "
                                          "as yours)")
    params_b, params_text = _weights_read_per_step_b(model, arch, sequences)
    if params_b is None:
        return Roofline(None, None, None, f"no roofline: {params_text}")
    if cache is not None and cache.ok:
        # The cache one decode step reads: windows and fixed states included, DSA's top-k selection applied.
        kv_gb = cache.decode_read_bytes(context_tokens) * sequences / GB
    elif not kv.ok:
        return Roofline(None, None, None, f"no roofline: {kv.formula}")
    else:
        kv_gb = kv.bytes_per_token * context_tokens * sequences / GB
    weights_gb = weight_bytes(params_b, precision, arch).bytes / GB / gpu_count
    step_gb = weights_gb + kv_gb
    per_step_s = step_gb / gpu.memory_bandwidth_gbps
    tokens_per_s = sequences / per_step_s
    seq_text = f"{sequences} sequences × " if sequences > 1 else ""
    yours = " (user-entered)" if gpu.bandwidth_source == "user-entered" else ""
    bw_text = f"{gpu.memory_bandwidth_gbps:,g} GB/s{yours}"
    formula = (f"{seq_text}{bw_text} ÷ ({weights_gb:,.2f} GB of weights per GPU [{params_text}] + {kv_gb:,.3f} GB "
               f"of KV cache at {context_tokens:,} tokens{f' × {sequences} sequences' if sequences > 1 else ''}"
               f") = {tokens_per_s:,.1f} tokens/s")
    return Roofline(tokens_per_s, tokens_per_s / sequences, step_gb * GB, formula)


def match_hardware(catalog: DecisionCatalog, hardware: str) -> GpuSpec | None:
    """The catalog GPU a measurement's nvidia-smi / rocm-smi name refers to, or None when it cannot be told."""
    hw = _tokens(hardware)
    candidates = []
    for gpu in catalog.gpus.values():
        codes = _gpu_codes(gpu.name)
        if not codes or codes[0] not in hw:
            continue
        memory = f"{gpu.memory_gb:g}GB"
        if any(t.endswith("GB") for t in hw) and memory not in hw:
            continue
        candidates.append(gpu)
    if len(candidates) > 1:
        # PCIe and NVL boards carry their form factor in the driver's name; SXM boards usually do not.
        named = [g for g in candidates if (g.form_factor or "").upper() in hw]
        candidates = named or [g for g in candidates if (g.form_factor or "").upper() in ("SXM", "")]
    return candidates[0] if len(candidates) == 1 else None


def _precision_of(row: MeasurementRow) -> str | None:
    if row.quantization:
        q = row.quantization.lower()
        # "GPTQ-Int8" names both a method and a width: the width decides, so int8 is looked for first.
        if "gptq" in q and "int8" in q:
            return "int8-gptq"
        for word, key in (("int8", "int8"), ("awq", "int4-awq"), ("gptq", "int4-awq"), ("q4_k_m", "gguf-q4_k_m"),
                          ("q8_0", "gguf-q8_0"), ("fp8", "fp8")):
            if word in q:
                return key
        return None
    return PRECISION_ALIASES.get(row.dtype.lower())


def measured_speeds(catalog: DecisionCatalog, model: ModelInfo, arch: Architecture | None) -> tuple[MeasuredSpeed, ...]:
    out = []
    for row in catalog.measurements.get(model.model_id, ()):
        precision = _precision_of(row)
        gpu = match_hardware(catalog, row.hardware)
        ratio, ceiling = None, None
        if row.requests_ok > 0 and row.output_tokens_per_s is None and row.total_tokens_per_s is not None:
            comparison = (f"the published speed, {row.total_tokens_per_s:,.1f} tokens/s, counts prompt and generated "
                          "tokens over the whole request, so it is not a decode speed and has no roofline ratio")
        elif row.requests_ok == 0 or row.output_tokens_per_s is None:
            comparison = "no successful requests with a throughput in this run"
        elif precision is None:
            comparison = f"no roofline: cannot tell the weight format of dtype {row.dtype!r} / {row.quantization!r}"
        elif gpu is None:
            comparison = f"no roofline: cannot tell which catalog GPU {row.hardware!r} is"
        else:
            try:
                kv = kv_cache_bytes_per_token(arch or Architecture(model.model_id), model.attention, "bf16",
                                              row.gpu_count or 1)
                line = roofline(model, arch, precision, kv, gpu, row.gpu_count or 1,
                                (row.input_len or 0) + (row.output_len or 0), row.concurrency or 1)
            except PlanInputError as exc:
                line = Roofline(None, None, None, str(exc))
            ceiling = line.tokens_per_s
            if ceiling:
                ratio = row.output_tokens_per_s / ceiling
                comparison = (f"measured {row.output_tokens_per_s:,.1f} tokens/s = {ratio:.0%} of the "
                              f"{ceiling:,.1f} tokens/s roofline for this run's configuration on {gpu.name}")
            else:
                comparison = line.formula
        out.append(MeasuredSpeed(row.run_id, f"{row.engine} {row.engine_version}", row.hardware, row.gpu_count,
                                 precision, row.concurrency, row.input_len, row.output_len, row.output_tokens_per_s,
                                 row.measured_at, ceiling, ratio, comparison))
    return tuple(out)


def _matching_measurement(catalog: DecisionCatalog, measured: tuple[MeasuredSpeed, ...], gpu: GpuSpec,
                          gpu_count: int, precision: str, sequences: int) -> MeasuredSpeed | None:
    """A measured run of exactly the planned configuration (GPU, count, weights, concurrency), if there is one."""
    for m in measured:
        if (m.output_tokens_per_s and m.precision == precision and (m.gpu_count or 1) == gpu_count
                and (m.concurrency or 1) == sequences):
            hw = match_hardware(catalog, m.hardware)
            if hw is not None and hw.gpu_id == gpu.gpu_id:
                return m
    return None


# ---------------------------------------------------------------------------------------------------------------
# Cost


@dataclass(frozen=True)
class ApiCost:
    provider: str
    provider_model: str
    tier: str | None
    effective_from: str
    source_url: str | None
    input_usd_per_mtok: float | None
    cached_input_usd_per_mtok: float | None
    output_usd_per_mtok: float | None
    usd_per_month: float | None
    formula: str


@dataclass(frozen=True)
class SelfHostCost:
    gpu_usd_per_hour: float
    gpu_count: int
    tokens_per_s: float | None
    throughput_source: str  # "measured", "roofline (upper bound)" or why there is none
    replicas: int | None
    usd_per_month: float
    usd_per_mtok_output_at_full_use: float | None
    capacity_output_mtok_per_month: float | None
    formula: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class BreakEven:
    provider: str
    provider_model: str
    tier: str | None
    output_mtok_per_month: float | None
    text: str


@dataclass(frozen=True)
class CostPlan:
    usage: UsageProfile
    thinking_applies: bool
    generated_output_mtok_per_month: float
    api: tuple[ApiCost, ...]
    api_status: str
    self_host: SelfHostCost | None
    self_host_status: str
    break_even: tuple[BreakEven, ...]


def current_prices(rows: Iterable[PriceRow], as_of: str) -> list[PriceRow]:
    """The price in effect on `as_of` for each provider, API name and tier (history rows stay in the catalog)."""
    latest: dict[tuple, PriceRow] = {}
    for row in rows:
        if row.effective_from and row.effective_from <= as_of:
            key = (row.provider, row.provider_model, row.tier or "")
            if key not in latest or row.effective_from > latest[key].effective_from:
                latest[key] = row
    # The offering moved on (to another model) before as_of: this model has no price there any more.
    in_force = [r for r in latest.values() if not (r.effective_until and r.effective_until <= as_of)]
    return sorted(in_force, key=lambda r: (r.provider, r.provider_model, r.tier or ""))


def billed_output_mtok(usage: UsageProfile, model: ModelInfo) -> float:
    """Output tokens a provider bills (and a GPU generates): answers plus thinking for models that think."""
    thinking = usage.thinking_tokens_per_output_token if model.thinks else 0.0
    return usage.output_mtok_per_month * (1 + thinking)


def api_cost(price: PriceRow, usage: UsageProfile, model: ModelInfo) -> ApiCost:
    base = dict(provider=price.provider, provider_model=price.provider_model, tier=price.tier,
                effective_from=price.effective_from, source_url=price.source_url,
                input_usd_per_mtok=price.input_usd_per_mtok, cached_input_usd_per_mtok=price.cached_input_usd_per_mtok,
                output_usd_per_mtok=price.output_usd_per_mtok)
    missing = [n for n in ("input_usd_per_mtok", "output_usd_per_mtok") if getattr(price, n) is None]
    if missing:
        return ApiCost(**base, usd_per_month=None,
                       formula=f"no {' or '.join(m.replace('_usd_per_mtok', '') for m in missing)} price for "
                               f"{price.provider} {price.provider_model} in the catalog")
    cached = usage.input_mtok_per_month * usage.cached_input_share
    uncached = usage.input_mtok_per_month - cached
    out = billed_output_mtok(usage, model)
    cached_price = price.cached_input_usd_per_mtok
    cached_note = ""
    if cached_price is None:
        cached_price = price.input_usd_per_mtok
        if cached > 0:
            cached_note = " (no cached-input price listed: cached tokens billed at the input price)"
    usd = uncached * price.input_usd_per_mtok + cached * cached_price + out * price.output_usd_per_mtok
    thinking = " incl. thinking" if out != usage.output_mtok_per_month else ""
    formula = (f"{uncached:,.3g} M input × ${price.input_usd_per_mtok:g} + {cached:,.3g} M cached input × "
               f"${cached_price:g}{cached_note} + {out:,.3g} M output{thinking} × ${price.output_usd_per_mtok:g} = "
               f"${usd:,.2f} per month (prices effective {price.effective_from})")
    return ApiCost(**base, usd_per_month=usd, formula=formula)


def serving_seconds(usage: UsageProfile, model: ModelInfo, gpu: GpuSpec, gpu_count: int, tokens_per_s: float
                    ) -> tuple[float, str, tuple[str, ...]]:
    """Seconds one replica needs for a month's traffic: decode at `tokens_per_s`, plus prompt processing when the
    GPU's compute is known (prompt tokens are compute-bound: about 2 FLOPs per active parameter per token)."""
    notes: list[str] = []
    seconds = billed_output_mtok(usage, model) * 1e6 / tokens_per_s
    prefill_text = ""
    active = model.active_params_b
    if usage.input_mtok_per_month > 0:
        if gpu.bf16_tflops_dense and active:
            prefill_s = 2 * active * 1e9 * usage.input_mtok_per_month * 1e6 / (gpu.bf16_tflops_dense * 1e12 * gpu_count)
            seconds += prefill_s
            prefill_text = (f" + prompt processing 2 × {active:g}B × {usage.input_mtok_per_month:g} M tokens ÷ "
                            f"({gpu_count} × {gpu.bf16_tflops_dense:g} BF16 TFLOPS) = {prefill_s / 3600:,.1f} h")
        elif not gpu.bf16_tflops_dense:
            notes.append(f"prompt processing time not counted: no official BF16 TFLOPS for {gpu.name} in the catalog")
        else:
            notes.append(f"prompt processing time not counted: no active-parameter count for {model.model_id}")
    return seconds, prefill_text, tuple(notes)


def self_host_cost(usage: UsageProfile, model: ModelInfo, gpu: GpuSpec, gpu_count: int, usd_per_hour: float,
                   tokens_per_s: float | None, throughput_source: str) -> SelfHostCost:
    """GPUs rented around the clock; replicas added until the month's tokens fit in the month."""
    per_replica = usd_per_hour * gpu_count * HOURS_PER_MONTH
    out_mtok = billed_output_mtok(usage, model)
    if not tokens_per_s:
        formula = (f"{gpu_count} GPUs × ${usd_per_hour:g}/h × {HOURS_PER_MONTH:g} h = ${per_replica:,.0f} per month "
                   f"for one replica; how many replicas the volume needs is unknown ({throughput_source})")
        return SelfHostCost(usd_per_hour, gpu_count, None, throughput_source, None, per_replica, None, None,
                            formula, ())
    seconds, prefill_text, time_notes = serving_seconds(usage, model, gpu, gpu_count, tokens_per_s)
    notes = list(time_notes)
    replicas = max(1, math.ceil(seconds / SECONDS_PER_MONTH))
    usd = replicas * per_replica
    capacity = tokens_per_s * SECONDS_PER_MONTH / 1e6
    per_mtok = usd_per_hour * gpu_count / (tokens_per_s * 3600) * 1e6
    formula = (f"{out_mtok:,.3g} M output tokens ÷ {tokens_per_s:,.1f} tokens/s ({throughput_source}) = "
               f"{out_mtok * 1e6 / tokens_per_s / 3600:,.1f} h of decoding{prefill_text} → {replicas} replica(s) × "
               f"{gpu_count} GPUs × ${usd_per_hour:g}/h × {HOURS_PER_MONTH:g} h = ${usd:,.0f} per month")
    notes.append("assumes traffic spread evenly over the month; peaks need more capacity")
    if throughput_source.startswith("roofline"):
        notes.append("throughput is the bandwidth roofline (an upper bound), so this cost is a lower bound")
    return SelfHostCost(usd_per_hour, gpu_count, tokens_per_s, throughput_source, replicas, usd, per_mtok, capacity,
                        formula, tuple(notes))


def break_even(api: ApiCost, self_host: SelfHostCost, usage: UsageProfile, model: ModelInfo) -> BreakEven:
    label = dict(provider=api.provider, provider_model=api.provider_model, tier=api.tier)
    if api.usd_per_month is None:
        return BreakEven(**label, output_mtok_per_month=None, text=api.formula)
    if usage.is_empty or api.usd_per_month == 0:
        return BreakEven(**label, output_mtok_per_month=None,
                         text="enter a monthly token volume to compare with self-hosting")
    one_replica = self_host.usd_per_month / (self_host.replicas or 1)
    scale = one_replica / api.usd_per_month  # the user's traffic mix scaled until the API bill equals one replica
    out = billed_output_mtok(usage, model) * scale
    tier = f" ({api.tier})" if api.tier else ""
    if self_host.capacity_output_mtok_per_month is not None and out > self_host.capacity_output_mtok_per_month:
        return BreakEven(**label, output_mtok_per_month=None,
                         text=(f"self-hosting never gets cheaper than {api.provider} {api.provider_model}{tier}: "
                               f"one replica would have to serve {out:,.0f} M output tokens a month to match its bill, "
                               f"more than its {self_host.capacity_output_mtok_per_month:,.0f} M capacity"))
    return BreakEven(**label, output_mtok_per_month=out,
                     text=(f"break-even with {api.provider} {api.provider_model}{tier} at {out:,.1f} M output tokens "
                           f"a month (input in your proportion): above it, self-hosting costs less"))


# ---------------------------------------------------------------------------------------------------------------
# The plan


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
    from modelmatch.planning.published import nearest_published  # imports this module

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


# ---------------------------------------------------------------------------------------------------------------
# Output


def to_jsonable(value: Any) -> Any:
    """Dataclasses, tuples and dates to plain JSON types; properties that carry meaning are added."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, KVCachePerToken):
            out["ok"] = value.ok
        return out
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_plan_text(result: PlanResult) -> str:
    m, mem, speed, cost = result.model, result.memory, result.speed, result.cost
    gpu_line = f"{mem.gpu_count} × {result.gpu.name} ({result.gpu.memory_gb:g} GB each)"
    lines = [
        f"{m.display_name} ({m.model_id}) on {gpu_line}",
        f"weights {mem.precision_label}, KV cache {mem.kv_dtype}, {mem.context_tokens:,} tokens × "
        f"{mem.concurrent_sequences} sequences",
        "",
        mem.verdict_text,
        f"  weights per GPU   {mem.weights_per_gpu_gb:10,.2f} GB   {mem.weights_formula}",
        f"  KV cache per GPU  {_gb(mem.kv_cache_per_gpu_gb):>10} GB   {mem.kv_cache_formula}",
        f"  overhead per GPU  {mem.overhead_per_gpu_gb:10,.2f} GB   {mem.overhead_formula}",
        f"  total per GPU     {_gb(mem.total_per_gpu_gb):>10} GB   of {mem.gpu_memory_gb:g} GB",
        f"  peak per GPU      {_gb(mem.peak_gb):>10} GB   {mem.peak_formula}",
        f"  engine {mem.engine}, {mem.parallelism}; attention {mem.attention_kind}",
        f"  cache per sequence: {(mem.cache.message or mem.cache.formula) if mem.cache else mem.kv.formula}",
        f"  {result.published_status}",
        f"  {mem.limits_text}",
        "",
        "Speed (decode):",
        f"  one sequence: {speed.batch1.formula}",
        f"  {mem.concurrent_sequences} sequences: {speed.at_concurrency.formula}",
        f"  {speed.measured_status}",
    ]
    lines += [f"  measured: {s.comparison}" for s in speed.measurements]
    lines += ["", "Cost per month:", f"  {cost.api_status}"]
    lines += [f"  {a.provider} {a.provider_model}{f' ({a.tier})' if a.tier else ''}: {a.formula}" for a in cost.api]
    lines += [f"  self-hosting: {cost.self_host_status}"]
    lines += [f"  {b.text}" for b in cost.break_even]
    if result.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in result.notes]
    return "\n".join(lines)


def _gb(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


def plan_cli_command(request: PlanRequest) -> str:
    """The `python -m modelmatch plan` command that prints this request's result (the page shows it)."""
    import shlex

    args = ["python", "-m", "modelmatch", "plan", "--model", request.model_id, "--weights", request.weights,
            "--kv-dtype", request.kv_dtype, "--context", str(request.context_tokens),
            "--batch", str(request.concurrent_sequences), "--gpus", str(request.gpu_count)]
    if request.custom_gpu_memory_gb is not None:
        args += ["--gpu-memory-gb", f"{request.custom_gpu_memory_gb:g}"]
    elif request.gpu:
        args += ["--gpu", request.gpu]
    optional = (("--gpu-bandwidth-gbps", request.gpu_bandwidth_gbps), ("--gpu-usd-per-hour", request.gpu_usd_per_hour))
    args += [a for name, v in optional if v is not None for a in (name, f"{v:g}")]
    u = request.usage
    for name, value, default in (("--input-mtok", u.input_mtok_per_month, 0), ("--output-mtok",
                                 u.output_mtok_per_month, 0), ("--cached-share", u.cached_input_share, 0),
                                 ("--thinking-ratio", u.thinking_tokens_per_output_token, 0),
                                 ("--utilization", request.gpu_memory_utilization,
                                  settings.planner_gpu_memory_utilization()),
                                 ("--reserve-gb", request.runtime_reserve_gb, settings.planner_runtime_reserve_gb())):
        if value != default:
            args += [name, f"{value:g}"]
    for other in request.compare_model_ids:
        args += ["--compare", other]
    if request.engine != "vllm":
        args += ["--engine", request.engine]
    if request.pipeline_parallel != 1:
        args += ["--pipeline-parallel", str(request.pipeline_parallel)]
    if request.expert_parallel:
        args += ["--expert-parallel"]
    if request.include_mtp:
        args += ["--mtp"]
    if request.prompt_tokens is not None:
        args += ["--prompt-tokens", str(request.prompt_tokens)]
    return shlex.join(args + ["--json"])
