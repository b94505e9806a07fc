"""The wizard's request, the use cases and their weights, and the checks that turn a request into a
validated context with its derived defaults and assumptions spelled out."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from modelmatch import settings
from modelmatch.catalog import languages as language_names
from modelmatch.planning.architecture import KV_DTYPES, PlanInputError
from modelmatch.planning.weights import PRECISION_QUALITY_ORDER
from modelmatch.planning.records import DecisionCatalog, GpuSpec
from modelmatch.planning.request import (
    UsageProfile,
    _positive_int,
    gpu_price_per_hour,
    prices_day,
    resolve_gpu,
    resolve_precision,
)
from modelmatch.planning.wizard.modes import WIZARD_MODES

DEPLOYMENTS = ("self-host", "api", "either")


@dataclass(frozen=True)
class LicenseNeeds:
    """What the product needs a license to allow."""

    commercial_use: bool = True
    over_100m_monthly_users: bool = False
    attribution_acceptable: bool = True


@dataclass(frozen=True)
class WizardRequest:
    """What the wizard is asked: use cases, languages, how to deploy, the GPUs, load, budget and limits."""

    use_cases: tuple[str, ...]
    languages: tuple[str, ...] = ()
    deployment: str = "either"
    gpu: str | None = None
    gpu_count: int = 1
    custom_gpu_memory_gb: float | None = None
    gpu_bandwidth_gbps: float | None = None
    gpu_usd_per_hour: float | None = None
    context_tokens: int = 8192
    concurrent_sequences: int = 1
    usage: UsageProfile = UsageProfile()
    budget_usd_per_month: float | None = None
    license: LicenseNeeds = LicenseNeeds()
    min_tokens_per_s: float | None = None  # decode speed each user should see, tokens/s per sequence
    needs_image_input: bool | None = None  # None: required when the multimodal-agents use case is chosen
    include_base_models: bool | None = None  # None: included when the fine-tuning-base use case is chosen
    precisions: tuple[str, ...] = PRECISION_QUALITY_ORDER
    kv_dtype: str = "bf16"
    gpu_memory_utilization: float = field(default_factory=settings.planner_gpu_memory_utilization)
    runtime_reserve_gb: float = field(default_factory=settings.planner_runtime_reserve_gb)
    top_n: int = 10
    prices_as_of: str | None = None
    with_sensitivity: bool = True
    # Score mode the wizard ranks on: "thinking", "non-thinking" or "" (each model's default). Quality and cost use
    # the same mode: thinking tokens are billed exactly when a model is ranked on its thinking scores.
    score_mode: str = ""


@dataclass(frozen=True)
class UseCase:
    """A use case and the category weights its score uses."""

    use_case: str
    label: str
    weights: tuple[tuple[str, float, str], ...]  # (category, weight as written, rationale)


def use_cases(catalog: DecisionCatalog) -> dict[str, UseCase]:
    grouped: dict[str, list] = {}
    labels: dict[str, str] = {}
    for row in catalog.use_case_weights:
        grouped.setdefault(row.use_case, []).append((row.category, row.weight, row.rationale))
        labels[row.use_case] = row.label
    return {k: UseCase(k, labels[k], tuple(v)) for k, v in grouped.items()}


@dataclass(frozen=True)
class WizardContext:
    """The request after validation, with the derived defaults spelled out."""

    request: WizardRequest
    use_cases: tuple[UseCase, ...]
    weights: dict[str, float]
    gpu: GpuSpec | None
    precisions: tuple[str, ...]
    needs_image: bool
    include_base: bool
    languages: tuple[str, ...]
    as_of: str
    assumptions: tuple[str, ...]


def validate_request(request: WizardRequest, catalog: DecisionCatalog) -> WizardContext:
    known = catalog.derived(("use_cases",), lambda: use_cases(catalog))  # read, never changed
    if not request.use_cases:
        raise PlanInputError("choose at least one use case: " + ", ".join(known))
    unknown = [u for u in request.use_cases if u not in known]
    if unknown:
        raise PlanInputError(f"unknown use case {', '.join(map(repr, unknown))}; the catalog's use cases are: "
                             + ", ".join(known))
    if request.deployment not in DEPLOYMENTS:
        raise PlanInputError(f"deployment must be one of {', '.join(DEPLOYMENTS)}, got {request.deployment!r}")
    # A whole-number float (2.0) is accepted; what follows needs ints (tensor-parallel sizes, the shortlist slice).
    request = dataclasses.replace(
        request, context_tokens=_positive_int(request.context_tokens, "context length (tokens)", 100_000_000),
        concurrent_sequences=_positive_int(request.concurrent_sequences, "concurrent sequences", 1_000_000),
        gpu_count=_positive_int(request.gpu_count, "GPU count", 1024),
        top_n=_positive_int(request.top_n, "shortlist length", 1000))
    request.usage.validate()
    if request.score_mode not in WIZARD_MODES:
        raise PlanInputError(f"score mode must be one of thinking, non-thinking or empty (each model's default), "
                             f"got {request.score_mode!r}")
    if request.kv_dtype not in KV_DTYPES:
        raise PlanInputError(f"unknown KV-cache dtype {request.kv_dtype!r}; choose one of {', '.join(KV_DTYPES)}")
    for name, value in (("budget", request.budget_usd_per_month), ("GPU price per hour", request.gpu_usd_per_hour),
                        ("latency target", request.min_tokens_per_s)):
        if value is not None and (not math.isfinite(value) or value < 0 or (value == 0 and name != "budget")):
            raise PlanInputError(f"{name} must be a positive number, got {value!r}")
    gpu_price_per_hour(request.gpu_usd_per_hour)
    if not (0 < request.gpu_memory_utilization <= 1):
        raise PlanInputError(f"engine memory utilization must be above 0 and at most 1, "
                             f"got {request.gpu_memory_utilization!r}")
    if request.runtime_reserve_gb < 0 or not math.isfinite(request.runtime_reserve_gb):
        raise PlanInputError(f"runtime reserve must be 0 GB or more, got {request.runtime_reserve_gb!r}")
    precisions = tuple(dict.fromkeys(resolve_precision(p) for p in request.precisions))
    if not precisions:
        raise PlanInputError("allow at least one weight precision")
    precisions = tuple(p for p in PRECISION_QUALITY_ORDER if p in precisions)
    # Names and ISO 639-1 codes alike ("th" is Thai), so a language note is searched for its English name.
    named = []
    for lang in request.languages:
        if not lang or not lang.strip():
            continue
        try:
            named.append(language_names.canonical(lang))
        except ValueError as problem:
            raise PlanInputError(str(problem)) from None
    languages = tuple(dict.fromkeys(named))

    assumptions: list[str] = []
    gpu = None
    wants_self_host = request.deployment in ("self-host", "either")
    if wants_self_host and (request.gpu or request.custom_gpu_memory_gb is not None):
        gpu = resolve_gpu(catalog, request.gpu, request.custom_gpu_memory_gb, request.gpu_bandwidth_gbps)
    elif request.deployment == "self-host":
        raise PlanInputError("self-hosting needs GPUs: choose a catalog GPU or give your device's memory in GB")
    elif request.deployment == "either":
        assumptions.append("no GPU given: only API deployments are considered")
    if request.deployment == "api" and (request.gpu or request.custom_gpu_memory_gb is not None):
        assumptions.append("deployment is API only: the GPU you gave is not used")
    if gpu is not None and gpu.user_entered:
        assumptions.append(f"{gpu.name}: memory is your input, not catalog data")
    if gpu is not None and gpu.bandwidth_source == "user-entered":
        assumptions.append(f"memory bandwidth {gpu.memory_bandwidth_gbps:g} GB/s is your input, not catalog data")

    chosen = tuple(known[u] for u in dict.fromkeys(request.use_cases))
    weights: dict[str, float] = {}
    for uc in chosen:
        total = sum(w for _, w, _ in uc.weights)
        for category, w, _ in uc.weights:
            if total > 0:
                weights[category] = weights.get(category, 0.0) + w / total / len(chosen)
    if len(chosen) > 1:
        assumptions.append("several use cases: each one's weights are normalised to sum to 1, then averaged")

    needs_image = request.needs_image_input
    if needs_image is None:
        needs_image = any(uc.use_case == "multimodal-agents" for uc in chosen)
        if needs_image:
            assumptions.append("multimodal agents: image input is required")
    include_base = request.include_base_models
    if include_base is None:
        include_base = any(uc.use_case == "fine-tuning-base" for uc in chosen)
        if include_base:
            assumptions.append("fine-tuning base: base (not instruction-tuned) checkpoints are included")
    if request.usage.is_empty:
        assumptions.append("no monthly token volume given: API costs are $0 and cost comparisons are not meaningful")
    if request.deployment != "api" and gpu is not None and request.gpu_usd_per_hour is None:
        assumptions.append("no GPU price per hour given (rental prices are not in the catalog): self-hosting "
                           "cost is unknown")
    as_of = prices_day(request.prices_as_of)
    return WizardContext(request, chosen, weights, gpu, precisions, needs_image, include_base, languages, as_of,
                         tuple(assumptions))
