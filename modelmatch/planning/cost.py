"""What a month costs: API prices in effect on a day, self-hosting on rented GPUs, and where the two break
even. GPU rental prices are user input only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from modelmatch.planning.records import GpuSpec, ModelInfo, PriceRow
from modelmatch.planning.request import UsageProfile

HOURS_PER_MONTH = 8760 / 12  # 730: a month of continuous service, so monthly GPU cost = hourly price x 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600


@dataclass(frozen=True)
class ApiCost:
    """What one API offering would charge a month for the usage profile, at the price in force."""

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
    """What running the model on rented GPUs costs a month, and the output it can serve for that."""

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
    """The monthly output at which self-hosting costs as much as one API offering."""

    provider: str
    provider_model: str
    tier: str | None
    output_mtok_per_month: float | None
    text: str


@dataclass(frozen=True)
class CostPlan:
    """A plan's costs: every API offering, self-hosting, and where they break even."""

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
