"""Quality terms from benchmarks: one representative score per model and benchmark, min-max normalised across
the catalog, averaged per category over the benchmarks the ranked models share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from modelmatch.catalog.score_preference import score_rank
from modelmatch.planning.records import DecisionCatalog, ScoreRow
from modelmatch.planning.wizard.modes import model_mode
from modelmatch.planning.wizard.results import BenchmarkEvidence, TermBreakdown

QUALITY_TERMS_EXCLUDED = ("cost", "speed")


@dataclass(frozen=True)
class BenchStats:
    """A benchmark's lowest and highest representative score across the catalog, and how many models have one."""

    lowest: float
    highest: float
    models: int


def representative_scores(scores: Sequence[ScoreRow], catalog: DecisionCatalog, chosen_mode: str = ""
                          ) -> dict[tuple[str, str], tuple[ScoreRow, int]]:
    """One score per (model, benchmark): the most official source, then the best value it reports (the first such
    row on a tie); the count of rows not used is kept so the breakdown can say there were others.

    One pass over the rows, each model's mode and each source's rank looked up once: on a catalog of 5,000 models
    (900,000 score rows) grouping every row and then taking each group's minimum took seconds."""
    models, benchmarks = catalog.models, catalog.benchmarks
    modes: dict[str, str | None] = {}  # model id -> the mode it is ranked in (None: not a catalog model)
    ranks: dict[tuple[str | None, str | None], int] = {}
    best: dict[tuple[str, str], list] = {}  # (model, benchmark) -> [row, its order, rows not used]
    for row in scores:
        model_id = row.model_id
        try:
            mode = modes[model_id]
        except KeyError:
            model = models.get(model_id)
            mode = modes[model_id] = None if model is None else model_mode(model, chosen_mode)
        # Like with like: only the model's ranked mode (and rows whose source states no mode) count.
        if mode is not None and row.mode not in (None, "n.a.", mode):
            continue
        bench = benchmarks.get(row.benchmark_id)
        if bench is None:
            continue
        source = (row.provenance, row.measured_by)
        rank = ranks.get(source)
        if rank is None:
            rank = ranks[source] = score_rank(*source)
        order = (rank, -row.value if bench.higher_is_better else row.value)
        key = (model_id, row.benchmark_id)
        kept = best.get(key)
        if kept is None:
            best[key] = [row, order, 0]
        else:
            kept[2] += 1
            if order < kept[1]:
                kept[0], kept[1] = row, order
    return {key: (row, others) for key, (row, _, others) in best.items()}


def bench_stats(rep: dict[tuple[str, str], tuple[ScoreRow, int]]) -> dict[str, BenchStats]:
    values: dict[str, list[float]] = {}
    for (_, bench), (row, _) in rep.items():
        values.setdefault(bench, []).append(row.value)
    return {b: BenchStats(min(v), max(v), len(v)) for b, v in values.items()}


def _usable(bench: str, stats: dict[str, BenchStats]) -> bool:
    st = stats.get(bench)
    return st is not None and st.models >= 2 and st.highest != st.lowest


def category_benchmarks(catalog: DecisionCatalog, category: str) -> tuple[str, ...]:
    """The category's benchmark ids in catalog order, kept per catalog: every quality term of every ranked model in
    every what-if asks for them (a scan of the whole benchmark table each time)."""
    return catalog.derived(("category_benchmarks", category),
                           lambda: tuple(b for b, info in catalog.benchmarks.items() if info.category == category))


def category_holdings(category: str, catalog: DecisionCatalog, rep: dict, stats: dict[str, BenchStats]
                      ) -> tuple[tuple[str, ...], dict[str, frozenset[str]]]:
    """The category's usable benchmarks (scored by two or more models, not all alike) in catalog order, and for each
    model with a representative score on any of them, which ones. The same for every ranking of one catalog and
    mode: the what-ifs rank other sets of models against the same holdings."""
    benches = tuple(b for b in category_benchmarks(catalog, category) if _usable(b, stats))
    usable = set(benches)
    having: dict[str, set[str]] = {}
    for model_id, bench in rep:
        if bench in usable:
            having.setdefault(model_id, set()).add(bench)
    return benches, {model_id: frozenset(held) for model_id, held in having.items()}


def comparable_benchmarks(category: str, model_ids: list[str], catalog: DecisionCatalog, rep: dict,
                          stats: dict[str, BenchStats],
                          holdings: tuple[tuple[str, ...], dict[str, frozenset[str]]] | None = None
                          ) -> tuple[tuple[str, ...], bool]:
    """The benchmarks a category's average is taken over, so that every ranked model is measured on the same ones:
    those that every ranked model with a score in the category has; when they share none, the one most of them
    have (a model without it gets no value for the category: left out, not zero). holdings: category_holdings for
    the same rep and stats, when the caller keeps them."""
    benches, held_by = holdings or category_holdings(category, catalog, rep, stats)
    having = [held_by[m] for m in model_ids if m in held_by]
    if not having:
        return (), True
    shared = frozenset.intersection(*having)
    if shared:
        return tuple(sorted(shared)), True
    counts = Counter(b for held in having for b in held)  # every model in held_by has one or more
    return (min(counts, key=lambda b: (-counts[b], b)),), False


def quality_term(category: str, weight: float, model_id: str, catalog: DecisionCatalog,
                 rep: dict, stats: dict[str, BenchStats],
                 comparable: tuple[tuple[str, ...], bool] | None = None) -> TermBreakdown:
    evidence = []
    own = []
    over, shared_by_all = comparable if comparable is not None else (None, True)
    for bench in sorted(category_benchmarks(catalog, category)):
        if (model_id, bench) in rep and _usable(bench, stats):
            own.append(catalog.benchmarks[bench].name)
        if over is not None and bench not in over:
            continue
        found = rep.get((model_id, bench))
        st = stats.get(bench)
        if found is None or st is None or st.models < 2 or st.highest == st.lowest:
            continue
        row, others = found
        info = catalog.benchmarks[bench]
        span = st.highest - st.lowest
        norm = (row.value - st.lowest) / span if info.higher_is_better else (st.highest - row.value) / span
        evidence.append(BenchmarkEvidence(bench, info.name, row.value, row.setting, row.provenance, row.source_url,
                                          row.source_location, st.lowest, st.highest, st.models, norm, others))
    names = ", ".join(catalog.benchmarks[b].name for b in over or ())
    if not evidence:
        if own and over:
            return TermBreakdown(category, weight, None, None, (
                f"this model's {category} scores ({', '.join(own)}) are not on the benchmark(s) the ranked models "
                f"are compared on ({names}) — left out, not zero"))
        return TermBreakdown(category, weight, None, None,
                             f"no {category} benchmark score for this model in the catalog (left out, not zero)")
    value = sum(e.normalized for e in evidence) / len(evidence)
    how = (f"mean of {len(evidence)} benchmark(s), each (value − lowest) ÷ (highest − lowest) across the catalog: "
           + "; ".join(f"{e.name} {e.value:g} in [{e.catalog_lowest:g}, {e.catalog_highest:g}] → {e.normalized:.2f}"
                       for e in evidence))
    if over is not None:
        skipped = [n for n in own if n not in {e.name for e in evidence}]
        how += (f". Averaged only over {names}, which every ranked model with a {category} score has"
                if shared_by_all else
                f". Averaged only over {names}: no {category} benchmark is shared by every ranked model, and this "
                "is the one most of them have")
        if skipped:
            how += f" ({', '.join(skipped)} not counted: not every ranked model has it)"
    return TermBreakdown(category, weight, value, weight * value, how, tuple(evidence))
