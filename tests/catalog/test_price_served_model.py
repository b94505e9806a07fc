"""Prices of offerings whose served model changed: the price in force belongs to the offering, and a model only has
a price on a date when the offering served that model on that date.

Regression for the bug "prices_in_force filters by model before choosing the latest row per offering": Compare
"Qwen3-235B-A22B vs DeepSeek-R1" showed R1 at $0.55/$2.19 long after deepseek-reasoner had moved on to
DeepSeek-V3.1, and "DeepSeek-R1 vs DeepSeek-V3.1" showed R1 with no price only because V3.1 was on the page.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ingest.build import build
from modelmatch.explore import compare
from modelmatch.catalog import prices
from modelmatch.catalog.reader import CatalogReader
from tests.fixture_data import SRC, write_fixture_data

OLD, NEW = "test-org/Beta-MoE", "test-org/Alpha-7B-Instruct"


def _row(model_id: str, effective_from: str, inp: str, out: str) -> dict[str, str]:
    return {"provider": "TestCloud", "model_id": model_id, "provider_model": "beta-reasoner",
            "input_usd_per_mtok": inp, "output_usd_per_mtok": out, "effective_from": effective_from,
            "source_url": SRC, "source_location": "pricing table", "as_of": effective_from}


@pytest.fixture
def switched_reader(tmp_path) -> CatalogReader:
    """beta-reasoner served Beta-MoE from 2025-01-20, then Alpha from 2025-08-21 (new price)."""
    rows = [_row(OLD, "2025-01-20", "0.55", "2.19"), _row(NEW, "2025-08-21", "0.56", "1.68")]
    data = write_fixture_data(tmp_path / "data", {"prices": rows})
    build(data, data / "catalog.duckdb")
    return CatalogReader(data / "catalog.duckdb")


def test_prices_in_force_filters_by_model_before_choosing_the_latest_row_per_offering(switched_reader):
    # The bug: asking for the old model alone brought back its superseded price.
    assert prices.prices_in_force(switched_reader, dt.date(2025, 10, 1), [OLD]).empty
    # Asked together, the new model has the offering's price and the old one has none.
    both = prices.prices_in_force(switched_reader, dt.date(2025, 10, 1), [OLD, NEW])
    assert list(both["model_id"]) == [NEW]
    assert (both.iloc[0]["input_usd_per_mtok"], both.iloc[0]["output_usd_per_mtok"]) == (0.56, 1.68)
    # Unfiltered, there is exactly one row per offering (this catalog has one offering).
    assert len(prices.prices_in_force(switched_reader, dt.date(2025, 10, 1))) == 1


def test_old_model_keeps_its_price_for_the_dates_it_was_served(switched_reader):
    on = dt.date(2025, 8, 20)  # the last day the old model was served
    in_force = prices.prices_in_force(switched_reader, on, [OLD])
    assert list(in_force["input_usd_per_mtok"]) == [0.55]
    assert prices.prices_in_force(switched_reader, on, [NEW]).empty


def test_history_of_a_model_ends_when_its_offering_moved_to_another_model(switched_reader):
    history = prices.price_history(switched_reader, OLD)
    reasoner = history[history["provider_model"] == "beta-reasoner"].iloc[0]
    assert f"{reasoner['effective_until']:%Y-%m-%d}" == "2025-08-21"
    assert reasoner["succeeded_by_model_id"] == NEW
    # price_on over that history agrees with prices_in_force: nothing for the old model after the switch.
    later = prices.price_on(history, dt.date(2025, 10, 1))
    assert "beta-reasoner" not in set(later["provider_model"])
    # The step chart's line for the old model stops at the switch instead of running on to today.
    points = prices.history_points(history, "TestCloud beta-reasoner", dt.date(2026, 1, 1))
    assert max(points["date"]) == pd.Timestamp("2025-08-21")


def test_compare_shows_no_superseded_price_for_a_model_no_longer_served(switched_reader):
    data = compare.compare_data(switched_reader, (OLD,), dt.date(2025, 10, 1))
    assert "beta-reasoner" not in set(data.prices["provider_model"])


@pytest.fixture(scope="module")
def real_reader(tmp_path_factory) -> CatalogReader:
    from tests.conftest import REPO_ROOT

    db_path = tmp_path_factory.mktemp("real-prices") / "catalog.duckdb"
    build(REPO_ROOT / "data", db_path)
    return CatalogReader(db_path)


@pytest.mark.parametrize("others", [("Qwen/Qwen3-235B-A22B",), ("deepseek-ai/DeepSeek-V3.1",)])
def test_compare_deepseek_r1_today_has_no_deepseek_api_price(real_reader, others):
    """The two Compare pages of the bug report, on the real catalog: R1 is no longer served by DeepSeek's API."""
    data = compare.compare_data(real_reader, ("deepseek-ai/DeepSeek-R1", *others), dt.date(2026, 12, 6))
    r1 = data.prices[data.prices["model_id"] == "deepseek-ai/DeepSeek-R1"]
    assert r1[r1["provider"] == "DeepSeek"].empty
    # ... and on a date it was served, it has the reasoner price of that time.
    then = compare.compare_data(real_reader, ("deepseek-ai/DeepSeek-R1", *others), dt.date(2025, 3, 1))
    r1_then = then.prices[(then.prices["model_id"] == "deepseek-ai/DeepSeek-R1")
                          & (then.prices["provider_model"] == "deepseek-reasoner")]
    assert list(r1_then["output_usd_per_mtok"]) == [2.19]


# -- served-model periods -----------------------------------------------------------------------------------------
# Price on a date for every offering whose served model changed, on the real catalog. Expected values are the
# numbers of the rows cited in data/prices (official pages, the dated capture, or the two agreeing sources).
from modelmatch.catalog import offerings  # noqa: E402

CHAT, REASONER = ("DeepSeek", "deepseek-chat"), ("DeepSeek", "deepseek-reasoner")


@pytest.mark.parametrize(("offering", "on", "model", "expected"), [
    (REASONER, dt.date(2025, 3, 1), "deepseek-ai/DeepSeek-R1", (0.55, 2.19)),
    (REASONER, dt.date(2025, 8, 21), "deepseek-ai/DeepSeek-V3.1", (0.55, 2.19)),
    (CHAT, dt.date(2025, 8, 21), "deepseek-ai/DeepSeek-V3.1", (0.27, 1.10)),
    (CHAT, dt.date(2025, 9, 10), "deepseek-ai/DeepSeek-V3.1", (0.56, 1.68)),
    (REASONER, dt.date(2025, 9, 10), "deepseek-ai/DeepSeek-V3.1", (0.56, 1.68)),
    # Served model changed, no price sourced for the period: the model is named and the price is unknown, not the
    # previous model's price.
    (CHAT, dt.date(2025, 9, 25), "deepseek-ai/DeepSeek-V3.1-Terminus", None),
    (CHAT, dt.date(2025, 10, 1), "deepseek-ai/DeepSeek-V3.2-Exp", None),
    (REASONER, dt.date(2025, 10, 1), "deepseek-ai/DeepSeek-V3.2-Exp", None),
    (CHAT, dt.date(2026, 1, 1), "deepseek-ai/DeepSeek-V3.2", (0.28, 0.42)),
    (REASONER, dt.date(2026, 1, 1), "deepseek-ai/DeepSeek-V3.2", (0.28, 0.42)),
    (CHAT, dt.date(2026, 5, 1), "deepseek-ai/DeepSeek-V4-Flash", (0.14, 0.28)),
    (REASONER, dt.date(2026, 5, 1), "deepseek-ai/DeepSeek-V4-Flash", (0.14, 0.28)),
    (("DeepSeek", "deepseek-v4-flash"), dt.date(2026, 5, 1), "deepseek-ai/DeepSeek-V4-Flash", (0.14, 0.28)),
    (("DeepSeek", "deepseek-v4-flash"), dt.date(2026, 8, 14), "deepseek-ai/DeepSeek-V4-Flash-0731", (0.14, 0.28)),
    (("DeepSeek", "deepseek-v4-flash"), dt.date(2026, 9, 1), "deepseek-ai/DeepSeek-V4-Flash-0731", (0.44, 1.32)),
    (("DeepSeek", "deepseek-v4-pro"), dt.date(2026, 5, 1), "deepseek-ai/DeepSeek-V4-Pro", (0.435, 0.87)),
    (("DeepSeek", "deepseek-v4-pro"), dt.date(2026, 8, 14), "deepseek-ai/DeepSeek-V4-Pro-0813", (0.435, 0.87)),
    (("DeepSeek", "deepseek-v4-pro"), dt.date(2026, 12, 6), "deepseek-ai/DeepSeek-V4-Pro-0813", (1.32, 3.96)),
    # A temporary endpoint: V3.2-Speciale from 2025-12-01 to 2025-12-15, "same pricing as V3.2" (unsourced).
    (("DeepSeek", "v3.2_speciale_expires_on_20251215"), dt.date(2025, 12, 10), "deepseek-ai/DeepSeek-V3.2-Speciale",
     None),
    # An offering whose only period is still open (served_until empty throughout) once raised a dtype error.
    (("DeepSeek", "deepseek-flash"), dt.date(2026, 12, 6), "deepseek/deepseek-v4.1-flash-1017", (0.3, 1.2)),
    # An inference provider's offering keeps its API name while the weights behind it change: Together's
    # deepseek-ai/DeepSeek-R1 serves R1-0528 from 2025-05-28; its price is known only from the day the page was read.
    (("Together AI", "deepseek-ai/DeepSeek-R1"), dt.date(2025, 6, 1), "deepseek-ai/DeepSeek-R1-0528", None),
    (("Together AI", "deepseek-ai/DeepSeek-R1"), dt.date(2026, 12, 6), "deepseek-ai/DeepSeek-R1-0528", (3.0, 7.0)),
])
def test_price_of_an_offering_on_a_date_belongs_to_the_model_it_served(real_reader, offering, on, model, expected):
    got = offerings.offering_on(real_reader, *offering, on)
    assert got.model_id == model, got.answer
    standard = got.prices[got.prices["tier"].isna()]
    if expected is None:
        assert standard.empty, got.answer
        assert "could not be sourced" in got.answer
        # ... and no other model picks up the offering's old price on that date.
        others = prices.prices_in_force(real_reader, on)
        assert others[(others["provider_model"] == offering[1])].empty
    else:
        assert (standard.iloc[0]["input_usd_per_mtok"], standard.iloc[0]["output_usd_per_mtok"]) == expected
        assert model in got.answer and f"${expected[0]:g}" in got.answer


def test_the_price_of_deepseek_r1_today_is_an_honest_answer(real_reader):
    """R1 is no longer served by DeepSeek's API: no price in force today, and where_served says when it was."""
    today = dt.date(2026, 12, 6)
    assert prices.prices_in_force(real_reader, today, ["deepseek-ai/DeepSeek-R1"]).empty
    served = offerings.where_served(real_reader, "deepseek-ai/DeepSeek-R1", today)
    assert list(served["provider_model"]) == ["deepseek-reasoner"]
    row = served.iloc[0]
    assert not row["still_served"]
    assert f"{row['served_from']:%Y-%m-%d}" == "2025-01-20" and f"{row['served_until']:%Y-%m-%d}" == "2025-08-21"
    assert row["last_price"] == "$0.55 in / $2.19 out per Mtok from 2025-01-20"


def test_an_api_name_that_spells_the_old_model_prices_the_model_it_serves(real_reader):
    """Together's API name is deepseek-ai/DeepSeek-R1, the old model's id, but it serves R1-0528: the price is
    R1-0528's, and DeepSeek-R1 itself still has no price today."""
    today = dt.date(2026, 12, 6)
    assert prices.prices_in_force(real_reader, today, ["deepseek-ai/DeepSeek-R1"]).empty
    r1_0528 = prices.prices_in_force(real_reader, today, ["deepseek-ai/DeepSeek-R1-0528"])
    together = r1_0528[r1_0528["provider"] == "Together AI"]
    assert list(together["provider_model"]) == ["deepseek-ai/DeepSeek-R1"]
    assert (together.iloc[0]["input_usd_per_mtok"], together.iloc[0]["output_usd_per_mtok"]) == (3.0, 7.0)
    served = offerings.where_served(real_reader, "deepseek-ai/DeepSeek-R1-0528", today)
    row = served[served["provider"] == "Together AI"].iloc[0]
    assert row["still_served"] and f"{row['served_from']:%Y-%m-%d}" == "2025-05-28"


def test_a_temporary_endpoint_serves_nothing_after_it_expired(real_reader):
    """DeepSeek's V3.2-Speciale endpoint ran until 2025-12-15 15:59 UTC: from that day it serves no model."""
    speciale = ("DeepSeek", "v3.2_speciale_expires_on_20251215")
    assert offerings.offering_on(real_reader, *speciale, dt.date(2025, 12, 14)).model_id == (
        "deepseek-ai/DeepSeek-V3.2-Speciale")
    after = offerings.offering_on(real_reader, *speciale, dt.date(2025, 12, 15))
    assert after.model_id is None and after.prices.empty
    served = offerings.where_served(real_reader, "deepseek-ai/DeepSeek-V3.2-Speciale", dt.date(2026, 12, 6))
    assert list(served["still_served"]) == [False]


def test_every_price_row_belongs_to_the_model_its_offering_served_that_day(real_reader):
    """Data check: a price row's model is the model the offering served on its effective_from (where periods exist)."""
    periods = offerings.served_periods(real_reader)
    rows = real_reader.query("SELECT provider, provider_model, model_id, effective_from FROM prices")
    checked = 0
    for r in rows.itertuples(index=False):
        mine = periods[(periods["provider"] == r.provider) & (periods["provider_model"] == r.provider_model)]
        if mine.empty:
            continue
        on = pd.Timestamp(r.effective_from)
        covering = mine[(pd.to_datetime(mine["served_from"]) <= on)
                        & (mine["served_until"].isna() | (pd.to_datetime(mine["served_until"]) > on))]
        assert list(covering["model_id"]) == [r.model_id], (r, list(covering["model_id"]))
        checked += 1
    assert checked >= 20


def test_a_served_model_change_without_a_new_price_ends_the_old_models_price(tmp_path):
    """Fixture: the offering switches model with no new price row; from that day neither model has a price."""
    rows = [_row(OLD, "2025-01-20", "0.55", "2.19")]
    periods = [{"provider": "TestCloud", "provider_model": "beta-reasoner", "model_id": OLD, "mode": "thinking",
                "served_from": "2025-01-20", "source_url": SRC, "as_of": "2025-01-20"},
               {"provider": "TestCloud", "provider_model": "beta-reasoner", "model_id": NEW, "mode": "n.a.",
                "served_from": "2025-08-21", "source_url": SRC, "as_of": "2025-08-21"}]
    data = write_fixture_data(tmp_path / "data", {"prices": rows, "served_models": periods})
    build(data, data / "catalog.duckdb")
    reader = CatalogReader(data / "catalog.duckdb")
    assert list(prices.prices_in_force(reader, dt.date(2025, 8, 20), [OLD])["output_usd_per_mtok"]) == [2.19]
    assert prices.prices_in_force(reader, dt.date(2025, 8, 21)).empty
    got = offerings.offering_on(reader, "TestCloud", "beta-reasoner", dt.date(2025, 9, 1))
    assert got.model_id == NEW and got.prices.empty
    history = prices.price_history(reader, OLD)
    assert f"{history.iloc[0]['effective_until']:%Y-%m-%d}" == "2025-08-21"
    assert history.iloc[0]["succeeded_by_model_id"] == NEW


def test_compare_says_when_a_model_was_last_served_instead_of_a_stale_price(real_reader):
    data = compare.compare_data(real_reader, ("deepseek-ai/DeepSeek-R1", "Qwen/Qwen3-235B-A22B"), dt.date(2026, 12, 6))
    table = compare.attribute_table(data).set_index("fact")
    text = table.loc["Cheapest API price", "DeepSeek-R1"]
    assert text.startswith("no longer served: DeepSeek deepseek-reasoner served it 2025-01-20 to 2025-08-21")
    assert "$0.55 in / $2.19 out" in text
