"""One decision, shared by the wizard, the planner, Compare and the decision summary, carried in the URL.

A person describes the job once (use case, languages, deployment, hardware, volume, budget, license needs) and
picks models; every page reads the same state from its link and writes it back, so moving between pages never
means retyping and any page's link reopens exactly that view.

Parsing never raises: an unknown, malformed or over-long value is dropped with a notice the page shows (the same
rules as modelmatch.explore.view_state). Values are only compared against known choices or parsed as numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

from modelmatch.catalog import languages as language_names
from modelmatch.explore.view_state import MAX_COMPARE_MODELS, QueryParams, _Parser, _quote

DEPLOYMENTS = ("either", "self-host", "api")
DEFAULT_GPU_ID = "h100-sxm"
MAX_LANGUAGES = 12

# URL key of every field; pages ignore the keys they do not show and pass them on unchanged.
KEYS = {
    "use_cases": "use_case", "languages": "lang", "deployment": "deploy", "gpu": "gpu", "gpu_count": "gpus",
    "context_tokens": "context", "concurrent_sequences": "concurrency", "input_mtok": "in_mtok",
    "output_mtok": "out_mtok", "cached_share": "cached", "thinking_ratio": "thinking", "min_tokens_per_s": "min_tps",
    "gpu_usd_per_hour": "usd_h", "budget_usd_per_month": "budget",
    "commercial_use": "commercial", "over_100m_users": "mau_100m", "attribution_ok": "attribution",
    "models": "models", "plan_model": "model",
}
DECISION_KEYS = frozenset(KEYS.values())


@dataclass(frozen=True)
class DecisionState:
    """What the person asked and chose. The defaults are the wizard's and the planner's starting view."""

    use_cases: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    deployment: str = "either"
    gpu: str | None = DEFAULT_GPU_ID  # a catalog gpu_id
    gpu_count: int = 1
    context_tokens: int = 8192
    concurrent_sequences: int = 1
    input_mtok: float = 50.0  # million input tokens per month
    output_mtok: float = 10.0
    cached_share: float = 0.0  # share of input tokens served from the provider's prompt cache
    thinking_ratio: float = 0.0  # thinking tokens per output token (reasoning models)
    min_tokens_per_s: float | None = None  # latency target: decode tokens/s each user should see
    gpu_usd_per_hour: float | None = None
    budget_usd_per_month: float | None = None
    commercial_use: bool = True
    over_100m_users: bool = False
    attribution_ok: bool = True
    models: tuple[str, ...] = ()  # the models being weighed, the chosen one first
    plan_model: str | None = None  # the model the planner shows

    @property
    def choice(self) -> str | None:
        return self.models[0] if self.models else None


DEFAULT = DecisionState()


@dataclass(frozen=True)
class DecisionChoices:
    """What the catalog knows; parsed values must be one of these."""

    use_cases: frozenset[str] = frozenset()
    gpu_ids: frozenset[str] = frozenset()
    model_ids: frozenset[str] = frozenset()


def _bool(p: _Parser, key: str, default: bool) -> bool:
    value = p.one(key)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    p.notices.append(f"Ignored '{key}={_quote(value)}' in the link (expected 1 or 0).")
    return default


def _int(p: _Parser, key: str, default: int, maximum: int) -> int:
    number = p.number(key, 1, maximum)
    if number is None:
        return default
    if number != int(number):
        p.notices.append(f"Ignored '{key}={number:g}' in the link (expected a whole number).")
        return default
    return int(number)


def _languages(p: _Parser) -> tuple[str, ...]:
    kept: list[str] = []
    for value in p.values(KEYS["languages"]):
        try:
            name = language_names.canonical(value)
        except ValueError as problem:
            p.notices.append(f"Ignored language {_quote(value)} in the link: {problem}")
            continue
        if name not in kept:
            kept.append(name)
    if len(kept) > MAX_LANGUAGES:
        p.notices.append(f"The link names {len(kept)} languages; the first {MAX_LANGUAGES} are used.")
        kept = kept[:MAX_LANGUAGES]
    return tuple(kept)


def parse_decision(params: QueryParams, choices: DecisionChoices) -> tuple[DecisionState, list[str]]:
    """The decision in a link. Keys outside DECISION_KEYS are left to the page (no notice here)."""
    p = _Parser({k: v for k, v in params.items() if k in DECISION_KEYS})
    models = p.choice_list(KEYS["models"], choices.model_ids, "model")
    if len(models) > MAX_COMPARE_MODELS:
        p.notices.append(f"The link names {len(models)} models; the first {MAX_COMPARE_MODELS} are kept.")
        models = models[:MAX_COMPARE_MODELS]
    gpu = DEFAULT.gpu if DEFAULT.gpu in choices.gpu_ids else None
    if p.params.get(KEYS["gpu"]):
        gpu = p.choice(KEYS["gpu"], choices.gpu_ids, "GPU") or gpu
    deployment = p.choice(KEYS["deployment"], DEPLOYMENTS, "deployment") or DEFAULT.deployment
    state = DecisionState(
        use_cases=p.choice_list(KEYS["use_cases"], choices.use_cases, "use case"),
        languages=_languages(p),
        deployment=deployment, gpu=gpu,
        gpu_count=_int(p, KEYS["gpu_count"], DEFAULT.gpu_count, 1024),
        context_tokens=_int(p, KEYS["context_tokens"], DEFAULT.context_tokens, 100_000_000),
        concurrent_sequences=_int(p, KEYS["concurrent_sequences"], DEFAULT.concurrent_sequences, 1_000_000),
        input_mtok=_or(p.number(KEYS["input_mtok"], 0, 1e9), DEFAULT.input_mtok),
        output_mtok=_or(p.number(KEYS["output_mtok"], 0, 1e9), DEFAULT.output_mtok),
        cached_share=_or(p.number(KEYS["cached_share"], 0, 1), DEFAULT.cached_share),
        thinking_ratio=_or(p.number(KEYS["thinking_ratio"], 0, 1000), DEFAULT.thinking_ratio),
        min_tokens_per_s=_positive(p, KEYS["min_tokens_per_s"]),
        gpu_usd_per_hour=_positive(p, KEYS["gpu_usd_per_hour"]),
        budget_usd_per_month=p.number(KEYS["budget_usd_per_month"], 0, 1e12),
        commercial_use=_bool(p, KEYS["commercial_use"], DEFAULT.commercial_use),
        over_100m_users=_bool(p, KEYS["over_100m_users"], DEFAULT.over_100m_users),
        attribution_ok=_bool(p, KEYS["attribution_ok"], DEFAULT.attribution_ok),
        models=models,
        plan_model=p.choice(KEYS["plan_model"], choices.model_ids, "model"),
    )
    return state, p.notices


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _positive(p: _Parser, key: str) -> float | None:
    value = p.number(key, 0, 1e6)
    if value == 0:
        p.notices.append(f"Ignored '{key}=0' in the link (it must be above zero).")
        return None
    return value


def _number_text(value: float) -> str:
    return f"{value:.12g}"


def decision_params(state: DecisionState) -> dict[str, str]:
    """The state as URL parameters. Every field is written (defaults too, except empty optional ones) so a link
    keeps meaning the same view even if a later version changes a default."""
    out: dict[str, str] = {}
    if state.use_cases:
        out[KEYS["use_cases"]] = ",".join(state.use_cases)
    if state.languages:
        out[KEYS["languages"]] = ",".join(state.languages)
    out[KEYS["deployment"]] = state.deployment
    if state.gpu:
        out[KEYS["gpu"]] = state.gpu
    out[KEYS["gpu_count"]] = str(state.gpu_count)
    out[KEYS["context_tokens"]] = str(state.context_tokens)
    out[KEYS["concurrent_sequences"]] = str(state.concurrent_sequences)
    out[KEYS["input_mtok"]] = _number_text(state.input_mtok)
    out[KEYS["output_mtok"]] = _number_text(state.output_mtok)
    if state.cached_share:
        out[KEYS["cached_share"]] = _number_text(state.cached_share)
    if state.thinking_ratio:
        out[KEYS["thinking_ratio"]] = _number_text(state.thinking_ratio)
    if state.min_tokens_per_s is not None:
        out[KEYS["min_tokens_per_s"]] = _number_text(state.min_tokens_per_s)
    if state.gpu_usd_per_hour is not None:
        out[KEYS["gpu_usd_per_hour"]] = _number_text(state.gpu_usd_per_hour)
    if state.budget_usd_per_month is not None:
        out[KEYS["budget_usd_per_month"]] = _number_text(state.budget_usd_per_month)
    out[KEYS["commercial_use"]] = "1" if state.commercial_use else "0"
    out[KEYS["over_100m_users"]] = "1" if state.over_100m_users else "0"
    out[KEYS["attribution_ok"]] = "1" if state.attribution_ok else "0"
    if state.models:
        out[KEYS["models"]] = ",".join(state.models)
    if state.plan_model:
        out[KEYS["plan_model"]] = state.plan_model
    return out


def has_decision(params: QueryParams) -> bool:
    """Whether a link carries a decision (a page reached from the flow), beyond Compare's own `models`."""
    return any(k in DECISION_KEYS and k != KEYS["models"] for k in params)


def page_params(params: QueryParams) -> dict[str, list[str]]:
    """The link's parameters that are not part of the decision: the page's own (Compare's category, ...)."""
    return {k: v for k, v in params.items() if k not in DECISION_KEYS}


def with_models(state: DecisionState, models: Iterable[str]) -> DecisionState:
    return dataclasses.replace(state, models=tuple(dict.fromkeys(models))[:MAX_COMPARE_MODELS])
