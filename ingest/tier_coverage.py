"""Coverage by provenance tier: for each model, which numbers are official, copied, derived, secondary, measured or
missing; how many rows and numeric cells each tier holds; which models the planner cannot size; and the parameter
count check over the whole catalog. `python -m ingest report` prints it and the Data page shows it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from modelmatch.catalog.provenance import column_tier
from modelmatch.catalog.schema import TABLE_BY_NAME, TIERS
from modelmatch.catalog.reader import CatalogReader
from modelmatch.catalog.cells import clean
from modelmatch.catalog.tiers import KV_FIELDS, kv_layout
from modelmatch.planning.param_count import Verification, verify

MISSING = "missing"
NO_TIER = "no tier"
TIER_TABLES = ("models", "architectures", "scores", "licenses", "prices", "gpus")

# What the planner needs to size a model: weights from the model row, KV cache from the architecture row.
WEIGHT_FIELDS = ("params_total_b",)
ARCH_FIELDS = ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim", "intermediate_size",
               "vocab_size")
MOE_FIELDS = ("n_routed_experts", "experts_per_token", "moe_intermediate_size")
MLA_FIELDS = ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")
MODEL_FIELDS = ("params_total_b", "params_active_b", "context_length", "license_id")


@dataclass
class TierReport:
    rows_by_tier: dict[str, dict[str, int]]  # table -> tier -> rows
    cells_by_tier: dict[str, int]  # tier -> numeric cells, all tables
    per_model: pd.DataFrame  # model_id, field, tier
    cannot_size: dict[str, list[str]]  # model_id -> what the planner lacks
    verifications: list[Verification] = field(default_factory=list)

    @property
    def verified(self) -> list[Verification]:
        return [v for v in self.verifications if v.status == "verified"]

    @property
    def mismatched(self) -> list[Verification]:
        return [v for v in self.verifications if v.status == "mismatch"]


# Fixed SQL only.
_TABLE_SQL = {
    "models": "SELECT * FROM models", "architectures": "SELECT * FROM architectures", "scores": "SELECT * FROM scores",
    "licenses": "SELECT * FROM licenses", "prices": "SELECT * FROM prices", "gpus": "SELECT * FROM gpus",
}


def _rows(reader: CatalogReader, table: str) -> list[dict[str, Any]]:
    df = reader.query(_TABLE_SQL[table])
    return [{k: clean(v) for k, v in rec.items()} for rec in df.to_dict("records")]


def _tier_of_row(values: dict[str, Any]) -> str:
    tier = values.get("provenance")
    if tier in ("third-party",):  # legacy score rows: an official report of another vendor
        return "official"
    if tier == "local-run":
        return "measured"
    return tier if tier in TIERS else NO_TIER


# Counted by DuckDB: a score row's cells all carry the row's tier unless its formula derives one, so its rows need not
# come into Python one by one (900,000 of them took most of the Data page's first half-minute on a 5,000-model
# catalog). Only the rows with a formula are read, and go the per-cell way.
COUNTED_IN_SQL = ("scores",)


def _numeric_columns(table) -> list[str]:
    return [c.name for c in table.columns if c.is_numeric and not c.name.endswith("_id")]


def _count_cells(rows, table, rows_by_tier: Counter, cells: Counter) -> None:
    numeric = _numeric_columns(table)
    for r in rows:
        rows_by_tier[_tier_of_row(r)] += 1
        for col in numeric:
            if r.get(col) is None:
                continue
            tier = column_tier(r, table, col) or _tier_of_row(r)
            cells[_tier_of_row({"provenance": tier})] += 1


def _count_in_sql(reader: CatalogReader, table, rows_by_tier: Counter, cells: Counter) -> None:
    """The same counts as _count_cells, grouped by provenance in DuckDB for the rows without a formula."""
    numeric = _numeric_columns(table)
    counts = ", ".join(f'count("{c}")' for c in numeric) or "0"
    for provenance, n, *non_null in reader.rows(
            f'SELECT provenance, count(*), {counts} FROM "{table.name}" WHERE formula IS NULL GROUP BY provenance'):
        tier = _tier_of_row({"provenance": provenance})
        rows_by_tier[tier] += n
        cells[tier] += sum(non_null[:len(numeric)])
    with_formula = reader.records(f'SELECT * FROM "{table.name}" WHERE formula IS NOT NULL')
    _count_cells([{k: clean(v) for k, v in r.items()} for r in with_formula], table, rows_by_tier, cells)


def tier_report(reader: CatalogReader) -> TierReport:
    tables = {name: _rows(reader, name) for name in TIER_TABLES if name not in COUNTED_IN_SQL}
    rows_by_tier: dict[str, dict[str, int]] = {}
    cells: Counter[str] = Counter()
    for name in TIER_TABLES:
        table, by_tier = TABLE_BY_NAME[name], Counter()
        if name in COUNTED_IN_SQL:
            _count_in_sql(reader, table, by_tier, cells)
        else:
            _count_cells(tables[name], table, by_tier, cells)
        rows_by_tier[name] = dict(by_tier)
    if reader.query("SELECT count(*) AS n FROM measurements")["n"].iloc[0]:
        rows_by_tier["measurements"] = {"measured": int(reader.query("SELECT count(*) AS n FROM measurements")["n"]
                                                         .iloc[0])}

    archs = {r["model_id"]: r for r in tables["architectures"]}
    licenses = {r["license_id"]: r for r in tables["licenses"]}
    records: list[tuple[str, str, str]] = []
    cannot_size: dict[str, list[str]] = {}
    verifications: list[Verification] = []
    for model in tables["models"]:
        mid = model["model_id"]
        mtable, atable = TABLE_BY_NAME["models"], TABLE_BY_NAME["architectures"]
        for col in MODEL_FIELDS:
            records.append((mid, col, _cell_tier(model, mtable, col)))
        lic = licenses.get(model.get("license_id"))
        records.append((mid, "license terms", MISSING if not lic or lic.get("commercial_use") is None
                        else _tier_of_row(lic)))
        if not model.get("open_weights"):
            continue
        arch = archs.get(mid)
        attention = model.get("attention")
        if attention is None and arch is not None:
            # The planner reads the layout off the architecture row when the models row lacks it (sequence_cache):
            # a compressed KV rank is MLA; a hybrid row's full-attention layers are GQA.
            if arch.get("kv_lora_rank") is not None:
                attention = "mla"
            elif arch.get("full_attention_interval") is not None:
                attention = "gqa"
        v4 = arch is not None and arch.get("compress_ratios") is not None
        wanted = list(ARCH_FIELDS)
        if model.get("architecture") == "moe":
            wanted += MOE_FIELDS
        if attention == "mla":
            wanted = [f for f in wanted if f not in ("num_kv_heads", "head_dim")] + list(MLA_FIELDS)
        for col in wanted:
            records.append((mid, col, MISSING if arch is None else _cell_tier(arch, atable, col)))
        lacks = [f"models.{f}" for f in WEIGHT_FIELDS if model.get(f) is None]
        kv = KV_FIELDS[kv_layout(attention, arch)]
        if arch is None:
            lacks.append("architecture row")
        else:
            lacks += [f"architectures.{f}" for f in kv if arch.get(f) is None]
        if attention is None and not v4:  # a DeepSeek-V4 row's compress_ratios says its layout
            lacks.append("models.attention")
        if lacks:
            cannot_size[mid] = lacks
        if arch is not None:
            verifications.append(verify(arch, {**model, "attention": attention}))
    per_model = pd.DataFrame(records, columns=["model_id", "field", "tier"])
    return TierReport(rows_by_tier, dict(cells), per_model, cannot_size, verifications)


def _cell_tier(values: dict[str, Any], table, col: str) -> str:
    if values.get(col) is None:
        return MISSING
    tier = column_tier(values, table, col)
    return tier if tier else _tier_of_row(values)


def coverage_matrix(report: TierReport) -> pd.DataFrame:
    """One row per model, one column per field, each cell the field's tier (or missing): holes at a glance."""
    if report.per_model.empty:
        return pd.DataFrame()
    matrix = report.per_model.pivot_table(index="model_id", columns="field", values="tier", aggfunc="first")
    order = [c for c in (*MODEL_FIELDS, "license terms", *ARCH_FIELDS, *MOE_FIELDS, *MLA_FIELDS) if c in matrix]
    return matrix[order].fillna("")


def format_tier_report(report: TierReport) -> str:
    lines = ["rows by provenance tier:"]
    for table, tiers in report.rows_by_tier.items():
        lines.append(f"  {table}: " + ", ".join(f"{t} {n}" for t, n in sorted(tiers.items())))
    lines.append("numeric cells by tier: " + ", ".join(f"{t} {n}" for t, n in sorted(report.cells_by_tier.items())))
    missing = report.per_model[report.per_model["tier"] == MISSING]
    lines.append(f"model fields missing: {len(missing)}")
    for mid, group in missing.groupby("model_id"):
        lines.append(f"  - {mid}: {', '.join(group['field'])}")
    lines.append(f"open-weights models the planner cannot size (weights or KV cache): {len(report.cannot_size)}")
    lines.extend(f"  - {mid}: lacks {', '.join(lacks)}" for mid, lacks in report.cannot_size.items())
    by_status = Counter(v.status for v in report.verifications)
    lines.append("parameter-count check: " + ", ".join(f"{s} {n}" for s, n in sorted(by_status.items())))
    for v in report.verifications:
        if v.status != "verified":
            lines.append(f"  - {v.status} {v.model_id}: {v.reason}")
    return "\n".join(lines)
