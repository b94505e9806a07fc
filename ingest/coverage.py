"""What the catalog covers and what it still lacks: counts, sources, and the gaps a maintainer should fill."""

from __future__ import annotations

from dataclasses import dataclass

from modelmatch.catalog.reader import CatalogReader

GAP_QUERIES: dict[str, str] = {
    "open-weights models without an architecture row":
        "SELECT model_id FROM models WHERE open_weights AND model_id NOT IN (SELECT model_id FROM architectures)",
    "architecture rows without head_dim or num_kv_heads (planner cannot compute GQA KV cache)":
        "SELECT a.model_id FROM architectures a JOIN models m USING (model_id) "
        "WHERE coalesce(m.attention, '') <> 'mla' AND (a.head_dim IS NULL OR a.num_kv_heads IS NULL)",
    "models without a license": "SELECT model_id FROM models WHERE license_id IS NULL",
    "licenses whose commercial use is not transcribed":
        "SELECT license_id FROM licenses WHERE commercial_use IS NULL",
    "models without any score":
        "SELECT model_id FROM models WHERE model_id NOT IN (SELECT model_id FROM scores)",
    "models without a context length": "SELECT model_id FROM models WHERE context_length IS NULL",
    "GPUs without memory bandwidth": "SELECT gpu_id FROM gpus WHERE memory_bandwidth_gbps IS NULL",
}


@dataclass(frozen=True)
class Coverage:
    row_counts: dict[str, int]
    distinct_sources: int
    scores_by_provenance: dict[str, int]
    gaps: dict[str, list[str]]
    scores_by_mode: dict[str, int] | None = None  # "thinking (stated)": n, "non-thinking (derived)": n, ...
    offerings: int = 0  # distinct provider + API name + tier among the prices


def coverage(reader: CatalogReader) -> Coverage:
    counts = dict(reader.query("SELECT table_name, rows FROM build_tables").itertuples(index=False))
    sources = reader.query("""
        SELECT count(DISTINCT source_url) AS n FROM (
            SELECT source_url FROM models UNION ALL SELECT source_url FROM architectures
            UNION ALL SELECT source_url FROM scores UNION ALL SELECT source_url FROM prices
            UNION ALL SELECT source_url FROM licenses UNION ALL SELECT source_url FROM gpus)""")["n"].iloc[0]
    provenance = dict(reader.query("SELECT provenance, count(*) FROM scores GROUP BY 1 ORDER BY 1")
                      .itertuples(index=False))
    gaps = {label: reader.query(sql).iloc[:, 0].tolist() for label, sql in GAP_QUERIES.items()}
    modes = dict(reader.query("SELECT mode || ' (' || mode_source || ')', count(*) FROM scores GROUP BY 1 ORDER BY 1")
                 .itertuples(index=False))
    offerings = reader.query("SELECT count(DISTINCT provider || '|' || provider_model || '|' || coalesce(tier, '')) "
                             "FROM prices").iloc[0, 0]
    return Coverage({k: int(v) for k, v in counts.items()}, int(sources),
                    {k: int(v) for k, v in provenance.items()}, gaps, {k: int(v) for k, v in modes.items()},
                    int(offerings))


def format_coverage(cov: Coverage) -> str:
    lines = ["rows: " + ", ".join(f"{k} {v}" for k, v in cov.row_counts.items()),
             f"distinct source documents: {cov.distinct_sources}",
             "scores by provenance: " + ", ".join(f"{k} {v}" for k, v in cov.scores_by_provenance.items()),
             "scores by mode: " + ", ".join(f"{k} {v}" for k, v in (cov.scores_by_mode or {}).items()),
             f"price offerings (provider + API name + tier): {cov.offerings}"]
    for label, ids in cov.gaps.items():
        lines.append(f"{label}: {len(ids)}")
        lines.extend(f"  - {i}" for i in ids)
    return "\n".join(lines)
