"""What a person asks the planner: the request and its month of traffic, and the checks and look-ups that turn
typed names (model, GPU, precision) into catalog records or a clear error."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from modelmatch import settings
from modelmatch.planning.architecture import PlanInputError
from modelmatch.planning.weights import PRECISIONS
from modelmatch.planning.records import DecisionCatalog, GpuSpec, ModelInfo

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
    """What the planner is asked: a model, a precision, a context and load, and the GPUs to fit it on."""

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
    import difflib  # only on this error path

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
