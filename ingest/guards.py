"""Sanity guards for imported numbers: a suspicious change is held for review instead of applied.

An importer compares each incoming price with the price in force for the same provider, API model and tier (and
each config.json with the architecture row it would update). Every guard that fires adds a Finding; a row with any
finding is written with review=held and review_reason listing them, and `python -m ingest build` refuses it until a
maintainer checks the source and accepts it (`python -m ingest accept FILE:LINE`).

The thresholds are deliberately loose: real price cuts of 2-5x happen every year; a 10x move, a price of zero, or
an output price below a twentieth of the input price are far more often a unit slip or a broken source than news.
"""

from __future__ import annotations

from dataclasses import dataclass

RATIO_LIMIT = 10.0
OUTPUT_MIN_SHARE_OF_INPUT = 1 / 20
# The schema caps prices at 1000 $/Mtok; a per-token field holding a per-million number lands a million times higher.
MAX_PLAUSIBLE_USD_PER_MTOK = 1000.0
# A per-million field holding a per-token number lands a million times lower: 0.0000025 $/Mtok.
MIN_PLAUSIBLE_USD_PER_MTOK = 0.001

GUARDS: dict[str, str] = {
    "ratio-10x": f"a price moved more than {RATIO_LIMIT:g}x up or down against the price in force (or rose from zero)",
    "fell-to-zero": "a price that was above zero is now zero",
    "free-new-offering": "a new offering whose input or output price is zero (a free tier, or a price the source "
                         "left blank as 0?)",
    "cached-above-input": "the cached-input price is higher than the input price (cache hits are discounts)",
    "output-below-input-20th": "the output price is below 1/20 of the input price (output is rarely that cheap; "
                               "columns swapped?)",
    "context-shrank": "the context length is shorter than before (served context or max_position_embeddings)",
    "unit-mixup": f"a price above {MAX_PLAUSIBLE_USD_PER_MTOK:g} $/Mtok after normalization (a per-million value in a "
                  f"per-token field) or below {MIN_PLAUSIBLE_USD_PER_MTOK:g} $/Mtok but not zero (a per-token value "
                  "in a per-million field)",
    "kv-heads-exceed-heads": "config.json lists more key/value heads than attention heads",
}

PRICE_FIELDS = (("input_usd_per_mtok", "input"), ("cached_input_usd_per_mtok", "cached input"),
                ("output_usd_per_mtok", "output"))


@dataclass(frozen=True)
class Quote:
    """One offering's prices (USD per million tokens) and served context, as a guard sees them."""

    input_usd_per_mtok: float | None = None
    cached_input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    context_length: int | None = None

    def price(self, name: str) -> float | None:
        return getattr(self, name)


@dataclass(frozen=True)
class Finding:
    guard: str
    message: str

    def __str__(self) -> str:
        return f"{self.guard}: {self.message}"


def reason_text(findings: list[Finding]) -> str:
    return "; ".join(str(f) for f in findings)


def _g(value: float) -> str:
    return f"{value:.6g}"


def check_price(new: Quote, previous: Quote | None) -> list[Finding]:
    """Every guard that fires for `new`, given the price in force before it (None for a new offering)."""
    found: list[Finding] = []
    for name, label in PRICE_FIELDS:
        value = new.price(name)
        if value is None:
            continue
        if value > MAX_PLAUSIBLE_USD_PER_MTOK:
            found.append(Finding("unit-mixup", f"{label} {_g(value)} $/Mtok is implausible: the source's per-token "
                                               f"value {_g(value / 1e6)} looks like a per-million price (if so, "
                                               f"write {_g(value / 1e6)})"))
        elif 0 < value < MIN_PLAUSIBLE_USD_PER_MTOK:
            found.append(Finding("unit-mixup", f"{label} {_g(value)} $/Mtok is implausibly small: looks like a "
                                               f"per-token value written as per-million (if so, write "
                                               f"{_g(value * 1e6)})"))
        old = previous.price(name) if previous else None
        if old is None:
            continue
        if old > 0 and value == 0:
            found.append(Finding("fell-to-zero", f"{label} fell from {_g(old)} to 0 $/Mtok"))
        elif old == 0 and value > 0:
            found.append(Finding("ratio-10x", f"{label} rose from 0 to {_g(value)} $/Mtok"))
        elif old > 0 and value > 0:
            ratio = value / old
            if ratio > RATIO_LIMIT:
                found.append(Finding("ratio-10x", f"{label} rose {ratio:.3g}x: {_g(old)} -> {_g(value)} $/Mtok"))
            elif ratio < 1 / RATIO_LIMIT:
                found.append(Finding("ratio-10x", f"{label} fell {1 / ratio:.3g}x: {_g(old)} -> {_g(value)} $/Mtok"))
    if previous is None:
        zero = [label for name, label in (PRICE_FIELDS[0], PRICE_FIELDS[2]) if new.price(name) == 0]
        if zero:
            found.append(Finding("free-new-offering", f"new offering with {' and '.join(zero)} at 0 $/Mtok"))
    inp, cached, out = new.input_usd_per_mtok, new.cached_input_usd_per_mtok, new.output_usd_per_mtok
    if inp is not None and cached is not None and cached > inp:
        found.append(Finding("cached-above-input", f"cached input {_g(cached)} > input {_g(inp)} $/Mtok"))
    if inp is not None and out is not None and inp > 0 and out < inp * OUTPUT_MIN_SHARE_OF_INPUT:
        found.append(Finding("output-below-input-20th",
                             f"output {_g(out)} < input {_g(inp)} / 20 = {_g(inp * OUTPUT_MIN_SHARE_OF_INPUT)} $/Mtok"))
    old_ctx = previous.context_length if previous else None
    if new.context_length is not None and old_ctx is not None and new.context_length < old_ctx:
        found.append(Finding("context-shrank", f"served context shrank from {old_ctx:,} to "
                                               f"{new.context_length:,} tokens"))
    return found


def check_architecture(new: dict, previous: dict | None) -> list[Finding]:
    """Guards for a config.json-derived architecture row against the row it would replace (None if none)."""
    found: list[Finding] = []
    heads, kv = new.get("num_attention_heads"), new.get("num_kv_heads")
    if heads is not None and kv is not None and kv > heads:
        found.append(Finding("kv-heads-exceed-heads", f"num_kv_heads {kv} > num_attention_heads {heads}"))
    old_ctx = (previous or {}).get("max_position_embeddings")
    ctx = new.get("max_position_embeddings")
    if ctx is not None and old_ctx is not None and ctx < old_ctx:
        found.append(Finding("context-shrank", f"max_position_embeddings shrank from {old_ctx:,} to {ctx:,}"))
    return found
