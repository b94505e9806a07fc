"""Property-based: hostile filter values, wizard and planner inputs never crash and never become SQL.

Values come from hypothesis directly (not only through the URL parser): quotes, semicolons, NUL, escape codes,
unicode, very long strings, NaN, infinities, negative, inverted and huge ranges, dates at the ends of the calendar.
The catalog is a real DuckDB file built from the fixture data. Every statement the reader runs is recorded, so the
tests can say that no generated value ever appears in SQL text (values travel as bound parameters) and that the SQL
text does not depend on the input at all. The wizard, the planner and the command line either answer or refuse
with the product's own PlanInputError naming the field; nothing else may escape.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ingest.build import build
from modelmatch.explore import compare
from modelmatch.explore import overview
from modelmatch.catalog import languages as language_names
from modelmatch.catalog import scores
from modelmatch.__main__ import main as cli_main
from modelmatch.catalog.models import ModelFilter, models_table
from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.architecture import KV_DTYPES, PlanInputError
from modelmatch.planning.weights import PRECISION_QUALITY_ORDER
from modelmatch.planning.fit import DOES_NOT_FIT, FITS, UNKNOWN
from modelmatch.planning.plan_text import format_plan_text, to_jsonable
from modelmatch.planning.planner import PlanResult, plan
from modelmatch.planning.records import DecisionCatalog, load_decision_catalog
from modelmatch.planning.request import PRECISION_ALIASES, PlanRequest, UsageProfile
from modelmatch.planning.wizard.eligibility import mau_thresholds
from modelmatch.planning.wizard.ranking import ranking_key
from modelmatch.planning.wizard.recommend import recommend
from modelmatch.planning.wizard.request import DEPLOYMENTS, LicenseNeeds, WizardRequest
from modelmatch.planning.wizard.results import RecommendResult
from modelmatch.planning.wizard.text import format_recommendation_text
from modelmatch.explore.view_state import OverviewState
from tests.conftest import REPO_ROOT
from tests.fixture_data import FIXTURE_ROWS, SRC, write_fixture_data

ALPHA, BETA, GAMMA = "test-org/Alpha-7B-Instruct", "test-org/Beta-MoE", "test-vendor/gamma-api"
MODEL_IDS = (ALPHA, BETA, GAMMA)
VENDORS = ("Alibaba", "DeepSeek", "OpenAI")
FAMILIES = ("Alpha", "Beta", "Gamma")
BENCHMARKS = ("mmlu", "mt-bench", "humaneval", "mbpp")
CATEGORIES = ("knowledge", "instruction", "coding")
GPU_IDS = ("test-gpu", "test-gpu-small")
USE_CASES = ("general-chat", "math-science-reasoning")
LANGUAGES = ("Thai", "English", "Chinese", "Vietnamese", "Bahasa Indonesia")
AS_OF = "2026-01-01"
TABLES = ("models", "architectures", "benchmarks", "scores", "prices", "licenses", "gpus", "measurements",
          "use_case_weights", "build_meta", "build_tables")

# ---------------------------------------------------------------------------------------------------------------
# Strategies

NASTY = [
    "'; DROP TABLE models; --", "' OR '1'='1", "\"; DELETE FROM scores; --", "Alibaba'--", "Alibaba' OR 'x'='x",
    "Robert'); DROP TABLE prices;--", "1; ATTACH 'x.duckdb' AS y; --", "'; COPY models TO 'out.csv'; --",
    "$1", "?", "?::VARCHAR[]", "%", "_", "\\", "\\'", "NULL", "nan", "inf", "-1e309", "\x00", "a\x00b",
    "Alibaba\x00", "\x1b[31mred", "<script>alert(1)</script>", "![x](http://127.0.0.1:9/p.png)",
    "../../etc/passwd",
    "alibaba", "ALIBABA", " Alibaba ", "Ａｌｉｂａｂａ", "Ali\u200bbaba", "DeepSeek\u0301", "🦙🦙🦙", "ﷺ" * 5,
    "x" * 5000, "'" * 300, "\n".join(["line"] * 50), "mmlu' --", "knowledge'; --",
]
hostile_text = st.one_of(st.text(max_size=40), st.text(min_size=200, max_size=2000), st.sampled_from(NASTY))


def picks(known, extra=hostile_text, max_size: int = 4):
    """Tuples mixing catalog values (so filters match something) with hostile strings, duplicates allowed."""
    return st.lists(st.one_of(st.sampled_from(known), extra), max_size=max_size).map(tuple)


finite_or_infinite = st.floats(allow_nan=False)
any_float = st.floats(allow_nan=True, allow_infinity=True)
# Parameter-count bounds: None, catalog values, anything IEEE, and Python ints (the dataclass does not stop one),
# some far beyond a double.
bound_values = [None, 0.0, -0.0, 7.6, 37.0, 671.0, -1.0, 1e308, -1e308, 5e-324]
bound = st.one_of(st.sampled_from(bound_values), any_float, st.integers(-10**30, 10**30),
                  st.sampled_from([10**400, -10**400]))
dates = st.one_of(st.none(), st.dates(), st.sampled_from([dt.date.min, dt.date.max, dt.date(2024, 9, 19),
                                                          dt.date(2025, 1, 20), dt.date(2025, 9, 5)]))


@st.composite
def some_filters(draw, strategies: dict, make):
    """A few filters set (so that rows still match often enough to check them), the rest at their defaults."""
    active = draw(st.sets(st.sampled_from(sorted(strategies)), max_size=4))
    return make(**{name: draw(strategies[name]) for name in active})


OVERVIEW_FILTERS = {
    "vendors": picks(VENDORS), "families": picks(FAMILIES), "open_weights_only": st.booleans(),
    "commercial_only": st.booleans(), "architectures": picks(("dense", "moe")), "reasoning_only": st.booleans(),
    "min_context_tokens": st.one_of(st.sampled_from([0, 8192, 8193, 131072, 131073, -1]), st.integers(),
                                    st.integers(-10**40, 10**40)),
    "params_total_b": st.tuples(bound, bound), "params_active_b": st.tuples(bound, bound),
    "released_from": dates, "released_to": dates, "price_date": dates,
}
overview_states = some_filters(
    {**OVERVIEW_FILTERS, "benchmark_id": st.one_of(st.none(), st.sampled_from(BENCHMARKS), hostile_text),
     "category": st.one_of(st.none(), st.sampled_from(CATEGORIES), hostile_text)}, OverviewState)

# ModelFilter straight into catalog.models_table (the Models page's free-text search lives here), with the same
# hostile bounds: NaN, infinities and ints far beyond DuckDB's 128-bit integers.
model_filters = some_filters({
    "search": st.one_of(st.sampled_from(["", "alpha", "Beta MoE", "TEST-ORG", "gamma (api)", "  7b  "]),
                        hostile_text),
    "vendors": picks(VENDORS), "families": picks(FAMILIES), "variants": picks(("instruct", "reasoning", "base")),
    "commercial_use": picks(("yes", "conditional", "no")), "open_weights_only": st.booleans(),
    "reasoning_only": st.booleans(), "min_context_tokens": st.integers(-10**40, 10**40) | st.sampled_from([0, 8192]),
    "architectures": picks(("dense", "moe")), "params_total_b": st.tuples(bound, bound),
    "params_active_b": st.tuples(bound, bound), "released_from": dates, "released_to": dates,
    "model_ids": picks(MODEL_IDS),
}, ModelFilter)

# ---------------------------------------------------------------------------------------------------------------
# The catalog, and a reader that writes down every statement it runs

SQL_METHODS = ("execute", "executemany", "sql", "query", "from_query")


class _RecordingConnection:
    """Wraps a DuckDB connection or cursor: the text of every statement is recorded before it runs."""

    def __init__(self, inner, log: list[str]):
        self._inner, self._log = inner, log

    def cursor(self):
        return _RecordingConnection(self._inner.cursor(), self._log)

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name not in SQL_METHODS:
            return attr

        def recorded(sql, *args, **kwargs):
            self._log.append(str(sql))
            result = attr(sql, *args, **kwargs)
            return self if result is self._inner else result

        return recorded


class RecordingReader(CatalogReader):
    """The product's reader, unchanged, except that its connection records what it executes."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.statements: list[str] = []

    def _open(self):
        return _RecordingConnection(super()._open(), self.statements)


class Catalog:
    """The fixture catalog and what the checks compare against (a plain class: failure reports print it short)."""

    def __init__(self, path: Path, models: pd.DataFrame, all_scores: pd.DataFrame, decision: DecisionCatalog,
                 baseline_sql: frozenset[str]):
        self.path = path
        self.as_built = catalog_snapshot(path)  # file hash and row counts before any test touched it
        self.reader = RecordingReader(path)
        self.models = models  # every model with its license's commercial_use: the oracle for filters
        self.scores = all_scores  # every score row (model_id, benchmark_id)
        self.decision = decision
        self.baseline_sql = baseline_sql  # statement texts run for benign inputs

    def __repr__(self) -> str:
        return f"Catalog({self.path.name})"

    def fresh(self) -> RecordingReader:
        self.reader.statements.clear()
        return self.reader


def catalog_snapshot(path: Path) -> tuple[str, dict[str, int]]:
    con = duckdb.connect(":memory:")
    try:
        con.execute("ATTACH ? AS c (READ_ONLY)", [str(path)])
        counts = {t: con.execute("SELECT count(*) FROM c." + t).fetchone()[0] for t in TABLES}
    finally:
        con.close()
    return hashlib.sha256(path.read_bytes()).hexdigest(), counts


def fixture_overrides() -> dict[str, list[dict[str, str]]]:
    rows = copy.deepcopy(FIXTURE_ROWS)
    rows["models"][0]["languages"] = "English, Chinese, Thai and 26 other languages"
    rows["models"][1]["modalities"] = "text;image"
    rows["benchmarks"] += [
        {"benchmark_id": "humaneval", "name": "HumanEval", "category": "coding", "metric": "pass@1",
         "unit": "percent", "higher_is_better": "true"},
        {"benchmark_id": "mbpp", "name": "MBPP", "category": "coding", "metric": "pass@1", "unit": "percent",
         "higher_is_better": "true"},
    ]
    for model, bench, value in ((ALPHA, "humaneval", "84.8"), (BETA, "humaneval", "82.6"), (ALPHA, "mbpp", "79.2"),
                                (GAMMA, "mmlu", "88.7"), (ALPHA, "mt-bench", "8.1"), (BETA, "mt-bench", "8.9")):
        rows["scores"].append({"model_id": model, "benchmark_id": bench, "value": value, "provenance": "official",
                               "source_url": SRC, "source_location": "Table 1", "as_of": "2025-01-01"})
    rows["prices"].append({"provider": "OtherCloud", "model_id": ALPHA, "provider_model": "alpha",
                           "input_usd_per_mtok": "0.3", "output_usd_per_mtok": "0.3", "effective_from": "2024-10-01",
                           "source_url": SRC, "source_location": "pricing", "as_of": "2024-10-01"})
    rows["prices"].append({"provider": "OtherCloud", "model_id": GAMMA, "provider_model": "gamma",
                           "input_usd_per_mtok": "5", "output_usd_per_mtok": "15", "effective_from": "2024-05-13",
                           "source_url": SRC, "source_location": "pricing", "as_of": "2024-05-13"})
    rows["gpus"].append({"gpu_id": "test-gpu-small", "name": "Test GPU 24GB", "vendor": "TestCorp",
                         "memory_gb": "24", "memory_bandwidth_gbps": "300", "source_url": SRC,
                         "source_location": "datasheet", "as_of": "2024-01-01"})
    return rows


def run_benign_queries(reader: CatalogReader) -> None:
    """Every query path the tests below take, once with ordinary inputs: the statement texts they run."""
    state = OverviewState(vendors=("Alibaba",), category="coding")
    overview.overview_data(reader, state, dt.date(2026, 1, 1))
    overview.overview_data(reader, OverviewState(benchmark_id="mmlu"), dt.date(2026, 1, 1))
    overview.overview_data(reader, OverviewState(), dt.date(2026, 1, 1))  # the default benchmark's own query
    overview.leaderboard(reader, OverviewState(), "coding")
    models_table(reader, ModelFilter(search="alpha"))
    scores.scores_for(reader, [ALPHA, BETA], ["mmlu"], charted_only=True)
    compare.compare_data(reader, (ALPHA, BETA), dt.date(2026, 1, 1))


@pytest.fixture(scope="module")
def cat(tmp_path_factory) -> Catalog:
    data_dir = write_fixture_data(tmp_path_factory.mktemp("hostile") / "data", fixture_overrides())
    path = data_dir / "catalog.duckdb"
    build(data_dir, path)
    plain = CatalogReader(path)
    models = plain.query("SELECT m.*, l.commercial_use FROM models m LEFT JOIN licenses l USING (license_id)")
    all_scores = plain.query("SELECT model_id, benchmark_id FROM scores")
    baseline = RecordingReader(path)
    run_benign_queries(baseline)
    return Catalog(path, models, all_scores, load_decision_catalog(plain), frozenset(baseline.statements))


# ---------------------------------------------------------------------------------------------------------------
# Checks


def strings_in(value) -> list[str]:
    """Every string inside a value made of dataclasses, tuples, lists and dicts."""
    if isinstance(value, str):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for f in dataclasses.fields(value) for s in strings_in(getattr(value, f.name))]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [s for v in value for s in strings_in(v)]
    if isinstance(value, dict):
        return [s for kv in value.items() for v in kv for s in strings_in(v)]
    return []


def assert_no_input_in_sql(cat: Catalog, statements: list[str], *inputs) -> None:
    assert statements, "the recorder saw no statement: the instrumentation is broken"
    static = "\n".join(cat.baseline_sql)
    values = {s for s in strings_in(inputs) if len(s) >= 3 and s not in static}
    leaked = [(v[:40], sql[:80]) for sql in set(statements) for v in values if v in sql]
    assert leaked == [], "input reached SQL text instead of a bound parameter"
    # Stronger: the statement texts do not depend on the input at all.
    assert set(statements) <= cat.baseline_sql, set(statements) - cat.baseline_sql


def missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def no_bound(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def matches(model: dict, flt: ModelFilter, search_exact: bool = True) -> bool:
    """The filter's documented meaning, evaluated in Python on one catalog row."""
    search = flt.search.strip()
    if search and search_exact:
        haystack = f"{model['model_id']} {model['display_name']} {model['family']}".lower()
        if search.lower() not in haystack:
            return False
    for wanted, column in ((flt.vendors, "vendor"), (flt.families, "family"), (flt.variants, "variant"),
                           (flt.commercial_use, "commercial_use"), (flt.architectures, "architecture"),
                           (flt.model_ids, "model_id")):
        if wanted and (missing(model[column]) or model[column] not in wanted):
            return False
    if flt.open_weights_only and not model["open_weights"]:
        return False
    if flt.reasoning_only and model["reasoning"] not in ("yes", "hybrid"):
        return False
    context = 0 if missing(model["context_length"]) else int(model["context_length"])
    if flt.min_context_tokens != 0 and not context >= flt.min_context_tokens:
        return False
    for (low, high), column in ((flt.params_total_b, "params_total_b"), (flt.params_active_b, "params_active_b")):
        value = model[column]
        if not no_bound(low) and (missing(value) or not value >= low):
            return False
        if not no_bound(high) and (missing(value) or not value <= high):
            return False
    released = None if missing(model["release_date"]) else pd.Timestamp(model["release_date"]).date()
    if flt.released_from is not None and (released is None or released < flt.released_from):
        return False
    if flt.released_to is not None and (released is None or released > flt.released_to):
        return False
    return True


def expected_ids(cat: Catalog, flt: ModelFilter, search_exact: bool = True) -> set[str]:
    return {m["model_id"] for m in cat.models.to_dict("records") if matches(m, flt, search_exact)}


def as_dates(column: pd.Series) -> list[dt.date]:
    return [pd.Timestamp(v).date() for v in column if not missing(v)]


# ---------------------------------------------------------------------------------------------------------------
# 1. Filters end to end against the real catalog


def test_the_recorder_would_catch_a_value_spliced_into_sql(cat):
    """The SQL check can fail: a statement built by pasting the value in is reported."""
    reader = cat.fresh()
    value = "Alibaba' OR 'x'='x"
    reader.query("SELECT count(*) FROM models WHERE vendor = '" + value + "'")
    with pytest.raises(AssertionError, match="bound parameter"):
        assert_no_input_in_sql(cat, reader.statements, value)
    reader = cat.fresh()
    overview.overview_data(reader, OverviewState(vendors=(value,)), dt.date(2026, 1, 1))
    assert_no_input_in_sql(cat, reader.statements, value)


@settings(max_examples=70, deadline=None)
@given(state=overview_states, category=st.one_of(st.sampled_from(CATEGORIES), hostile_text),
       today=st.dates())
def test_overview_filters_are_honoured_and_never_become_sql(cat, state, category, today):
    reader = cat.fresh()
    data = overview.overview_data(reader, state, today)
    board = overview.leaderboard(reader, state, category)
    event(f"{data.model_count} models match")

    # The filter's meaning judged on the raw values, as Python compares them (NaN bound = no bound).
    wanted = expected_ids(cat, ModelFilter(
        vendors=state.vendors, families=state.families, open_weights_only=state.open_weights_only,
        commercial_use=("yes", "conditional") if state.commercial_only else (), architectures=state.architectures,
        min_context_tokens=state.min_context_tokens, reasoning_only=state.reasoning_only,
        params_total_b=state.params_total_b, params_active_b=state.params_active_b,
        released_from=state.released_from, released_to=state.released_to))
    assert data.model_count == len(wanted)
    for frame in (data.points, data.measured, board):
        assert isinstance(frame, pd.DataFrame)
        if not frame.empty:
            assert set(frame["model_id"]) <= wanted
    if state.benchmark_id:
        assert data.benchmark_id == state.benchmark_id
    price_day = state.price_date or today
    assert all(d <= price_day for d in as_dates(data.points.get("effective_from", pd.Series(dtype=object))))
    if not board.empty:
        assert category in CATEGORIES  # a category the catalog lacks has no leaderboard
    assert_no_input_in_sql(cat, reader.statements, state, category)


@settings(max_examples=70, deadline=None)
@given(flt=model_filters)
def test_model_filter_search_and_lists_are_honoured_and_never_become_sql(cat, flt):
    reader = cat.fresh()
    table = models_table(reader, flt)
    assert isinstance(table, pd.DataFrame)
    event(f"{len(table)} models match")
    got = set(table["model_id"])
    assert len(got) == len(table)
    if flt.search.strip().isascii():
        assert got == expected_ids(cat, flt)
    else:  # DuckDB's lower() and Python's differ outside ASCII; the other filters still hold exactly
        assert got <= expected_ids(cat, flt, search_exact=False)
    assert_no_input_in_sql(cat, reader.statements, flt)


@settings(max_examples=50, deadline=None)
@given(model_ids=picks(MODEL_IDS, max_size=8), bench_ids=picks(BENCHMARKS), charted_only=st.booleans())
def test_scores_for_returns_exactly_the_asked_rows(cat, model_ids, bench_ids, charted_only):
    reader = cat.fresh()
    rows = scores.scores_for(reader, model_ids, bench_ids, charted_only=charted_only)
    asked = cat.scores[cat.scores["model_id"].isin(model_ids)
                       & (cat.scores["benchmark_id"].isin(bench_ids) if bench_ids else True)]
    expected = len(asked.drop_duplicates()) if charted_only else len(asked)
    assert len(rows) == expected
    assert set(rows["model_id"]) <= set(model_ids)
    if bench_ids:
        assert set(rows["benchmark_id"]) <= set(bench_ids)
    if charted_only:
        assert rows["charted"].all()
    assert_no_input_in_sql(cat, reader.statements, model_ids, bench_ids)


@settings(max_examples=50, deadline=None)
@given(model_ids=picks(MODEL_IDS, max_size=8), price_date=st.dates(), today=st.dates(),
       category=st.one_of(st.none(), st.sampled_from(CATEGORIES), hostile_text))
def test_compare_queries_keep_to_the_asked_models_and_dates(cat, model_ids, price_date, today, category):
    reader = cat.fresh()
    data = compare.compare_data(reader, model_ids, price_date)
    known = [m for m in dict.fromkeys(model_ids) if m in MODEL_IDS]
    assert list(data.models["model_id"]) == known  # in the order the user picked; none for an empty pick
    for frame in (data.architectures, data.prices, data.scores, data.measured):
        assert set(frame["model_id"]) <= set(known)
    assert all(d <= price_date for d in as_dates(data.prices["effective_from"]))
    assert set(data.kv_cache) <= set(known)
    assert_no_input_in_sql(cat, reader.statements, model_ids, category)

    # What the page renders from it (pure pandas, but it must take whatever the queries returned).
    if known:
        facts = compare.attribute_table(data)
        assert list(facts.columns[:2]) == ["fact", "differs"]
        sources = compare.fact_sources(data, today)
        assert set(sources["model"]) <= set(data.models["display_name"])
        charted = scores.charted(data.scores)
        shared = compare.shared_benchmarks(charted, tuple(known), category)
        assert set(shared["model_id"]) <= set(known)
        matrix = compare.score_matrix(charted, data.models)
        names = list(data.models["display_name"])
        compare.display_matrix(matrix, names)
        compare.best_mask(matrix, names)
    for model_id in model_ids:
        assert isinstance(compare.kv_cache_text(data, model_id), str)


WRITE_ATTEMPTS = [
    "INSERT INTO models (model_id, display_name) VALUES ('evil/x', 'x')",
    "DELETE FROM scores",
    "UPDATE prices SET input_usd_per_mtok = 0",
    "DROP TABLE models",
    "CREATE TABLE catalog.evil AS SELECT 1 AS x",
    "ALTER TABLE models ADD COLUMN evil INTEGER",
    "ATTACH 'evil.duckdb' AS evil",
    "COPY models TO 'evil.csv'",
    "SET enable_external_access = true",
]


def test_the_catalog_is_unchanged_and_cannot_be_written_through_the_reader(cat):
    """Runs after the property tests above (same module, same catalog): nothing they did changed the file, and
    the reader refuses every way of writing to it."""
    sha, counts = cat.as_built
    assert counts == {**counts, "models": 3, "scores": 9, "gpus": 2}
    assert catalog_snapshot(cat.path) == (sha, counts)
    reader = cat.fresh()
    for sql in WRITE_ATTEMPTS:
        with pytest.raises(duckdb.Error):
            reader.query(sql)
    with pytest.raises(duckdb.Error, match="(?i)read.only"):
        reader.query("DELETE FROM models")
    assert catalog_snapshot(cat.path) == (sha, counts)
    assert not os.path.exists("evil.csv") and not os.path.exists("evil.duckdb")
    assert len(models_table(cat.fresh())) == 3  # and the reader still answers


# ---------------------------------------------------------------------------------------------------------------
# 2. Wizard inputs

hostile_number = st.one_of(
    st.sampled_from([0, -1, 1, 2, 3, 1024, 1025, 10**18, 2**63, 10**400, -10**400, True, False, 2.0, 2.5, -0.0,
                     math.nan, math.inf, -math.inf, 1e308, 5e-324]),
    st.integers(), any_float)
hostile_float = st.one_of(st.sampled_from([0.0, -0.0, -1.0, 1e-300, 5e-324, 1e308, 1e18, math.nan, math.inf,
                                           -math.inf, 10**18]), any_float, st.none())
hostile_usage = st.builds(UsageProfile, hostile_float, hostile_float, hostile_float, hostile_float)
hostile_date_text = st.one_of(hostile_text, st.sampled_from(
    ["2024-02-30", "20260101", "2026-01-01T00:00", "9999-99-99", "0000-00-00", "2026-1-1", "yesterday", ""]))

valid_usage = st.builds(UsageProfile, st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 1), st.floats(0, 100))
valid_precisions = st.lists(st.sampled_from(sorted(PRECISION_ALIASES)), min_size=1, max_size=4).map(tuple)
valid_prices_as_of = st.one_of(st.none(), st.dates().map(dt.date.isoformat))

# Words each field's refusal uses: a refusal must name a field the test made hostile.
WIZARD_FIELD_WORDS = {
    "use_cases": ["use case"], "languages": ["language"], "deployment": ["deployment"],
    "hardware": ["gpu", "device memory", "memory bandwidth", "custom memory"], "gpu_count": ["gpu count"],
    "gpu_usd_per_hour": ["gpu price per hour"], "context_tokens": ["context length"],
    "concurrent_sequences": ["concurrent sequences"],
    "usage": ["input mtok", "output mtok", "thinking tokens", "cached share"], "budget_usd_per_month": ["budget"],
    "min_tokens_per_s": ["latency target"], "precisions": ["weight precision"], "kv_dtype": ["kv-cache dtype"],
    "gpu_memory_utilization": ["memory utilization"], "runtime_reserve_gb": ["runtime reserve"],
    "top_n": ["shortlist length"], "prices_as_of": ["prices"],
}


@st.composite
def wizard_requests(draw):
    hostile = draw(st.just(set()) | st.sets(st.sampled_from(sorted(WIZARD_FIELD_WORDS)), min_size=1, max_size=3))

    def pick(name, valid, bad):
        return draw(bad if name in hostile else valid)

    deployment = pick("deployment", st.sampled_from(DEPLOYMENTS), hostile_text | st.sampled_from(DEPLOYMENTS))
    catalog_gpu = st.tuples(st.sampled_from(GPU_IDS + ("TEST-GPU", "Test GPU 24GB")), st.none())
    own_device = st.tuples(st.none(), st.floats(0.1, 1e5))
    valid_hw = catalog_gpu | own_device
    if deployment != "self-host" and "deployment" not in hostile:
        valid_hw = valid_hw | st.just((None, None))
    gpu, memory = pick("hardware", valid_hw, st.tuples(st.none() | hostile_text | st.sampled_from(GPU_IDS),
                                                       hostile_float))
    bandwidth = pick("hardware", st.none() | st.floats(1, 1e5), hostile_float)
    request = WizardRequest(
        use_cases=pick("use_cases", st.lists(st.sampled_from(USE_CASES), min_size=1, max_size=3).map(tuple),
                       picks(USE_CASES)),
        languages=pick("languages", st.lists(st.sampled_from(LANGUAGES + ("", "  ")), max_size=3).map(tuple),
                       picks(LANGUAGES)),
        deployment=deployment, gpu=gpu, custom_gpu_memory_gb=memory, gpu_bandwidth_gbps=bandwidth,
        gpu_count=pick("gpu_count", st.integers(1, 1024), hostile_number),
        gpu_usd_per_hour=pick("gpu_usd_per_hour", st.none() | st.floats(0.01, 1e4), hostile_float),
        context_tokens=pick("context_tokens", st.sampled_from([1024, 8192, 131072]) | st.integers(1, 100_000_000),
                            hostile_number),
        concurrent_sequences=pick("concurrent_sequences", st.sampled_from([1, 8]) | st.integers(1, 1_000_000),
                                  hostile_number),
        usage=pick("usage", valid_usage, hostile_usage),
        budget_usd_per_month=pick("budget_usd_per_month", st.none() | st.floats(0, 1e12) | st.just(1e12),
                                  hostile_float),
        license=draw(st.just(LicenseNeeds()) | st.builds(LicenseNeeds, st.booleans(), st.booleans(), st.booleans())),
        min_tokens_per_s=pick("min_tokens_per_s", st.none() | st.floats(0.001, 1e6), hostile_float),
        needs_image_input=draw(st.just(None) | st.booleans()),
        include_base_models=draw(st.sampled_from([None, True, False])),
        precisions=pick("precisions", valid_precisions, picks(PRECISION_QUALITY_ORDER)),
        kv_dtype=pick("kv_dtype", st.sampled_from(sorted(KV_DTYPES)), hostile_text),
        gpu_memory_utilization=pick("gpu_memory_utilization", st.floats(0.01, 1.0), any_float),
        runtime_reserve_gb=pick("runtime_reserve_gb", st.floats(0, 100), any_float),
        top_n=pick("top_n", st.integers(1, 1000), hostile_number),
        prices_as_of=pick("prices_as_of", valid_prices_as_of, hostile_date_text),
        with_sensitivity=draw(st.booleans()),
    )
    return request, hostile


def assert_refusal_names_a_hostile_field(exc: PlanInputError, hostile: set[str], words: dict) -> None:
    message = str(exc).lower()
    assert hostile, f"a valid request was refused: {exc}"
    named = [f for f in hostile if any(w in message for w in words[f])]
    assert named, f"the refusal {str(exc)[:200]!r} names none of the hostile fields {sorted(hostile)}"


def assert_recommendation_keeps_the_hard_constraints(result: RecommendResult, request: WizardRequest,
                                                     catalog: DecisionCatalog) -> None:
    shortlist = [c.model_id for c in result.shortlist]
    excluded = [e.model_id for e in result.excluded]
    everyone = shortlist + list(result.other_eligible) + excluded
    assert sorted(everyone) == sorted(catalog.models), "every model is ranked or excluded, exactly once"
    assert len(shortlist) <= request.top_n
    assert [c.rank for c in result.shortlist] == list(range(1, len(shortlist) + 1))
    assert [ranking_key(c) for c in result.shortlist] == sorted(ranking_key(c) for c in result.shortlist)
    assert all(e.reasons and all(r.strip() for r in e.reasons) for e in result.excluded)
    # As the wizard names them: "th" is Thai, and a name it does not know is kept title-cased ("aAAA" -> "AAAA").
    languages = [language_names.canonical(lang) for lang in request.languages if lang.strip()]
    for c in result.shortlist:
        model = catalog.models[c.model_id]
        lic = catalog.licenses.get(model.license_id) if model.license_id else None
        assert c.score is None or 0.0 <= c.score <= 1.0
        assert 0.0 <= c.coverage <= 1.0
        assert model.context_length is None or model.context_length >= request.context_tokens
        if request.deployment in ("api", "self-host"):
            assert c.deployment.kind == request.deployment
        for dep in (c.deployment, c.alternative):
            if dep is not None and request.budget_usd_per_month is not None and dep.usd_per_month is not None:
                assert dep.usd_per_month <= request.budget_usd_per_month
        if c.deployment.kind == "self-host":
            assert c.deployment.gpus_per_replica * c.deployment.replicas <= request.gpu_count
            assert c.deployment.memory_verdict in (FITS, UNKNOWN)
        speed = c.deployment.tokens_per_s_per_sequence
        if request.min_tokens_per_s is not None and speed is not None:
            assert speed >= request.min_tokens_per_s
        if lic is not None:
            if request.license.commercial_use:
                assert lic.commercial_use != "no"
            if request.license.over_100m_monthly_users:
                assert not [t for t in mau_thresholds(lic.conditions) if t <= 100_000_000]
            if not request.license.attribution_acceptable:
                assert lic.attribution_required is not True
        if request.needs_image_input:
            assert model.modalities is None or "image" in model.modalities.split(";")
        said = " ".join(c.confirmed) + " " + " ".join(u.detail for u in c.unverified if u.requirement == "language")
        assert all(lang in said for lang in languages), "each language is confirmed or flagged"


@settings(max_examples=300, deadline=None)
@given(drawn=wizard_requests())
def test_wizard_answers_or_refuses_naming_the_field(cat, drawn):
    request, hostile = drawn
    try:
        result = recommend(request, cat.decision)
    except PlanInputError as exc:
        event("refused")
        assert_refusal_names_a_hostile_field(exc, hostile, WIZARD_FIELD_WORDS)
        return
    event(f"answered with {len(result.shortlist)} shortlisted")
    assert isinstance(result, RecommendResult)
    assert_recommendation_keeps_the_hard_constraints(result, request, cat.decision)
    json.dumps(to_jsonable(result), allow_nan=False)
    assert isinstance(format_recommendation_text(result), str)


@pytest.mark.parametrize("change, words", [
    (dict(use_cases=()), "use case"), (dict(use_cases=("astrology'; --",)), "unknown use case"),
    (dict(languages=("Thai; rm -rf /",)), "not a language name"), (dict(deployment="moon"), "deployment"),
    (dict(gpu="'; DROP TABLE gpus; --"), "unknown gpu"), (dict(gpu_count=0), "gpu count"),
    (dict(gpu_count=math.nan), "gpu count"), (dict(context_tokens=10**18), "context length"),
    (dict(budget_usd_per_month=-1.0), "budget"), (dict(min_tokens_per_s=0.0), "latency target"),
    (dict(precisions=()), "weight precision"), (dict(precisions=("int2",)), "weight precision"),
    (dict(kv_dtype="int1"), "kv-cache dtype"), (dict(gpu_memory_utilization=0.0), "memory utilization"),
    (dict(runtime_reserve_gb=math.nan), "runtime reserve"), (dict(runtime_reserve_gb=math.inf), "runtime reserve"),
    (dict(gpu=None, custom_gpu_memory_gb=1e300), "device memory"),
    (dict(gpu_bandwidth_gbps=1e308), "memory bandwidth"), (dict(gpu_usd_per_hour=1e308), "gpu price per hour"),
    (dict(usage=UsageProfile(1e300, 1e300)), "input mtok"), (dict(usage=UsageProfile(0, 1, 0, 1e300)), "thinking"),
    (dict(prices_as_of="zzz"), "prices"), (dict(prices_as_of="2024-02-30"), "prices"),
    (dict(top_n=10**400), "shortlist length"),
])
def test_wizard_refuses_each_hostile_value_by_name(cat, change, words):
    request = dataclasses.replace(WizardRequest(("general-chat",), gpu="test-gpu", prices_as_of=AS_OF), **change)
    with pytest.raises(PlanInputError) as refused:
        recommend(request, cat.decision)
    assert words in str(refused.value).lower()


@pytest.mark.parametrize("change, left_out", [
    (dict(gpu_count=1024), "2048 ×"), (dict(gpu_count=600), "1200 ×"), (dict(budget_usd_per_month=1e308), "budget"),
    (dict(gpu=None, custom_gpu_memory_gb=1e6), "device memory"),
])
def test_wizard_at_the_top_of_a_range_still_answers_without_that_what_if(cat, change, left_out):
    """Regression: 1,024 GPUs is allowed, but the what-if table doubled it to 2,048 and the whole recommendation
    was refused with 'GPU count of 2,048 is beyond what this planner handles'; a huge budget or device likewise."""
    request = dataclasses.replace(WizardRequest(("general-chat",), gpu="test-gpu", prices_as_of=AS_OF), **change)
    result = recommend(request, cat.decision)
    assert len(result.shortlist) + len(result.excluded) == len(cat.decision.models)
    labels = [s.label for s in result.sensitivity]
    assert not [label for label in labels if left_out in label]
    if "gpu_count" in change:
        assert any("Test GPU 24GB instead" in label for label in labels)  # the other what-ifs are still there


def test_whole_number_floats_mean_the_same_as_ints(cat):
    """Regression: top_n=2.0 passed validation ('a whole number') and then crashed slicing the shortlist with a
    TypeError; the counts reached the ranking unconverted."""
    as_ints = recommend(WizardRequest(("general-chat",), gpu="test-gpu", gpu_count=4, top_n=2, context_tokens=8192,
                                      concurrent_sequences=2, prices_as_of=AS_OF), cat.decision)
    as_floats = recommend(dataclasses.replace(as_ints.request, gpu_count=4.0, top_n=2.0, context_tokens=8192.0,
                                              concurrent_sequences=2.0), cat.decision)
    assert to_jsonable(dataclasses.replace(as_floats, request=as_ints.request)) == to_jsonable(as_ints)


# ---------------------------------------------------------------------------------------------------------------
# 3. Planner inputs

PLAN_FIELD_WORDS = {
    "model_id": ["model", "api-only"], "weights": ["weight precision"], "kv_dtype": ["kv-cache dtype"],
    "context_tokens": ["context"], "concurrent_sequences": ["concurrent sequences"],
    "hardware": ["gpu", "device memory", "memory bandwidth", "custom memory"],
    "gpu_count": ["gpu count", "gpus"], "gpu_usd_per_hour": ["gpu price per hour"],
    "gpu_memory_utilization": ["memory utilization"], "runtime_reserve_gb": ["runtime reserve"],
    "usage": ["input mtok", "output mtok", "thinking tokens", "cached share"],
    "compare_model_ids": ["unknown model"], "prices_as_of": ["prices"],
}


@st.composite
def plan_requests(draw):
    hostile = draw(st.just(set()) | st.sets(st.sampled_from(sorted(PLAN_FIELD_WORDS)), min_size=1, max_size=3))

    def pick(name, valid, bad):
        return draw(bad if name in hostile else valid)

    gpu, memory = pick("hardware", st.tuples(st.sampled_from(GPU_IDS), st.none())
                       | st.tuples(st.none(), st.floats(0.1, 1e5)),
                       st.tuples(st.none() | hostile_text | st.sampled_from(GPU_IDS), hostile_float))
    request = PlanRequest(
        model_id=pick("model_id", st.sampled_from([ALPHA, BETA, ALPHA.upper()]),
                      hostile_text | st.sampled_from([GAMMA, ALPHA + " ", ""])),
        weights=pick("weights", st.sampled_from(sorted(PRECISION_ALIASES)), hostile_text),
        kv_dtype=pick("kv_dtype", st.sampled_from(sorted(KV_DTYPES)), hostile_text),
        context_tokens=pick("context_tokens", st.integers(1, 131072), hostile_number),
        concurrent_sequences=pick("concurrent_sequences", st.sampled_from([1, 8]) | st.integers(1, 1_000_000),
                                  hostile_number),
        gpu=gpu, custom_gpu_memory_gb=memory,
        gpu_bandwidth_gbps=pick("hardware", st.none() | st.floats(1, 1e5), hostile_float),
        gpu_count=pick("gpu_count", st.sampled_from([1, 2, 4]), hostile_number),
        gpu_usd_per_hour=pick("gpu_usd_per_hour", st.none() | st.floats(0.01, 1e4), hostile_float),
        gpu_memory_utilization=pick("gpu_memory_utilization", st.floats(0.01, 1.0), any_float),
        runtime_reserve_gb=pick("runtime_reserve_gb", st.floats(0, 100), any_float),
        usage=pick("usage", valid_usage, hostile_usage),
        compare_model_ids=pick("compare_model_ids", st.lists(st.sampled_from(MODEL_IDS), max_size=3).map(tuple),
                               picks(MODEL_IDS)),
        prices_as_of=pick("prices_as_of", valid_prices_as_of, hostile_date_text),
    )
    return request, hostile


def finite_or_none(*values) -> bool:
    return all(v is None or math.isfinite(v) for v in values)


@settings(max_examples=200, deadline=None)
@given(drawn=plan_requests())
def test_planner_answers_or_refuses_naming_the_field(cat, drawn):
    request, hostile = drawn
    try:
        result = plan(request, cat.decision)
    except PlanInputError as exc:
        event("refused")
        assert_refusal_names_a_hostile_field(exc, hostile, PLAN_FIELD_WORDS)
        return
    event(f"answered: {result.memory.verdict}")
    assert isinstance(result, PlanResult)
    mem = result.memory
    assert result.model.model_id in cat.decision.models and result.model.open_weights
    assert mem.gpu_count == request.gpu_count and mem.context_tokens == request.context_tokens
    assert mem.verdict in (FITS, DOES_NOT_FIT, UNKNOWN)
    assert finite_or_none(mem.weights_total_gb, mem.weights_per_gpu_gb, mem.overhead_per_gpu_gb,
                          mem.kv_cache_per_gpu_gb, mem.total_per_gpu_gb)
    if mem.verdict == FITS:
        assert mem.total_per_gpu_gb <= result.gpu.memory_gb
    as_of = dt.date.fromisoformat(request.prices_as_of) if request.prices_as_of else dt.date.today()
    as_of = as_of.isoformat()  # the day the product must have used, whatever ISO spelling it was given
    assert all(a.effective_from <= as_of and finite_or_none(a.usd_per_month) for a in result.cost.api)
    if result.cost.self_host is not None:
        assert finite_or_none(result.cost.self_host.usd_per_month, result.cost.self_host.tokens_per_s)
    json.dumps(to_jsonable(result), allow_nan=False)
    assert isinstance(format_plan_text(result), str)


@pytest.mark.parametrize("change, words", [
    (dict(model_id="'; DROP TABLE models; --"), "unknown model"), (dict(model_id=GAMMA), "api-only"),
    (dict(weights="int2"), "weight precision"), (dict(kv_dtype="\x00"), "kv-cache dtype"),
    (dict(context_tokens=131073), "context"), (dict(context_tokens=10**400), "context length"),
    (dict(concurrent_sequences=2.5), "concurrent sequences"), (dict(gpu_count=-4), "gpu count"),
    (dict(gpu_count=3), "gpus"), (dict(gpu="Ｈ１００"), "unknown gpu"),
    (dict(gpu=None, custom_gpu_memory_gb=1e300), "device memory"),
    (dict(gpu=None, custom_gpu_memory_gb=math.nan), "device memory"),
    (dict(gpu_bandwidth_gbps=1e-300), "memory bandwidth"), (dict(gpu_usd_per_hour=math.inf), "gpu price per hour"),
    (dict(gpu_memory_utilization=math.nan), "memory utilization"), (dict(runtime_reserve_gb=-0.5), "runtime reserve"),
    (dict(usage=UsageProfile(1e308, 1e308, 0.5, 1e308)), "input mtok"),
    (dict(usage=UsageProfile(0, 0, math.nan)), "cached share"), (dict(usage=UsageProfile(1, 1, None)), "cached share"),
    (dict(compare_model_ids=("nope'",)), "unknown model"), (dict(prices_as_of="2026-13-45"), "prices"),
])
def test_planner_refuses_each_hostile_value_by_name(cat, change, words):
    request = dataclasses.replace(PlanRequest(ALPHA, gpu="test-gpu", prices_as_of=AS_OF), **change)
    with pytest.raises(PlanInputError) as refused:
        plan(request, cat.decision)
    assert words in str(refused.value).lower()


def test_prices_as_of_in_another_iso_spelling_means_the_same_day(cat):
    """Regression: prices_as_of was compared with the rows' dates as text, so '20250601' (an ISO date, 1 June
    2025) counted the row effective 2025-09-05 as already in force ('2025-09-05' < '20250601' as text)."""
    usage = UsageProfile(10, 2)
    dashed = plan(PlanRequest(BETA, gpu="test-gpu", usage=usage, prices_as_of="2025-06-01"), cat.decision)
    basic = plan(PlanRequest(BETA, gpu="test-gpu", usage=usage, prices_as_of="20250601"), cat.decision)
    assert [a.effective_from for a in dashed.cost.api] == ["2025-01-20"]
    assert [(a.effective_from, a.usd_per_month) for a in basic.cost.api] == \
        [(a.effective_from, a.usd_per_month) for a in dashed.cost.api]
    wizard = recommend(WizardRequest(("general-chat",), deployment="api", usage=usage, prices_as_of="20250601"),
                       cat.decision)
    assert [c.deployment.price_effective_from for c in wizard.shortlist if c.model_id == BETA] == ["2025-01-20"]


# ---------------------------------------------------------------------------------------------------------------
# 4. Command line, in-process (the same main() `python -m modelmatch` runs)

# option -> words a refusal of it uses (argparse's own refusals name the option itself)
CLI_OPTIONS = {
    "--context": ["context"], "--batch": ["concurrent sequences"], "--concurrency": ["concurrent sequences"],
    "--gpus": ["gpu count", "gpus"], "--gpu": ["gpu"], "--gpu-memory-gb": ["device memory"],
    "--gpu-bandwidth-gbps": ["memory bandwidth"], "--gpu-usd-per-hour": ["gpu price per hour"],
    "--input-mtok": ["input mtok"], "--output-mtok": ["output mtok"], "--cached-share": ["cached share"],
    "--thinking-ratio": ["thinking tokens"], "--utilization": ["memory utilization"],
    "--reserve-gb": ["runtime reserve"], "--prices-as-of": ["prices"], "--kv-dtype": [],
    "--weights": ["weight precision"], "--model": ["model"], "--compare": ["unknown model"],
    "--use-case": ["use case"], "--language": ["language"], "--deployment": [], "--budget-usd": ["budget"],
    "--min-tokens-per-s": ["latency target"], "--top": ["shortlist length"], "--precision": ["weight precision"],
}
PLAN_ONLY = {"--batch", "--weights", "--model", "--compare"}
RECOMMEND_ONLY = {"--concurrency", "--use-case", "--language", "--deployment", "--budget-usd", "--min-tokens-per-s",
                  "--top", "--precision"}


def cli_argv(db: Path, command: str, option: str, value: str) -> list[str]:
    if command == "plan":
        argv = ["plan", "--model", ALPHA]
    else:
        argv = ["recommend", "--use-case", "general-chat", "--no-sensitivity"]
    if option != "--gpu-memory-gb":
        argv += ["--gpu", "test-gpu"]
    return argv + ["--prices-as-of", AS_OF, "--json", "--db", str(db), f"{option}={value}"]


def command_for(option: str, coin: bool) -> str:
    if option in PLAN_ONLY:
        return "plan"
    if option in RECOMMEND_ONLY:
        return "recommend"
    return "plan" if coin else "recommend"


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(argv)
        except SystemExit as exit_:  # argparse's own refusals
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def assert_cli_refusal_names(option: str, code: int, out: str, err: str) -> None:
    assert code == 2, (code, err[-300:])
    assert out == "" and "Traceback" not in err
    last = err.strip().splitlines()[-1].lower()
    assert last.startswith("error:") or "usage:" in err
    assert option in last or any(w in last for w in CLI_OPTIONS[option]), last[:300]


CLI_VALUES = ["1", "2", "0.5", "8192", "2025-06-01", "fp8", "general-chat", "Thai", "test-gpu",  # some pass
              "nan", "inf", "-inf", "1e400", "-1e400", "0", "-0", "-1", "1" * 400, "1e300", "2.5", "", " ", "0x10",
              "１２", "1_000", "'; DROP TABLE models; --", "\x00", "a\x00b", "2024-02-30", "20260101", "<script>",
              "🦙"]


@settings(max_examples=60, deadline=None)
@given(option=st.sampled_from(sorted(CLI_OPTIONS)), value=st.one_of(st.sampled_from(CLI_VALUES), hostile_text),
       coin=st.booleans())
def test_cli_answers_or_exits_2_naming_the_argument(cat, option, value, coin):
    code, out, err = run_main(cli_argv(cat.path, command_for(option, coin), option, value))
    event(f"exit {code}")
    assert "Traceback" not in err
    if code == 0:
        json.loads(out)
        return
    assert_cli_refusal_names(option, code, out, err)


@pytest.mark.parametrize("command, option, value", [
    ("plan", "--context", "1" * 400), ("recommend", "--context", "lots"), ("plan", "--gpus", "nan"),
    ("plan", "--gpu-memory-gb", "1e300"), ("recommend", "--gpu-memory-gb", "1e300"), ("plan", "--gpu-memory-gb", "nan"),
    ("plan", "--input-mtok", "1e300"), ("recommend", "--thinking-ratio", "1e308"), ("recommend", "--reserve-gb", "nan"),
    ("recommend", "--reserve-gb", "inf"), ("plan", "--gpu-usd-per-hour", "1e308"),
    ("recommend", "--gpu-bandwidth-gbps", "1e-300"), ("plan", "--prices-as-of", "not-a-date"),
    ("recommend", "--prices-as-of", "2024-02-30"), ("plan", "--kv-dtype", "int3"),
    ("recommend", "--deployment", "'; --"),
    ("recommend", "--use-case", "astrology'; DROP TABLE use_case_weights; --"), ("recommend", "--language", "Thai\x00"),
    ("recommend", "--gpu", "H100'--"), ("plan", "--model", "a\x00b"), ("recommend", "--top", "0"),
    ("recommend", "--budget-usd", "-inf"), ("recommend", "--precision", "int2"), ("plan", "--compare", "nope/nope"),
])
def test_cli_refuses_hostile_values_with_status_2_and_the_argument(cat, command, option, value):
    code, out, err = run_main(cli_argv(cat.path, command, option, value))
    assert_cli_refusal_names(option, code, out, err)


def test_cli_in_a_real_process_prints_no_traceback(cat):
    """Regression: `plan --gpu-memory-gb 1e300` crashed with 'cannot convert float NaN to integer'."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelmatch", "plan", "--model", ALPHA, "--gpu-memory-gb", "1e300", "--db",
         str(cat.path)], cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and "device memory" in proc.stderr
    assert "Traceback" not in proc.stderr
