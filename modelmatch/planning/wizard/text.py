"""The recommendation as CLI text, and the command line that reproduces a request (the page shows it)."""

from __future__ import annotations

import textwrap

from modelmatch import settings
from modelmatch.planning.weights import PRECISION_QUALITY_ORDER
from modelmatch.planning.wizard.request import WizardRequest
from modelmatch.planning.wizard.results import RecommendResult


def format_recommendation_text(result: RecommendResult) -> str:
    lines = [f"Use case: {', '.join(result.use_case_labels)}",
             "Weights: " + ", ".join(f"{c} {w:.0%}" for c, w in result.weights), result.ranking_rule, ""]
    lines += [f"Assumption: {a}" for a in result.assumptions]
    if not result.shortlist:
        lines.append("No model meets every hard requirement; see why not below.")
    for c in result.shortlist:
        score = "no data" if c.score is None else f"{c.score:.3f}"
        lines.append(f"{c.rank}. {c.display_name} ({c.model_id}) score {score}, coverage {c.coverage:.0%}, "
                     f"confidence {c.confidence}")
        lines.append(f"   {c.deployment.text}")
        if c.deployment.usd_per_month is not None:
            lines.append(f"   cost: {c.deployment.cost_text}")
        for t in c.terms:
            value = "—" if t.value is None else f"{t.value:.2f}"
            # The whole explanation, wrapped: a cut sentence reads as a different claim.
            head = f"   {t.category:<13} weight {t.weight:5.0%} value {value:>5}  "
            lines += textwrap.wrap(t.how, width=max(len(head) + 40, 118), initial_indent=head,
                                   subsequent_indent=" " * len(head), break_on_hyphens=False) or [head.rstrip()]
        lines += [f"   unverified: {u}" for u in c.unverified]
    if result.other_eligible:
        lines.append(f"... and {len(result.other_eligible)} more eligible")
    lines += ["", f"Excluded ({len(result.excluded)}):"]
    lines += [f"  {e.display_name}: {'; '.join(e.reasons)}" for e in result.excluded]
    if result.sensitivity:
        lines += ["", "Sensitivity:"] + [f"  {s.label}: {s.text}" for s in result.sensitivity]
    return "\n".join(lines)


def recommend_cli_command(request: WizardRequest) -> str:
    """The `python -m modelmatch recommend` command that prints this request's result (the page shows it)."""
    import shlex

    args = ["python", "-m", "modelmatch", "recommend"]
    for uc in request.use_cases:
        args += ["--use-case", uc]
    for lang in request.languages:
        args += ["--language", lang]
    args += ["--deployment", request.deployment, "--context", str(request.context_tokens)]
    if request.deployment != "api":
        if request.custom_gpu_memory_gb is not None:
            args += ["--gpu-memory-gb", f"{request.custom_gpu_memory_gb:g}"]
        elif request.gpu:
            args += ["--gpu", request.gpu]
        args += ["--gpus", str(request.gpu_count)]
        for name, value in (("--gpu-bandwidth-gbps", request.gpu_bandwidth_gbps),
                            ("--gpu-usd-per-hour", request.gpu_usd_per_hour)):
            if value is not None:
                args += [name, f"{value:g}"]
    if request.concurrent_sequences != 1:
        args += ["--concurrency", str(request.concurrent_sequences)]
    u = request.usage
    for name, value in (("--input-mtok", u.input_mtok_per_month), ("--output-mtok", u.output_mtok_per_month),
                        ("--cached-share", u.cached_input_share),
                        ("--thinking-ratio", u.thinking_tokens_per_output_token)):
        if value:
            args += [name, f"{value:g}"]
    for name, value in (("--budget-usd", request.budget_usd_per_month),
                        ("--min-tokens-per-s", request.min_tokens_per_s)):
        if value is not None:
            args += [name, f"{value:g}"]
    lic = request.license
    args += (["--non-commercial"] if not lic.commercial_use else []) + \
        (["--over-100m-users"] if lic.over_100m_monthly_users else []) + \
        (["--no-attribution"] if not lic.attribution_acceptable else [])
    if request.score_mode:
        args += ["--score-mode", request.score_mode]
    if request.needs_image_input:
        args.append("--needs-image")
    if request.include_base_models:
        args.append("--include-base")
    if tuple(request.precisions) != PRECISION_QUALITY_ORDER:
        for p in request.precisions:
            args += ["--precision", p]
    if request.kv_dtype != "bf16":
        args += ["--kv-dtype", request.kv_dtype]
    if request.gpu_memory_utilization != settings.planner_gpu_memory_utilization():
        args += ["--utilization", f"{request.gpu_memory_utilization:g}"]
    if request.runtime_reserve_gb != settings.planner_runtime_reserve_gb():
        args += ["--reserve-gb", f"{request.runtime_reserve_gb:g}"]
    if request.top_n != 10:
        args += ["--top", str(request.top_n)]
    return shlex.join(args + ["--json"])
