"""How old each number is, and which rows are stale under each table's threshold (settings: stale_after_days_<table>).

Age counts from a row's as_of (the date of the source version that was read, or the day an importer last confirmed
the number). Pages call `add_freshness` on any frame that has an as_of column, or show `summary` per table.
Table and column names come from the schema (a fixed allow-list); dates travel as bound parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from modelmatch.catalog.schema import TABLE_BY_NAME
from modelmatch import settings
from modelmatch.catalog.reader import CatalogReader

FRESHNESS_TABLES = settings.FRESHNESS_TABLES

# A number read from an immutable version of its source (a GitHub blob or commit pinned to a hash, a Hugging Face
# commit, a versioned arXiv paper) cannot drift from that source: a published benchmark result or a released config
# of fixed weights does not change. Rows of these tables with such a source are "pinned", never stale. Prices and
# licenses are facts about the world today, so their age always counts.
PINNED_TABLES = ("scores", "architectures", "models")
PINNED_SOURCE_PATTERN = (r"^https://(github\.com/[^/]+/[^/]+/(blob|tree|raw)/[0-9a-f]{40}/"
                         r"|github\.com/[^/]+/[^/]+/commit/[0-9a-f]{7,40}"
                         r"|huggingface\.co/.+/(blob|resolve|commit)/[0-9a-f]{7,40}"
                         r"|arxiv\.org/(abs|pdf|html)/[0-9.]+v[0-9]+)")
PINNED_RULE = ("Rows of scores, architectures and models whose source is pinned to an immutable version (a commit "
               "hash, a versioned paper) are 'pinned': the number cannot drift from its source, so it is not stale.")


def is_pinned_source(url: object) -> bool:
    import re

    return isinstance(url, str) and re.match(PINNED_SOURCE_PATTERN, url) is not None


@dataclass(frozen=True)
class Threshold:
    table: str
    days: int
    env: str


def thresholds() -> list[Threshold]:
    return [Threshold(t, settings.stale_after_days_for(t), f"MODELMATCH_STALE_AFTER_DAYS_{t.upper()}")
            for t in FRESHNESS_TABLES]


def human_age(days: float | int | None) -> str:
    """12 -> '12 days', 70 -> '10 weeks', 400 -> '1.1 years'."""
    if days is None or pd.isna(days):
        return "no date"
    days = int(days)
    if days < 0:
        return "future date"
    if days == 0:
        return "today"
    if days < 14:
        return f"{days} day{'s' if days != 1 else ''}"
    if days < 60:
        return f"{days // 7} weeks"
    if days < 365:
        return f"{days // 30} months"
    return f"{days / 365.25:.1f} years"


def badge(days: float | int | None, threshold_days: int, pinned: bool = False) -> str:
    """A short text badge: 'fresh · 3 weeks', 'STALE · 1.2 years', 'pinned · 1.2 years', 'no date'. Plain text."""
    if days is None or pd.isna(days):
        return "no date"
    state = "pinned" if pinned and days > threshold_days else "STALE" if days > threshold_days else "fresh"
    return f"{state} · {human_age(days)}"


def age_days(as_of: object, today: dt.date) -> int | None:
    # pd.NaT passes isinstance(..., date), so missing values are tested first, whatever their type.
    if as_of is None or (not isinstance(as_of, str) and pd.isna(as_of)):
        return None
    value = pd.Timestamp(as_of).date()
    return (today - value).days


def add_freshness(df: pd.DataFrame, table: str, today: dt.date, column: str = "as_of") -> pd.DataFrame:
    """A copy of df with age_days, stale (bool) and freshness (badge text) from its `column` date."""
    threshold = settings.stale_after_days_for(table)
    out = df.copy()
    dates = pd.to_datetime(out[column], errors="coerce")
    ages = (pd.Timestamp(today) - dates).dt.days
    out["age_days"] = ages.astype("Int64")
    pinned = (out["source_url"].map(is_pinned_source) if table in PINNED_TABLES and "source_url" in out.columns
              else pd.Series(False, index=out.index))
    out["stale"] = ((ages > threshold) & ~pinned.astype(bool)).fillna(False).astype(bool)
    out["freshness"] = [badge(a, threshold, bool(p)) for a, p in zip(ages, pinned)]
    return out


def _key_columns(table: str) -> list[str]:
    return list(TABLE_BY_NAME[table].key)


def summary(reader: CatalogReader, today: dt.date) -> pd.DataFrame:
    """Per table: rows, threshold, stale rows, rows without a date, oldest/newest as_of, median age in days."""
    records = []
    for t in thresholds():
        cutoff = today - dt.timedelta(days=t.days)
        pinned = (f"regexp_matches(coalesce(source_url, ''), '{PINNED_SOURCE_PATTERN}')" if t.table in PINNED_TABLES
                  else "false")
        # Identifiers and the pattern are fixed constants above; values are bound.
        row = reader.query(f"""
            SELECT count(*) AS n, count(*) FILTER (WHERE as_of < ?::DATE AND NOT {pinned}) AS stale,
                   count(*) FILTER (WHERE as_of IS NULL) AS undated, min(as_of) AS oldest, max(as_of) AS newest,
                   median(date_diff('day', as_of, ?::DATE)) AS median_age
            FROM "{t.table}"
        """, [cutoff, today]).iloc[0]
        records.append({
            "table": t.table, "rows": int(row["n"]), "stale_after_days": t.days, "stale_rows": int(row["stale"]),
            "undated_rows": int(row["undated"]), "oldest_as_of": row["oldest"], "newest_as_of": row["newest"],
            "median_age": human_age(row["median_age"]), "setting": t.env,
        })
    return pd.DataFrame(records)


def rows_by_age(reader: CatalogReader, table: str, today: dt.date, stale_only: bool = False) -> pd.DataFrame:
    """One table's rows, oldest first: key columns, as_of, source, age and badge."""
    if table not in FRESHNESS_TABLES:
        raise KeyError(f"no freshness for table {table!r}")
    keys = _key_columns(table)
    cols = ", ".join(f'"{c}"' for c in dict.fromkeys([*keys, "as_of", "source_url"]))
    df = reader.query(f'SELECT {cols} FROM "{table}" ORDER BY as_of NULLS FIRST')
    df = add_freshness(df, table, today)
    if stale_only:
        df = df[df["stale"]]
    return df.reset_index(drop=True)
