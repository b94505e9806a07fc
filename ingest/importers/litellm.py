"""`python -m ingest fetch litellm`: API list prices from LiteLLM's community price map JSON.

The map is one JSON object: key -> {input_cost_per_token, output_cost_per_token, cache_read_input_token_cost (USD
per token, JSON numbers), max_input_tokens, litellm_provider, mode, ...}; the "sample_spec" entry documents the
fields. Each key in data/mappings/litellm.csv becomes a price row under the provider the mapping names (so a price
LiteLLM reports for DeepSeek's deepseek-chat continues the history of data/prices/deepseek.csv). LiteLLM is a
community-maintained aggregate: its rows say so, and a maintainer confirms a change on the provider's own page.
"""

from __future__ import annotations

import re
from typing import Any

from ingest.importers import http
from ingest.importers.core import (CurrentData, ImportPlan, PriceOffer, Progress, Unmapped, import_notes,
                                   plan_prices, quiet, start_plan)
from ingest.importers.files import serialize_row
from ingest.importers.mapping import load_mapping, mapping_path
from ingest.importers.units import NotAListPrice, UnitError, per_token_to_per_mtok, to_int
from modelmatch import settings

SOURCE = "litellm"
PRICE_FIELDS = ("input_cost_per_token", "output_cost_per_token")
TIERED_RE = re.compile(r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost)_above_(\w+)$")


class SchemaChanged(http.FetchError):
    pass


def _shape(url: str, problem: str) -> SchemaChanged:
    return SchemaChanged(f"LiteLLM's price map from {url} changed shape: {problem}. The importer needs updating for "
                         "the new format; nothing was written")


def parse_price_map(payload: Any, url: str) -> dict[str, dict[str, Any]]:
    if not isinstance(payload, dict):
        raise _shape(url, f"expected a JSON object keyed by model, got {type(payload).__name__}")
    entries = {k: v for k, v in payload.items() if k != "sample_spec"}
    if not entries:
        raise _shape(url, "it has no model entries")
    with_prices = sum(1 for v in entries.values() if isinstance(v, dict) and any(f in v for f in PRICE_FIELDS))
    if with_prices == 0:
        raise _shape(url, f"no entry has {' or '.join(PRICE_FIELDS)} (were the price fields renamed?)")
    return entries


def entry_offer(key: str, entry: Any, mapping, url: str, day, skipped: list[str]) -> PriceOffer | None:
    where = f"{url} [{key!r}]"
    if not isinstance(entry, dict):
        raise _shape(url, f"entry {key!r} is a {type(entry).__name__}, not an object")
    if not any(f in entry for f in PRICE_FIELDS):
        raise _shape(url, f"entry {key!r} has none of {', '.join(PRICE_FIELDS)} (keys: "
                          f"{', '.join(sorted(entry)[:12])})")
    try:
        inp = per_token_to_per_mtok(entry.get("input_cost_per_token"), f"{where}.input_cost_per_token")
        out = per_token_to_per_mtok(entry.get("output_cost_per_token"), f"{where}.output_cost_per_token")
        cached = per_token_to_per_mtok(entry.get("cache_read_input_token_cost"),
                                       f"{where}.cache_read_input_token_cost")
        context = to_int(entry.get("max_input_tokens"), f"{where}.max_input_tokens")
    except NotAListPrice as exc:
        skipped.append(str(exc))
        return None
    except UnitError as exc:
        raise SchemaChanged(f"{exc}; the importer needs updating for the new format; nothing was written") from None
    tiered = sorted({m.group(2) for f in entry if (m := TIERED_RE.match(f))})
    extra = "Source: LiteLLM's community-maintained price map; confirm a change on the provider's own pricing page."
    if tiered:
        extra += f" LiteLLM also lists prices above {', '.join(tiered)} (not imported)."
    provider_model = mapping.provider_model or key.rsplit("/", 1)[-1]
    return PriceOffer(
        external_id=key, provider=mapping.provider, model_id=mapping.model_id, provider_model=provider_model,
        tier=mapping.tier, input_usd_per_mtok=inp, cached_input_usd_per_mtok=cached, output_usd_per_mtok=out,
        context_length=context, source_url=url,
        source_location=f"entry {key!r}: input_cost_per_token, output_cost_per_token, cache_read_input_token_cost "
                        "(USD per token, x 1,000,000); max_input_tokens",
        notes=import_notes(SOURCE, day, extra))


def fetch(data_dir, current: CurrentData, progress: Progress = quiet, clock=None) -> ImportPlan:
    url = settings.get("litellm_price_map_url")
    http.check_base_url(url, "MODELMATCH_LITELLM_PRICE_MAP_URL")
    limits = http.FetchLimits(settings.fetch_timeout_s(), settings.fetch_max_bytes())
    models = current.models
    mapping = load_mapping(data_dir, SOURCE, set(models))
    progress(f"mapping {current.rel(mapping_path(data_dir, SOURCE))}: {len(mapping)} entr"
             f"{'y' if len(mapping) == 1 else 'ies'}")
    progress(f"GET {url}")
    response = http.get(url, limits, clock=clock)
    entries = parse_price_map(http.parse_json(response, "LiteLLM's price map"), url)
    progress(f"  {len(entries)} entries ({len(response.body) / 1e6:.2f} MB in {response.seconds:.1f} s)")
    day = response.retrieved_at.date()
    plan = start_plan(SOURCE, data_dir, response.retrieved_at, [url], current.rel(mapping_path(data_dir, SOURCE)),
                      len(mapping), current)
    plan.missing = sorted(k for k in mapping if k not in entries)
    offers = []
    for key, entry in mapping.items():
        if key not in entries:
            continue
        offer = entry_offer(key, entries[key], entry, url, day, plan.skipped)
        if offer is not None:
            offers.append(offer)
    plan_prices(plan, current, offers, progress)
    # Suggest a mapping where the key's API name is already in data/prices: same provider_model, latest row.
    latest: dict[str, dict[str, Any]] = {}
    for row in current.rows("prices"):
        v = row.values
        if v.get("provider_model") and v.get("effective_from") is not None:
            seen = latest.get(v["provider_model"])
            if seen is None or v["effective_from"] >= seen["effective_from"]:
                latest[v["provider_model"]] = v
    for key, entry in sorted(entries.items()):
        if key in mapping:
            continue
        detail = ""
        if isinstance(entry, dict):
            detail = "; ".join(f"{f}={entry[f]}" for f in ("litellm_provider", "mode") if isinstance(entry.get(f), str))
        match = latest.get(key.rsplit("/", 1)[-1])
        suggestion = match["model_id"] if match else ""
        plan.unmapped.append(Unmapped(
            external_id=key, detail=detail, suggested_model_id=suggestion,
            suggestion=(f"data/prices has {match['provider']} {match['provider_model']} -> {match['model_id']}"
                        if match else ""),
            mapping_line=serialize_row([key, suggestion, match["provider"], match["provider_model"],
                                     match.get("tier") or "", ""]).rstrip("\n") if match else ""))
    return plan
