"""The one-page decision summary: the choice, the runner-up, why, what would change the answer, memory fit,
monthly cost, language evidence, and every source with its tier.

Built only from a DecisionState and the catalog (through the same `recommend` the wizard and the CLI use), so the
summary's link reopens exactly the same page, and the Markdown and PDF exports say exactly what the page says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelmatch.planning.records import DecisionCatalog, ScoreRow
from modelmatch.planning.request import UsageProfile

from modelmatch.planning.wizard.request import LicenseNeeds, WizardRequest
from modelmatch.planning.wizard.results import Candidate, RecommendResult
from modelmatch.decision.state import DecisionState
from modelmatch.catalog.languages import code_of

# Tables without a per-row tier: the catalog's rule is that every row there was transcribed from an official source.
CATALOG_RULE_TIER = "official (catalog rule)"
MULTILINGUAL_CATEGORY = "multilingual"
SOURCES_HEADING = "Sources and their tiers"


def wizard_request(state: DecisionState, **extra) -> WizardRequest:
    """The wizard's request for a decision state; `extra` sets the wizard's further options."""
    self_hosting = state.deployment != "api"
    fields = dict(
        use_cases=state.use_cases, languages=state.languages, deployment=state.deployment,
        gpu=state.gpu if self_hosting else None, gpu_count=state.gpu_count,
        gpu_usd_per_hour=state.gpu_usd_per_hour if self_hosting else None, context_tokens=state.context_tokens,
        concurrent_sequences=state.concurrent_sequences,
        usage=UsageProfile(float(state.input_mtok), float(state.output_mtok), float(state.cached_share),
                           float(state.thinking_ratio)),
        budget_usd_per_month=state.budget_usd_per_month, min_tokens_per_s=state.min_tokens_per_s,
        license=LicenseNeeds(state.commercial_use, state.over_100m_users, state.attribution_ok))
    fields.update(extra)
    return WizardRequest(**fields)


@dataclass(frozen=True)
class Source:
    what: str
    url: str
    tier: str


@dataclass(frozen=True)
class LanguageEvidence:
    language: str
    text: str
    found: bool


@dataclass(frozen=True)
class DecisionSummary:
    question: tuple[tuple[str, str], ...]  # (what, answer) as the person gave it
    choice: Candidate | None
    runner_up: Candidate | None
    choice_note: str  # how the choice was made (the person's pick or the top rank)
    why: tuple[str, ...]
    what_would_change: tuple[str, ...]
    memory_fit: str
    monthly_cost: str
    languages: tuple[LanguageEvidence, ...]
    sources: tuple[Source, ...]
    excluded_count: int
    build_id: str


def _question(state: DecisionState, result: RecommendResult, catalog: DecisionCatalog
              ) -> tuple[tuple[str, str], ...]:
    gpu = catalog.gpus.get(state.gpu or "")
    hardware = ("API only (no GPUs)" if state.deployment == "api" else
                f"{state.gpu_count} × {gpu.name if gpu else state.gpu or 'no GPU given'}")
    license_needs = [("commercial use" if state.commercial_use else "non-commercial use"),
                     ("over 100M monthly users" if state.over_100m_users else "under 100M monthly users"),
                     ("attribution acceptable" if state.attribution_ok else "no attribution")]
    return (
        ("Use case", ", ".join(result.use_case_labels)),
        ("Languages", ", ".join(state.languages) or "not given"),
        ("Deployment", state.deployment),
        ("Hardware", hardware),
        ("Context and load", f"{state.context_tokens:,} tokens, {state.concurrent_sequences} sequence(s) at once"),
        ("Volume", f"{state.input_mtok:g}M input + {state.output_mtok:g}M output tokens per month"),
        ("Budget", "not given" if state.budget_usd_per_month is None
         else f"${state.budget_usd_per_month:,.0f} per month"),
        ("GPU price", "not given" if state.gpu_usd_per_hour is None else f"${state.gpu_usd_per_hour:g} per GPU-hour"),
        ("License needs", "; ".join(license_needs)),
    )


def _pick(state: DecisionState, ranked: tuple[Candidate, ...]
          ) -> tuple[Candidate | None, Candidate | None, str]:
    by_id = {c.model_id: c for c in ranked}
    chosen = next((by_id[m] for m in state.models if m in by_id), None)
    if chosen is None:
        chosen = ranked[0] if ranked else None
        note = "the wizard's top-ranked model"
        if state.models:
            note += (" (none of the models you picked meets every requirement: "
                     + ", ".join(state.models) + ")")
    else:
        note = "your pick" + ("" if chosen.rank == 1 else f" (ranked {chosen.rank} by the wizard)")
    others = [m for m in state.models if m in by_id and chosen is not None and m != chosen.model_id]
    runner = by_id[others[0]] if others else next((c for c in ranked if chosen and c.model_id != chosen.model_id),
                                                  None)
    return chosen, runner, note


def _score_text(c: Candidate) -> str:
    score = "not scored" if c.score is None else f"score {c.score:.3f}"
    return f"{score}, coverage {c.coverage:.0%}, confidence {c.confidence}"


def _why(choice: Candidate, runner: Candidate | None) -> list[str]:
    lines = [f"{choice.display_name}: rank {choice.rank}, {_score_text(choice)}."]
    other_terms = {t.category: t for t in runner.terms} if runner else {}
    for term in sorted(choice.terms, key=lambda t: -(t.contribution or 0.0)):
        if term.value is None:
            lines.append(f"{term.category} (weight {term.weight:.0%}): no data — left out, not counted as zero.")
            continue
        versus = ""
        other = other_terms.get(term.category)
        if runner is not None and other is not None:
            versus = (f" vs {runner.display_name} "
                      + ("no data" if other.value is None else f"{other.value:.2f}"))
        lines.append(f"{term.category} (weight {term.weight:.0%}): {term.value:.2f}{versus}.")
    if choice.confirmed:
        lines.append("Confirmed: " + "; ".join(choice.confirmed) + ".")
    for u in choice.unverified:
        lines.append(f"Cannot confirm {u.requirement}: {u.detail}.")
    return lines


def _what_would_change(result: RecommendResult, choice: Candidate,
                       runner: Candidate | None) -> list[str]:
    lines = [f"If {s.label}: {s.text}." for s in result.sensitivity]
    if runner is not None and choice.score is not None and runner.score is not None:
        gap = choice.score - runner.score
        lines.append(f"{runner.display_name} is {abs(gap):.3f} {'behind' if gap >= 0 else 'ahead'} on score; a "
                     "new benchmark result or price that moves either by more than that changes the order.")
    missing = [t.category for t in choice.terms if t.value is None]
    if missing:
        lines.append("Data not in the catalog yet for " + ", ".join(missing)
                     + "; once added it enters the score and can change the answer.")
    if choice.unverified:
        lines.append("Checking what cannot be confirmed (" + ", ".join(sorted({u.requirement for u in
                                                                              choice.unverified}))
                     + ") could exclude this model.")
    return lines


def _memory_fit(c: Candidate) -> str:
    d = c.deployment
    if d.kind == "api":
        return f"Not self-hosted: {d.text}"
    used = "" if d.total_per_gpu_gb is None else f" ({d.total_per_gpu_gb:,.1f} GB per GPU)"
    return f"{d.memory_text or d.text}{used}"


def _monthly_cost(c: Candidate) -> str:
    d = c.deployment
    cost = ("unknown" if d.usd_per_month is None else f"${d.usd_per_month:,.0f} per month")
    text = f"{cost} — {d.cost_text}" if d.cost_text else cost
    if c.alternative is not None:
        alt = ("unknown cost" if c.alternative.usd_per_month is None
               else f"${c.alternative.usd_per_month:,.0f} per month")
        text += f". Alternative: {c.alternative.text} ({alt})"
    return text


def _multilingual_scores_by_model(catalog: DecisionCatalog) -> dict[str, list[tuple[int, ScoreRow]]]:
    """Each model's score rows on a multilingual benchmark, with their position in the catalog's rows."""
    out: dict[str, list[tuple[int, ScoreRow]]] = {}
    for position, row in enumerate(catalog.scores):
        bench = catalog.benchmarks.get(row.benchmark_id)
        if bench is not None and bench.category == MULTILINGUAL_CATEGORY:
            out.setdefault(row.model_id, []).append((position, row))
    return out


def language_evidence(catalog: DecisionCatalog, languages: tuple[str, ...],
                      model_ids: tuple[str, ...]) -> tuple[LanguageEvidence, ...]:
    """Per-language benchmark results for the models: a multilingual score row whose setting or benchmark names the
    language (or its ISO code). Without one the answer says plainly that there is no evidence."""
    if not languages:
        return ()
    out: list[LanguageEvidence] = []
    # The listed models' multilingual rows only, in catalog order: the wizard asks on every rerun, and a pass over
    # every score row of a 5,000-model catalog (900,000 rows) was most of its warm rerun.
    by_model = catalog.derived(("multilingual_scores_by_model",), lambda: _multilingual_scores_by_model(catalog))
    listed = sorted(pair for model_id in dict.fromkeys(model_ids) for pair in by_model.get(model_id, ()))
    for lang in languages:
        code = code_of(lang)
        patterns = [rf"\b{re.escape(lang)}\b"] + ([rf"\b{re.escape(code)}\b"] if code else [])
        hits = []
        for _, row in listed:
            bench = catalog.benchmarks[row.benchmark_id]
            text = f"{bench.name} {row.setting or ''}"
            if any(re.search(p, text, re.IGNORECASE) for p in patterns):
                hits.append(f"{catalog.models[row.model_id].display_name} {bench.name} {row.setting or ''} "
                            f"{row.value:g}".strip())
        if hits:
            out.append(LanguageEvidence(lang, f"{lang}: " + "; ".join(hits), True))
        else:
            out.append(LanguageEvidence(lang, (
                f"No evidence for {lang}: the catalog has no {lang} benchmark result for these models. The "
                f"multilingual scores are averages over other languages and say nothing about {lang}; run your own "
                f"{lang} eval set (Your evals) before deciding."), False))
    return tuple(out)


def _sources(catalog: DecisionCatalog, candidates: list[Candidate]) -> list[Source]:
    seen: set[tuple[str, str]] = set()
    out: list[Source] = []

    def add(what: str, url: str | None, tier: str) -> None:
        if url and (what, url) not in seen:
            seen.add((what, url))
            out.append(Source(what, url, tier))

    for c in candidates:
        model = catalog.models.get(c.model_id)
        if model is not None:
            add(f"{c.display_name}: model card", model.source_url, CATALOG_RULE_TIER)
            lic = catalog.licenses.get(model.license_id or "")
            if lic is not None:
                add(f"{c.display_name}: license {lic.name}", lic.source_url or lic.url, CATALOG_RULE_TIER)
        for term in c.terms:
            for e in term.evidence:
                where = f" ({e.source_location})" if e.source_location else ""
                add(f"{c.display_name}: {e.name} {e.value:g}{where}", e.source_url, e.provenance)
        for d in (c.deployment, c.alternative):
            if d is not None and d.price_source_url:
                add(f"{c.display_name}: price {d.provider or ''} {d.provider_model or ''} since "
                    f"{d.price_effective_from or '?'}".replace("  ", " "), d.price_source_url, CATALOG_RULE_TIER)
    return out


def build_summary(state: DecisionState, result: RecommendResult,
                  catalog: DecisionCatalog) -> DecisionSummary:
    ranked = result.shortlist
    choice, runner, note = _pick(state, ranked)
    question = _question(state, result, catalog)
    if choice is None:
        return DecisionSummary(question, None, None, "no model meets every hard requirement", (
            "No model meets every hard requirement; the wizard lists each model's reason.",), tuple(
            f"If {s.label}: {s.text}." for s in result.sensitivity), "—", "—",
            language_evidence(catalog, state.languages, ()), (), len(result.excluded), result.build_id)
    pair = [choice] + ([runner] if runner else [])
    return DecisionSummary(
        question=question, choice=choice, runner_up=runner, choice_note=note, why=tuple(_why(choice, runner)),
        what_would_change=tuple(_what_would_change(result, choice, runner)), memory_fit=_memory_fit(choice),
        monthly_cost=_monthly_cost(choice),
        languages=language_evidence(catalog, state.languages, tuple(c.model_id for c in pair)),
        sources=tuple(_sources(catalog, pair)), excluded_count=len(result.excluded), build_id=result.build_id)


def summary_sections(summary: DecisionSummary) -> list[tuple[str, list[str]]]:
    """The summary as (heading, lines): the page, the Markdown and the PDF all print these."""
    c, r = summary.choice, summary.runner_up
    sections: list[tuple[str, list[str]]] = [
        ("Your question", [f"{what}: {answer}" for what, answer in summary.question])]
    if c is None:
        sections.append(("Choice", ["No model meets every hard requirement."]))
    else:
        sections.append(("Choice", [f"{c.display_name} ({c.model_id}) — {summary.choice_note}; {_score_text(c)}."]))
        sections.append(("Runner-up", [f"{r.display_name} ({r.model_id}) — rank {r.rank}; {_score_text(r)}."]
                         if r else ["No other model meets every requirement."]))
    sections += [("Why", list(summary.why)), ("What would change the answer", list(summary.what_would_change)),
                 ("Memory fit", [summary.memory_fit]), ("Monthly cost", [summary.monthly_cost])]
    if summary.languages:
        sections.append(("Language evidence", [e.text for e in summary.languages]))
    sections.append((SOURCES_HEADING, [f"[{s.tier}] {s.what}: {s.url}" for s in summary.sources]
                     or ["No sources: no model was chosen."]))
    return sections


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>{}()#|~!])")


def markdown_escape(text: str) -> str:
    """Escape Markdown so catalog text never becomes a link, an image or formatting in a Markdown viewer."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _autolink(url: str) -> str:
    return url.replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")


def to_markdown(summary: DecisionSummary, link: str | None = None) -> str:
    title = summary.choice.display_name if summary.choice else "no model fits"
    lines = [f"# Decision summary: {markdown_escape(title)}", ""]
    if link:
        lines += [f"Reopen: <{link}>", ""]
    for heading, items in summary_sections(summary):
        if heading == SOURCES_HEADING and summary.sources:
            # The URL stays whole (an autolink); only the catalog's text around it is escaped.
            items_md = [f"- \\[{markdown_escape(s.tier)}\\] {markdown_escape(s.what)}: <{_autolink(s.url)}>"
                        for s in summary.sources]
        else:
            items_md = [f"- {markdown_escape(item)}" for item in items]
        lines += [f"## {heading}", ""] + items_md + [""]
    lines.append(f"Catalog build {markdown_escape(summary.build_id)}; {summary.excluded_count} model(s) excluded by "
                 "a hard requirement (the wizard lists why).")
    return "\n".join(lines) + "\n"


def to_pdf(summary: DecisionSummary, link: str | None = None) -> bytes:
    from modelmatch.decision.pdf_text import text_pdf

    title = "Decision summary: " + (summary.choice.display_name if summary.choice else "no model fits")
    blocks: list[tuple[str, str]] = []
    if link:
        blocks.append(("small", f"Reopen: {link}"))
    for heading, items in summary_sections(summary):
        blocks.append(("heading", heading))
        blocks += [("text", f"- {item}") for item in items]
    blocks.append(("small", f"Catalog build {summary.build_id}; {summary.excluded_count} model(s) excluded by a "
                            "hard requirement."))
    return text_pdf(title, blocks)
