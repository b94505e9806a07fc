"""Read-only catalog queries that pages and the CLI share. SQL is fixed text; user input only travels as bound
parameters (the filter's fields), never as SQL."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd

from modelmatch.catalog.reader import CatalogReader

HF_BASE_URL = "https://huggingface.co/"
# Context-window filter choices shown on every page that filters models, label -> minimum tokens.
CONTEXT_WINDOW_CHOICES = {"any": 0, "≥ 8K": 8_192, "≥ 32K": 32_768, "≥ 128K": 131_072, "≥ 1M": 1_000_000}


@dataclass(frozen=True)
class ModelFilter:
    search: str = ""
    vendors: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    commercial_use: tuple[str, ...] = ()
    open_weights_only: bool = False
    reasoning_only: bool = False
    min_context_tokens: int = 0
    architectures: tuple[str, ...] = ()  # dense / moe
    params_total_b: tuple[float | None, float | None] = (None, None)
    params_active_b: tuple[float | None, float | None] = (None, None)
    released_from: dt.date | None = None
    released_to: dt.date | None = None
    model_ids: tuple[str, ...] = ()


# Which models a filter keeps, and in what order: shared by the models table and the bare id list (model_ids).
MODEL_FILTER_SQL = """
WHERE (? = '' OR contains(lower(m.model_id || ' ' || m.display_name || ' ' || m.family), lower(?)))
  AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], m.vendor))
  AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], m.family))
  AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], m.variant))
  AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], l.commercial_use))
  AND (NOT ? OR m.open_weights)
  AND (NOT ? OR m.reasoning IN ('yes', 'hybrid'))
  AND (? = 0 OR coalesce(m.context_length, 0) >= ?)
  AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], m.architecture))
  AND (?::DOUBLE IS NULL OR m.params_total_b >= ?::DOUBLE)
  AND (?::DOUBLE IS NULL OR m.params_total_b <= ?::DOUBLE)
  AND (?::DOUBLE IS NULL OR m.params_active_b >= ?::DOUBLE)
  AND (?::DOUBLE IS NULL OR m.params_active_b <= ?::DOUBLE)
  AND (?::DATE IS NULL OR m.release_date >= ?::DATE)
  AND (?::DATE IS NULL OR m.release_date <= ?::DATE)
  AND (len(?::VARCHAR[]) = 0 OR m.model_id IN (SELECT unnest(?::VARCHAR[])))
ORDER BY m.vendor, m.family, m.release_date NULLS LAST, m.params_total_b NULLS LAST, m.model_id
"""

MODELS_SQL = f"""
SELECT
    m.model_id, m.display_name, m.vendor, m.family, m.variant, m.reasoning, m.release_date, m.open_weights,
    m.params_total_b, m.params_active_b, m.architecture, m.attention, m.context_length,
    m.license_id, l.name AS license_name, l.commercial_use, l.conditions AS license_conditions,
    l.url AS license_url, m.modalities, m.languages, m.base_model_id,
    coalesce(score_counts.n, 0) AS score_count,
    coalesce(price_counts.n, 0) AS price_count,
    architectures.model_id IS NOT NULL AS has_architecture,
    CASE WHEN m.open_weights THEN ? || m.model_id END AS weights_url,
    m.source_url, m.source_location, m.as_of
FROM models m
LEFT JOIN licenses l USING (license_id)
-- Counted once per table and joined: as correlated subqueries, DuckDB's plan for them took half of this query's
-- 14 ms on the real catalog, with or without filters (architectures has one row per model_id, its key).
LEFT JOIN (SELECT model_id, count(*) AS n FROM scores GROUP BY model_id) score_counts USING (model_id)
LEFT JOIN (SELECT model_id, count(*) AS n FROM prices GROUP BY model_id) price_counts USING (model_id)
LEFT JOIN architectures USING (model_id)
{MODEL_FILTER_SQL}"""

# The kept models' ids only, in the table's order: no counts over scores and prices, no frame.
MODEL_IDS_SQL = f"SELECT m.model_id FROM models m LEFT JOIN licenses l USING (license_id)\n{MODEL_FILTER_SQL}"


# DuckDB binds integers up to 128 bits; no context window is near 2**62, so clamping keeps the filter's meaning.
MAX_CONTEXT_FILTER_TOKENS = 2**62


def _bound(value: float | None) -> float | None:
    """A range end as the query takes it. NaN is no bound (a link drops it too; bound as-is, DuckDB sorts NaN above
    every number, so a NaN minimum matched nothing and a NaN maximum everything), and an int too large for a double
    is an infinite bound rather than a binding error."""
    if value is None:
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    return None if math.isnan(number) else number


def filter_params(flt: ModelFilter) -> list:
    """MODEL_FILTER_SQL's parameters for this filter, in the order of its placeholders."""
    search = flt.search.strip()
    min_context = max(0, min(int(flt.min_context_tokens), MAX_CONTEXT_FILTER_TOKENS))
    low_total, high_total = (_bound(v) for v in flt.params_total_b)
    low_active, high_active = (_bound(v) for v in flt.params_active_b)
    return [
        search, search,
        list(flt.vendors), list(flt.vendors),
        list(flt.families), list(flt.families),
        list(flt.variants), list(flt.variants),
        list(flt.commercial_use), list(flt.commercial_use),
        flt.open_weights_only,
        flt.reasoning_only,
        min_context, min_context,
        list(flt.architectures), list(flt.architectures),
        low_total, low_total, high_total, high_total,
        low_active, low_active, high_active, high_active,
        flt.released_from, flt.released_from, flt.released_to, flt.released_to,
        list(flt.model_ids), list(flt.model_ids),
    ]


def models_table(reader: CatalogReader, flt: ModelFilter = ModelFilter()) -> pd.DataFrame:
    return reader.query(MODELS_SQL, [HF_BASE_URL, *filter_params(flt)])


def model_ids(reader: CatalogReader, flt: ModelFilter = ModelFilter()) -> list[str]:
    """The ids models_table would list for this filter, in its order."""
    return [row[0] for row in reader.rows(MODEL_IDS_SQL, filter_params(flt))]


@dataclass(frozen=True)
class FilterChoices:
    vendors: list[str]
    families: list[str]
    variants: list[str]
    max_context_tokens: int


def filter_choices(reader: CatalogReader) -> FilterChoices:
    df = reader.query("SELECT vendor, family, variant, context_length FROM models")
    return FilterChoices(
        vendors=sorted(df["vendor"].dropna().unique().tolist()),
        families=sorted(df["family"].dropna().unique().tolist()),
        variants=sorted(df["variant"].dropna().unique().tolist()),
        max_context_tokens=int(df["context_length"].max()) if df["context_length"].notna().any() else 0,
    )


def table_counts(reader: CatalogReader) -> dict[str, int]:
    df = reader.query("SELECT table_name, rows FROM build_tables ORDER BY table_name")
    return dict(zip(df["table_name"], df["rows"].astype(int)))


def source_count(reader: CatalogReader) -> int:
    """Distinct source documents behind the catalog's rows."""
    df = reader.query("""
        SELECT count(DISTINCT source_url) AS n FROM (
            SELECT source_url FROM models UNION ALL SELECT source_url FROM architectures
            UNION ALL SELECT source_url FROM scores UNION ALL SELECT source_url FROM prices
            UNION ALL SELECT source_url FROM licenses UNION ALL SELECT source_url FROM gpus)
    """)
    return int(df["n"].iloc[0])
