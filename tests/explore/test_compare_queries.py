"""Query functions behind Overview and Compare, against a real DuckDB file built from a fixture written here."""

from __future__ import annotations

import copy
import datetime as dt

import pandas as pd
import pytest

from ingest.build import build
from modelmatch.explore import compare
from modelmatch.explore import overview
from modelmatch.catalog import prices
from modelmatch.catalog import scores
from modelmatch.catalog.models import ModelFilter, models_table
from modelmatch.catalog.reader import CatalogReader
from modelmatch.explore.view_state import OverviewState
from tests.fixture_data import FIXTURE_ROWS, write_table

A, B, G = "test-org/Alpha-7B-Instruct", "test-org/Beta-MoE", "test-vendor/gamma-api"
SRC = "https://example.org/report"


def score(model, bench, value, provenance="official", as_of="2025-01-01", setting="", where="Table 1", url=SRC):
    return {"model_id": model, "benchmark_id": bench, "value": str(value), "setting": setting,
            "provenance": provenance, "source_url": url, "source_location": where, "as_of": as_of}


@pytest.fixture
def reader(fixture_data_dir) -> CatalogReader:
    benchmarks = copy.deepcopy(FIXTURE_ROWS["benchmarks"]) + [
        {"benchmark_id": "humaneval", "name": "HumanEval", "category": "coding", "metric": "pass@1",
         "unit": "percent", "higher_is_better": "true"},
        {"benchmark_id": "mbpp", "name": "MBPP", "category": "coding", "metric": "pass@1", "unit": "percent",
         "higher_is_better": "true"},
        {"benchmark_id": "codeforces-rating", "name": "Codeforces", "category": "coding", "metric": "rating",
         "unit": "rating", "higher_is_better": "true"},
    ]
    write_table(fixture_data_dir, "benchmarks", benchmarks)
    write_table(fixture_data_dir, "scores", [
        # Alpha mmlu: official (older) and third-party (newer, different number) -> official is charted.
        score(A, "mmlu", 74.2, as_of="2024-09-19", setting="5-shot"),
        score(A, "mmlu", 73.9, provenance="third-party", as_of="2024-12-26", setting="5-shot",
              url="https://example.org/other", where="Table 9"),
        # Beta mmlu: two official reports -> the newer is charted.
        score(B, "mmlu", 88.5, as_of="2024-12-26", where="Table 4"),
        score(B, "mmlu", 90.8, as_of="2025-01-20", where="Table 5"),
        score(G, "mmlu", 88.7, provenance="third-party", as_of="2025-01-20"),
        score(A, "humaneval", 84.8), score(B, "humaneval", 82.6), score(A, "mbpp", 79.2),
        score(B, "codeforces-rating", 2029),
    ])
    write_table(fixture_data_dir, "prices", copy.deepcopy(FIXTURE_ROWS["prices"]) + [
        {"provider": "TestCloud", "model_id": B, "provider_model": "beta-chat", "tier": "off-peak",
         "input_usd_per_mtok": "0.07", "output_usd_per_mtok": "0.21", "effective_from": "2025-09-05",
         "source_url": SRC, "source_location": "pricing", "as_of": "2025-09-05"},
        {"provider": "OtherCloud", "model_id": A, "provider_model": "alpha", "input_usd_per_mtok": "0.3",
         "output_usd_per_mtok": "0.3", "effective_from": "2024-10-01", "source_url": SRC,
         "source_location": "pricing", "as_of": "2024-10-01"},
    ])
    db = fixture_data_dir / "catalog.duckdb"
    build(fixture_data_dir, db)
    return CatalogReader(db)


def test_charted_rule_prefers_official_then_newest(reader):
    rows = scores.scores_for(reader, [A, B, G], ["mmlu"])
    chosen = scores.charted(rows).set_index("model_id")["value"].to_dict()
    assert chosen == {A: 74.2, B: 90.8, G: 88.7}
    assert len(rows) == 5 and rows["charted"].sum() == 3


def test_disagreements_list_every_row_of_pairs_whose_sources_differ(reader):
    conflicts = scores.disagreements(scores.scores_for(reader, [A, B, G]))
    assert sorted(zip(conflicts["model_id"], conflicts["value"])) == [(A, 73.9), (A, 74.2), (B, 88.5), (B, 90.8)]
    assert conflicts["spread_between_sources"].iloc[0] == pytest.approx(90.8 - 88.5)


def test_category_summary_averages_percent_scores_only_and_counts_them(reader):
    charted = scores.charted(scores.scores_for(reader, [A, B]))
    summary = scores.category_summary(charted, "coding").set_index("model_id")
    assert summary.loc[A, "score"] == pytest.approx((84.8 + 79.2) / 2)
    assert summary.loc[A, "benchmarks_counted"] == 2
    assert summary.loc[B, "score"] == pytest.approx(82.6)  # the Codeforces rating is not averaged in
    assert summary.loc[B, "benchmarks_counted"] == 1


def test_leaderboard_orders_by_category_mean(reader):
    board = scores.leaderboard(scores.charted(scores.scores_for(reader, [A, B])), "coding")
    # Beta 82.6 (one percent benchmark) beats Alpha (84.8 + 79.2) / 2 = 82.0
    assert list(board["model_id"]) == [B, A]
    assert board["category mean"].tolist() == pytest.approx([82.6, 82.0])
    assert "HumanEval" in board.columns and "Codeforces" in board.columns


def test_price_in_force_follows_history(reader):
    early = prices.prices_in_force(reader, dt.date(2025, 3, 1), [B])
    late = prices.prices_in_force(reader, dt.date(2025, 10, 1), [B])
    assert early[["input_usd_per_mtok", "output_usd_per_mtok"]].values.tolist() == [[0.55, 2.19]]
    standard = late[late["tier"].isna()]
    assert standard[["input_usd_per_mtok", "output_usd_per_mtok"]].values.tolist() == [[0.28, 0.42]]
    assert prices.prices_in_force(reader, dt.date(2024, 1, 1), [B]).empty


def test_blended_list_price_is_cheapest_provider_without_discount_tiers(reader):
    best = prices.list_prices(reader, dt.date(2025, 10, 1), [A, B])
    best = best.set_index("model_id")
    assert best.loc[B, "blended_usd_per_mtok"] == pytest.approx((3 * 0.28 + 0.42) / 4)  # not the off-peak row
    assert best.loc[A, "blended_usd_per_mtok"] == pytest.approx(0.3)


def test_model_filter_ranges_and_architecture(reader):
    ids = lambda flt: set(models_table(reader, flt)["model_id"])  # noqa: E731
    assert ids(ModelFilter(architectures=("moe",))) == {B}
    assert ids(ModelFilter(params_active_b=(None, 10.0))) == {A}
    assert ids(ModelFilter(params_total_b=(100.0, None))) == {B}
    assert ids(ModelFilter(released_from=dt.date(2025, 1, 1))) == {B}
    assert ids(ModelFilter(released_to=dt.date(2024, 12, 31))) == {A}
    assert ids(ModelFilter(commercial_use=("yes",))) == {A}
    assert ids(ModelFilter(model_ids=(G, A))) == {A, G}


def test_overview_points_join_scores_and_prices(reader):
    data = overview.overview_data(reader, OverviewState(benchmark_id="mmlu"), dt.date(2025, 10, 1))
    points = data.points.set_index("model_id")
    assert points.loc[B, "score"] == 90.8
    assert points.loc[B, "blended_usd_per_mtok"] == pytest.approx((3 * 0.28 + 0.42) / 4)
    assert pd.isna(points.loc[G, "blended_usd_per_mtok"])
    assert data.score_title == "MMLU"


def test_overview_default_score_is_the_most_covered_benchmark(reader):
    data = overview.overview_data(reader, OverviewState(), dt.date(2025, 10, 1))
    assert data.benchmark_id == "mmlu"


def test_score_matrix_says_no_official_number(reader):
    data = compare.compare_data(reader, (B, A), dt.date(2025, 10, 1))
    matrix = compare.score_matrix(scores.charted(data.scores), data.models).set_index("benchmark")
    assert list(data.models["model_id"]) == [B, A]  # the user's order
    assert pd.isna(matrix.loc["MBPP", "Beta MoE"])
    assert matrix.loc["MBPP", "Alpha 7B Instruct"] == 79.2
    shown = compare.display_matrix(matrix, ["Beta MoE", "Alpha 7B Instruct"])
    assert shown.loc["MBPP", "Beta MoE"] == compare.NO_NUMBER and shown.loc["MBPP", "Alpha 7B Instruct"] == "79.2"
    rows = matrix.reset_index()
    assert set(rows["benchmark"].iloc[:2]) == {"MMLU", "HumanEval"}  # benchmarks both models have come first
    mmlu = rows[rows["benchmark"] == "MMLU"].iloc[0]
    assert compare.best_in_row(mmlu, ["Beta MoE", "Alpha 7B Instruct"]) == {"Beta MoE"}
    mbpp = rows[rows["benchmark"] == "MBPP"].iloc[0]
    assert compare.best_in_row(mbpp, ["Beta MoE", "Alpha 7B Instruct"]) == set()  # one number: nothing to beat
    mask = compare.best_mask(rows, ["Beta MoE", "Alpha 7B Instruct"])
    assert mask.loc[rows["benchmark"] == "MMLU", "Beta MoE"].item() is True
    assert not mask["benchmark"].any()


def test_shared_benchmarks_only_those_every_model_has(reader):
    charted = scores.charted(scores.scores_for(reader, [A, B]))
    shared = compare.shared_benchmarks(charted, (A, B))
    assert set(shared["benchmark_id"]) == {"mmlu", "humaneval"}
    assert set(compare.shared_benchmarks(charted, (A, B), "coding")["benchmark_id"]) == {"humaneval"}


def test_attribute_table_flags_differences(reader):
    data = compare.compare_data(reader, (A, B), dt.date(2025, 10, 1))
    table = compare.attribute_table(data).set_index("fact")
    assert bool(table.loc["Context (tokens)", "differs"]) is False
    assert bool(table.loc["Vendor", "differs"]) is True
    assert table.loc["Measured speed", "Alpha 7B Instruct"] == "not measured yet"
    # Alpha's fixture architecture: 2 (K,V) x 28 layers x 4 KV heads x 128 head_dim x 2 bytes = 57,344
    assert table.loc["KV cache per token (bf16)", "Alpha 7B Instruct"] == "57,344 bytes"
    assert table.loc["KV cache per token (bf16)", "Beta MoE"] == "not computable (see card)"
    assert "57,344 bytes (56.0 KiB)" in compare.kv_cache_text(data, A)
    assert compare.kv_cache_text(data, B) == "no architecture row in the catalog"


def test_fact_sources_mark_stale_rows_by_their_tables_threshold(reader, monkeypatch):
    monkeypatch.setenv("MODELMATCH_STALE_AFTER_DAYS_MODELS", "365")
    monkeypatch.setenv("MODELMATCH_STALE_AFTER_DAYS_PRICES", "90")
    data = compare.compare_data(reader, (A, B), dt.date(2025, 10, 1))
    sources = compare.fact_sources(data, dt.date(2025, 10, 1)).set_index(["model", "fact"])
    # Alpha's model row is from 2024-09-19: 377 days > 365. Beta's price since 2025-09-05: 26 days < 90.
    assert sources.loc[("Alpha 7B Instruct", "model facts"), "freshness"].startswith("STALE")
    assert sources.loc[("Beta MoE", "price TestCloud beta-chat"), "freshness"].startswith("fresh")


def test_fact_sources_name_the_own_source_of_parameter_counts_and_context_regression(real_catalog):
    """The sources table listed only the model row's document, so a count read on two engines' pages or a context
    read in the config appeared to come from the vendor's README or pricing page."""
    data = compare.compare_data(CatalogReader(real_catalog), ("deepseek-ai/DeepSeek-V4-Flash",
                                                              "Qwen/Qwen3.5-397B-A17B"), dt.date(2026, 12, 1))
    sources = compare.fact_sources(data, dt.date(2026, 12, 1)).set_index(["model", "fact"])
    names = dict(zip(data.models["model_id"], data.models["display_name"]))
    counts = sources.loc[(names["deepseek-ai/DeepSeek-V4-Flash"], "parameter counts")]
    context = sources.loc[(names["Qwen/Qwen3.5-397B-A17B"], "context length")]
    models = CatalogReader(real_catalog).query(
        "SELECT model_id, params_source_url, context_source_url FROM models WHERE model_id IN "
        "('deepseek-ai/DeepSeek-V4-Flash', 'Qwen/Qwen3.5-397B-A17B')").set_index("model_id")
    assert counts["source_url"] == models.loc["deepseek-ai/DeepSeek-V4-Flash", "params_source_url"]
    assert counts["where"].endswith("(secondary)")
    assert context["source_url"] == models.loc["Qwen/Qwen3.5-397B-A17B", "context_source_url"]
    assert context["where"].endswith("(official-copy)")
    copy_url = CatalogReader(real_catalog).records(
        "SELECT context_copy_url FROM models WHERE model_id = 'Qwen/Qwen3.5-397B-A17B'")[0]["context_copy_url"]
    assert f"read in the copy at {copy_url} (official-copy)" in context["where"]  # the copy is named, not only its tier
