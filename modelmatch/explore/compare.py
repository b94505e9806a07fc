"""The Compare page's data: 2 to 6 models side by side, with every fact's source and every score's setting."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import altair as alt
import pandas as pd

from modelmatch.catalog import freshness

from modelmatch.planning import memory

from modelmatch.catalog import offerings

from modelmatch.catalog import prices

from modelmatch.catalog import scores

from modelmatch import settings
from modelmatch.explore import charts
from modelmatch.catalog.models import ModelFilter, models_table
from modelmatch.catalog.provenance import OWN_SOURCES
from modelmatch.catalog.reader import CatalogReader

NO_NUMBER = "no official number"
# The model cells with a source of their own (parameter counts, context): column names from the schema, ids bound.
OWN_SOURCES_SQL = (f"SELECT model_id, {', '.join(c for group in OWN_SOURCES for c in group.source_columns)} "
                   "FROM models WHERE list_contains(?::VARCHAR[], model_id)")


@dataclass(frozen=True)
class CompareData:
    models: pd.DataFrame  # selected models, in the order the user picked them
    architectures: pd.DataFrame
    prices: pd.DataFrame  # prices in force on the chosen date, every provider and tier
    scores: pd.DataFrame  # every score row, charted flag set
    measured: pd.DataFrame
    kv_cache: dict[str, memory.KVCachePerToken]  # bf16 KV cache per token, for models with an architecture row
    served: pd.DataFrame | None = None  # API offerings that served each model, with their periods (where_served)
    own_sources: pd.DataFrame | None = None  # model cells with a source of their own (parameter counts, context)


def compare_data(reader: CatalogReader, model_ids: tuple[str, ...], price_date: dt.date,
                 mode: str = scores.DEFAULT_MODE) -> CompareData:
    """`mode`: the score mode charted (thinking / non-thinking / base); empty = each model's default mode."""
    ids = list(dict.fromkeys(model_ids))  # a repeated id keeps its first place
    models = models_table(reader, ModelFilter(model_ids=tuple(ids)))
    # An empty id list means "no filter" to models_table and prices_in_force; an empty selection means no models.
    models = models[models["model_id"].isin(ids)]
    order = {m: i for i, m in enumerate(ids)}
    models = models.sort_values("model_id", key=lambda s: s.map(order)).reset_index(drop=True)
    architectures = reader.query("SELECT * FROM architectures WHERE list_contains(?::VARCHAR[], model_id)", [ids])
    measured = reader.query("""
        SELECT model_id, engine, engine_version, path, hardware, gpu_count, dtype, weights, concurrency, input_len,
               output_len, output_tokens_per_s, ttft_ms_p50, tpot_ms_p50, peak_memory_gb, measured_at
        FROM measurements WHERE list_contains(?::VARCHAR[], model_id)
        ORDER BY model_id, concurrency, measured_at DESC""", [ids])
    attention = dict(zip(models["model_id"], models["attention"]))
    kv_cache = {row["model_id"]: memory.kv_cache_bytes_per_token(row, attention.get(row["model_id"]))
                for row in architectures.to_dict("records")}
    in_force = prices.prices_in_force(reader, price_date, ids)
    served = pd.concat([offerings.where_served(reader, m, price_date) for m in ids], ignore_index=True) if ids \
        else None
    own_sources = reader.query(OWN_SOURCES_SQL, [ids])
    return CompareData(models, architectures, in_force[in_force["model_id"].isin(ids)].reset_index(drop=True),
                       scores.scores_for(reader, ids, mode=mode), measured, kv_cache, served, own_sources)


def no_price_text(data: CompareData, model_id: str) -> str:
    """What to say when a model has no API price on the chosen date: was it served once, and until when?"""
    served = data.served
    if served is None or served.empty:
        return "no API price in catalog"
    mine = served[served["model_id"] == model_id]
    ended = mine[~mine["still_served"]]
    if ended.empty:
        return "no API price in catalog" if mine.empty else "served, but no sourced price on this date"
    last = ended.sort_values("served_until").iloc[-1]
    return (f"no longer served: {last['provider']} {last['provider_model']} served it "
            f"{last['served_from']:%Y-%m-%d} to {last['served_until']:%Y-%m-%d} (last price {last['last_price']})")


def kv_cache_text(data: CompareData, model_id: str) -> str:
    """'70,272 bytes (68.6 KiB) per token' with the formula, or what is missing to compute it."""
    kv = data.kv_cache.get(model_id)
    if kv is None:
        return "no architecture row in the catalog"
    if not kv.ok:
        return kv.formula
    return f"{kv.bytes_per_token:,} bytes ({kv.bytes_per_token / 1024:,.1f} KiB) — {kv.formula}"


def shared_benchmarks(charted_scores: pd.DataFrame, model_ids: tuple[str, ...], category: str | None = None) -> pd.DataFrame:
    """Charted percent scores on the benchmarks that every selected model has (optionally one category)."""
    df = charted_scores[charted_scores["unit"] == "percent"]
    if category:
        df = df[df["category"] == category]
    per_benchmark = df.groupby("benchmark_id")["model_id"].nunique()
    shared = per_benchmark[per_benchmark == len(set(model_ids))].index
    return df[df["benchmark_id"].isin(shared)].reset_index(drop=True)


def score_matrix(charted_scores: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Benchmarks x models with the charted number (NaN where a model has none).

    Columns: benchmark, category, higher_is_better, then one column per model display name. Benchmarks more of the
    selected models share come first.
    """
    names = list(models["display_name"])
    if charted_scores.empty:
        return pd.DataFrame(columns=["benchmark", "category", "higher_is_better", *names])
    wide = charted_scores.pivot_table(index=["benchmark_name", "category", "higher_is_better"],
                                      columns="model_id", values="value", aggfunc="first")
    wide = wide.reindex(columns=list(models["model_id"]))
    wide.columns = names
    wide = wide.reset_index().rename(columns={"benchmark_name": "benchmark"})
    coverage = wide[names].notna().sum(axis=1)
    return (wide.assign(_coverage=coverage)
            .sort_values(["_coverage", "category", "benchmark"], ascending=[False, True, True])
            .drop(columns="_coverage").reset_index(drop=True))


def best_in_row(row: pd.Series, model_columns: list[str]) -> set[str]:
    """Models holding the best number of the row; empty when fewer than two models have a number."""
    values = {c: row[c] for c in model_columns if pd.notna(row[c])}
    if len(values) < 2:
        return set()
    target = max(values.values()) if row["higher_is_better"] else min(values.values())
    return {c for c, v in values.items() if v == target}


def best_mask(matrix: pd.DataFrame, model_columns: list[str]) -> pd.DataFrame:
    mask = pd.DataFrame(False, index=matrix.index, columns=matrix.columns)
    for i, row in matrix.iterrows():
        for column in best_in_row(row, model_columns):
            mask.loc[i, column] = True
    return mask


def display_matrix(matrix: pd.DataFrame, model_columns: list[str]) -> pd.DataFrame:
    """The matrix as text: numbers as published, gaps said as NO_NUMBER rather than left blank."""
    shown = matrix.copy()
    for column in model_columns:
        shown[column] = matrix[column].map(lambda v: NO_NUMBER if pd.isna(v) else f"{v:g}")
    return shown


def _fmt_params(total: float | None, active: float | None) -> str:
    if pd.isna(total):
        return "not published"
    if pd.notna(active) and active != total:
        return f"{total:g}B total, {active:g}B active"
    return f"{total:g}B"


def _text(value) -> str:
    # A missing cell comes back from DuckDB as None or NaN depending on the column's other values.
    return value if isinstance(value, str) and value else "?"


def attribute_table(data: CompareData) -> pd.DataFrame:
    """Rows = facts, columns = models; `differs` marks rows where the models are not all the same."""
    rows: dict[str, list[str]] = {}
    for _, m in data.models.iterrows():
        price_rows = data.prices[(data.prices["model_id"] == m["model_id"]) & ~data.prices["is_discount"]]
        cheapest = price_rows.sort_values("blended_usd_per_mtok").head(1)
        speed = data.measured[data.measured["model_id"] == m["model_id"]]
        facts = {
            "Vendor": m["vendor"],
            "Family": m["family"],
            "Released": f"{m['release_date']:%Y-%m-%d}" if pd.notna(m["release_date"]) else "not published",
            "Parameters": _fmt_params(m["params_total_b"], m["params_active_b"]),
            "Architecture": f"{_text(m['architecture'])} · {_text(m['attention']).upper()}"
                            if m["open_weights"] else "not published (API only)",
            "Context (tokens)": f"{int(m['context_length']):,}" if pd.notna(m["context_length"]) else "not published",
            "Reasoning": {"yes": "always thinks", "hybrid": "thinking on/off", "no": "no"}.get(m["reasoning"], "?"),
            "Open weights": "yes" if m["open_weights"] else "no",
            "License": m["license_name"] if isinstance(m["license_name"], str) else "not sourced",
            "Commercial use": m["commercial_use"] if isinstance(m["commercial_use"], str) else "unknown",
            "Cheapest API price": (f"${cheapest['input_usd_per_mtok'].iloc[0]:g} in / "
                                   f"${cheapest['output_usd_per_mtok'].iloc[0]:g} out per Mtok "
                                   f"({cheapest['provider'].iloc[0]})") if not cheapest.empty
                                  else no_price_text(data, m["model_id"]),
            "KV cache per token (bf16)": (f"{data.kv_cache[m['model_id']].bytes_per_token:,} bytes"
                                          if m["model_id"] in data.kv_cache and data.kv_cache[m["model_id"]].ok
                                          else "not computable (see card)"),
            "Measured speed": (f"{speed['output_tokens_per_s'].max():,.0f} output tok/s best measured"
                               if not speed.empty else "not measured yet"),
        }
        for label, value in facts.items():
            rows.setdefault(label, []).append(value)
    table = pd.DataFrame(rows, index=list(data.models["display_name"])).T
    table.insert(0, "differs", table.nunique(axis=1) > 1)
    return table.reset_index().rename(columns={"index": "fact"})


def _read_at(row: dict, prefix: str) -> str:
    """Where an official-copy cell's copy was read: the source list names the official URL and the copy both."""
    copy = row.get(f"{prefix}copy_url")
    return f"; read in the copy at {copy}" if isinstance(copy, str) else ""


def fact_sources(data: CompareData, today: dt.date) -> pd.DataFrame:
    """Where each model's facts come from (model row, architecture, license, prices), each with its age and a stale
    badge under its own table's threshold."""
    parts = []
    for _, m in data.models.iterrows():
        parts.append({"model": m["display_name"], "fact": "model facts", "table": "models",
                      "source_url": m["source_url"], "where": m["source_location"], "as_of": m["as_of"]})
        if isinstance(m["license_url"], str):
            parts.append({"model": m["display_name"], "fact": "license", "table": "licenses",
                          "source_url": m["license_url"], "where": m["license_name"], "as_of": None})
    names = dict(zip(data.models["model_id"], data.models["display_name"]))
    # Cells read in another document than the model row (counts from engines' pages, context from the config).
    own = data.own_sources if data.own_sources is not None else pd.DataFrame()
    for row in own.to_dict("records"):
        for group in OWN_SOURCES:
            url = row.get(f"{group.prefix}source_url")
            if isinstance(url, str):
                parts.append({"model": names[row["model_id"]], "fact": group.label,
                              "table": "models", "source_url": url,
                              "where": f"{row[f'{group.prefix}source_location']}{_read_at(row, group.prefix)} "
                                       f"({row[f'{group.prefix}provenance']})",
                              "as_of": row[f"{group.prefix}as_of"]})
    for _, a in data.architectures.iterrows():
        parts.append({"model": names[a["model_id"]], "fact": "architecture", "table": "architectures",
                      "source_url": a["source_url"], "where": a["source_location"], "as_of": a["as_of"]})
    for _, p in data.prices.iterrows():
        tier = f", {p['tier']}" if isinstance(p["tier"], str) else ""
        parts.append({"model": names[p["model_id"]], "fact": f"price {p['provider']} {p['provider_model']}{tier}",
                      "table": "prices", "source_url": p["source_url"], "where": p["source_location"],
                      "as_of": p["as_of"]})
    df = pd.DataFrame(parts, columns=["model", "fact", "table", "source_url", "where", "as_of"])
    df["freshness"] = [freshness.badge(freshness.age_days(a, today), settings.stale_after_days_for(t),
                                       t in freshness.PINNED_TABLES and freshness.is_pinned_source(u))
                       for a, t, u in zip(df["as_of"], df["table"], df["source_url"])]
    return df


@dataclass(frozen=True)
class Card:
    """One model's card on the Compare page, its texts written out: the same facts in the same order for each model
    so the eye can run across."""

    model_id: str
    title: str
    caption: str
    parameters: str  # the metric's value
    active: str | None  # "37B active per token (mixture of experts)" when it differs from the total
    context: str  # the metric's value
    kv_cache: str  # markdown
    license: str  # markdown
    license_conditions: str | None
    prices: tuple[str, ...]  # markdown, one line per price in force; empty: none in the catalog
    speed: str  # markdown
    source: str  # markdown


def cards(data: CompareData) -> tuple[Card, ...]:
    out = []
    for _, m in data.models.iterrows():
        total, active = m["params_total_b"], m["params_active_b"]
        license_name = m["license_name"] if isinstance(m["license_name"], str) else "license not sourced"
        lines = []
        for _, p in data.prices[data.prices["model_id"] == m["model_id"]].iterrows():
            cached = (f", cached ${p['cached_input_usd_per_mtok']:g}"
                      if pd.notna(p["cached_input_usd_per_mtok"]) else "")
            tier = f" ({p['tier']})" if isinstance(p["tier"], str) else ""
            lines.append(f"{p['provider']} `{p['provider_model']}`{tier}: ${p['input_usd_per_mtok']:g} in"
                         f"{cached}, ${p['output_usd_per_mtok']:g} out per Mtok, since "
                         f"{p['effective_from']:%Y-%m-%d} — [source]({p['source_url']})")
        speed = data.measured[data.measured["model_id"] == m["model_id"]]
        out.append(Card(
            model_id=m["model_id"], title=m["display_name"],
            caption=(f"{m['vendor']} · {m['family']} · {m['variant']}"
                     + (" · open weights" if m["open_weights"] else " · API only")),
            parameters=f"{total:g}B" if pd.notna(total) else "not published",
            active=(f"{active:g}B active per token (mixture of experts)" if pd.notna(active) and active != total
                    else None),
            context=f"{int(m['context_length']):,} tokens" if pd.notna(m["context_length"]) else "not published",
            kv_cache=f"**KV cache per token (bf16):** {kv_cache_text(data, m['model_id'])}",
            license=(f"**License:** {license_name} — commercial use: "
                     f"**{m['commercial_use'] if isinstance(m['commercial_use'], str) else 'unknown'}**"),
            license_conditions=m["license_conditions"] if isinstance(m["license_conditions"], str) else None,
            prices=tuple(lines),
            speed="**Measured speed:** " + ("not measured yet" if speed.empty else
                                            f"{speed['output_tokens_per_s'].max():,.0f} output tok/s "
                                            f"({speed['hardware'].iloc[0]})"),
            source=f"[Model source]({m['source_url']}) · as of {m['as_of']:%Y-%m-%d}"))
    return tuple(out)


@dataclass(frozen=True)
class CompareView:
    """What the Compare page derives from its data for one category and day, computed once per view (the page caches
    it) instead of on every rerun: a widget click used to rebuild every table below, and the cards, the chart (which
    Altair builds and validates slowly) and the disagreements with them."""

    facts: pd.DataFrame  # attribute_table
    shared: pd.DataFrame  # shared_benchmarks of the category
    matrix: pd.DataFrame  # display_matrix: numbers as text
    best: pd.DataFrame  # best_mask of the matrix
    score_rows: pd.DataFrame  # every score row with its freshness badge, of the category when one is chosen
    sources: pd.DataFrame  # fact_sources
    cards: tuple[Card, ...] = ()  # one per model, in the order picked
    chart: alt.Chart | None = None  # grouped_benchmarks of shared; None when they share no benchmark
    conflicts: pd.DataFrame | None = None  # disagreements among score_rows


def compare_view(data: CompareData, model_ids: tuple[str, ...], category: str | None, today: dt.date) -> CompareView:
    charted = scores.charted(data.scores)
    model_columns = list(data.models["display_name"])
    matrix = score_matrix(charted if not category else charted[charted["category"] == category], data.models)
    rows = freshness.add_freshness(data.scores, "scores", today)
    if category:
        rows = rows[rows["category"] == category]
    shared = shared_benchmarks(charted, model_ids, category)
    return CompareView(attribute_table(data), shared, display_matrix(matrix, model_columns),
                       best_mask(matrix, model_columns), rows, fact_sources(data, today), cards(data),
                       None if shared.empty else charts.grouped_benchmarks(shared), scores.disagreements(rows))
