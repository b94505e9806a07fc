"""The Overview and Compare selections as URL query parameters, so a copied link reopens the same view.

Parsing never raises: anything unknown, malformed, too long or not in the catalog is dropped and reported as a
notice the page shows. Values are only ever compared against known choices or parsed as numbers and dates; none
of them reaches SQL except as a bound parameter.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from modelmatch.catalog.schema import CHART_SCORE_MODES

MAX_VALUE_CHARS = 200
MAX_COMPARE_MODELS = 6
MIN_COMPARE_MODELS = 2

QueryParams = Mapping[str, list[str]]


@dataclass(frozen=True)
class OverviewState:
    benchmark_id: str | None = None
    category: str | None = None
    vendors: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    open_weights_only: bool = False
    commercial_only: bool = False
    architectures: tuple[str, ...] = ()
    min_context_tokens: int = 0
    reasoning_only: bool = False
    params_total_b: tuple[float | None, float | None] = (None, None)
    params_active_b: tuple[float | None, float | None] = (None, None)
    released_from: dt.date | None = None
    released_to: dt.date | None = None
    price_date: dt.date | None = None


@dataclass(frozen=True)
class CompareState:
    model_ids: tuple[str, ...] = ()
    category: str | None = None
    price_date: dt.date | None = None
    mode: str | None = None  # score mode (thinking / non-thinking / base); None = each model's default mode


SCORE_MODES = CHART_SCORE_MODES


@dataclass(frozen=True)
class Choices:
    """What the catalog knows; parsed values must be one of these."""
    model_ids: frozenset[str] = frozenset()
    benchmark_ids: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    vendors: frozenset[str] = frozenset()
    families: frozenset[str] = frozenset()
    benchmark_names: tuple[tuple[str, str], ...] = ()  # (benchmark_id, name), for the pages' benchmark boxes


@dataclass
class _Parser:
    params: QueryParams
    notices: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    def values(self, key: str) -> list[str]:
        self.used.add(key)
        out = []
        for raw in self.params.get(key, []):
            if not isinstance(raw, str):
                continue
            if len(raw) > MAX_VALUE_CHARS:
                self.notices.append(f"Ignored an over-long value for '{key}' in the link.")
                continue
            out.extend(v.strip() for v in raw.split(",") if v.strip())
        return out

    def one(self, key: str) -> str | None:
        values = self.values(key)
        if len(values) > 1:
            self.notices.append(f"'{key}' appears more than once in the link; using the first value.")
        return values[0] if values else None

    def choice_list(self, key: str, known: Iterable[str], label: str) -> tuple[str, ...]:
        known = set(known)
        kept: list[str] = []
        for value in self.values(key):
            if value in known:
                if value not in kept:
                    kept.append(value)
            else:
                self.notices.append(f"Ignored unknown {label} {_quote(value)} in the link.")
        return tuple(kept)

    def choice(self, key: str, known: Iterable[str], label: str) -> str | None:
        value = self.one(key)
        if value is None:
            return None
        if value in set(known):
            return value
        self.notices.append(f"Ignored unknown {label} {_quote(value)} in the link.")
        return None

    def flag(self, key: str) -> bool:
        value = self.one(key)
        if value is None:
            return False
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() not in ("0", "false", "no", "off"):
            self.notices.append(f"Ignored '{key}={_quote(value)}' in the link (expected 1 or 0).")
        return False

    def number(self, key: str, minimum: float = 0.0, maximum: float = 1e9) -> float | None:
        value = self.one(key)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or not (minimum <= number <= maximum):
            self.notices.append(f"Ignored '{key}={_quote(value)}' in the link (expected a number from "
                                f"{minimum:g} to {maximum:g}).")
            return None
        return number

    def date(self, key: str) -> dt.date | None:
        value = self.one(key)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.notices.append(f"Ignored '{key}={_quote(value)}' in the link (expected a date YYYY-MM-DD).")
            return None

    def report_unused(self) -> None:
        for key in sorted(set(self.params) - self.used):
            self.notices.append(f"Ignored unknown parameter {_quote(key)} in the link.")


MARKDOWN_SPECIALS = set("\\`*_[]<>{}()#|~!")


def _quote(value: str) -> str:
    """The value as the notice shows it: shortened, control characters dropped, markdown escaped (notices are
    rendered as markdown, so a crafted value must not become a link, an image or formatting)."""
    shown = value if len(value) <= 40 else value[:40] + "…"
    return "'" + "".join("\\" + ch if ch in MARKDOWN_SPECIALS else ch for ch in shown if ch.isprintable()) + "'"


def _range(parser: _Parser, low_key: str, high_key: str) -> tuple[float | None, float | None]:
    low, high = parser.number(low_key, 0, 100_000), parser.number(high_key, 0, 100_000)
    if low is not None and high is not None and low > high:
        parser.notices.append(f"Ignored '{low_key}'/'{high_key}' in the link: the minimum is above the maximum.")
        return (None, None)
    return (low, high)


def parse_overview(params: QueryParams, choices: Choices) -> tuple[OverviewState, list[str]]:
    p = _Parser(params)
    state = OverviewState(
        benchmark_id=p.choice("benchmark", choices.benchmark_ids, "benchmark"),
        category=p.choice("category", choices.categories, "category"),
        vendors=p.choice_list("vendor", choices.vendors, "vendor"),
        families=p.choice_list("family", choices.families, "family"),
        open_weights_only=p.flag("open"),
        commercial_only=p.flag("commercial"),
        architectures=p.choice_list("arch", ("dense", "moe"), "architecture"),
        min_context_tokens=int(p.number("min_context", 0, 100_000_000) or 0),
        reasoning_only=p.flag("reasoning"),
        params_total_b=_range(p, "total_min", "total_max"),
        params_active_b=_range(p, "active_min", "active_max"),
        released_from=p.date("from"),
        released_to=p.date("to"),
        price_date=p.date("price_date"),
    )
    if state.benchmark_id and state.category:
        p.notices.append("The link names both a benchmark and a category; showing the benchmark.")
        state = replace(state, category=None)
    p.report_unused()
    return state, p.notices


def overview_params(state: OverviewState) -> dict[str, str]:
    out: dict[str, str] = {}
    if state.benchmark_id:
        out["benchmark"] = state.benchmark_id
    elif state.category:
        out["category"] = state.category
    if state.vendors:
        out["vendor"] = ",".join(state.vendors)
    if state.families:
        out["family"] = ",".join(state.families)
    for key, on in (("open", state.open_weights_only), ("commercial", state.commercial_only),
                    ("reasoning", state.reasoning_only)):
        if on:
            out[key] = "1"
    if state.architectures:
        out["arch"] = ",".join(state.architectures)
    if state.min_context_tokens:
        out["min_context"] = str(state.min_context_tokens)
    for (low_key, high_key), (low, high) in ((("total_min", "total_max"), state.params_total_b),
                                             (("active_min", "active_max"), state.params_active_b)):
        if low is not None:
            out[low_key] = f"{low:g}"
        if high is not None:
            out[high_key] = f"{high:g}"
    if state.released_from:
        out["from"] = state.released_from.isoformat()
    if state.released_to:
        out["to"] = state.released_to.isoformat()
    if state.price_date:
        out["price_date"] = state.price_date.isoformat()
    return out


def parse_compare(params: QueryParams, choices: Choices) -> tuple[CompareState, list[str]]:
    p = _Parser(params)
    models = p.choice_list("models", choices.model_ids, "model")
    if len(models) > MAX_COMPARE_MODELS:
        p.notices.append(f"The link names {len(models)} models; Compare shows at most {MAX_COMPARE_MODELS}, "
                         "so the first six are shown.")
        models = models[:MAX_COMPARE_MODELS]
    state = CompareState(model_ids=models, category=p.choice("category", choices.categories, "category"),
                         price_date=p.date("price_date"), mode=p.choice("mode", SCORE_MODES, "score mode"))
    p.report_unused()
    return state, p.notices


def compare_params(state: CompareState) -> dict[str, str]:
    out: dict[str, str] = {}
    if state.model_ids:
        out["models"] = ",".join(state.model_ids)
    if state.category:
        out["category"] = state.category
    if state.price_date:
        out["price_date"] = state.price_date.isoformat()
    if state.mode:
        out["mode"] = state.mode
    return out
