"""Recommendation wizard: hard constraints first, then a transparent score, then what would change the answer.

`recommend(request, catalog)` is the one code path behind the wizard page and `python -m modelmatch recommend`.

1. Hard constraints exclude a model, each with its reason ("why not"): it fits the GPUs at no offered precision,
   its license forbids the use, its context window is too short, there is no API when an API is required, it is
   over budget, or even its speed ceiling misses the latency target.
2. A requirement the catalog cannot confirm (a license whose terms are not transcribed, a language the official
   note does not name, a KV cache whose head_dim is missing) does not exclude: the model stays, marked unverified,
   with lower confidence, and ranks after models whose requirements are all confirmed.
3. The score is a weighted mean over raw benchmark categories plus cost and speed, with the weights from the
   `use_case_weights` table. Each benchmark is min-max normalised across every model in the catalog that has a
   score on it; a category is the mean of the model's normalised benchmarks in it, taken only over the benchmarks
   every ranked model with a score in that category has (MGSM for one model is never averaged against MMMLU for
   another; when they share none, the most common one is used and the others say why they have no value). A term
   without data is left out of the mean and lowers the coverage; it never counts as zero.
"""

from __future__ import annotations

import dataclasses
import math
import re
import textwrap
from dataclasses import dataclass, field

from modelmatch.catalog import languages as language_names
from modelmatch import settings
from modelmatch.planning.memory import PRECISION_QUALITY_ORDER, PRECISIONS, KV_DTYPES, PlanInputError
from modelmatch.planning.cost import HOURS_PER_MONTH, SECONDS_PER_MONTH, api_cost, current_prices, serving_seconds
from modelmatch.planning.fit import FITS, UNKNOWN, MemoryPlan, memory_plan
from modelmatch.planning.records import DecisionCatalog, GpuSpec, LicenseInfo, ModelInfo, ScoreRow
from modelmatch.planning.request import (
    UsageProfile,
    resolve_gpu,
    resolve_precision,
    _positive_int,
    gpu_price_per_hour,
    prices_day,
)
from modelmatch.planning.speed import measured_speeds, roofline, _matching_measurement
from modelmatch.catalog.tiers import score_rank

__all__ = ["WizardRequest", "LicenseNeeds", "RecommendResult", "recommend", "use_cases", "DEPLOYMENTS",
           "format_recommendation_text", "ranking_key", "Unverified", "recommend_cli_command",
           "PlanInputError"]

DEPLOYMENTS = ("self-host", "api", "either")
QUALITY_TERMS_EXCLUDED = ("cost", "speed")
HIGH_CONFIDENCE_COVERAGE = 0.8
LOW_CONFIDENCE_COVERAGE = 0.5
MAU_LIMIT_USER = 100_000_000  # the wizard's question: "more than 100 million monthly active users?"

RANKING_RULE = ("Ranked by score, highest first; models whose score rests on less than half of the weight "
                "(coverage under 50 %) come after the others, and a model with no benchmark score in any weighted "
                "category is not scored; ties go to higher confidence. "
                "Score = Σ (weight × term) ÷ Σ weight, over the terms that have data; each benchmark is "
                "normalised (value − lowest) ÷ (highest − lowest) across every catalog model scored on it, a "
                "category is the mean of the benchmarks every ranked model with a score in it has (when they share "
                "none, the one most of them have; a model without it has no value there), "
                "cost = cheapest shortlisted monthly cost ÷ this model's, "
                "speed = this model's tokens/s ÷ the fastest shortlisted. Coverage = the share of weight with data. "
                "Confidence is high when coverage is at least 80 % and every requirement is confirmed, low when "
                "coverage is under 50 % or two or more kinds of requirement cannot be confirmed, medium otherwise.")


@dataclass(frozen=True)
class LicenseNeeds:
    commercial_use: bool = True
    over_100m_monthly_users: bool = False
    attribution_acceptable: bool = True


@dataclass(frozen=True)
class WizardRequest:
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


# ---------------------------------------------------------------------------------------------------------------
# Result types


@dataclass(frozen=True)
class Unverified:
    """A requirement the catalog cannot confirm for a model: it lowers confidence instead of excluding."""

    requirement: str  # license | language | fit | capacity | context | latency | budget | modality | availability
    detail: str

    def __str__(self) -> str:
        return f"{self.requirement}: {self.detail}"


@dataclass(frozen=True)
class BenchmarkEvidence:
    benchmark_id: str
    name: str
    value: float
    setting: str | None
    provenance: str
    source_url: str | None
    source_location: str | None
    catalog_lowest: float
    catalog_highest: float
    catalog_models: int
    normalized: float
    other_rows: int  # further rows for the same benchmark (other settings or sources) not used


@dataclass(frozen=True)
class TermBreakdown:
    category: str
    weight: float  # share of the score (weights of the chosen use cases, normalised and averaged)
    value: float | None  # 0..1, None when there is no data
    contribution: float | None  # weight x value
    how: str
    evidence: tuple[BenchmarkEvidence, ...] = ()


@dataclass(frozen=True)
class Deployment:
    kind: str  # self-host | api
    text: str
    usd_per_month: float | None
    cost_text: str
    tokens_per_s_per_sequence: float | None
    speed_text: str
    precision: str | None = None
    precision_label: str | None = None
    gpu_id: str | None = None
    gpu_name: str | None = None
    gpus_per_replica: int | None = None
    replicas: int | None = None
    memory_verdict: str | None = None
    memory_text: str | None = None
    total_per_gpu_gb: float | None = None
    provider: str | None = None
    provider_model: str | None = None
    tier: str | None = None
    price_effective_from: str | None = None
    price_source_url: str | None = None


@dataclass(frozen=True)
class Candidate:
    rank: int
    model_id: str
    display_name: str
    vendor: str
    variant: str
    score: float | None
    coverage: float
    confidence: str  # high | medium | low
    unverified: tuple[Unverified, ...]
    confirmed: tuple[str, ...]
    deployment: Deployment
    alternative: Deployment | None
    terms: tuple[TermBreakdown, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Exclusion:
    model_id: str
    display_name: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SensitivityCase:
    label: str
    eligible: int
    top_model_id: str | None
    top_display_name: str | None
    added: tuple[str, ...]
    removed: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class RecommendResult:
    build_id: str
    request: WizardRequest
    use_case_labels: tuple[str, ...]
    weights: tuple[tuple[str, float], ...]  # (category, share), largest first
    assumptions: tuple[str, ...]
    ranking_rule: str
    shortlist: tuple[Candidate, ...]
    other_eligible: tuple[str, ...]  # eligible but below the top_n, in rank order
    excluded: tuple[Exclusion, ...]
    sensitivity: tuple[SensitivityCase, ...]


# ---------------------------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class _Context:
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


def _validate(request: WizardRequest, catalog: DecisionCatalog) -> _Context:
    known = use_cases(catalog)
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
    return _Context(request, chosen, weights, gpu, precisions, needs_image, include_base, languages, as_of,
                    tuple(assumptions))


# ---------------------------------------------------------------------------------------------------------------
# Hard constraints


_MAU_RE = re.compile(r"(?:more than|over|exceeds?|above)\s+([\d.,]+)\s*(million|billion|m|b)\b(?=[^.;]{0,60}?"
                     r"monthly active users)", re.IGNORECASE)


def mau_thresholds(conditions: str | None) -> list[int]:
    """Monthly-active-user thresholds a license's conditions text states ("more than 700 million ...")."""
    out = []
    for number, unit in _MAU_RE.findall(conditions or ""):
        value = float(number.replace(",", ""))
        out.append(int(value * (1e9 if unit.lower() in ("billion", "b") else 1e6)))
    return out


def _license_checks(model: ModelInfo, lic: LicenseInfo | None, needs) -> tuple[list[str], list[str], list[str]]:
    """(reasons to exclude, unverified requirements, confirmed requirements)."""
    reasons, unverified, confirmed = [], [], []
    if lic is None:
        unverified.append(Unverified("license", "no license in the catalog for this model: check its terms before use"))
        return reasons, unverified, confirmed
    if needs.commercial_use:
        if lic.commercial_use == "no":
            reasons.append(f"license {lic.name} does not allow commercial use")
        elif lic.commercial_use is None:
            unverified.append(Unverified("license", (
                f"commercial-use terms of {lic.name} are not transcribed in the catalog; read "
                f"{lic.url or lic.source_url} before shipping")))
        else:
            confirmed.append(f"commercial use: {lic.commercial_use} ({lic.name})")
    if needs.over_100m_monthly_users:
        limits = mau_thresholds(lic.conditions)
        low = [t for t in limits if t <= MAU_LIMIT_USER]
        if low:
            reasons.append(f"{lic.name} requires a separate license above {min(low):,} monthly active users, and you "
                           "expect more than 100 million")
        elif limits:
            unverified.append(Unverified("license", (
                f"{lic.name} requires a separate license above {min(limits):,} monthly active users: "
                "check that you stay below it")))
        elif lic.commercial_use == "yes" and lic.conditions:
            confirmed.append(f"no user-count threshold in {lic.name}'s transcribed conditions")
        else:
            unverified.append(Unverified("license", (
                f"the catalog has no transcribed user-count conditions for {lic.name}")))
    if not needs.attribution_acceptable:
        if lic.attribution_required:
            reasons.append(f"{lic.name} requires attribution, which you said is not acceptable")
        elif lic.attribution_required is None:
            unverified.append(Unverified("license", f"whether {lic.name} requires attribution is not in the catalog"))
        else:
            confirmed.append(f"no attribution required by {lic.name}")
    return reasons, unverified, confirmed


def _language_checks(model: ModelInfo, languages: tuple[str, ...]) -> tuple[list[str], list[str]]:
    unverified, confirmed = [], []
    for lang in languages:
        if model.languages is None:
            unverified.append(Unverified("language", (
                f"{lang}: the catalog has no official language note for this model")))
        elif re.search(rf"\b{re.escape(lang)}\b", model.languages, re.IGNORECASE):
            confirmed.append(f"{lang} is named in the official language note")
        else:
            unverified.append(Unverified("language", (
                f"{lang} is not named in the official language note ({model.languages!r})")))
    return unverified, confirmed


@dataclass(frozen=True)
class _Option:
    deployment: Deployment
    unverified: tuple[Unverified, ...]
    failure: str | None = None  # set when the option violates a hard constraint


def _tp_sizes(gpu_count: int) -> list[int]:
    sizes = {1 << i for i in range(11) if 1 << i <= gpu_count} | {gpu_count}
    return sorted(sizes)


def _self_host_option(ctx: _Context, catalog: DecisionCatalog, model: ModelInfo) -> _Option:
    req, gpu = ctx.request, ctx.gpu
    if not model.open_weights:
        return _Option(_no_deployment("self-host"), (), "API-only: the weights are not downloadable, so it cannot "
                                                        "be self-hosted")
    if model.params_total_b is None:
        return _Option(_no_deployment("self-host"), (), "no official parameter count in the catalog, so the fit on "
                                                        "your GPUs cannot be checked")
    arch = catalog.architectures.get(model.model_id)
    chosen: MemoryPlan | None = None
    smallest: MemoryPlan | None = None
    tp_errors: list[str] = []
    for precision in ctx.precisions:
        for tp in _tp_sizes(req.gpu_count):
            try:
                mp = memory_plan(model, arch, precision, req.kv_dtype, req.context_tokens, req.concurrent_sequences,
                                 gpu, tp, req.gpu_memory_utilization, req.runtime_reserve_gb)
            except PlanInputError as exc:
                tp_errors.append(str(exc))
                continue
            if smallest is None or mp.free_for_kv_per_gpu_gb > smallest.free_for_kv_per_gpu_gb:
                smallest = mp
            if mp.verdict in (FITS, UNKNOWN):
                chosen = mp
                break
        if chosen is not None:
            break
    where = f"{req.gpu_count} × {gpu.name}"
    if chosen is None:
        if smallest is None:
            detail = tp_errors[0] if tp_errors else "no precision allowed"
            return _Option(_no_deployment("self-host"), (), f"cannot be split over {where}: {detail}")
        return _Option(_no_deployment("self-host"), (),
                       f"does not fit {where} at any allowed precision; closest is "
                       f"{PRECISIONS[smallest.precision].label} on {smallest.gpu_count} GPU(s): "
                       f"{smallest.verdict_text}")
    unverified: list[str] = []
    if chosen.verdict == UNKNOWN:
        unverified.append(Unverified("fit", f"fit not fully checked: {chosen.kv.formula} (the weights leave "
                          f"{chosen.free_for_kv_per_gpu_gb:,.1f} GB per GPU for it)"))
    if chosen.weights_lower_bound:
        unverified.append(Unverified("fit", (
            f"{chosen.precision_label} weights are a lower bound ({chosen.verdict_text})")))
    tp = chosen.gpu_count
    replicas = req.gpu_count // tp
    measured = measured_speeds(catalog, model, arch)
    exact = _matching_measurement(catalog, measured, gpu, tp, chosen.precision, req.concurrent_sequences)
    line = roofline(model, arch, chosen.precision, chosen.kv, gpu, tp, req.context_tokens, req.concurrent_sequences)
    if exact is not None:
        tps_replica = exact.output_tokens_per_s
        per_seq = tps_replica / req.concurrent_sequences
        speed_text = f"measured {per_seq:,.1f} tokens/s per sequence (run {exact.run_id})"
        source = "measured"
    elif line.tokens_per_s:
        tps_replica = line.tokens_per_s
        per_seq = line.tokens_per_s_per_sequence
        speed_text = (f"at most {per_seq:,.1f} tokens/s per sequence (bandwidth roofline, no measurement yet): "
                      f"{line.formula}")
        source = "roofline (upper bound)"
    else:
        tps_replica, per_seq, source = None, None, None
        speed_text = line.formula
    failure = None
    if req.min_tokens_per_s is not None:
        if per_seq is None:
            unverified.append(Unverified("latency", f"latency target not checked: {speed_text}"))
        elif per_seq < req.min_tokens_per_s:
            bound = "measured" if source == "measured" else "even the roofline (an upper bound) gives"
            failure = (f"too slow for your target: {bound} {per_seq:,.1f} tokens/s per sequence, below "
                       f"{req.min_tokens_per_s:g}")
        elif source != "measured":
            unverified.append(Unverified("latency", (
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
            failure = (f"the given GPUs cannot serve the monthly volume: it needs {needed_replicas} replicas of {tp} "
                       f"GPU(s) at {tps_replica:,.0f} tokens/s ({source}), and {where} hold {replicas}")
    elif not req.usage.is_empty:
        unverified.append(Unverified("capacity", (
            "whether the given GPUs can serve the monthly volume is unknown (no throughput)")))
    if req.gpu_usd_per_hour is not None:
        usd = req.gpu_usd_per_hour * req.gpu_count * HOURS_PER_MONTH
        cost_text = (f"{req.gpu_count} GPUs × ${req.gpu_usd_per_hour:g}/h (your price) × {HOURS_PER_MONTH:g} h = "
                     f"${usd:,.0f} per month, whatever the volume")
    text = (f"self-host {chosen.precision_label}, {tp} GPU(s) per replica × {replicas} replica(s) on {where}; "
            f"{chosen.verdict_text}")
    dep = Deployment("self-host", text, usd, cost_text, per_seq, speed_text, precision=chosen.precision,
                     precision_label=chosen.precision_label, gpu_id=gpu.gpu_id, gpu_name=gpu.name,
                     gpus_per_replica=tp, replicas=replicas, memory_verdict=chosen.verdict,
                     memory_text=chosen.verdict_text, total_per_gpu_gb=chosen.total_per_gpu_gb)
    return _Option(dep, tuple(unverified), failure)


def _no_deployment(kind: str) -> Deployment:
    return Deployment(kind, "", None, "", None, "")


WIZARD_MODES = ("", "thinking", "non-thinking")
WIZARD_MODE_RULE = ("Mode per model: models that always think are ranked on thinking scores, models without a "
                    "thinking mode on non-thinking scores, base checkpoints on base scores; hybrid models in the "
                    "mode you choose (default: thinking). Scores whose source states no mode count in every mode. "
                    "Thinking tokens are billed exactly for models ranked in thinking mode.")


def model_mode(model: ModelInfo, chosen: str) -> str:
    """The mode a model is ranked (and billed) in, under the wizard's chosen mode."""
    if model.variant == "base":
        return "base"
    if model.reasoning == "yes":
        return "thinking"
    if model.reasoning == "hybrid":
        return chosen or "thinking"
    return "non-thinking"


def usage_in_mode(usage: UsageProfile, model: ModelInfo, chosen: str) -> UsageProfile:
    """The usage billed for this model: no thinking tokens when it is ranked in a non-thinking mode."""
    if model_mode(model, chosen) == "thinking" or usage.thinking_tokens_per_output_token == 0:
        return usage
    return dataclasses.replace(usage, thinking_tokens_per_output_token=0.0)


def _tier_mode(tier: str | None) -> str | None:
    """The mode a price tier is for, when its name says so ("non-reasoning pattern (non-thinking)")."""
    text = (tier or "").lower()
    if re.search(r"non[- ]?(?:thinking|reasoning)", text):
        return "non-thinking"
    if re.search(r"thinking|reasoning", text):
        return "thinking"
    return None


def _api_option(ctx: _Context, catalog: DecisionCatalog, model: ModelInfo) -> _Option:
    prices = current_prices(catalog.prices.get(model.model_id, ()), ctx.as_of)
    if not prices:
        return _Option(_no_deployment("api"), (), "no API price in the catalog for this model")
    standard = [p for p in prices if not p.tier] or prices
    # A provider may price one model per mode (Huawei Cloud: Qwen3-32B output by "reasoning pattern"): bill the mode
    # the model is ranked in, never the cheaper tier of the other mode.
    mode = model_mode(model, ctx.request.score_mode)
    standard = [p for p in standard if _tier_mode(p.tier) in (None, mode)] or standard
    costs = [api_cost(p, usage_in_mode(ctx.request.usage, model, ctx.request.score_mode), model) for p in standard]
    known = [c for c in costs if c.usd_per_month is not None]
    if not known:
        return _Option(_no_deployment("api"), (), f"API price incomplete: {costs[0].formula}")
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
    return _Option(dep, tuple(unverified))


@dataclass(frozen=True)
class _Eligible:
    model: ModelInfo
    deployment: Deployment
    alternative: Deployment | None
    unverified: tuple[Unverified, ...]
    confirmed: tuple[str, ...]


def _budget_failure(ctx: _Context, dep: Deployment) -> str | None:
    budget = ctx.request.budget_usd_per_month
    if budget is not None and dep.usd_per_month is not None and dep.usd_per_month > budget:
        return f"{dep.kind} costs ${dep.usd_per_month:,.0f} a month, over your ${budget:,.0f} budget"
    return None


def _evaluate(ctx: _Context, catalog: DecisionCatalog) -> tuple[list[_Eligible], list[Exclusion]]:
    eligible: list[_Eligible] = []
    excluded: list[Exclusion] = []
    req = ctx.request
    for model in catalog.models.values():
        reasons: list[str] = []
        unverified: list[str] = []
        confirmed: list[str] = []
        if model.variant == "base" and not ctx.include_base:
            reasons.append("base model (not instruction-tuned): included only for fine-tuning or when you ask for "
                           "base models")
        if ctx.needs_image:
            if model.modalities is None:
                unverified.append(Unverified("modality", (
                    "image input: the catalog does not list this model's input modalities")))
            elif "image" not in model.modalities.split(";"):
                reasons.append(f"no image input (the catalog lists: {model.modalities})")
            else:
                confirmed.append("accepts image input")
        if model.context_length is None:
            unverified.append(Unverified("context", "no official context length in the catalog"))
        elif model.context_length < req.context_tokens:
            reasons.append(f"context window of {model.context_length:,} tokens is shorter than the "
                           f"{req.context_tokens:,} you need")
        else:
            confirmed.append(f"context window {model.context_length:,} tokens")
        lic_reasons, lic_unverified, lic_confirmed = _license_checks(
            model, catalog.licenses.get(model.license_id) if model.license_id else None, req.license)
        reasons += lic_reasons
        unverified += lic_unverified
        confirmed += lic_confirmed
        lang_unverified, lang_confirmed = _language_checks(model, ctx.languages)
        unverified += lang_unverified
        confirmed += lang_confirmed

        options: list[_Option] = []
        failures: list[str] = []
        if req.deployment in ("self-host", "either") and ctx.gpu is not None:
            options.append(_self_host_option(ctx, catalog, model))
        if req.deployment in ("api", "either"):
            options.append(_api_option(ctx, catalog, model))
        viable: list[_Option] = []
        for opt in options:
            failure = opt.failure or _budget_failure(ctx, opt.deployment)
            if failure:
                failures.append(failure)
            else:
                viable.append(opt)
        if not viable:
            reasons += failures or ["no deployment possible"]
        if reasons:
            excluded.append(Exclusion(model.model_id, model.display_name, tuple(dict.fromkeys(reasons))))
            continue
        # Prefer the option with a known, lower cost; between unknowns keep the order asked for (self-host first).
        viable.sort(key=lambda o: (o.deployment.usd_per_month is None, o.deployment.usd_per_month or 0.0))
        best = viable[0]
        alternative = viable[1].deployment if len(viable) > 1 else None
        extra = list(best.unverified)
        if best.deployment.usd_per_month is None and req.budget_usd_per_month is not None:
            extra.append(Unverified("budget", "not checked: the cost of this deployment is unknown"))
        eligible.append(_Eligible(model, best.deployment, alternative, tuple(unverified + extra), tuple(confirmed)))
    return eligible, excluded


# ---------------------------------------------------------------------------------------------------------------
# Score


@dataclass(frozen=True)
class _BenchStats:
    lowest: float
    highest: float
    models: int


def _representative_scores(scores: tuple[ScoreRow, ...], catalog: DecisionCatalog, chosen_mode: str = ""
                           ) -> dict[tuple[str, str], tuple[ScoreRow, int]]:
    """One score per (model, benchmark): the most official source, then the best value it reports; the count of
    rows not used is kept so the breakdown can say there were others."""
    grouped: dict[tuple[str, str], list[ScoreRow]] = {}
    for row in scores:
        model = catalog.models.get(row.model_id)
        # Like with like: only the model's ranked mode (and rows whose source states no mode) count.
        if model is not None and row.mode not in (None, "n.a.", model_mode(model, chosen_mode)):
            continue
        if row.benchmark_id in catalog.benchmarks:
            grouped.setdefault((row.model_id, row.benchmark_id), []).append(row)
    out = {}
    for key, rows in grouped.items():
        higher = catalog.benchmarks[key[1]].higher_is_better
        best = min(rows, key=lambda r: (score_rank(r.provenance, r.measured_by), -r.value if higher else r.value))
        out[key] = (best, len(rows) - 1)
    return out


def _bench_stats(rep: dict[tuple[str, str], tuple[ScoreRow, int]]) -> dict[str, _BenchStats]:
    values: dict[str, list[float]] = {}
    for (_, bench), (row, _) in rep.items():
        values.setdefault(bench, []).append(row.value)
    return {b: _BenchStats(min(v), max(v), len(v)) for b, v in values.items()}


def _usable(bench: str, stats: dict[str, _BenchStats]) -> bool:
    st = stats.get(bench)
    return st is not None and st.models >= 2 and st.highest != st.lowest


def comparable_benchmarks(category: str, model_ids: list[str], catalog: DecisionCatalog, rep: dict,
                          stats: dict[str, _BenchStats]) -> tuple[tuple[str, ...], bool]:
    """The benchmarks a category's average is taken over, so that every ranked model is measured on the same ones:
    those that every ranked model with a score in the category has; when they share none, the one most of them
    have (a model without it gets no value for the category: left out, not zero)."""
    benches = [b for b, info in catalog.benchmarks.items() if info.category == category and _usable(b, stats)]
    having = {m: {b for b in benches if (m, b) in rep} for m in model_ids}
    having = {m: bs for m, bs in having.items() if bs}
    if not having:
        return (), True
    shared = set.intersection(*having.values())
    if shared:
        return tuple(sorted(shared)), True
    counts = {b: sum(b in bs for bs in having.values()) for b in benches}
    return (min(counts, key=lambda b: (-counts[b], b)),), False


def _quality_term(category: str, weight: float, model_id: str, catalog: DecisionCatalog,
                  rep: dict, stats: dict[str, _BenchStats],
                  comparable: tuple[tuple[str, ...], bool] | None = None) -> TermBreakdown:
    evidence = []
    own = []
    over, shared_by_all = comparable if comparable is not None else (None, True)
    for bench in sorted(b for b, info in catalog.benchmarks.items() if info.category == category):
        if (model_id, bench) in rep and _usable(bench, stats):
            own.append(catalog.benchmarks[bench].name)
        if over is not None and bench not in over:
            continue
        found = rep.get((model_id, bench))
        st = stats.get(bench)
        if found is None or st is None or st.models < 2 or st.highest == st.lowest:
            continue
        row, others = found
        info = catalog.benchmarks[bench]
        span = st.highest - st.lowest
        norm = (row.value - st.lowest) / span if info.higher_is_better else (st.highest - row.value) / span
        evidence.append(BenchmarkEvidence(bench, info.name, row.value, row.setting, row.provenance, row.source_url,
                                          row.source_location, st.lowest, st.highest, st.models, norm, others))
    names = ", ".join(catalog.benchmarks[b].name for b in over or ())
    if not evidence:
        if own and over:
            return TermBreakdown(category, weight, None, None, (
                f"this model's {category} scores ({', '.join(own)}) are not on the benchmark(s) the ranked models "
                f"are compared on ({names}) — left out, not zero"))
        return TermBreakdown(category, weight, None, None,
                             f"no {category} benchmark score for this model in the catalog (left out, not zero)")
    value = sum(e.normalized for e in evidence) / len(evidence)
    how = (f"mean of {len(evidence)} benchmark(s), each (value − lowest) ÷ (highest − lowest) across the catalog: "
           + "; ".join(f"{e.name} {e.value:g} in [{e.catalog_lowest:g}, {e.catalog_highest:g}] → {e.normalized:.2f}"
                       for e in evidence))
    if over is not None:
        skipped = [n for n in own if n not in {e.name for e in evidence}]
        how += (f". Averaged only over {names}, which every ranked model with a {category} score has"
                if shared_by_all else
                f". Averaged only over {names}: no {category} benchmark is shared by every ranked model, and this "
                "is the one most of them have")
        if skipped:
            how += f" ({', '.join(skipped)} not counted: not every ranked model has it)"
    return TermBreakdown(category, weight, value, weight * value, how, tuple(evidence))


def _score(ctx: _Context, catalog: DecisionCatalog, eligible: list[_Eligible]) -> list[Candidate]:
    rep = _representative_scores(catalog.scores, catalog, ctx.request.score_mode)
    stats = _bench_stats(rep)
    costs = [e.deployment.usd_per_month for e in eligible if e.deployment.usd_per_month is not None]
    speeds = [e.deployment.tokens_per_s_per_sequence for e in eligible if e.deployment.tokens_per_s_per_sequence]
    cheapest = min(costs) if costs else None
    fastest = max(speeds) if speeds else None
    ranked_ids = [e.model.model_id for e in eligible]
    comparable = {category: comparable_benchmarks(category, ranked_ids, catalog, rep, stats)
                  for category in ctx.weights if category not in QUALITY_TERMS_EXCLUDED}
    candidates = []
    for e in eligible:
        terms: list[TermBreakdown] = []
        for category, weight in sorted(ctx.weights.items(), key=lambda kv: -kv[1]):
            if category == "cost":
                usd = e.deployment.usd_per_month
                if usd is None:
                    terms.append(TermBreakdown("cost", weight, None, None,
                                               f"cost unknown: {e.deployment.cost_text} (left out, not zero)"))
                else:
                    value = 1.0 if usd <= 0 else cheapest / usd
                    terms.append(TermBreakdown("cost", weight, value, weight * value,
                                               f"cheapest shortlisted ${cheapest:,.2f} ÷ this ${usd:,.2f} per month"))
            elif category == "speed":
                tps = e.deployment.tokens_per_s_per_sequence
                if not tps:
                    terms.append(TermBreakdown("speed", weight, None, None,
                                               f"speed unknown: {e.deployment.speed_text} (left out, not zero)"))
                else:
                    value = tps / fastest
                    terms.append(TermBreakdown("speed", weight, value, weight * value,
                                               f"{tps:,.1f} ÷ fastest shortlisted {fastest:,.1f} tokens/s per "
                                               "sequence"))
            else:
                terms.append(_quality_term(category, weight, e.model.model_id, catalog, rep, stats,
                                           comparable[category]))
        with_data = [t for t in terms if t.value is not None]
        weight_with_data = sum(t.weight for t in with_data)
        total_weight = sum(t.weight for t in terms)
        coverage = weight_with_data / total_weight if total_weight else 0.0
        # Cost and speed alone say nothing about whether the model can do the job: without a single benchmark
        # score in a weighted category the model is listed, unscored, after the scored ones.
        has_quality = any(t.value is not None for t in with_data if t.category not in QUALITY_TERMS_EXCLUDED)
        score = (sum(t.contribution for t in with_data) / weight_with_data
                 if weight_with_data and has_quality else None)
        missing = tuple(f"{t.category} (weight {t.weight:.0%}): {t.how}" for t in terms if t.value is None)
        kinds = {u.requirement for u in e.unverified}
        if coverage >= HIGH_CONFIDENCE_COVERAGE and not kinds:
            confidence = "high"
        elif coverage < LOW_CONFIDENCE_COVERAGE or len(kinds) >= 2:
            confidence = "low"
        else:
            confidence = "medium"
        candidates.append(Candidate(0, e.model.model_id, e.model.display_name, e.model.vendor, e.model.variant,
                                    score, coverage, confidence, e.unverified, e.confirmed, e.deployment,
                                    e.alternative, tuple(terms), missing))
    candidates.sort(key=ranking_key)
    return [dataclasses.replace(c, rank=i) for i, c in enumerate(candidates, start=1)]


CONFIDENCE_ORDER = {"high": 0, "medium": 1, "low": 2}


def ranking_key(c: Candidate) -> tuple:
    return (c.score is None, c.coverage < LOW_CONFIDENCE_COVERAGE, -(c.score or 0.0), CONFIDENCE_ORDER[c.confidence],
            c.model_id)


# ---------------------------------------------------------------------------------------------------------------
# The recommendation


def _rank(request: WizardRequest, catalog: DecisionCatalog) -> tuple[_Context, list[Candidate], list[Exclusion]]:
    ctx = _validate(request, catalog)
    eligible, excluded = _evaluate(ctx, catalog)
    return ctx, _score(ctx, catalog, eligible), excluded


def _sensitivity(request: WizardRequest, catalog: DecisionCatalog, base: list[Candidate]) -> list[SensitivityCase]:
    cases: list[tuple[str, WizardRequest]] = []
    if request.budget_usd_per_month is not None:
        cases.append((f"budget doubled to ${request.budget_usd_per_month * 2:,.0f}",
                      dataclasses.replace(request, budget_usd_per_month=request.budget_usd_per_month * 2)))
    if request.deployment != "api" and (request.gpu or request.custom_gpu_memory_gb is not None):
        if request.custom_gpu_memory_gb is not None:
            cases.append((f"device memory doubled to {request.custom_gpu_memory_gb * 2:g} GB",
                          dataclasses.replace(request, custom_gpu_memory_gb=request.custom_gpu_memory_gb * 2)))
        else:
            gpu = resolve_gpu(catalog, request.gpu)
            cases.append((f"{request.gpu_count * 2} × {gpu.name} instead of {request.gpu_count}",
                          dataclasses.replace(request, gpu_count=request.gpu_count * 2)))
            for other in catalog.gpus.values():
                if other.gpu_id != gpu.gpu_id:
                    cases.append((f"{request.gpu_count} × {other.name} instead",
                                  dataclasses.replace(request, gpu=other.gpu_id, gpu_bandwidth_gbps=None)))
    base_ids = [c.model_id for c in base]
    out = []
    for label, changed in cases:
        try:
            _, ranked, _ = _rank(dataclasses.replace(changed, with_sensitivity=False), catalog)
        except PlanInputError:
            # The what-if leaves the range the planner handles (1,024 GPUs doubled, a budget doubled to infinity):
            # there is nothing to compare, and the answer to the request itself stands.
            continue
        ids = [c.model_id for c in ranked]
        added = tuple(i for i in ids if i not in base_ids)
        removed = tuple(i for i in base_ids if i not in ids)
        top = ranked[0] if ranked else None
        base_top = base[0].model_id if base else None
        parts = [f"{len(ids)} eligible (now {len(base_ids)})"]
        if added:
            parts.append(f"adds {', '.join(catalog.models[i].display_name for i in added[:5])}"
                         + (f" and {len(added) - 5} more" if len(added) > 5 else ""))
        if removed:
            parts.append(f"drops {', '.join(catalog.models[i].display_name for i in removed[:5])}"
                         + (f" and {len(removed) - 5} more" if len(removed) > 5 else ""))
        if top is None:
            parts.append("no model is left")
        elif top.model_id != base_top:
            parts.append(f"top pick becomes {top.display_name}")
        else:
            parts.append("same top pick")
        out.append(SensitivityCase(label, len(ids), top.model_id if top else None, top.display_name if top else None,
                                   added, removed, "; ".join(parts)))
    return out


def recommend(request: WizardRequest, catalog: DecisionCatalog) -> RecommendResult:
    ctx, ranked, excluded = _rank(request, catalog)
    top_n = ctx.request.top_n
    sensitivity = _sensitivity(ctx.request, catalog, ranked) if request.with_sensitivity else []
    weights = tuple(sorted(((c, w) for c, w in ctx.weights.items()), key=lambda kv: -kv[1]))
    excluded.sort(key=lambda e: e.display_name.lower())
    return RecommendResult(
        build_id=catalog.build_id, request=request, use_case_labels=tuple(uc.label for uc in ctx.use_cases),
        weights=weights, assumptions=ctx.assumptions, ranking_rule=RANKING_RULE,
        shortlist=tuple(ranked[:top_n]), other_eligible=tuple(c.model_id for c in ranked[top_n:]),
        excluded=tuple(excluded), sensitivity=tuple(sensitivity))


def format_recommendation_text(result: RecommendResult) -> str:
    lines = [f"Use case: {', '.join(result.use_case_labels)}",
             "Weights: " + ", ".join(f"{c} {w:.0%}" for c, w in result.weights), result.ranking_rule, ""]
    lines += [f"Assumption: {a}" for a in result.assumptions]
    if not result.shortlist:
        lines.append("No model meets every hard requirement; see why not below.")
    for c in result.shortlist:
        score = "no data" if c.score is None else f"{c.score:.3f}"
        lines.append(f"{c.rank}. {c.display_name} ({c.model_id}) score {score}, coverage {c.coverage:.0%}, "
                     f"confidence {c.confidence}")
        lines.append(f"   {c.deployment.text}")
        if c.deployment.usd_per_month is not None:
            lines.append(f"   cost: {c.deployment.cost_text}")
        for t in c.terms:
            value = "—" if t.value is None else f"{t.value:.2f}"
            # The whole explanation, wrapped: a cut sentence reads as a different claim.
            head = f"   {t.category:<13} weight {t.weight:5.0%} value {value:>5}  "
            lines += textwrap.wrap(t.how, width=max(len(head) + 40, 118), initial_indent=head,
                                   subsequent_indent=" " * len(head), break_on_hyphens=False) or [head.rstrip()]
        lines += [f"   unverified: {u}" for u in c.unverified]
    if result.other_eligible:
        lines.append(f"... and {len(result.other_eligible)} more eligible")
    lines += ["", f"Excluded ({len(result.excluded)}):"]
    lines += [f"  {e.display_name}: {'; '.join(e.reasons)}" for e in result.excluded]
    if result.sensitivity:
        lines += ["", "Sensitivity:"] + [f"  {s.label}: {s.text}" for s in result.sensitivity]
    return "\n".join(lines)


def recommend_cli_command(request: WizardRequest) -> str:
    """The `python -m modelmatch recommend` command that prints this request's result (the page shows it)."""
    import shlex

    args = ["python", "-m", "modelmatch", "recommend"]
    for uc in request.use_cases:
        args += ["--use-case", uc]
    for lang in request.languages:
        args += ["--language", lang]
    args += ["--deployment", request.deployment, "--context", str(request.context_tokens)]
    if request.deployment != "api":
        if request.custom_gpu_memory_gb is not None:
            args += ["--gpu-memory-gb", f"{request.custom_gpu_memory_gb:g}"]
        elif request.gpu:
            args += ["--gpu", request.gpu]
        args += ["--gpus", str(request.gpu_count)]
        for name, value in (("--gpu-bandwidth-gbps", request.gpu_bandwidth_gbps),
                            ("--gpu-usd-per-hour", request.gpu_usd_per_hour)):
            if value is not None:
                args += [name, f"{value:g}"]
    if request.concurrent_sequences != 1:
        args += ["--concurrency", str(request.concurrent_sequences)]
    u = request.usage
    for name, value in (("--input-mtok", u.input_mtok_per_month), ("--output-mtok", u.output_mtok_per_month),
                        ("--cached-share", u.cached_input_share),
                        ("--thinking-ratio", u.thinking_tokens_per_output_token)):
        if value:
            args += [name, f"{value:g}"]
    for name, value in (("--budget-usd", request.budget_usd_per_month),
                        ("--min-tokens-per-s", request.min_tokens_per_s)):
        if value is not None:
            args += [name, f"{value:g}"]
    lic = request.license
    args += (["--non-commercial"] if not lic.commercial_use else []) + \
        (["--over-100m-users"] if lic.over_100m_monthly_users else []) + \
        (["--no-attribution"] if not lic.attribution_acceptable else [])
    if request.score_mode:
        args += ["--score-mode", request.score_mode]
    if request.needs_image_input:
        args.append("--needs-image")
    if request.include_base_models:
        args.append("--include-base")
    if tuple(request.precisions) != PRECISION_QUALITY_ORDER:
        for p in request.precisions:
            args += ["--precision", p]
    if request.kv_dtype != "bf16":
        args += ["--kv-dtype", request.kv_dtype]
    if request.gpu_memory_utilization != settings.planner_gpu_memory_utilization():
        args += ["--utilization", f"{request.gpu_memory_utilization:g}"]
    if request.runtime_reserve_gb != settings.planner_runtime_reserve_gb():
        args += ["--reserve-gb", f"{request.runtime_reserve_gb:g}"]
    if request.top_n != 10:
        args += ["--top", str(request.top_n)]
    return shlex.join(args + ["--json"])
