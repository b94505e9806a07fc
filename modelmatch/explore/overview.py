"""The Overview page's data: filtered models, the chosen score per model, prices in force, measured speed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from modelmatch.catalog import prices

from modelmatch.catalog import scores
from modelmatch.catalog.models import ModelFilter, model_ids, models_table
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


# The page's rows in one query: its points (one per shown model with a score for the chosen benchmark or category)
# and its measured speed rows (one per measured configuration of a shown model), each with the model's columns and
# its list price in force. The charted scores (scores.SCORES_SQL, charted rows only) are reduced to a score per
# model; the shown models come as a list whose order is the page's (the models table's). It was five queries and four
# pandas merges, 58 ms a call on the real catalog against 34 (bench.query_speed), paid by each new visitor's first
# page. One query computes the prices in force once for both kinds of row.
_ROWS_HEAD = f"""
WITH charted AS ({scores.SCORES_SQL}),
{prices.LIST_PRICE_CTE},
shown AS (SELECT unnest(?::VARCHAR[]) AS model_id, unnest(range(len(?::VARCHAR[]))) AS shown_order),
score_points AS ("""
_ROWS_TAIL = """),
model_rows AS (
    SELECT shown.shown_order, m.model_id, m.display_name, m.vendor, m.family, m.params_total_b, m.params_active_b,
           m.open_weights, m.release_date
    FROM shown JOIN models m USING (model_id)
)
SELECT 'point' AS row_kind, r.*, p.* EXCLUDE (model_id), lp.* EXCLUDE (model_id)
FROM model_rows r JOIN score_points p USING (model_id) LEFT JOIN list_price lp USING (model_id)
UNION ALL BY NAME
SELECT 'measured' AS row_kind, r.*, x.run_id, x.engine, x.engine_version, x.hardware, x.gpu_count, x.dtype,
       x.weights, x.concurrency, x.output_tokens_per_s, x.ttft_ms_p50, x.tpot_ms_p50, x.measured_at,
       lp.* EXCLUDE (model_id)
FROM model_rows r JOIN measurements x USING (model_id) LEFT JOIN list_price lp USING (model_id)
ORDER BY row_kind DESC, shown_order, run_id
"""
# A point scores the chosen benchmark's charted number (one per model), with where it came from.
_BENCHMARK_SCORE_POINTS = """
    SELECT model_id, value AS score, 1::BIGINT AS benchmarks_counted,
           benchmark_name || ' ' || coalesce(setting, '') || ' · ' || provenance || ' · '
               || coalesce(source_location, '') AS score_detail,
           benchmark_name AS title
    FROM charted"""
BENCHMARK_ROWS_SQL = f"{_ROWS_HEAD}{_BENCHMARK_SCORE_POINTS}{_ROWS_TAIL}"
# Or the mean of the category's charted percent scores (see scores.category_summary: a rating and a percentage do
# not average), with how many benchmarks it is over and which.
_CATEGORY_SCORE_POINTS = """
    SELECT model_id, avg(value) AS score, count(DISTINCT benchmark_id) AS benchmarks_counted,
           'mean of ' || count(DISTINCT benchmark_id) || ': '
               || string_agg(DISTINCT benchmark_id, ', ' ORDER BY benchmark_id) AS score_detail,
           NULL::VARCHAR AS title
    FROM charted
    WHERE unit = 'percent' AND higher_is_better
    GROUP BY model_id"""
CATEGORY_ROWS_SQL = f"{_ROWS_HEAD}{_CATEGORY_SCORE_POINTS}{_ROWS_TAIL}"
MODEL_COLUMNS = ["model_id", "display_name", "vendor", "family", "params_total_b", "params_active_b", "open_weights",
                 "release_date"]
POINT_COLUMNS = [*MODEL_COLUMNS, "score", "benchmarks_counted", "score_detail", *prices.LIST_PRICE_COLUMNS]
MEASURED_COLUMNS = [*MODEL_COLUMNS, "engine", "engine_version", "hardware", "gpu_count", "dtype", "weights",
                    "concurrency", "output_tokens_per_s", "ttft_ms_p50", "tpot_ms_p50", "measured_at",
                    *prices.LIST_PRICE_COLUMNS]


def _chosen_benchmarks(reader: CatalogReader, benchmark_id: str | None, category: str | None) -> list[str]:
    if benchmark_id:
        return [benchmark_id]
    if category:
        return [row[0] for row in reader.rows("SELECT benchmark_id FROM benchmarks WHERE category = ?", [category])]
    return []


def overview_data(reader: CatalogReader, state: OverviewState, today: dt.date) -> OverviewData:
    ids = model_ids(reader, model_filter(state))
    benchmark_id, category = state.benchmark_id, state.category
    if not benchmark_id and not category:
        benchmark_id = default_benchmark(reader, ids)
    bench_ids = _chosen_benchmarks(reader, benchmark_id, category)
    # An empty benchmark list means "every benchmark" to SCORES_SQL: with none chosen, ask for no model's scores.
    score_params = [ids if bench_ids else [], scores.DEFAULT_MODE, bench_ids, bench_ids, True]
    rows = reader.query(BENCHMARK_ROWS_SQL if benchmark_id else CATEGORY_ROWS_SQL,
                        [*score_params, *prices.in_force_params(state.price_date or today, ids), ids, ids])
    is_point = rows["row_kind"] == "point"
    points = rows.loc[is_point, POINT_COLUMNS].reset_index(drop=True)
    measured = rows.loc[~is_point, MEASURED_COLUMNS].reset_index(drop=True)
    if benchmark_id:
        title = rows.loc[is_point, "title"].iloc[0] if is_point.any() else benchmark_id
    else:
        title = f"{category} (category mean)"
    return OverviewData(len(ids), points, title, benchmark_id, category, measured)


def leaderboard(reader: CatalogReader, state: OverviewState, category: str) -> pd.DataFrame:
    """The category's leaderboard for the filtered models (only that category's scores are read)."""
    ids = list(models_table(reader, model_filter(state))["model_id"])
    bench_ids = reader.query("SELECT benchmark_id FROM benchmarks WHERE category = ?", [category])["benchmark_id"]
    if not ids or bench_ids.empty:
        return pd.DataFrame()
    return scores.leaderboard(scores.scores_for(reader, ids, list(bench_ids), charted_only=True), category)
