"""Overview asks DuckDB for the default benchmark and for its points and measured rows whole (the chosen benchmark's
or category's score per model, joined to the model and its list price in SQL); the rows must be the ones the former
pandas path (every charted score read, filtered, reduced and joined to the prices in force in pandas) gave."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ingest.build import build
from modelmatch.explore import overview
from modelmatch.catalog import prices
from modelmatch.catalog import scores
from modelmatch.catalog.reader import CatalogReader
from modelmatch.explore.view_state import OverviewState

TODAY = dt.date(2026, 1, 1)


def score_points(charted: pd.DataFrame, benchmark_id: str | None, category: str | None) -> tuple[pd.DataFrame, str]:
    """The former reduction of charted scores to one score per model, in pandas."""
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


def list_price_by_model(in_force: pd.DataFrame) -> pd.DataFrame:
    """The former cheapest blended list price per model (discount tiers excluded), in pandas."""
    eligible = in_force[~in_force["is_discount"] & in_force["blended_usd_per_mtok"].notna()]
    if eligible.empty:
        return pd.DataFrame(columns=["model_id", "blended_usd_per_mtok", "provider", "provider_model",
                                     "input_usd_per_mtok", "output_usd_per_mtok", "effective_from", "price_source_url"])
    best = eligible.sort_values(["model_id", "blended_usd_per_mtok"]).groupby("model_id", as_index=False).first()
    best = best.rename(columns={"source_url": "price_source_url"})
    return best[["model_id", "blended_usd_per_mtok", "provider", "provider_model", "input_usd_per_mtok",
                 "output_usd_per_mtok", "effective_from", "price_source_url"]]


def pandas_path(reader: CatalogReader, state: OverviewState, today: dt.date = TODAY) -> overview.OverviewData:
    """The former implementation, kept here as the reference: every charted score of the filtered models into
    pandas, the default benchmark and the chosen rows picked there, prices and measurements merged there."""
    models = overview.models_table(reader, overview.model_filter(state))
    ids = list(models["model_id"])
    charted = scores.scores_for(reader, ids, charted_only=True)
    benchmark_id, category = state.benchmark_id, state.category
    if not benchmark_id and not category:
        benchmark_id = overview.most_covered_benchmark(charted)
    if benchmark_id:
        charted = charted[charted["benchmark_id"] == benchmark_id]
    points, title = score_points(charted, benchmark_id, category)
    price_rows = list_price_by_model(prices.prices_in_force(reader, state.price_date or today, ids))
    model_cols = models[["model_id", "display_name", "vendor", "family", "params_total_b", "params_active_b",
                         "open_weights", "release_date"]]
    points = model_cols.merge(points, on="model_id").merge(price_rows, on="model_id", how="left")
    measured = reader.query("""
        SELECT m.run_id, m.model_id, m.engine, m.engine_version, m.hardware, m.gpu_count, m.dtype, m.weights,
               m.concurrency, m.output_tokens_per_s, m.ttft_ms_p50, m.tpot_ms_p50, m.measured_at
        FROM measurements m WHERE m.model_id IN (SELECT unnest(?::VARCHAR[]))""", [ids])
    # That query had no ORDER BY: its rows came in the table's order within a model. The new one orders them by the
    # table's key (run_id) within the models' order, which the merge keeps.
    measured = measured.sort_values("run_id", kind="stable").drop(columns="run_id")
    measured = model_cols.merge(measured, on="model_id").merge(price_rows, on="model_id", how="left")
    return overview.OverviewData(len(models), points, title, benchmark_id, category, measured)


def same_rows(new: pd.DataFrame, old: pd.DataFrame, what: str) -> None:
    """Same columns, rows and values; a missing value is missing whichever way a frame holds it (DuckDB gives an
    all-NULL text column as objects with None, a pandas merge fills NaN into a text column)."""
    def plain(df: pd.DataFrame) -> pd.DataFrame:
        return df.reset_index(drop=True).astype(object).where(df.reset_index(drop=True).notna(), None)
    pd.testing.assert_frame_equal(plain(new), plain(old), check_dtype=False, obj=what)


def old_default_benchmark(reader: CatalogReader, ids: list[str]) -> str | None:
    return overview.most_covered_benchmark(scores.scores_for(reader, ids, charted_only=True))


def states(reader: CatalogReader) -> list[OverviewState]:
    bench = reader.query("SELECT benchmark_id, category FROM benchmarks ORDER BY benchmark_id")
    vendors = sorted(set(reader.query("SELECT vendor FROM models")["vendor"]))
    out = [OverviewState(), OverviewState(vendors=tuple(vendors[:1])), OverviewState(vendors=tuple(vendors[-2:])),
           OverviewState(open_weights_only=True), OverviewState(vendors=("no such vendor",)),
           OverviewState(benchmark_id="no-such-benchmark"), OverviewState(category="no such category"),
           OverviewState(price_date=dt.date(2025, 3, 1)), OverviewState(price_date=dt.date(2024, 1, 1))]
    out += [OverviewState(benchmark_id=b) for b in bench["benchmark_id"].tolist()[:12]]
    out += [OverviewState(category=c) for c in sorted(set(bench["category"]))]
    out += [OverviewState(category=c, vendors=tuple(vendors[:1])) for c in sorted(set(bench["category"]))[:3]]
    return out


def assert_same(reader: CatalogReader) -> None:
    for state in states(reader):
        new, old = overview.overview_data(reader, state, TODAY), pandas_path(reader, state)
        assert (new.model_count, new.score_title, new.benchmark_id, new.category) == \
            (old.model_count, old.score_title, old.benchmark_id, old.category), state
        same_rows(new.points, old.points, repr(state))
        same_rows(new.measured, old.measured, f"measured {state!r}")
    all_ids = reader.query("SELECT model_id, vendor FROM models")
    for vendor in [None, *sorted(set(all_ids["vendor"]))]:
        ids = all_ids["model_id"].tolist() if vendor is None else \
            all_ids.loc[all_ids["vendor"] == vendor, "model_id"].tolist()
        assert overview.default_benchmark(reader, ids) == old_default_benchmark(reader, ids), vendor
        # The page names the vendors, not the models: the same answer in one query.
        vendors = [] if vendor is None else [vendor]
        assert overview.vendors_default_benchmark(reader, vendors) == old_default_benchmark(reader, ids), vendor
    assert overview.default_benchmark(reader, []) is None
    assert overview.vendors_default_benchmark(reader, ["no such vendor"]) is None


def test_overview_sql_path_matches_pandas_path_on_the_fixture(live_catalog):
    assert_same(CatalogReader(live_catalog))


def test_overview_sql_path_matches_pandas_path_on_the_real_catalog(real_catalog):
    assert_same(CatalogReader(real_catalog))


def test_default_benchmark_breaks_ties_by_smallest_id_like_the_pandas_path(fixture_data_dir, tmp_path):
    from tests.fixture_data import FIXTURE_ROWS, write_table

    bench = [dict(b) for b in FIXTURE_ROWS["benchmarks"]]
    first = bench[0]
    twin = {**first, "benchmark_id": "aaa-" + first["benchmark_id"], "name": "Twin " + first["name"]}
    write_table(fixture_data_dir, "benchmarks", bench + [twin])
    rows = [dict(r) for r in FIXTURE_ROWS["scores"]]
    rows += [{**r, "benchmark_id": twin["benchmark_id"]} for r in rows if r["benchmark_id"] == first["benchmark_id"]]
    write_table(fixture_data_dir, "scores", rows)
    db = tmp_path / "tie.duckdb"
    build(fixture_data_dir, db)
    reader = CatalogReader(db)
    ids = reader.query("SELECT model_id FROM models")["model_id"].tolist()
    assert overview.default_benchmark(reader, ids) == old_default_benchmark(reader, ids) == twin["benchmark_id"]


def test_choices_in_one_query_match_the_two_table_reads(real_catalog):
    """What a link may name, read in one query: the same sets as reading the models and benchmarks tables apart, and
    the benchmark names in the order the benchmark table lists them (category, then name)."""
    reader = CatalogReader(real_catalog)
    models = reader.query("SELECT model_id, vendor, family FROM models")
    bench = reader.query("SELECT benchmark_id, category, name FROM benchmarks ORDER BY category, name")
    got = overview.choices(reader)
    assert got.model_ids == frozenset(models["model_id"]) and got.vendors == frozenset(models["vendor"])
    assert got.families == frozenset(models["family"])
    assert got.benchmark_ids == frozenset(bench["benchmark_id"]) and got.categories == frozenset(bench["category"])
    assert list(got.benchmark_names) == list(zip(bench["benchmark_id"], bench["name"]))
