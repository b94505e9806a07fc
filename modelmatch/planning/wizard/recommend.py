"""Recommendation wizard: hard constraints first, then a transparent score, then what would change the answer.

`recommend(request, catalog)` is the one code path behind the wizard page and `python -m modelmatch recommend`.

1. Hard constraints exclude a model, each with its reason ("why not"): it fits the GPUs at no offered precision,
   its license forbids the use, its context window is too short, there is no API when an API is required, it is
   over budget, or even its speed ceiling misses the latency target.
2. A requirement the catalog cannot confirm (a license whose terms are not transcribed, a language the official
   note does not name, a KV cache whose head_dim is missing) does not exclude: the model stays, marked unverified,
   with lower confidence, and ranks after models whose requirements are all confirmed.
3. The score is a weighted mean over raw benchmark categories plus cost and speed, with the weights from the
   `use_case_weights` table. Each benchmark is min-max normalised across every model in the catalog that has a
   score on it; a category is the mean of the model's normalised benchmarks in it, taken only over the benchmarks
   every ranked model with a score in that category has (MGSM for one model is never averaged against MMMLU for
   another; when they share none, the most common one is used and the others say why they have no value). A term
   without data is left out of the mean and lowers the coverage; it never counts as zero.

A recommendation reads top-down through the package: `request` (the request, its use cases and checks) →
`ranking.rank` (which runs `eligibility`, the hard constraints, over the `options` to deploy each model, then scores
the eligible ones with `quality` terms plus cost and speed) → `sensitivity` (the same request re-ranked under
what-ifs) → `results`. `modes` says which score mode a model is ranked and billed in; `text` prints a result.
"""

from __future__ import annotations

from modelmatch.planning.collector import collector_paused
from modelmatch.planning.records import DecisionCatalog
from modelmatch.planning.wizard.ranking import RANKING_RULE, rank
from modelmatch.planning.wizard.request import WizardRequest
from modelmatch.planning.wizard.results import RecommendResult
from modelmatch.planning.wizard.sensitivity import sensitivity_cases


def recommend(request: WizardRequest, catalog: DecisionCatalog) -> RecommendResult:
    catalog.start_request()
    with collector_paused():
        ctx, ranked, excluded = rank(request, catalog)
        sensitivity = sensitivity_cases(ctx.request, catalog, ranked) if request.with_sensitivity else []
    top_n = ctx.request.top_n
    weights = tuple(sorted(((c, w) for c, w in ctx.weights.items()), key=lambda kv: -kv[1]))
    excluded.sort(key=lambda e: e.display_name.lower())
    return RecommendResult(
        build_id=catalog.build_id, request=request, use_case_labels=tuple(uc.label for uc in ctx.use_cases),
        weights=weights, assumptions=ctx.assumptions, ranking_rule=RANKING_RULE,
        shortlist=tuple(ranked[:top_n]), other_eligible=tuple(c.model_id for c in ranked[top_n:]),
        excluded=tuple(excluded), sensitivity=tuple(sensitivity))
