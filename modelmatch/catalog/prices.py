"""API prices in force on a date, and the blended price the charts use.

History is kept in the catalog (a price change is a new row); the price in force on a date is the row with the
latest effective_from on or before that date, per provider, API model and tier.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from modelmatch.catalog.reader import CatalogReader

if TYPE_CHECKING:  # pandas is imported where a frame is built: the CLI reads PRICE_ROWS_CTE and needs no frame
    import pandas as pd

INPUT_WEIGHT, OUTPUT_WEIGHT = 3, 1
BLEND_RULE = (f"Blended price = ({INPUT_WEIGHT} x input + {OUTPUT_WEIGHT} x output) / "
              f"{INPUT_WEIGHT + OUTPUT_WEIGHT}, US$ per million tokens, list price in force on the chosen date "
              "(no batch or off-peak discount), cheapest provider per model.")

# Every price row with the day it stopped being in force (effective_until, NULL = still in force). A row ends at the
# next row of the same offering (provider, API name, tier), or earlier, when the offering stopped serving the row's
# model (served_models): a price belongs to the model the offering served at the time, never to its successor.
# The served-model period a row falls in is found by a join on the few keys it depends on, not a correlated subquery
# per row: DuckDB plans the join several times faster (the CLI and each page read prices on first use).
# PRICE_UNTIL_CTE gives price_rows with effective_until; PRICE_ROWS_CTE adds succeeded_by_model_id (the model the
# offering moved on to), which only the price history shows.
_PRICED_CTE = """
periods AS (
    SELECT provider, provider_model, model_id, served_from,
           coalesce(served_until, lead(served_from) OVER (PARTITION BY provider, provider_model
                                                          ORDER BY served_from)) AS served_end
    FROM served_models
),
served_ends AS (
    SELECT k.provider, k.provider_model, k.model_id, k.effective_from, min(s.served_end) AS served_end
    FROM (SELECT DISTINCT provider, provider_model, model_id, effective_from FROM prices) k
    JOIN periods s
      ON s.provider = k.provider AND s.provider_model = k.provider_model AND s.model_id = k.model_id
     AND s.served_from <= k.effective_from AND (s.served_end IS NULL OR s.served_end > k.effective_from)
    GROUP BY k.provider, k.provider_model, k.model_id, k.effective_from
),
priced AS (
    SELECT p.*,
           lead(p.effective_from) OVER (PARTITION BY p.provider, p.provider_model, coalesce(p.tier, '')
                                        ORDER BY p.effective_from) AS next_from,
           lead(p.model_id) OVER (PARTITION BY p.provider, p.provider_model, coalesce(p.tier, '')
                                  ORDER BY p.effective_from) AS next_model_id,
           e.served_end
    FROM prices p
    LEFT JOIN served_ends e
      ON e.provider = p.provider AND e.provider_model = p.provider_model AND e.model_id = p.model_id
     AND e.effective_from = p.effective_from
)"""

_EFFECTIVE_UNTIL = """CASE WHEN next_from IS NULL THEN served_end WHEN served_end IS NULL THEN next_from
                ELSE least(next_from, served_end) END AS effective_until"""

PRICE_UNTIL_CTE = f"""{_PRICED_CTE},
price_rows AS (
    SELECT * EXCLUDE (next_from, served_end, next_model_id),
           {_EFFECTIVE_UNTIL}
    FROM priced
)
"""

PRICE_ROWS_CTE = f"""{_PRICED_CTE},
price_rows AS (
    SELECT * EXCLUDE (next_from, served_end, next_model_id),
           {_EFFECTIVE_UNTIL},
           coalesce((SELECT s.model_id FROM periods s
                     WHERE s.provider = priced.provider AND s.provider_model = priced.provider_model
                       AND s.served_from = priced.served_end AND s.model_id <> priced.model_id LIMIT 1),
                    CASE WHEN next_model_id <> model_id THEN next_model_id END) AS succeeded_by_model_id
    FROM priced
)
"""

# The latest row per offering is chosen over ALL rows first and only then filtered by model: filtering first would
# bring back a superseded price whenever the offering has since moved on to a model that is not in the filter (the
# old bug: deepseek-reasoner's R1 price reappeared after the endpoint began serving DeepSeek-V3.1). A latest row whose
# offering no longer served its model on the date (effective_until) is no price at all.
PRICES_IN_FORCE_SQL = f"""
WITH {PRICE_UNTIL_CTE},
latest AS (
    SELECT * FROM price_rows
    WHERE effective_from <= ?::DATE
    QUALIFY row_number() OVER (PARTITION BY provider, provider_model, coalesce(tier, '')
                               ORDER BY effective_from DESC) = 1
)
SELECT l.* EXCLUDE (effective_until),
       (3 * l.input_usd_per_mtok + l.output_usd_per_mtok) / 4 AS blended_usd_per_mtok,
       coalesce(contains(lower(l.tier), 'off-peak') OR contains(lower(l.tier), 'batch'), false) AS is_discount
FROM latest l
WHERE (l.effective_until IS NULL OR l.effective_until > ?::DATE)
  AND (len(?::VARCHAR[]) = 0 OR l.model_id IN (SELECT unnest(?::VARCHAR[])))
ORDER BY l.model_id, l.provider, l.provider_model, l.tier NULLS FIRST
"""


def in_force_params(on: dt.date, model_ids: list[str] | tuple[str, ...] = ()) -> list:
    """PRICES_IN_FORCE_SQL's parameters: the date, and the models (every model when none are given)."""
    return [on, on, list(model_ids), list(model_ids)]


def prices_in_force(reader: CatalogReader, on: dt.date, model_ids: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    return reader.query(PRICES_IN_FORCE_SQL, in_force_params(on, model_ids))


# Each model's cheapest list price in force (discount tiers excluded), as the CTE list_price (with in_force before
# it), for queries that join it to their own rows; ties on price go to the first of PRICES_IN_FORCE_SQL's order.
# Parameters: PRICES_IN_FORCE_SQL's, as prices_in_force passes them.
LIST_PRICE_COLUMNS = ("blended_usd_per_mtok", "provider", "provider_model", "input_usd_per_mtok", "output_usd_per_mtok",
                      "effective_from", "price_source_url")
LIST_PRICE_CTE = f"""in_force AS ({PRICES_IN_FORCE_SQL}),
list_price AS (
    SELECT model_id, blended_usd_per_mtok, provider, provider_model, input_usd_per_mtok, output_usd_per_mtok,
           effective_from, source_url AS price_source_url
    FROM in_force
    WHERE NOT is_discount AND blended_usd_per_mtok IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY model_id
                               ORDER BY blended_usd_per_mtok, provider, provider_model, tier NULLS FIRST) = 1
)"""


LIST_PRICES_SQL = f"WITH {LIST_PRICE_CTE}\nSELECT * FROM list_price ORDER BY model_id"


def list_prices(reader: CatalogReader, on: dt.date, model_ids: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Cheapest blended list price per model in force on the date (discount tiers excluded), with the row it came
    from; every priced model when no ids are given."""
    return reader.query(LIST_PRICES_SQL, in_force_params(on, model_ids))


# -- history ------------------------------------------------------------------------------------------------------
# Every row a model's prices ever had, each with the date the next row of the same offering replaced it.
# effective_until is computed over the whole offering and its served-model periods before the model filter, so a
# model's last row under an offering ends when the offering moved on to another model (not "still in force").
PRICE_HISTORY_SQL = f"""
WITH {PRICE_ROWS_CTE}
SELECT p.provider, p.model_id, p.provider_model, p.tier,
       p.provider || ' ' || p.provider_model || coalesce(' [' || p.tier || ']', '') AS offering,
       p.input_usd_per_mtok, p.cached_input_usd_per_mtok, p.output_usd_per_mtok, p.context_length,
       p.effective_from, p.effective_until, p.succeeded_by_model_id,
       p.source_url, p.source_location, p.as_of, p.review, p.retrieved_at, p.notes
FROM price_rows p
WHERE p.model_id = ?
ORDER BY p.provider, p.provider_model, p.tier NULLS FIRST, p.effective_from
"""

PRICED_MODELS_SQL = """
SELECT m.model_id, m.display_name, count(*) AS price_rows,
       count(DISTINCT p.provider || p.provider_model || coalesce(p.tier, '')) AS offerings
FROM prices p JOIN models m USING (model_id)
GROUP BY m.model_id, m.display_name
ORDER BY m.display_name
"""

PRICE_KINDS = (("input_usd_per_mtok", "input"), ("cached_input_usd_per_mtok", "cached input"),
               ("output_usd_per_mtok", "output"))


def price_history(reader: CatalogReader, model_id: str) -> pd.DataFrame:
    """All price rows of one model, oldest first per offering, with effective_until (None = still in force)."""
    return reader.query(PRICE_HISTORY_SQL, [model_id])


def priced_models(reader: CatalogReader) -> pd.DataFrame:
    """Models that have at least one price row: model_id, display_name, price_rows, offerings."""
    return reader.query(PRICED_MODELS_SQL)


def price_on(history: pd.DataFrame, on: dt.date) -> pd.DataFrame:
    """From a price_history frame: the row in force on `on` for each offering (none if it starts later)."""
    import pandas as pd

    if history.empty:
        return history
    # Compared as timestamps: .dt.date of a column with no date in it (no offering of this model ever moved on)
    # stays datetime64, which cannot be compared with a date.
    day = pd.Timestamp(on)
    eligible = history[pd.to_datetime(history["effective_from"]) <= day]
    if "effective_until" in eligible.columns:
        # A row whose offering moved on (to a new price or another model) before `on` is no longer in force.
        until = pd.to_datetime(eligible["effective_until"])
        eligible = eligible[until.isna() | (until > day)]
    # tail(1), not last(): last() takes each column's last non-null value, which would carry an old cached price
    # into a row that no longer states one.
    return (eligible.sort_values("effective_from").groupby("offering").tail(1)
            .sort_values("offering").reset_index(drop=True))


def history_points(history: pd.DataFrame, offering: str, today: dt.date) -> pd.DataFrame:
    """Long-form points for the step chart of one offering: one row per (date, price kind) that a row states, plus
    closing points: at `today` (or the last change, if later) for the price still in force, and at the date of a
    row that no longer states a kind (its line stops there rather than carrying an old price forward)."""
    import pandas as pd

    rows = history[history["offering"] == offering].sort_values("effective_from")
    points = []
    for column, kind in PRICE_KINDS:
        segment, open_point = 0, None
        for r in rows.itertuples(index=False):
            value, date = getattr(r, column), pd.Timestamp(r.effective_from)
            if value is None or pd.isna(value):
                if open_point is not None:
                    points.append({**open_point, "date": date, "change": False})
                    segment, open_point = segment + 1, None
                continue
            open_point = {"date": date, "kind": kind, "usd_per_mtok": float(value), "source_url": r.source_url,
                          "change": True, "segment": f"{kind} {segment}"}
            points.append(open_point)
        if open_point is not None:
            # The last row closes at today, or where the offering moved on to another model.
            last_until = getattr(rows.iloc[-1], "effective_until", None) if len(rows) else None
            end = (pd.Timestamp(last_until) if last_until is not None and not pd.isna(last_until)
                   else max(pd.Timestamp(today), open_point["date"]))
            points.append({**open_point, "date": end, "change": False})
    return pd.DataFrame(points, columns=["date", "kind", "usd_per_mtok", "source_url", "change", "segment"])


def history_chart(history: pd.DataFrame, offering: str, today: dt.date):
    """Altair step chart of one offering's input / cached input / output price over time (a step = a new row)."""
    import altair as alt

    points = history_points(history, offering, today)
    base = alt.Chart(points, title=f"Price history: {offering}").encode(
        x=alt.X("date:T", title="Effective from"),
        y=alt.Y("usd_per_mtok:Q", title="US$ per million tokens"),
        color=alt.Color("kind:N", title="Price", sort=[k for _, k in PRICE_KINDS]),
        detail="segment:N",
    )
    line = base.mark_line(interpolate="step-after")
    dots = base.transform_filter("datum.change").mark_point(filled=True, size=60).encode(
        tooltip=[alt.Tooltip("date:T", title="Effective from"), alt.Tooltip("kind:N", title="Price"),
                 alt.Tooltip("usd_per_mtok:Q", title="$/Mtok", format=".4g"),
                 alt.Tooltip("source_url:N", title="Source")])
    return (line + dots).properties(height=320)
