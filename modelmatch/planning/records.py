"""The catalog rows a plan reads, typed: models, licenses, GPUs, prices, measurements and scores, loaded once
into a `DecisionCatalog` with fixed SQL (nothing from the user reaches it)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from modelmatch.catalog.cells import clean
from modelmatch.catalog.prices import PRICE_UNTIL_CTE
from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.architecture import Architecture

GB = 1e9  # decimal gigabytes, as GPU datasheets state memory and bandwidth


def _date_text(value: Any) -> str | None:
    value = clean(value)
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()
    if hasattr(value, "date"):
        return value.date().isoformat()
    return str(value)[:10]


# DuckDB hands back None, str, int and float: those take the first line (the same answer clean() and the
# conversion give, without the calls: a catalog load converts some 30,000 cells); anything else goes through clean().


def _opt_float(value: Any) -> float | None:
    if value is None or value.__class__ is float:
        return None if value is None or value != value else value  # NaN is empty
    value = clean(value)
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    if value is None or value.__class__ is int:
        return value
    value = clean(value)
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    if value is None or value.__class__ is str:
        return value
    value = clean(value)
    return None if value is None else str(value)


# About 1,000 values are kept per recommendation on the repository's catalog (its what-ifs included), about ten per
# model: room for many different requests. A recommendation over a larger catalog keeps all it needs while it runs.
MAX_DERIVED_VALUES = 30_000


@dataclass(frozen=True)
class ModelInfo:
    """One row of the models table, typed: what a model is (size, architecture, context, license, languages)."""

    model_id: str
    display_name: str
    vendor: str
    family: str
    variant: str
    reasoning: str | None
    open_weights: bool
    params_total_b: float | None
    params_active_b: float | None
    architecture: str | None
    attention: str | None
    context_length: int | None
    license_id: str | None
    modalities: str | None
    languages: str | None
    source_url: str | None

    @classmethod
    def from_row(cls, row: dict) -> "ModelInfo":
        return cls(
            model_id=row["model_id"], display_name=_opt_str(row.get("display_name")) or row["model_id"],
            vendor=_opt_str(row.get("vendor")) or "", family=_opt_str(row.get("family")) or "",
            variant=_opt_str(row.get("variant")) or "", reasoning=_opt_str(row.get("reasoning")),
            open_weights=bool(clean(row.get("open_weights"))), params_total_b=_opt_float(row.get("params_total_b")),
            params_active_b=_opt_float(row.get("params_active_b")), architecture=_opt_str(row.get("architecture")),
            attention=_opt_str(row.get("attention")), context_length=_opt_int(row.get("context_length")),
            license_id=_opt_str(row.get("license_id")), modalities=_opt_str(row.get("modalities")),
            languages=_opt_str(row.get("languages")), source_url=_opt_str(row.get("source_url")),
        )

    @property
    def thinks(self) -> bool:
        return self.reasoning in ("yes", "hybrid")

    @property
    def active_params_b(self) -> float | None:
        """Parameters touched per token: the official active count; for a dense model that is the total."""
        if self.params_active_b is not None:
            return self.params_active_b
        if self.architecture == "dense":
            return self.params_total_b
        return None


@dataclass(frozen=True)
class LicenseInfo:
    """One row of the licenses table: the terms a model's license sets, as transcribed, with its source."""

    license_id: str
    name: str
    url: str | None
    commercial_use: str | None
    conditions: str | None
    attribution_required: bool | None
    source_url: str | None

    @classmethod
    def from_row(cls, row: dict) -> "LicenseInfo":
        attribution = clean(row.get("attribution_required"))
        return cls(row["license_id"], _opt_str(row.get("name")) or row["license_id"], _opt_str(row.get("url")),
                   _opt_str(row.get("commercial_use")), _opt_str(row.get("conditions")),
                   None if attribution is None else bool(attribution), _opt_str(row.get("source_url")))


@dataclass(frozen=True)
class GpuSpec:
    """A GPU the planner sizes for: memory, bandwidth and compute, from the catalog or typed in by the user."""

    gpu_id: str
    name: str
    memory_gb: float
    memory_bandwidth_gbps: float | None
    bf16_tflops_dense: float | None
    source_url: str | None
    form_factor: str | None = None
    # Where the bandwidth came from: "catalog", "user-entered", or None when nobody gave one.
    bandwidth_source: str | None = None
    user_entered: bool = False  # the whole GPU was described by the user (a device not in the catalog)

    @classmethod
    def from_row(cls, row: dict) -> "GpuSpec":
        bandwidth = _opt_float(row.get("memory_bandwidth_gbps"))
        return cls(row["gpu_id"], _opt_str(row.get("name")) or row["gpu_id"], float(row["memory_gb"]), bandwidth,
                   _opt_float(row.get("bf16_tflops_dense")), _opt_str(row.get("source_url")),
                   _opt_str(row.get("form_factor")), "catalog" if bandwidth is not None else None)


@dataclass(frozen=True)
class PriceRow:
    """One price of one API offering (provider, API name, tier) from its effective day, per million tokens."""

    provider: str
    model_id: str
    provider_model: str
    tier: str | None
    input_usd_per_mtok: float | None
    cached_input_usd_per_mtok: float | None
    output_usd_per_mtok: float | None
    effective_from: str
    source_url: str | None
    # The next row of the same offering (provider, API name, tier) took effect on this day, whichever model it
    # serves; None = still in force. Without it a model's last row would look current after its API name moved on.
    effective_until: str | None = None

    @classmethod
    def from_row(cls, row: dict) -> "PriceRow":
        return cls(row["provider"], row["model_id"], row["provider_model"], _opt_str(row.get("tier")),
                   _opt_float(row.get("input_usd_per_mtok")), _opt_float(row.get("cached_input_usd_per_mtok")),
                   _opt_float(row.get("output_usd_per_mtok")), _date_text(row.get("effective_from")) or "",
                   _opt_str(row.get("source_url")), _date_text(row.get("effective_until")))


@dataclass(frozen=True)
class MeasurementRow:
    """One measured serving run (engine, hardware, precision, load) and the speeds it recorded."""

    run_id: str
    model_id: str
    engine: str
    engine_version: str
    hardware: str
    gpu_count: int | None
    dtype: str
    quantization: str | None
    weights: str
    concurrency: int | None
    input_len: int | None
    output_len: int | None
    output_tokens_per_s: float | None
    tpot_ms_p50: float | None
    requests_ok: int
    requests_failed: int
    measured_at: str | None
    peak_memory_gb: float | None = None
    peak_memory_scope: str | None = None  # per-gpu | sum-over-gpus
    provenance: str | None = None  # official (a vendor's published table) or measured (our harness)
    source_url: str | None = None
    source_location: str | None = None
    total_tokens_per_s: float | None = None

    @classmethod
    def from_row(cls, row: dict) -> "MeasurementRow":
        return cls(row["run_id"], row["model_id"], str(row["engine"]), str(row["engine_version"]),
                   str(row["hardware"]), _opt_int(row.get("gpu_count")), str(row["dtype"]),
                   _opt_str(row.get("quantization")), str(row["weights"]), _opt_int(row.get("concurrency")),
                   _opt_int(row.get("input_len")), _opt_int(row.get("output_len")),
                   _opt_float(row.get("output_tokens_per_s")), _opt_float(row.get("tpot_ms_p50")),
                   int(row["requests_ok"]), int(row["requests_failed"]), _date_text(row.get("measured_at")),
                   _opt_float(row.get("peak_memory_gb")), _opt_str(row.get("peak_memory_scope")),
                   _opt_str(row.get("provenance")), _opt_str(row.get("source_url")),
                   _opt_str(row.get("source_location")), _opt_float(row.get("total_tokens_per_s")))


@dataclass(frozen=True)
class ScoreRow:
    """One published benchmark score of one model, with where it was read and how sure it is."""

    model_id: str
    benchmark_id: str
    value: float
    setting: str | None
    provenance: str
    source_url: str | None
    source_location: str | None
    measured_by: str | None = None  # another vendor's official report: shown next to the tier
    mode: str | None = None  # thinking / non-thinking / base / n.a. (filled by the build)


@dataclass(frozen=True)
class BenchmarkInfo:
    """A benchmark: its name, category, unit and which direction is better."""

    benchmark_id: str
    name: str
    category: str
    unit: str
    higher_is_better: bool


@dataclass(frozen=True)
class UseCaseWeight:
    """One category's weight in one use case's score, with the reason for it."""

    use_case: str
    label: str
    category: str
    weight: float
    rationale: str


@dataclass(frozen=True)
class DecisionCatalog:
    """Everything the planner and the wizard read, loaded once per catalog build."""

    build_id: str
    models: dict[str, ModelInfo]
    architectures: dict[str, Architecture]
    licenses: dict[str, LicenseInfo]
    gpus: dict[str, GpuSpec]
    prices: Mapping[str, tuple[PriceRow, ...]]  # a PricesOnFirstUse where the loader asked for one
    measurements: dict[str, tuple[MeasurementRow, ...]]
    scores: Sequence[ScoreRow] = ()  # a tuple, or a ScoresOnFirstUse where the loader asked for one
    benchmarks: dict[str, BenchmarkInfo] = field(default_factory=dict)
    use_case_weights: tuple[UseCaseWeight, ...] = ()
    # Values computed from these rows alone, kept on first use: a recommendation ranks the same catalog once for the
    # answer and again for each what-if (15 times for one GPU kind), and a measured run's roofline or the
    # representative score per benchmark is the same every time. Not an init field, so dataclasses.replace (a
    # catalog with other rows) starts with none.
    _derived: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def derived(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """compute(), once per catalog and key; the key must name everything compute reads besides the rows."""
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = compute()
            return value

    def start_request(self) -> None:
        """Called where a plan or a recommendation starts. The app shares one catalog between visitors, so a memo
        that grew with every request would grow without end: past MAX_DERIVED_VALUES it starts over here, at a
        cost of one recomputation per value. Never in the middle of a request: on a catalog of 5,000 models one
        recommendation needs some 50,000 values, and starting over whenever the memo was full made it compute them
        (the representative scores of the whole catalog among them) again and again."""
        if len(self._derived) >= MAX_DERIVED_VALUES:
            self._derived.clear()


# Fixed SQL only; nothing from the user reaches these strings.
_SQL = {
    # The columns the records read (the tables have up to 51: notes and sources no plan reads, and a third of the
    # models query's time was fetching them).
    "models": f"SELECT {', '.join(f.name for f in fields(ModelInfo))} FROM models "
              "ORDER BY vendor, family, params_total_b NULLS LAST, model_id",
    "architectures": f"SELECT {', '.join(f.name for f in fields(Architecture))} FROM architectures",
    "licenses": f"SELECT {', '.join(f.name for f in fields(LicenseInfo))} FROM licenses",
    "gpus": "SELECT * FROM gpus ORDER BY vendor, memory_gb, gpu_id",
    # effective_until: the row ends at the offering's next row or when the offering stopped serving its model.
    "prices": f"WITH {PRICE_UNTIL_CTE} SELECT * FROM price_rows "
              "ORDER BY model_id, provider, provider_model, tier NULLS FIRST, effective_from",
    # The columns MeasurementRow reads (the table has some 60).
    "measurements": f"SELECT {', '.join(f.name for f in fields(MeasurementRow))} FROM measurements "
                    "ORDER BY model_id, measured_at",
    "scores": "SELECT model_id, benchmark_id, value, setting, provenance, measured_by, source_url, source_location, mode "
              "FROM scores",
    # The same columns, only for the benchmarks of the categories bound as a list.
    "scores_in_categories": "SELECT model_id, benchmark_id, value, setting, provenance, measured_by, source_url, "
                            "source_location, mode FROM scores WHERE benchmark_id IN "
                            "(SELECT benchmark_id FROM benchmarks WHERE list_contains(?::VARCHAR[], category))",
    "benchmarks": "SELECT benchmark_id, name, category, unit, higher_is_better FROM benchmarks",
    "use_case_weights": "SELECT use_case, label, category, weight, rationale FROM use_case_weights "
                        "ORDER BY use_case, weight DESC, category",
}


def _records(cursor, name: str) -> list[dict]:
    result = cursor.execute(_SQL[name])
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


# The score columns as the catalog types them: DuckDB hands these back as str / float / None only.
_SCORE_TYPES = ("VARCHAR", "VARCHAR", "DOUBLE", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR")


def _score_rows(result) -> tuple[ScoreRow, ...]:
    """The catalog's largest table (2,300 rows; 900,000 in the synthetic one) as ScoreRows, rows without a value
    left out. Read as tuples, no dict per row; when the columns have the catalog's types, each row's fields are set
    in one step (the frozen dataclass's __init__ sets them one call at a time: a third of a CLI catalog load)."""
    rows = result.fetchall()
    if tuple(str(d[1]) for d in result.description) != _SCORE_TYPES:
        return tuple(
            ScoreRow(model_id, benchmark_id, float(value), _opt_str(setting), str(provenance), _opt_str(source_url),
                     _opt_str(source_location), _opt_str(measured_by), _opt_str(mode))
            for model_id, benchmark_id, value, setting, provenance, measured_by, source_url, source_location, mode
            in rows if clean(value) is not None)
    new, set_dict = object.__new__, object.__setattr__
    out = []
    for model_id, benchmark_id, value, setting, provenance, measured_by, source_url, source_location, mode in rows:
        if value is None or value != value:  # NULL or NaN: no score
            continue
        if provenance is None:  # as the constructor path would write it
            provenance = "None"
        row = new(ScoreRow)
        set_dict(row, "__dict__", {"model_id": model_id, "benchmark_id": benchmark_id, "value": value,
                                   "setting": setting, "provenance": provenance, "source_url": source_url,
                                   "source_location": source_location, "measured_by": measured_by, "mode": mode})
        out.append(row)
    return tuple(out)


def _read_scores(cursor, categories: tuple[str, ...] | None = None) -> tuple[ScoreRow, ...]:
    if categories is None:
        return _score_rows(cursor.execute(_SQL["scores"]))
    return _score_rows(cursor.execute(_SQL["scores_in_categories"], [list(categories)]))


def _prices_by_model(cursor) -> dict[str, tuple[PriceRow, ...]]:
    prices: dict[str, list[PriceRow]] = {}
    for r in _records(cursor, "prices"):
        prices.setdefault(r["model_id"], []).append(PriceRow.from_row(r))
    return {k: tuple(v) for k, v in prices.items()}


class DeferredReads:
    """The parts of a catalog load left until something first looks at them, read through the cursor the rest of the
    catalog was read with, so they come from the same build even if a new one replaced the file in between.

    One lock for all of them: they share the cursor, which two threads must not use at once (the app shares one
    loaded catalog between visitors). The cursor is closed once the last part is read; until then it keeps the
    build it was opened on readable."""

    def __init__(self, cursor, parts: int):
        self._cursor = cursor
        self._left = parts
        self.lock = threading.Lock()

    def read(self, query: Callable[[Any], Any]) -> Any:
        """query(cursor), called under self.lock, once per part (again after a read that raised)."""
        rows = query(self._cursor)
        self._left -= 1
        if self._left == 0:
            self._cursor.close()
            self._cursor = None
        return rows


class _OnFirstUse:
    """Rows read by a DeferredReads the first time anything looks at them, then kept."""

    def __init__(self, reads: DeferredReads, query: Callable[[Any], Any]):
        self._reads: DeferredReads | None = reads
        self._query: Callable[[Any], Any] | None = query
        self._rows: Any = None
        self._lock = reads.lock

    def _all(self) -> Any:
        rows = self._rows
        if rows is None:
            with self._lock:
                if self._rows is None:
                    self._rows = self._reads.read(self._query)
                    self._reads = self._query = None
                rows = self._rows
        return rows


class PricesOnFirstUse(_OnFirstUse, Mapping):
    """DecisionCatalog.prices read the first time anything looks at them: a self-hosting recommendation never reads
    a price, and the price query (periods of served models, windows over every offering) is the most expensive one
    of a catalog load of the repository's data."""

    def __getitem__(self, model_id: str) -> tuple[PriceRow, ...]:
        return self._all()[model_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def get(self, model_id: str, default: Any = None) -> Any:
        return self._all().get(model_id, default)

    def keys(self):
        return self._all().keys()

    def values(self):
        return self._all().values()

    def items(self):
        return self._all().items()

    def __repr__(self) -> str:
        return f"PricesOnFirstUse({self._all()!r})"


class ScoresOnFirstUse(_OnFirstUse, Sequence):
    """DecisionCatalog.scores read the first time anything looks at them: the planner never reads a score, and on a
    catalog of 5,000 models (900,000 score rows) reading them was 2.5 s of the 2.8 s load. Equal to, and hashed
    as, the tuple of the same rows, as the loaded tuple is."""

    def __getitem__(self, index):
        return self._all()[index]

    def __iter__(self) -> Iterator[ScoreRow]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ScoresOnFirstUse):
            other = other._all()
        return isinstance(other, tuple) and self._all() == other

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return f"ScoresOnFirstUse({self._all()!r})"


def load_decision_catalog(reader: CatalogReader, prices_on_first_use: bool = False,
                          scores_on_first_use: bool = False, scores_for_use_cases: tuple[str, ...] | None = None
                          ) -> DecisionCatalog:
    """The catalog's rows, all read through one cursor (one build). prices_on_first_use / scores_on_first_use: the
    price rows / score rows are read when first looked at instead of now (the command line may never need the
    prices; the planner page never needs the scores). scores_for_use_cases: only the scores a recommendation for
    these use cases reads, those of benchmarks in the categories they weight (benchmarks are normalised one by one,
    so the others change nothing); for a catalog that answers that one request, as the command line's does."""
    build_id = reader.build_info().build_id
    cursor = reader.connection()
    deferred_parts = int(prices_on_first_use) + int(scores_on_first_use)
    deferred = DeferredReads(cursor, deferred_parts) if deferred_parts else None
    try:
        models = {r["model_id"]: ModelInfo.from_row(r) for r in _records(cursor, "models")}
        architectures = {r["model_id"]: Architecture.from_row(r) for r in _records(cursor, "architectures")}
        licenses = {r["license_id"]: LicenseInfo.from_row(r) for r in _records(cursor, "licenses")}
        gpus = {r["gpu_id"]: GpuSpec.from_row(r) for r in _records(cursor, "gpus")}
        if prices_on_first_use:
            prices: Mapping[str, tuple[PriceRow, ...]] = PricesOnFirstUse(deferred, _prices_by_model)
        else:
            prices = _prices_by_model(cursor)
        measurements: dict[str, list[MeasurementRow]] = {}
        for r in _records(cursor, "measurements"):
            measurements.setdefault(r["model_id"], []).append(MeasurementRow.from_row(r))
        benchmarks = {r["benchmark_id"]: BenchmarkInfo(r["benchmark_id"], str(r["name"]), str(r["category"]),
                                                       str(r["unit"]), bool(r["higher_is_better"]))
                      for r in _records(cursor, "benchmarks")}
        weights = tuple(UseCaseWeight(str(r["use_case"]), str(r["label"]), str(r["category"]), float(r["weight"]),
                                      _opt_str(r.get("rationale")) or "")
                        for r in _records(cursor, "use_case_weights"))
        categories = None if scores_for_use_cases is None else tuple(sorted(
            {w.category for w in weights if w.use_case in scores_for_use_cases}))
        if scores_on_first_use:
            scores: Sequence[ScoreRow] = ScoresOnFirstUse(deferred, lambda cur: _read_scores(cur, categories))
        else:
            scores = _read_scores(cursor, categories)
    except BaseException:
        cursor.close()
        raise
    if deferred is None:
        cursor.close()
    return DecisionCatalog(build_id, models, architectures, licenses, gpus, prices,
                           {k: tuple(v) for k, v in measurements.items()}, scores, benchmarks, weights)
