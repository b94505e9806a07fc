"""API prices in force on a date, and the blended price the charts use.

History is kept in the catalog (a price change is a new row); the price in force on a date is the row with the
latest effective_from on or before that date, per provider, API model and tier.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from modelmatch.catalog_reader import CatalogReader

INPUT_WEIGHT, OUTPUT_WEIGHT = 3, 1
BLEND_RULE = (f"Blended price = ({INPUT_WEIGHT} x input + {OUTPUT_WEIGHT} x output) / "
              f"{INPUT_WEIGHT + OUTPUT_WEIGHT}, US$ per million tokens, list price in force on the chosen date "
              "(no batch or off-peak discount), cheapest provider per model.")

PRICES_IN_FORCE_SQL = """
SELECT p.*, (3 * p.input_usd_per_mtok + p.output_usd_per_mtok) / 4 AS blended_usd_per_mtok,
       coalesce(contains(lower(p.tier), 'off-peak') OR contains(lower(p.tier), 'batch'), false) AS is_discount
FROM prices p
WHERE p.effective_from <= ?::DATE
  AND (len(?::VARCHAR[]) = 0 OR p.model_id IN (SELECT unnest(?::VARCHAR[])))
QUALIFY row_number() OVER (PARTITION BY p.provider, p.provider_model, coalesce(p.tier, '')
                           ORDER BY p.effective_from DESC) = 1
ORDER BY p.model_id, p.provider, p.provider_model, p.tier NULLS FIRST
"""


def prices_in_force(reader: CatalogReader, on: dt.date, model_ids: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    return reader.query(PRICES_IN_FORCE_SQL, [on, list(model_ids), list(model_ids)])


def list_price_by_model(prices: pd.DataFrame) -> pd.DataFrame:
    """Cheapest blended list price per model (discount tiers excluded), with the row it came from."""
    eligible = prices[~prices["is_discount"] & prices["blended_usd_per_mtok"].notna()]
    if eligible.empty:
        return pd.DataFrame(columns=["model_id", "blended_usd_per_mtok", "provider", "provider_model",
                                     "input_usd_per_mtok", "output_usd_per_mtok", "effective_from", "price_source_url"])
    best = eligible.sort_values(["model_id", "blended_usd_per_mtok"]).groupby("model_id", as_index=False).first()
    return best[["model_id", "blended_usd_per_mtok", "provider", "provider_model", "input_usd_per_mtok",
                 "output_usd_per_mtok", "effective_from", "source_url"]].rename(columns={"source_url": "price_source_url"})
