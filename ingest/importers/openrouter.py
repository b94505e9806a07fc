"""`python -m ingest fetch openrouter`: per-provider prices and served context from OpenRouter's public models API.

GET {base}/models lists every model (id, name, context_length, architecture.input_modalities, hugging_face_id,
pricing in USD per token as strings). For each model in data/mappings/openrouter.csv, GET
{base}/models/{id}/endpoints lists the providers serving it, each with its own pricing and context_length; each
endpoint becomes one price row: provider "OpenRouter" (who bills you), provider_model the OpenRouter id, tier
"via <provider> (<quantization>)". Model facts OpenRouter reports (context, modalities, Hugging Face id) are
compared with the catalog and listed for a human to check; they are never written.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ingest.importers import http
from ingest.importers.core import (CurrentData, ImportPlan, PriceOffer, Progress, Unmapped, import_notes,
                                   plan_prices, quiet, start_plan)
from ingest.importers.files import serialize_row
from ingest.importers.mapping import load_mapping, mapping_path
from ingest.importers.units import NotAListPrice, UnitError, per_token_to_per_mtok, to_int
from modelmatch import settings

SOURCE = "openrouter"
PROVIDER = "OpenRouter"


class SchemaChanged(http.FetchError):
    """The response parsed, but not into the shape this importer knows."""


def _shape(what: str, url: str, problem: str) -> SchemaChanged:
    return SchemaChanged(f"{what} from {url} changed shape: {problem}. The importer needs updating for the new "
                         "format; nothing was written")


def _keys(value: Any) -> str:
    return ", ".join(sorted(map(str, value))[:12]) if isinstance(value, dict) else type(value).__name__


def parse_models(payload: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise _shape("the models list", url, f"expected an object with a 'data' list, got {_keys(payload)}")
    models = []
    for index, item in enumerate(payload["data"]):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise _shape("the models list", url, f"data[{index}] has no string 'id' (got {_keys(item)})")
        models.append(item)
    if not models:
        raise _shape("the models list", url, "'data' is empty")
    return models


def parse_endpoints(payload: Any, url: str) -> list[dict[str, Any]]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("endpoints"), list):
        raise _shape("the endpoints list", url, f"expected data.endpoints to be a list, got "
                                                f"{_keys(data if data is not None else payload)}")
    endpoints = []
    for index, ep in enumerate(data["endpoints"]):
        where = f"data.endpoints[{index}]"
        if not isinstance(ep, dict):
            raise _shape("the endpoints list", url, f"{where} is a {type(ep).__name__}, not an object")
        if not isinstance(ep.get("provider_name"), str) or not ep["provider_name"]:
            raise _shape("the endpoints list", url, f"{where} has no string provider_name (keys: {_keys(ep)})")
        pricing = ep.get("pricing")
        if not isinstance(pricing, dict) or "prompt" not in pricing or "completion" not in pricing:
            raise _shape("the endpoints list", url, f"{where}.pricing needs 'prompt' and 'completion' "
                                                    f"(got {_keys(pricing)})")
        endpoints.append(ep)
    return endpoints


def _tier(ep: dict[str, Any]) -> str:
    quant = ep.get("quantization")
    tier = f"via {ep['provider_name']}"
    if isinstance(quant, str) and quant and quant.lower() != "unknown":
        tier += f" ({quant})"
    return tier


def endpoint_offers(external_id: str, model_id: str, endpoints: list[dict[str, Any]], url: str, day,
                    skipped: list[str]) -> list[PriceOffer]:
    offers: list[PriceOffer] = []
    tiers: dict[str, int] = {}
    for index, ep in enumerate(endpoints):
        where = f"{url} data.endpoints[{index}] ({ep['provider_name']})"
        pricing = ep["pricing"]
        try:
            inp = per_token_to_per_mtok(pricing.get("prompt"), f"{where} pricing.prompt")
            out = per_token_to_per_mtok(pricing.get("completion"), f"{where} pricing.completion")
            cached = per_token_to_per_mtok(pricing.get("input_cache_read"), f"{where} pricing.input_cache_read")
            context = to_int(ep.get("context_length"), f"{where} context_length")
        except NotAListPrice as exc:
            skipped.append(str(exc))
            continue
        except UnitError as exc:
            raise SchemaChanged(f"{exc}; the importer needs updating for the new format; nothing was written") \
                from None
        tier = _tier(ep)
        tiers[tier] = tiers.get(tier, 0) + 1
        if tiers[tier] > 1 and isinstance(ep.get("tag"), str) and ep["tag"]:
            tier = f"{tier} [{ep['tag']}]"
        extra = ""
        discount = pricing.get("discount")
        if isinstance(discount, (int, float)) and not isinstance(discount, bool) and discount:
            extra = f"OpenRouter lists pricing.discount={discount:g} for this endpoint; prices here are as listed."
        name = ep.get("name") if isinstance(ep.get("name"), str) else ep["provider_name"]
        offers.append(PriceOffer(
            external_id=external_id, provider=PROVIDER, model_id=model_id, provider_model=external_id, tier=tier,
            input_usd_per_mtok=inp, cached_input_usd_per_mtok=cached, output_usd_per_mtok=out,
            context_length=context, source_url=url,
            source_location=f"endpoint {name!r}: pricing.prompt, pricing.completion, pricing.input_cache_read "
                            "(USD per token, x 1,000,000); context_length",
            notes=import_notes(SOURCE, day, extra)))
    return offers


def _model_facts(item: dict[str, Any], model: dict[str, Any], external_id: str) -> list[str]:
    facts = []
    catalog_id = model["model_id"]
    ctx = item.get("context_length")
    if isinstance(ctx, int) and not isinstance(ctx, bool) and model.get("context_length") not in (None, ctx):
        facts.append(f"{catalog_id}: OpenRouter lists context_length {ctx:,} for {external_id}; the catalog says "
                     f"{model['context_length']:,} (providers often serve less than the model supports: check the "
                     "model card before changing data/models)")
    arch = item.get("architecture") if isinstance(item.get("architecture"), dict) else {}
    mods = arch.get("input_modalities")
    if isinstance(mods, list) and all(isinstance(m, str) for m in mods) and model.get("modalities"):
        theirs = sorted(set(mods) - {"file"})
        ours = sorted(m.strip() for m in str(model["modalities"]).split(";") if m.strip())
        if theirs and theirs != ours:
            facts.append(f"{catalog_id}: OpenRouter lists input modalities {';'.join(theirs)} for {external_id}; "
                         f"the catalog says {';'.join(ours)}")
    hf = item.get("hugging_face_id")
    if isinstance(hf, str) and hf and model.get("open_weights") and hf != catalog_id:
        facts.append(f"{catalog_id}: OpenRouter says {external_id} serves the weights {hf}; the mapping says "
                     f"{catalog_id}: check data/mappings/openrouter.csv")
    return facts


def fetch(data_dir, current: CurrentData, progress: Progress = quiet, clock=None) -> ImportPlan:
    """Download and compare; returns the plan (nothing written). Raises FetchError (or MappingError)."""
    base = settings.get("openrouter_base_url").rstrip("/")
    http.check_base_url(base, "MODELMATCH_OPENROUTER_BASE_URL")
    limits = http.FetchLimits(settings.fetch_timeout_s(), settings.fetch_max_bytes())
    models = current.models
    mapping = load_mapping(data_dir, SOURCE, set(models))
    progress(f"mapping {current.rel(mapping_path(data_dir, SOURCE))}: {len(mapping)} entr"
             f"{'y' if len(mapping) == 1 else 'ies'}")
    list_url = f"{base}/models"
    progress(f"GET {list_url}")
    response = http.get(list_url, limits, clock=clock)
    items = parse_models(http.parse_json(response, "the models list"), list_url)
    progress(f"  {len(items)} models ({len(response.body) / 1e6:.2f} MB in {response.seconds:.1f} s)")
    by_id = {item["id"]: item for item in items}
    day = response.retrieved_at.date()
    plan = start_plan(SOURCE, data_dir, response.retrieved_at, [list_url],
                      current.rel(mapping_path(data_dir, SOURCE)), len(mapping), current)
    offers: list[PriceOffer] = []
    present = [e for e in mapping.values() if e.external_id in by_id]
    plan.missing = sorted(e.external_id for e in mapping.values() if e.external_id not in by_id)
    for index, entry in enumerate(present, start=1):
        url = f"{base}/models/{urllib.parse.quote(entry.external_id, safe='/:')}/endpoints"
        progress(f"[{index}/{len(present)}] GET {url}")
        ep_response = http.get(url, limits, clock=clock)
        endpoints = parse_endpoints(http.parse_json(ep_response, "the endpoints list"), url)
        progress(f"  {len(endpoints)} endpoint(s)")
        plan.urls.append(url)
        if not endpoints:
            plan.skipped.append(f"{entry.external_id}: OpenRouter lists no provider endpoint right now")
        offers += endpoint_offers(entry.external_id, entry.model_id, endpoints, url, day, plan.skipped)
        plan.facts += _model_facts(by_id[entry.external_id], models[entry.model_id], entry.external_id)
    plan_prices(plan, current, offers, progress)
    lower_ids = {m.lower(): m for m in models}
    for item in items:
        if item["id"] in mapping:
            continue
        hf = item.get("hugging_face_id") if isinstance(item.get("hugging_face_id"), str) else ""
        suggestion = lower_ids.get(hf.lower(), "") if hf else ""
        plan.unmapped.append(Unmapped(
            external_id=item["id"], name=str(item.get("name") or ""),
            detail=f"hugging_face_id={hf}" if hf else "",
            suggested_model_id=suggestion,
            suggestion="OpenRouter's hugging_face_id is this catalog model_id" if suggestion else "",
            mapping_line=serialize_row([item["id"], suggestion, ""]).rstrip("\n") if suggestion else ""))
    return plan
