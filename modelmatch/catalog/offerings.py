"""API offerings (provider + API model name) apart from the models they served over time.

`deepseek-chat` served DeepSeek-V3, V3.1, V3.1-Terminus, V3.2-Exp, V3.2 and V4-Flash in turn; a price is the
offering's price on a date and belongs to the model it served that day. These queries answer the two questions a
buyer asks: "what did `deepseek-chat` cost on 2025-10-01, and which model was it?" and "what does DeepSeek-R1 cost
today?" (no longer served by that API: here is when it was, and at what price).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from modelmatch.catalog import prices
from modelmatch.catalog.reader import CatalogReader

SERVED_PERIODS_SQL = """
SELECT s.provider, s.provider_model, s.model_id, m.display_name, s.mode, s.served_from,
       coalesce(s.served_until, lead(s.served_from) OVER (PARTITION BY s.provider, s.provider_model
                                                          ORDER BY s.served_from)) AS served_until,
       s.source_url, s.source_location, s.as_of, s.notes
FROM served_models s JOIN models m USING (model_id)
ORDER BY s.provider, s.provider_model, s.served_from
"""


@dataclass(frozen=True)
class OfferingOnDate:
    provider: str
    provider_model: str
    on: dt.date
    model_id: str | None  # the model served that day; None when the catalog has no period covering the date
    mode: str | None
    prices: pd.DataFrame  # the price rows in force that day (every tier); empty when no sourced price

    @property
    def answer(self) -> str:
        name = f"{self.provider} {self.provider_model} on {self.on:%Y-%m-%d}"
        if self.model_id is None:
            return f"{name}: which model it served is not in the catalog"
        served = f"{name} served {self.model_id}" + (f" ({self.mode} mode)" if self.mode and self.mode != "n.a." else "")
        standard = self.prices[self.prices["tier"].isna()] if not self.prices.empty else self.prices
        if standard.empty:
            return f"{served}; its price on that day could not be sourced"
        r = standard.iloc[0]
        return (f"{served} at ${r['input_usd_per_mtok']:g} input / ${r['output_usd_per_mtok']:g} output per million "
                f"tokens (in force from {r['effective_from']:%Y-%m-%d})")


def served_periods(reader: CatalogReader) -> pd.DataFrame:
    """Every served-model period of every offering, with its end (None = still served, as far as the catalog knows)."""
    return reader.query(SERVED_PERIODS_SQL)


def offering_on(reader: CatalogReader, provider: str, provider_model: str, on: dt.date) -> OfferingOnDate:
    periods = served_periods(reader)
    mine = periods[(periods["provider"] == provider) & (periods["provider_model"] == provider_model)]
    # Compare as timestamps: with pandas 3, .dt.date of an all-empty served_until column stays datetime64 and cannot
    # be compared with a date (every offering whose only period is still open, e.g. deepseek-flash, raised).
    starts, ends, day = pd.to_datetime(mine["served_from"]), pd.to_datetime(mine["served_until"]), pd.Timestamp(on)
    covering = mine[(starts <= day) & (ends.isna() | (ends > day))]
    in_force = prices.prices_in_force(reader, on)
    in_force = in_force[(in_force["provider"] == provider) & (in_force["provider_model"] == provider_model)]
    if covering.empty:
        # No period recorded: the price rows themselves say which model they belong to.
        model_id = in_force["model_id"].iloc[0] if not in_force.empty else None
        return OfferingOnDate(provider, provider_model, on, model_id, None, in_force.reset_index(drop=True))
    period = covering.iloc[-1]
    rows = in_force[in_force["model_id"] == period["model_id"]].reset_index(drop=True)
    return OfferingOnDate(provider, provider_model, on, period["model_id"], period["mode"], rows)


def where_served(reader: CatalogReader, model_id: str, on: dt.date) -> pd.DataFrame:
    """The offerings that served a model, each period with the standard price it started and ended at, and whether
    it is still served on `on`: the honest answer to "what does this model cost today?"."""
    periods = served_periods(reader)
    mine = periods[periods["model_id"] == model_id].copy()
    if mine.empty:
        return mine.assign(still_served=pd.Series(dtype=bool))
    ends = pd.to_datetime(mine["served_until"])  # timestamps, for the reason given in offering_on
    mine["still_served"] = ends.isna() | (ends > pd.Timestamp(on))
    history = prices.price_history(reader, model_id)
    standard = history[history["tier"].isna()] if not history.empty else history
    first, last = [], []
    for r in mine.itertuples(index=False):
        rows = standard[standard["provider_model"] == r.provider_model]
        last_rows = rows.sort_values("effective_from")
        first.append(_price_text(last_rows.head(1)))
        last.append(_price_text(last_rows.tail(1)))
    mine["first_price"], mine["last_price"] = first, last
    return mine.reset_index(drop=True)


def _price_text(rows: pd.DataFrame) -> str:
    if rows.empty or pd.isna(rows.iloc[0]["input_usd_per_mtok"]):
        return "no sourced price"
    r = rows.iloc[0]
    return (f"${r['input_usd_per_mtok']:g} in / ${r['output_usd_per_mtok']:g} out per Mtok "
            f"from {pd.Timestamp(r['effective_from']):%Y-%m-%d}")
