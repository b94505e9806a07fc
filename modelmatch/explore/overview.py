"""The Overview page's data: filtered models, the chosen score per model, prices in force, measured speed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from modelmatch.catalog import prices

from modelmatch.catalog import scores
from modelmatch.catalog.models import ModelFilter, models_table
from modelmatch.catalog.reader import CatalogReader
from modelmatch.explore.view_state import Choices, OverviewState


@dataclass(frozen=True)
class OverviewData:
    """Small on purpose: pages cache it, and a cache hit copies it (so no full score table in here)."""

    model_count: int  # models matching the filters
    points: pd.DataFrame  # one row per model with a score for the chosen benchmark/category, price joined
    score_title: str
    benchmark_id: str | None
    category: str | None
    measured: pd.DataFrame  # measured speed rows of those models, price joined


# The points each chart of the page draws (the page says why instead of drawing a chart of none).
def priced_points(data: OverviewData) -> pd.DataFrame:
    return data.points.dropna(subset=["blended_usd_per_mtok"])


def sized_points(data: OverviewData) -> pd.DataFrame:
    return data.points.dropna(subset=["params_active_b"])


def measured_points(data: OverviewData) -> pd.DataFrame:
    return data.measured.dropna(subset=["blended_usd_per_mtok", "output_tokens_per_s"])


def model_filter(state: OverviewState) -> ModelFilter:
    return ModelFilter(
        vendors=state.vendors, families=state.families, open_weights_only=state.open_weights_only,
        commercial_use=("yes", "conditional") if state.commercial_only else (),
        architectures=state.architectures, min_context_tokens=state.min_context_tokens,
        reasoning_only=state.reasoning_only, params_total_b=state.params_total_b,
        params_active_b=state.params_active_b, released_from=state.released_from, released_to=state.released_to,
    )


# What a link may name, in one query (a first visit asks it before anything is cached): each model's id, vendor and
# family, each benchmark's id, category and name.
CHOICES_SQL = ("SELECT 'model' AS kind, model_id AS id, vendor AS a, family AS b FROM models UNION ALL "
               "SELECT 'benchmark', benchmark_id, category, name FROM benchmarks")


def choices(reader: CatalogReader) -> Choices:
    rows = reader.rows(CHOICES_SQL)
    models = [(i, a, b) for kind, i, a, b in rows if kind == "model"]
    bench = [(i, a, b) for kind, i, a, b in rows if kind == "benchmark"]
    return Choices(model_ids=frozenset(m[0] for m in models), benchmark_ids=frozenset(b[0] for b in bench),
                   categories=frozenset(b[1] for b in bench), vendors=frozenset(m[1] for m in models),
                   families=frozenset(m[2] for m in models),
                   benchmark_names=tuple((b[0], b[2]) for b in sorted(bench, key=lambda b: (b[1], b[2]))))


def most_covered_benchmark(charted_scores: pd.DataFrame) -> str | None:
    """The default score over a frame of charted scores already read (default_benchmark asks DuckDB instead)."""
    df = charted_scores[charted_scores["unit"] == "percent"]
    if df.empty:
        return None
    counts = df.groupby("benchmark_id")["model_id"].nunique().sort_values(ascending=False, kind="stable")
    best = counts[counts == counts.iloc[0]].index
    return sorted(best)[0]


# The default score in SQL: a model has a charted number on a benchmark exactly when it has a row in its chosen
# mode (or one whose source states no mode, 'n.a.'), since those rows rank first; so counting models with such a
# row per percent benchmark needs neither the ranking window nor any text column of the 900,000-row table. One
# query, whichever way the models are named (a first visit asks it before anything is cached).
_DEFAULT_BENCHMARK_TAIL = f"""
percent AS (SELECT benchmark_id FROM benchmarks WHERE unit = 'percent'),
chosen AS (SELECT m.model_id, {scores.CHOSEN_MODE_SQL} AS chosen_mode FROM models m JOIN wanted USING (model_id))
SELECT s.benchmark_id
FROM scores s
JOIN chosen USING (model_id)
JOIN percent USING (benchmark_id)
WHERE s.mode = chosen.chosen_mode OR s.mode = 'n.a.'
GROUP BY s.benchmark_id
ORDER BY count(DISTINCT s.model_id) DESC, s.benchmark_id
LIMIT 1
"""
DEFAULT_BENCHMARK_SQL = f"WITH wanted AS (SELECT DISTINCT unnest(?::VARCHAR[]) AS model_id),{_DEFAULT_BENCHMARK_TAIL}"
VENDORS_DEFAULT_BENCHMARK_SQL = (f"WITH wanted AS (SELECT model_id FROM models WHERE len(?::VARCHAR[]) = 0 "
                                 f"OR vendor IN (SELECT unnest(?::VARCHAR[]))),{_DEFAULT_BENCHMARK_TAIL}")


def default_benchmark(reader: CatalogReader, model_ids: list[str] | tuple[str, ...]) -> str | None:
    """The default score, asked of DuckDB: the percent benchmark with charted numbers for the most of these models
    (ties: the smallest benchmark_id). Same answer as most_covered_benchmark over every charted score."""
    if not model_ids:
        return None
    rows = reader.rows(DEFAULT_BENCHMARK_SQL, [list(model_ids), scores.DEFAULT_MODE])
    return str(rows[0][0]) if rows else None


def vendors_default_benchmark(reader: CatalogReader, vendors: list[str] | tuple[str, ...]) -> str | None:
    """default_benchmark over the models of these vendors (every model when none is given), in one query."""
    rows = reader.rows(VENDORS_DEFAULT_BENCHMARK_SQL, [list(vendors), list(vendors), scores.DEFAULT_MODE])
    return str(rows[0][0]) if rows else None


def chosen_scores(reader: CatalogReader, model_ids: list[str], benchmark_id: str | None,
                  category: str | None) -> pd.DataFrame:
    """Charted rows of the chosen benchmark, or of the chosen category's benchmarks, only."""
    if benchmark_id:
        bench_ids = [benchmark_id]
    elif category:
        bench_ids = reader.query("SELECT benchmark_id FROM benchmarks WHERE category = ?",
                                 [category])["benchmark_id"].tolist()
    else:
        bench_ids = []
    if not bench_ids:  # an empty list means "every benchmark" to scores_for: ask for no model instead
        return scores.scores_for(reader, [], charted_only=True)
    return scores.scores_for(reader, model_ids, bench_ids, charted_only=True)


def _score_points(charted: pd.DataFrame, benchmark_id: str | None, category: str | None) -> tuple[pd.DataFrame, str]:
    if benchmark_id:
        df = charted[charted["benchmark_id"] == benchmark_id].copy()
        title = df["benchmark_name"].iloc[0] if not df.empty else benchmark_id
        df["score"] = df["value"]
        df["benchmarks_counted"] = 1
        df["score_detail"] = (df["benchmark_name"] + " " + df["setting"].fillna("") + " · " + df["provenance"]
                              + " · " + df["source_location"].fillna(""))
        return df[["model_id", "score", "benchmarks_counted", "score_detail"]], title
    summary = scores.category_summary(charted, category or "")
    summary["score_detail"] = ("mean of " + summary["benchmarks_counted"].astype(str) + ": "
                               + summary["benchmark_list"])
    return summary[["model_id", "score", "benchmarks_counted", "score_detail"]], f"{category} (category mean)"


def overview_data(reader: CatalogReader, state: OverviewState, today: dt.date) -> OverviewData:
    models = models_table(reader, model_filter(state))
    ids = list(models["model_id"])
    benchmark_id, category = state.benchmark_id, state.category
    if not benchmark_id and not category:
        benchmark_id = default_benchmark(reader, ids)
    charted = chosen_scores(reader, ids, benchmark_id, category)
    points, title = _score_points(charted, benchmark_id, category)
    price_rows = prices.list_price_by_model(prices.prices_in_force(reader, state.price_date or today, ids))
    model_cols = models[["model_id", "display_name", "vendor", "family", "params_total_b", "params_active_b",
                         "open_weights", "release_date"]]
    points = model_cols.merge(points, on="model_id").merge(price_rows, on="model_id", how="left")
    measured = reader.query("""
        SELECT m.model_id, m.engine, m.engine_version, m.hardware, m.gpu_count, m.dtype, m.weights, m.concurrency,
               m.output_tokens_per_s, m.ttft_ms_p50, m.tpot_ms_p50, m.measured_at
        FROM measurements m WHERE m.model_id IN (SELECT unnest(?::VARCHAR[]))""", [ids])
    measured = model_cols.merge(measured, on="model_id").merge(price_rows, on="model_id", how="left")
    return OverviewData(len(models), points, title, benchmark_id, category, measured)


def leaderboard(reader: CatalogReader, state: OverviewState, category: str) -> pd.DataFrame:
    """The category's leaderboard for the filtered models (only that category's scores are read)."""
    ids = list(models_table(reader, model_filter(state))["model_id"])
    bench_ids = reader.query("SELECT benchmark_id FROM benchmarks WHERE category = ?", [category])["benchmark_id"]
    if not ids or bench_ids.empty:
        return pd.DataFrame()
    return scores.leaderboard(scores.scores_for(reader, ids, list(bench_ids), charted_only=True), category)
