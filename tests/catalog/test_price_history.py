"""Price history: the price in force on a date, the step chart, freshness thresholds per table, and what a build
changed against the one before it."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ingest.build import build
from ingest.changes import read_changes
from modelmatch.explore import charts
from modelmatch.catalog import freshness
from modelmatch.catalog import prices
from modelmatch import settings
from modelmatch.catalog.reader import CatalogReader
from tests.fixture_data import FIXTURE_ROWS, write_table

BETA = "test-org/Beta-MoE"


@pytest.fixture
def reader(live_catalog) -> CatalogReader:
    return CatalogReader(live_catalog)


@pytest.mark.parametrize(("on", "expected"), [
    (dt.date(2025, 1, 19), None),  # before the first row: no price
    (dt.date(2025, 1, 20), (0.55, 0.14, 2.19)),  # the day it took effect
    (dt.date(2025, 9, 4), (0.55, 0.14, 2.19)),
    (dt.date(2025, 9, 5), (0.28, None, 0.42)),  # the change's own day
    (dt.date(2030, 1, 1), (0.28, None, 0.42)),  # still in force
])
def test_price_in_force_on_a_date(reader, on, expected):
    in_force = prices.prices_in_force(reader, on, [BETA])
    from_history = prices.price_on(prices.price_history(reader, BETA), on)
    if expected is None:
        assert in_force.empty and from_history.empty
        return
    for frame in (in_force, from_history):
        assert len(frame) == 1
        row = frame.iloc[0]
        got = (row["input_usd_per_mtok"], None if pd.isna(row["cached_input_usd_per_mtok"])
               else row["cached_input_usd_per_mtok"], row["output_usd_per_mtok"])
        assert got == expected


def test_history_keeps_every_row_with_when_it_ended(reader):
    history = prices.price_history(reader, BETA)
    assert list(history["offering"].unique()) == ["TestCloud beta-chat"]
    assert [f"{d:%Y-%m-%d}" for d in history["effective_from"]] == ["2025-01-20", "2025-09-05"]
    assert f"{history['effective_until'].iloc[0]:%Y-%m-%d}" == "2025-09-05"
    assert pd.isna(history["effective_until"].iloc[1])  # still in force
    assert prices.price_history(reader, "test-org/Alpha-7B-Instruct").empty


def test_existing_public_price_functions_still_work(reader):
    best = prices.list_prices(reader, dt.date(2025, 10, 1))
    assert best.set_index("model_id").loc[BETA, "blended_usd_per_mtok"] == pytest.approx((3 * 0.28 + 0.42) / 4)
    assert set(prices.priced_models(reader)["model_id"]) == {BETA}


def test_step_chart_points_extend_to_today_and_stop_where_a_price_is_no_longer_stated(reader):
    history = prices.price_history(reader, BETA)
    points = prices.history_points(history, "TestCloud beta-chat", dt.date(2026, 1, 1))
    by_kind = {k: g.sort_values("date") for k, g in points.groupby("kind")}
    assert [(f"{d:%Y-%m-%d}", v) for d, v in zip(by_kind["input"]["date"], by_kind["input"]["usd_per_mtok"])] == \
           [("2025-01-20", 0.55), ("2025-09-05", 0.28), ("2026-01-01", 0.28)]
    # The 2025-09-05 row states no cached price: the cached line ends there instead of running on to today.
    assert [f"{d:%Y-%m-%d}" for d in by_kind["cached input"]["date"]] == ["2025-01-20", "2025-09-05"]
    assert list(points["change"]) == [True, True, False, True, False, True, True, False]


def test_step_chart_is_a_step_after_line_that_renders(reader):
    chart = prices.history_chart(prices.price_history(reader, BETA), "TestCloud beta-chat", dt.date(2026, 1, 1))
    spec = chart.to_dict()
    marks = [layer["mark"] for layer in spec["layer"]]
    assert {"type": "line", "interpolate": "step-after"} in marks
    assert spec["layer"][0]["encoding"]["x"]["field"] == "date"
    svg = charts.to_svg(chart)
    assert svg.startswith("<svg") and "Price history: TestCloud beta-chat" in svg


def test_freshness_ages_and_per_table_thresholds(reader, monkeypatch):
    today = dt.date(2025, 12, 1)
    monkeypatch.delenv("MODELMATCH_STALE_AFTER_DAYS_PRICES", raising=False)
    assert settings.stale_after_days_for("prices") == 90
    assert settings.stale_after_days_for("models") == settings.stale_after_days() == 365
    aged = freshness.rows_by_age(reader, "prices", today)
    assert list(aged["age_days"]) == [315, 87]
    assert list(aged["stale"]) == [True, False]
    assert list(aged["freshness"]) == ["STALE · 10 months", "fresh · 2 months"]
    monkeypatch.setenv("MODELMATCH_STALE_AFTER_DAYS_PRICES", "30")
    assert list(freshness.rows_by_age(reader, "prices", today)["stale"]) == [True, True]
    monkeypatch.setenv("MODELMATCH_STALE_AFTER_DAYS_MODELS", "400")
    summary = freshness.summary(reader, today).set_index("table")
    assert summary.loc["prices", "stale_rows"] == 2 and summary.loc["prices", "stale_after_days"] == 30
    assert summary.loc["models", "stale_after_days"] == 400
    assert summary.loc["models", "stale_rows"] == 2  # Gamma (2024-05-13) and Alpha (2024-09-19); Beta is 315 days
    assert summary.loc["gpus", "rows"] == 1
    stale = freshness.rows_by_age(reader, "models", today, stale_only=True)
    assert list(stale["model_id"]) == ["test-vendor/gamma-api", "test-org/Alpha-7B-Instruct"]


def test_bad_threshold_setting_says_which_variable(monkeypatch):
    monkeypatch.setenv("MODELMATCH_STALE_AFTER_DAYS_SCORES", "soon")
    with pytest.raises(ValueError, match="MODELMATCH_STALE_AFTER_DAYS_SCORES='soon' is not a whole number"):
        settings.stale_after_days_for("scores")
    monkeypatch.setenv("MODELMATCH_STALE_AFTER_DAYS_SCORES", "0")
    with pytest.raises(ValueError, match="='0' is not a whole number of at least 1"):
        settings.stale_after_days_for("scores")


@pytest.mark.parametrize(("days", "text"), [(0, "today"), (1, "1 day"), (13, "13 days"), (20, "2 weeks"),
                                             (100, "3 months"), (400, "1.1 years"), (None, "no date"),
                                             (-3, "future date")])
def test_human_age(days, text):
    assert freshness.human_age(days) == text


def test_add_freshness_on_any_frame_with_as_of():
    df = pd.DataFrame({"as_of": [dt.date(2025, 1, 1), None]})
    out = freshness.add_freshness(df, "scores", dt.date(2026, 1, 10))
    assert list(out["stale"]) == [True, False] and out["freshness"].tolist() == ["STALE · 1.0 years", "no date"]
    assert "age_days" not in df  # a copy


def test_build_records_rows_added_changed_and_removed(fixture_data_dir, tmp_path):
    db = tmp_path / "c.duckdb"
    build(fixture_data_dir, db)
    first = read_changes(CatalogReader(db))
    assert first.previous_build_id is None
    assert {t.table: t.added for t in first.tables}["models"] == 3
    first_id = CatalogReader(db).build_info().build_id

    rows = [dict(r) for r in FIXTURE_ROWS["prices"]]
    rows[1]["output_usd_per_mtok"] = "0.40"  # corrected
    rows.append({**rows[1], "effective_from": "2025-12-01", "input_usd_per_mtok": "0.20"})  # a new dated price
    write_table(fixture_data_dir, "prices", rows)
    write_table(fixture_data_dir, "gpus", [])  # removed
    build(fixture_data_dir, db)
    changes = read_changes(CatalogReader(db))
    assert changes.previous_build_id == first_id
    counts = {t.table: (t.added, t.changed, t.removed) for t in changes.tables}
    assert counts["prices"] == (1, 1, 0) and counts["gpus"] == (0, 0, 1) and counts["models"] == (0, 0, 0)
    assert changes.summary() == f"changes since build {first_id}: prices +1 ~1 -0; gpus +0 ~0 -1"
    assert sorted(map(tuple, changes.rows.values.tolist())) == [
        ("gpus", "removed", "test-gpu"),
        ("prices", "added", "TestCloud · beta-chat ·  · 2025-12-01"),
        ("prices", "changed", "TestCloud · beta-chat ·  · 2025-09-05"),
    ]


def test_rebuild_over_a_catalog_typed_differently_reports_only_real_changes(fixture_data_dir, tmp_path):
    """Columns are compared as stored when both builds type them alike; a column whose type changed between builds
    (here a key part and a price now DATE / DOUBLE, text before) or that the older build lacked must not make
    every row look changed."""
    import duckdb

    db = tmp_path / "c.duckdb"
    build(fixture_data_dir, db)
    con = duckdb.connect(str(db))
    try:
        con.execute("ALTER TABLE prices ALTER effective_from TYPE VARCHAR")
        con.execute("ALTER TABLE prices ALTER output_usd_per_mtok TYPE VARCHAR")
        con.execute("ALTER TABLE models DROP COLUMN notes")
    finally:
        con.close()
    rows = [dict(r) for r in FIXTURE_ROWS["prices"]]
    rows[1]["output_usd_per_mtok"] = "0.40"
    write_table(fixture_data_dir, "prices", rows)
    build(fixture_data_dir, db)
    changes = read_changes(CatalogReader(db))
    counts = {t.table: (t.added, t.changed, t.removed) for t in changes.tables}
    assert counts["prices"] == (0, 1, 0) and counts["models"] == (0, 0, 0)
    assert sorted(map(tuple, changes.rows.values.tolist())) == [
        ("prices", "changed", "TestCloud · beta-chat ·  · 2025-09-05")]


def test_build_over_an_unreadable_file_records_no_previous_build(fixture_data_dir, tmp_path):
    db = tmp_path / "c.duckdb"
    db.write_bytes(b"not a duckdb file")
    build(fixture_data_dir, db)
    assert read_changes(CatalogReader(db)).previous_build_id is None


def test_age_days_of_missing_dates_is_none_whatever_the_missing_type():
    import datetime as dt

    import pandas as pd

    from modelmatch.catalog.freshness import age_days

    today = dt.date(2025, 1, 31)
    assert [age_days(v, today) for v in (None, pd.NaT, float("nan"))] == [None, None, None]
    assert age_days(pd.Timestamp("2025-01-01"), today) == 30 and age_days("2025-01-30", today) == 1


def test_rows_from_a_pinned_source_are_not_stale_but_prices_always_age(tmp_path):
    """A score read from a commit-pinned file cannot drift from it; a price is a fact about today and always ages."""
    pinned = "https://github.com/test-org/repo/blob/" + "a" * 40 + "/README.md"
    rows = [dict(FIXTURE_ROWS["scores"][0], source_url=pinned, as_of="2020-01-01"),
            dict(FIXTURE_ROWS["scores"][1], as_of="2020-01-01")]
    today = dt.date(2026, 12, 6)
    df = freshness.add_freshness(pd.DataFrame(rows), "scores", today)
    assert list(df["stale"]) == [False, True]
    assert df["freshness"].iloc[0].startswith("pinned") and df["freshness"].iloc[1].startswith("STALE")
    prices_df = freshness.add_freshness(pd.DataFrame([{"source_url": pinned, "as_of": "2020-01-01"}]), "prices", today)
    assert list(prices_df["stale"]) == [True]
    from tests.fixture_data import write_fixture_data
    data = write_fixture_data(tmp_path / "data", {"scores": rows})
    build(data, data / "c.duckdb")
    summary = freshness.summary(CatalogReader(data / "c.duckdb"), today).set_index("table")
    assert summary.loc["scores", "stale_rows"] == 1


def test_most_of_the_real_catalog_is_not_stale(real_catalog):
    summary = freshness.summary(CatalogReader(real_catalog), dt.date(2026, 12, 6)).set_index("table")
    assert summary.loc["scores", "stale_rows"] < summary.loc["scores", "rows"] / 2
    assert summary["stale_rows"].sum() < summary["rows"].sum() / 2


def test_price_on_a_model_whose_offerings_never_moved_on_regression(fixture_data_dir, tmp_path):
    """The Data page crashed on 9 of the 17 priced models of the real catalog (the first one it opens among them):
    when no offering of a model had ever moved on, effective_until held no date, its .dt.date stayed datetime64 and
    comparing it with the chosen date raised TypeError."""
    write_table(fixture_data_dir, "prices", [FIXTURE_ROWS["prices"][0]])  # one row, still in force
    db = tmp_path / "one_price.duckdb"
    build(fixture_data_dir, db)
    history = prices.price_history(CatalogReader(db), BETA)
    assert history["effective_until"].isna().all()
    assert prices.price_on(history, dt.date(2025, 1, 19)).empty
    in_force = prices.price_on(history, dt.date(2026, 12, 6))
    assert list(in_force["input_usd_per_mtok"]) == [0.55]
