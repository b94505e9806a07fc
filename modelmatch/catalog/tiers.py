"""How sure a computed result is: the weakest provenance tier among the numbers it depends on.

A memory fit rests on the parameter count (models row), the KV-cache numbers (architectures row) and the GPU's
memory (gpus row); a speed roofline on the active parameters and the GPU's bandwidth; a license answer on the
license row. Each cell's tier is its row's tier, or derived when the row's formula makes it (ingest/provenance.py).
The Compare card, the planner and the wizard show the weakest one, with what it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelmatch.catalog.provenance import column_tier
from modelmatch.catalog.schema import TABLE_BY_NAME, TIERS
from modelmatch.catalog.reader import CatalogReader
from modelmatch.catalog.cells import clean
from modelmatch.catalog.score_preference import LEGACY, score_rank  # noqa: F401 (kept importable from here)

NO_TIER = "no tier"
MISSING = "missing"
# Strongest first; a cell without a tier or a missing number is weaker than any tier.
TIER_ORDER = {**{t: i for i, t in enumerate(TIERS)}, NO_TIER: len(TIERS), MISSING: len(TIERS) + 1}

# The architecture numbers the cache of each layout rests on (what the planner needs to size it).
KV_FIELDS = {"mla": ("num_layers", "kv_lora_rank", "qk_rope_head_dim"),
             "other": ("num_layers", "num_kv_heads", "head_dim"),
             # DeepSeek-V4: the layout comes from the architecture row (modelmatch/planning/sequence_cache.py)
             "deepseek-v4": ("num_layers", "head_dim", "sliding_window", "compress_ratios")}


def kv_layout(attention: str | None, arch: dict[str, Any] | None) -> str:
    """Which KV_FIELDS entry a model's cache rests on."""
    if arch is not None and arch.get("compress_ratios") is not None:
        return "deepseek-v4"
    return "mla" if attention == "mla" else "other"


def weakest(tiers: list[str]) -> str:
    return max(tiers, key=lambda t: TIER_ORDER.get(t, TIER_ORDER[NO_TIER])) if tiers else MISSING


@dataclass(frozen=True)
class Evidence:
    """The weakest tier of a result and the tier of each number it rests on."""

    result: str  # "memory fit", "speed roofline", "license"
    tier: str
    parts: tuple[tuple[str, str], ...]  # (number, tier)

    @property
    def text(self) -> str:
        shown = ", ".join(f"{what}: {tier}" for what, tier in self.parts)
        return f"{self.result}: {self.tier} ({shown})" if shown else f"{self.result}: {self.tier}"


# Fixed SQL only; the looked-up key is a bound value.
_ROW_SQL = {
    "models": "SELECT * FROM models WHERE model_id = ?",
    "architectures": "SELECT * FROM architectures WHERE model_id = ?",
    "gpus": "SELECT * FROM gpus WHERE gpu_id = ?",
    "licenses": "SELECT * FROM licenses WHERE license_id = ?",
}


def _row(reader: CatalogReader, table: str, value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    rows = reader.records(_ROW_SQL[table], [value])  # one row: plain values, no DataFrame to build
    return {k: clean(v) for k, v in rows[0].items()} if rows else None


def _cell(row: dict[str, Any] | None, table: str, column: str) -> str:
    if row is None or row.get(column) is None:
        return MISSING
    tier = column_tier(row, TABLE_BY_NAME[table], column)
    if tier:
        return tier
    prov = row.get("provenance")
    return LEGACY.get(prov, prov) if prov else NO_TIER


def _evidence(result: str, parts: list[tuple[str, str]]) -> Evidence:
    return Evidence(result, weakest([t for _, t in parts]), tuple(parts))


def model_evidence(reader: CatalogReader, model_id: str, gpu_id: str | None = None) -> list[Evidence]:
    """Evidence for memory fit, speed roofline and license of one model (on one GPU, when given)."""
    model = _row(reader, "models", model_id)
    arch = _row(reader, "architectures", model_id)
    gpu = _row(reader, "gpus", gpu_id)
    lic = _row(reader, "licenses", model.get("license_id") if model else None)
    attention = (model or {}).get("attention")
    kv = KV_FIELDS[kv_layout(attention, arch)]
    memory = [("parameters", _cell(model, "models", "params_total_b"))]
    memory += [(f"architecture {c}", _cell(arch, "architectures", c)) for c in kv]
    speed = [("active parameters", _cell(model, "models", "params_active_b")
              if (model or {}).get("params_active_b") is not None else _cell(model, "models", "params_total_b"))]
    if gpu_id is not None:
        memory.append(("GPU memory", _cell(gpu, "gpus", "memory_gb")))
        speed.append(("GPU bandwidth", _cell(gpu, "gpus", "memory_bandwidth_gbps")))
    # Which license governs the model (the model row, or its own license_* source) and what that license says.
    license_parts = [("license named for the model", _cell(model, "models", "license_id")),
                     ("license terms", _cell(lic, "licenses", "commercial_use"))]
    return [_evidence("memory fit", memory), _evidence("speed roofline", speed),
            _evidence("license", license_parts)]


def evidence_line(reader: CatalogReader, model_id: str, gpu_id: str | None = None) -> str:
    """One line for a card or a result: each result's weakest tier."""
    return "; ".join(f"{e.result}: {e.tier}" for e in model_evidence(reader, model_id, gpu_id))


def evidence_jsonable(reader: CatalogReader, model_id: str, gpu_id: str | None = None) -> list[dict[str, Any]]:
    """The same evidence for an export: [{"result", "tier", "rests_on": {number: tier}}]."""
    return [{"result": e.result, "tier": e.tier, "rests_on": dict(e.parts)}
            for e in model_evidence(reader, model_id, gpu_id)]
