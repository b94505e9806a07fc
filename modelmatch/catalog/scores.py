"""Benchmark scores with their provenance: which row is charted when sources disagree, and category summaries.

A model x benchmark may have several rows (the vendor's report, another vendor's re-measurement, different shots
or thinking modes). Charts need one number, so one row is *charted* by a fixed, stated rule; every other row stays
visible in the tables, and disagreements are listed, never silently dropped.
"""

from __future__ import annotations

import pandas as pd

from modelmatch.catalog.reader import CatalogReader
from modelmatch.catalog.schema import CHART_SCORE_MODES

MODES = CHART_SCORE_MODES
DEFAULT_MODE = ""  # each model in its own default mode (see MODE_DEFAULT_RULE)
MODE_DEFAULT_RULE = ("Default mode: each model as it answers by default: models that always think and hybrid "
                     "models in thinking mode, models without a thinking mode non-thinking, base checkpoints base. "
                     "Pick one mode to compare like with like.")

CHARTED_RULE = ("Charted number per model and benchmark, in the chosen mode (scores whose source states no mode "
                "count in every mode): the model vendor's own report first (official, or its exact copy), then "
                "another vendor's official report (measured by that vendor), then derived or secondary numbers, "
                "then this project's runs (measured); among those, the newest source. Every other row, other modes "
                "included, stays in the table below.")

# The mode a model's number is charted in: the one asked for (a parameter), else the model's own default.
CHOSEN_MODE_SQL = """coalesce(nullif(?::VARCHAR, ''), CASE WHEN m.variant = 'base' THEN 'base'
                                          WHEN m.reasoning IN ('yes', 'hybrid') THEN 'thinking'
                                          ELSE 'non-thinking' END)"""

SCORES_SQL = f"""
WITH wanted AS (SELECT DISTINCT unnest(?::VARCHAR[]) AS model_id),
joined AS (
SELECT
    s.model_id, m.display_name, m.vendor, m.family,
    s.benchmark_id, b.name AS benchmark_name, b.category, b.metric, b.unit, b.higher_is_better,
    s.value, s.setting, s.mode, s.mode_source, s.provenance, s.measured_by, s.source_url, s.source_location,
    s.as_of, s.notes,
    {CHOSEN_MODE_SQL} AS chosen_mode
FROM scores s
JOIN wanted USING (model_id)  -- a hash join: the id list can be thousands long
JOIN benchmarks b USING (benchmark_id)
JOIN models m USING (model_id)
WHERE (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], s.benchmark_id))
),
ranked AS (
SELECT *,
    (mode = chosen_mode OR mode = 'n.a.') AS in_mode,
    (mode = chosen_mode OR mode = 'n.a.') AND row_number() OVER w_rank = 1 AS charted,
    -- Sources disagree only like with like: the spread is taken within one mode.
    count(*) OVER w_all AS rows_for_pair,
    max(value) OVER w_all - min(value) OVER w_all AS spread_between_sources
FROM joined
WINDOW
    w_all AS (PARTITION BY model_id, benchmark_id, mode),
    w_rank AS (PARTITION BY model_id, benchmark_id
               ORDER BY (mode = chosen_mode OR mode = 'n.a.') DESC, mode = chosen_mode DESC,
                        CASE WHEN provenance IN ('official', 'official-copy') AND measured_by IS NULL THEN 0
                             WHEN provenance IN ('official', 'official-copy', 'third-party') THEN 1
                             WHEN provenance IN ('derived', 'secondary') THEN 2 ELSE 3 END,
                        as_of DESC, source_url, coalesce(setting, ''), source_location)
)
SELECT * FROM ranked WHERE charted OR NOT ?
-- Ends with the rest of the scores key, so rows that tie on the first columns come in one order on every run (they
-- came in whatever order DuckDB's threads produced them: Compare's score table could reorder between visits).
ORDER BY category, benchmark_id, model_id, charted DESC, as_of DESC, mode, source_url, setting NULLS FIRST,
         source_location NULLS FIRST
"""


def scores_for(reader: CatalogReader, model_ids: list[str] | tuple[str, ...],
               benchmark_ids: list[str] | tuple[str, ...] = (), charted_only: bool = False,
               mode: str = DEFAULT_MODE) -> pd.DataFrame:
    """Every score row for these models (optionally these benchmarks), flagged with the charted one in `mode`
    (one of MODES; empty = each model's default mode); with charted_only, just the charted rows."""
    if mode and mode not in MODES:
        raise ValueError(f"unknown score mode {mode!r}: choose one of {', '.join(MODES)} or '' (each model's default)")
    return reader.query(SCORES_SQL, [list(model_ids), mode, list(benchmark_ids), list(benchmark_ids), charted_only])


def charted(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[scores["charted"]].reset_index(drop=True)


def disagreements(scores: pd.DataFrame) -> pd.DataFrame:
    """Model x benchmark pairs whose sources report different numbers in the same mode, widest spread first (a
    thinking and a non-thinking number are two modes, not a disagreement)."""
    mask = (scores["rows_for_pair"] > 1) & (scores["spread_between_sources"] > 0)
    return scores[mask].sort_values(["spread_between_sources", "model_id", "benchmark_id", "mode"],
                                    ascending=[False, True, True, True]).reset_index(drop=True)


def category_summary(charted_scores: pd.DataFrame, category: str) -> pd.DataFrame:
    """Mean of the charted percent scores per model over the category's benchmarks the model has.

    Only percent-unit, higher-is-better benchmarks are averaged (a rating and a percentage do not average), and the
    number of benchmarks behind each mean is kept, so a mean over one benchmark is not mistaken for a broad one.
    """
    df = charted_scores[(charted_scores["category"] == category) & (charted_scores["unit"] == "percent")
                        & charted_scores["higher_is_better"]]
    if df.empty:
        return pd.DataFrame(columns=["model_id", "score", "benchmarks_counted", "benchmark_list"])
    grouped = df.groupby("model_id")
    return pd.DataFrame({
        "score": grouped["value"].mean(),
        "benchmarks_counted": grouped["benchmark_id"].nunique(),
        "benchmark_list": grouped["benchmark_id"].apply(lambda ids: ", ".join(sorted(set(ids)))),
    }).reset_index()


def leaderboard(charted_scores: pd.DataFrame, category: str) -> pd.DataFrame:
    """Models x benchmarks of one category (charted values), best category mean first."""
    df = charted_scores[charted_scores["category"] == category]
    if df.empty:
        return pd.DataFrame()
    wide = df.pivot_table(index=["model_id", "display_name", "vendor"], columns="benchmark_name", values="value",
                          aggfunc="first")
    summary = category_summary(charted_scores, category).set_index("model_id")
    wide = wide.reset_index()
    wide.insert(3, "category mean", wide["model_id"].map(summary["score"]))
    wide.insert(4, "benchmarks", wide["model_id"].map(summary["benchmarks_counted"]).fillna(0).astype(int))
    return wide.sort_values(["category mean", "benchmarks"], ascending=[False, False], na_position="last") \
        .reset_index(drop=True)


def benchmarks(reader: CatalogReader) -> pd.DataFrame:
    return reader.query("""
        SELECT b.*, (SELECT count(*) FROM scores s WHERE s.benchmark_id = b.benchmark_id) AS score_count
        FROM benchmarks b ORDER BY b.category, b.name""")


def official_only(scores: pd.DataFrame) -> pd.DataFrame:
    """Rows the model's own vendor published (tier official or official-copy, not another vendor's re-measurement):
    the 'official numbers only' filter."""
    mask = scores["provenance"].isin(["official", "official-copy"]) & scores["measured_by"].isna()
    return scores[mask].reset_index(drop=True)
