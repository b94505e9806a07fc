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
from modelmatch import compare, prices
from modelmatch.catalog_reader import CatalogReader
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
