"""The ranking: validate the request, apply the hard constraints, then score each eligible model (quality, cost
and speed terms weighted by use case), give it a confidence, and sort."""

from __future__ import annotations

from collections.abc import Iterator

from modelmatch.planning.records import DecisionCatalog, ModelInfo
from modelmatch.planning.wizard.eligibility import Eligible, evaluate_models
from modelmatch.planning.wizard.quality import (
    QUALITY_TERMS_EXCLUDED,
    bench_stats,
    category_holdings,
    comparable_benchmarks,
    quality_term,
    representative_scores,
)
from modelmatch.planning.wizard.request import WizardContext, WizardRequest, validate_request
from modelmatch.planning.wizard.results import Candidate, Exclusion, TermBreakdown

HIGH_CONFIDENCE_COVERAGE = 0.8
LOW_CONFIDENCE_COVERAGE = 0.5

RANKING_RULE = ("Ranked by score, highest first; models whose score rests on less than half of the weight "
                "(coverage under 50 %) come after the others, and a model with no benchmark score in any weighted "
                "category is not scored; ties go to higher confidence. "
                "Score = Σ (weight × term) ÷ Σ weight, over the terms that have data; each benchmark is "
                "normalised (value − lowest) ÷ (highest − lowest) across every catalog model scored on it, a "
                "category is the mean of the benchmarks every ranked model with a score in it has (when they share "
                "none, the one most of them have; a model without it has no value there), "
                "cost = cheapest shortlisted monthly cost ÷ this model's, "
                "speed = this model's tokens/s ÷ the fastest shortlisted. Coverage = the share of weight with data. "
                "Confidence is high when coverage is at least 80 % and every requirement is confirmed, low when "
                "coverage is under 50 % or two or more kinds of requirement cannot be confirmed, medium otherwise.")


def rank(request: WizardRequest, catalog: DecisionCatalog
         ) -> tuple[WizardContext, list[Candidate], list[Exclusion]]:
    """The request validated, the eligible models ranked, and the excluded ones with their reasons."""
    ctx = validate_request(request, catalog)
    eligible, excluded = evaluate_models(ctx, catalog)
    return ctx, score_candidates(ctx, catalog, eligible), excluded


def rank_order(request: WizardRequest, catalog: DecisionCatalog) -> list[ModelInfo]:
    """The eligible models in the order rank() puts them, worked out briefly: no exclusions, no texts, no Candidate
    written out (the what-ifs compare only which models rank and which comes first)."""
    ctx = validate_request(request, catalog)
    eligible, _ = evaluate_models(ctx, catalog, with_exclusions=False)
    keyed = [(_ranking_key(score, coverage, confidence, e.model.model_id), e.model)
             for e, _, score, coverage, confidence in _scored(ctx, catalog, eligible, write=False)]
    keyed.sort(key=lambda pair: pair[0])
    return [model for _, model in keyed]


def score_candidates(ctx: WizardContext, catalog: DecisionCatalog, eligible: list[Eligible]) -> list[Candidate]:
    candidates: list[tuple[tuple, tuple]] = []
    for e, terms, score, coverage, confidence in _scored(ctx, catalog, eligible, write=True):
        missing = tuple(f"{t.category} (weight {t.weight:.0%}): {t.how}" for t in terms if t.value is None)
        candidates.append((_ranking_key(score, coverage, confidence, e.model.model_id),
                           (e.model.model_id, e.model.display_name, e.model.vendor, e.model.variant, score, coverage,
                            confidence, e.unverified, e.confirmed, e.deployment, e.alternative, tuple(terms),
                            missing)))
    # Sorted before the Candidates are made, so each is built once, with its rank.
    candidates.sort(key=lambda keyed: keyed[0])
    return [Candidate(i, *fields) for i, (_, fields) in enumerate(candidates, start=1)]


def _scored(ctx: WizardContext, catalog: DecisionCatalog, eligible: list[Eligible], write: bool
            ) -> Iterator[tuple[Eligible, list[TermBreakdown], float | None, float, str]]:
    """Each eligible model with its terms, score, coverage and confidence. write False (rank_order): the terms are
    not written out (an empty list) but every number is computed as with write True, in the same order, so the two
    rank alike."""
    mode = ctx.request.score_mode
    rep = catalog.derived(("representative_scores", mode), lambda: representative_scores(catalog.scores, catalog, mode))
    stats = catalog.derived(("bench_stats", mode), lambda: bench_stats(rep))
    costs = [e.deployment.usd_per_month for e in eligible if e.deployment.usd_per_month is not None]
    speeds = [e.deployment.tokens_per_s_per_sequence for e in eligible if e.deployment.tokens_per_s_per_sequence]
    cheapest = min(costs) if costs else None
    fastest = max(speeds) if speeds else None
    ranked_ids = [e.model.model_id for e in eligible]
    # The what-ifs mostly rank the same models: the benchmarks they share are the same.
    ranked_key = tuple(ranked_ids)
    comparable = {category: catalog.derived(
        ("comparable_benchmarks", mode, category, ranked_key),
        lambda: comparable_benchmarks(category, ranked_ids, catalog, rep, stats, catalog.derived(
            ("category_holdings", mode, category), lambda: category_holdings(category, catalog, rep, stats))))
        for category in ctx.weights if category not in QUALITY_TERMS_EXCLUDED}
    weights = sorted(ctx.weights.items(), key=lambda kv: -kv[1])
    for e in eligible:
        terms: list[TermBreakdown] = []
        numbers: list[tuple[str, float, float | None, float | None]] = []  # category, weight, value, contribution
        for category, weight in weights:
            if category == "cost":
                usd = e.deployment.usd_per_month
                if usd is None:
                    numbers.append(("cost", weight, None, None))
                    if write:
                        terms.append(TermBreakdown("cost", weight, None, None,
                                                   f"cost unknown: {e.deployment.cost_text} (left out, not zero)"))
                else:
                    value = 1.0 if usd <= 0 else cheapest / usd
                    numbers.append(("cost", weight, value, weight * value))
                    if write:
                        terms.append(TermBreakdown("cost", weight, value, weight * value,
                                                   f"cheapest shortlisted ${cheapest:,.2f} ÷ this ${usd:,.2f} per "
                                                   "month"))
            elif category == "speed":
                tps = e.deployment.tokens_per_s_per_sequence
                if not tps:
                    numbers.append(("speed", weight, None, None))
                    if write:
                        terms.append(TermBreakdown("speed", weight, None, None,
                                                   f"speed unknown: {e.deployment.speed_text} (left out, not zero)"))
                else:
                    value = tps / fastest
                    numbers.append(("speed", weight, value, weight * value))
                    if write:
                        terms.append(TermBreakdown("speed", weight, value, weight * value,
                                                   f"{tps:,.1f} ÷ fastest shortlisted {fastest:,.1f} tokens/s per "
                                                   "sequence"))
            else:
                # The what-ifs rank mostly the same models against the same benchmarks: the term is the same.
                term = catalog.derived(
                    ("quality_term", mode, category, weight, e.model.model_id, comparable[category]),
                    lambda: quality_term(category, weight, e.model.model_id, catalog, rep, stats,
                                         comparable[category]))
                numbers.append((category, weight, term.value, term.contribution))
                if write:
                    terms.append(term)
        with_data = [n for n in numbers if n[2] is not None]
        weight_with_data = sum(n[1] for n in with_data)
        total_weight = sum(n[1] for n in numbers)
        coverage = weight_with_data / total_weight if total_weight else 0.0
        # Cost and speed alone say nothing about whether the model can do the job: without a single benchmark
        # score in a weighted category the model is listed, unscored, after the scored ones.
        has_quality = any(n[0] not in QUALITY_TERMS_EXCLUDED for n in with_data)
        score = (sum(n[3] for n in with_data) / weight_with_data if weight_with_data and has_quality else None)
        kinds = {u.requirement for u in e.unverified}
        if coverage >= HIGH_CONFIDENCE_COVERAGE and not kinds:
            confidence = "high"
        elif coverage < LOW_CONFIDENCE_COVERAGE or len(kinds) >= 2:
            confidence = "low"
        else:
            confidence = "medium"
        yield e, terms, score, coverage, confidence


CONFIDENCE_ORDER = {"high": 0, "medium": 1, "low": 2}


def ranking_key(c: Candidate) -> tuple:
    return _ranking_key(c.score, c.coverage, c.confidence, c.model_id)


def _ranking_key(score: float | None, coverage: float, confidence: str, model_id: str) -> tuple:
    return (score is None, coverage < LOW_CONFIDENCE_COVERAGE, -(score or 0.0), CONFIDENCE_ORDER[confidence], model_id)
