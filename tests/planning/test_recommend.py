"""The recommendation wizard: hard constraints, the transparent score, ordering, missing data, sensitivity.

Scenario tests assert the constraints and the ordering logic on the real catalog, never a hard-coded list of
models, so they hold while maintainers add data.
"""

from __future__ import annotations

import csv
import dataclasses

import pytest

from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.architecture import PlanInputError
from modelmatch.planning.weights import PRECISION_QUALITY_ORDER
from modelmatch.planning.cost import api_cost, current_prices
from modelmatch.planning.fit import DOES_NOT_FIT, FITS, UNKNOWN, memory_plan
from modelmatch.planning.plan_text import to_jsonable
from modelmatch.planning.records import load_decision_catalog
from modelmatch.planning.request import UsageProfile, resolve_gpu
from modelmatch.planning.wizard.eligibility import mau_thresholds
from modelmatch.planning.wizard.ranking import rank, rank_order, ranking_key
from modelmatch.planning.wizard.recommend import recommend
from modelmatch.planning.wizard.request import LicenseNeeds, WizardRequest, use_cases
from modelmatch.planning.wizard.text import format_recommendation_text, recommend_cli_command
from tests.conftest import REPO_ROOT

ISSUE_USE_CASES = {"math-science-reasoning", "multilingual-enterprise", "on-device-edge", "cost-optimized-scale",
                   "multimodal-agents", "codebase-analysis", "customer-support", "fine-tuning-base",
                   "multilingual-rag", "general-chat"}
AS_OF = "2026-01-01"


@pytest.fixture(scope="module")
def real(real_catalog):
    return load_decision_catalog(CatalogReader(real_catalog))


def everything(result) -> list:
    assert not result.other_eligible, "use a top_n large enough to see every eligible model"
    return list(result.shortlist)


def assert_ranked(candidates) -> None:
    keys = [ranking_key(c) for c in candidates]
    assert keys == sorted(keys)
    assert [c.rank for c in candidates] == list(range(1, len(candidates) + 1))
    scored = [c for c in candidates if c.score is not None and c.coverage >= 0.5]
    assert [c.score for c in scored] == sorted((c.score for c in scored), reverse=True)


# ---------------------------------------------------------------------------------------------------------------
# The weights table


def test_use_case_weights_cover_the_articles_use_cases_and_say_why():
    rows = list(csv.DictReader(open(REPO_ROOT / "data" / "use_case_weights" / "use_case_weights.csv",
                                    encoding="utf-8")))
    assert {r["use_case"] for r in rows} >= ISSUE_USE_CASES
    totals: dict[str, float] = {}
    for r in rows:
        totals[r["use_case"]] = totals.get(r["use_case"], 0.0) + float(r["weight"])
        assert len(r["rationale"]) > 30, r
        assert "seeds/" in r["seed_reference"], r
    assert all(abs(t - 1.0) < 1e-9 for t in totals.values()), totals


def test_catalog_loads_the_weights(real):
    cases = use_cases(real)
    assert set(cases) >= ISSUE_USE_CASES
    assert dict((c, w) for c, w, _ in cases["math-science-reasoning"].weights)["math"] > 0


# ---------------------------------------------------------------------------------------------------------------
# Scenario: a Thai / Vietnamese customer-support bot on one 80 GB GPU, commercial use


@pytest.fixture(scope="module")
def thai_bot(real):
    request = WizardRequest(("customer-support",), ("Thai", "Vietnamese"), "self-host", gpu="h100-sxm", gpu_count=1,
                            context_tokens=8192, usage=UsageProfile(50, 10), gpu_usd_per_hour=2.5,
                            license=LicenseNeeds(commercial_use=True), top_n=200, prices_as_of=AS_OF,
                            gpu_memory_utilization=0.9, runtime_reserve_gb=2.0)
    return request, recommend(request, real)


def test_thai_bot_every_eligible_model_meets_the_hard_constraints(real, thai_bot):
    _, result = thai_bot
    eligible = everything(result)
    assert eligible, "someone must be able to run a support bot on an 80 GB GPU"
    for c in eligible:
        model = real.models[c.model_id]
        assert model.open_weights and model.variant != "base"
        lic = real.licenses.get(model.license_id)
        assert lic is None or lic.commercial_use != "no"
        assert model.context_length is None or model.context_length >= 8192
        assert c.deployment.kind == "self-host" and c.deployment.gpus_per_replica == 1
        if c.deployment.memory_verdict == FITS:
            assert c.deployment.total_per_gpu_gb <= 80
        else:
            assert c.deployment.memory_verdict == UNKNOWN
            assert any(u.requirement == "fit" for u in c.unverified)


def test_thai_bot_exclusions_give_reasons(real, thai_bot):
    _, result = thai_bot
    reasons = {e.model_id: " ".join(e.reasons) for e in result.excluded}
    assert all(reasons.values())
    for model in real.models.values():
        if not model.open_weights:
            assert "API-only" in reasons[model.model_id]
    assert "does not fit 1 × NVIDIA H100 SXM 80GB" in reasons["deepseek-ai/DeepSeek-V3"]
    assert len(result.excluded) + len(result.shortlist) == len(real.models)


def test_thai_bot_precision_is_the_best_that_fits(real, thai_bot):
    request, result = thai_bot
    gpu = resolve_gpu(real, "h100-sxm")
    for c in everything(result):
        model, arch = real.models[c.model_id], real.architectures.get(c.model_id)
        better = PRECISION_QUALITY_ORDER[:PRECISION_QUALITY_ORDER.index(c.deployment.precision)]
        for precision in better:
            mp = memory_plan(model, arch, precision, "bf16", 8192, 1, gpu, 1, 0.9, 2.0)
            assert mp.verdict == DOES_NOT_FIT, (c.model_id, precision)


def test_thai_bot_languages_are_confirmed_or_flagged(real, thai_bot):
    _, result = thai_bot
    for c in everything(result):
        note = real.models[c.model_id].languages or ""
        for lang in ("Thai", "Vietnamese"):
            named = lang.lower() in note.lower()
            flagged = any(u.requirement == "language" and u.detail.startswith(lang) for u in c.unverified)
            assert named != flagged, (c.model_id, lang)
    qwen = next(c for c in result.shortlist if c.model_id == "Qwen/Qwen2.5-7B-Instruct")
    assert not any(u.requirement == "language" for u in qwen.unverified)


def test_thai_bot_ordering_and_score_arithmetic(thai_bot):
    _, result = thai_bot
    candidates = everything(result)
    assert_ranked(candidates)
    for c in candidates:
        with_data = [t for t in c.terms if t.value is not None]
        if c.score is not None:
            weight_with_data = sum(t.weight for t in with_data)
            assert c.score == pytest.approx(sum(t.weight * t.value for t in with_data) / weight_with_data)
        assert c.coverage == pytest.approx(sum(t.weight for t in with_data) / sum(t.weight for t in c.terms))
        for t in c.terms:
            for e in t.evidence:
                assert e.normalized == pytest.approx((e.value - e.catalog_lowest) / (e.catalog_highest -
                                                                                     e.catalog_lowest))
            if t.evidence:
                assert t.value == pytest.approx(sum(e.normalized for e in t.evidence) / len(t.evidence))


def test_missing_data_is_said_and_lowers_coverage_never_zero(thai_bot):
    _, result = thai_bot
    gaps = [(c, t) for c in result.shortlist for t in c.terms if t.value is None]
    assert gaps, "the real catalog has models without some category"
    for c, t in gaps:
        assert t.contribution is None and "left out, not zero" in t.how
        assert c.coverage < 1 and any(m.startswith(t.category) for m in c.missing)
        assert c.confidence != "high"


def test_thai_bot_with_user_bandwidth_ranks_speed(real, thai_bot):
    request, _ = thai_bot
    result = recommend(dataclasses.replace(request, gpu_bandwidth_gbps=3350, with_sensitivity=False), real)
    speeds = [c.deployment.tokens_per_s_per_sequence for c in result.shortlist
              if c.deployment.tokens_per_s_per_sequence]
    assert speeds
    fastest = max(speeds)
    for c in result.shortlist:
        speed = next(t for t in c.terms if t.category == "speed")
        if c.deployment.tokens_per_s_per_sequence:
            assert speed.value == pytest.approx(c.deployment.tokens_per_s_per_sequence / fastest)
    assert any("your input" in a for a in result.assumptions)


def test_sensitivity_more_gpus_never_removes_a_model(thai_bot):
    _, result = thai_bot
    doubled = next(s for s in result.sensitivity if s.label.startswith("2 × NVIDIA H100 SXM 80GB"))
    assert doubled.removed == () and doubled.eligible >= len(result.shortlist)
    smaller = next(s for s in result.sensitivity if "NVIDIA L4" in s.label)
    assert smaller.added == () and smaller.eligible <= len(result.shortlist)


def test_each_what_if_names_the_models_it_adds_and_drops_in_ranked_order(real, thai_bot):
    """added: the what-if's ranked models that the answer does not rank, in the what-if's order; removed: the
    answer's ranked models that the what-if does not rank, in the answer's order."""
    request, result = thai_bot
    answer = [c.model_id for c in result.shortlist] + list(result.other_eligible)
    changes = 0
    for case in result.sensitivity:
        if case.label.startswith("2 × "):
            changed = dataclasses.replace(request, gpu_count=2 * request.gpu_count)
        else:
            gpu = next(g for g in real.gpus.values() if case.label == f"1 × {g.name} instead")
            changed = dataclasses.replace(request, gpu=gpu.gpu_id, gpu_bandwidth_gbps=None)
        whatif = recommend(dataclasses.replace(changed, with_sensitivity=False), real)
        ranked = [c.model_id for c in whatif.shortlist] + list(whatif.other_eligible)
        assert case.eligible == len(ranked)
        assert case.added == tuple(m for m in ranked if m not in answer)
        assert case.removed == tuple(m for m in answer if m not in ranked)
        changes += bool(case.added) + bool(case.removed)
    assert changes >= 3  # the what-ifs do change the answer: the check compares something


# ---------------------------------------------------------------------------------------------------------------
# Scenario: a math tutor with the largest reasoning budget, through an API


@pytest.fixture(scope="module")
def math_tutor(real):
    request = WizardRequest(("math-science-reasoning",), (), "api", context_tokens=16384,
                            usage=UsageProfile(20, 5, 0.2, 8.0), top_n=200, prices_as_of=AS_OF)
    return request, recommend(request, real)


def test_math_tutor_only_models_with_api_prices(real, math_tutor):
    _, result = math_tutor
    for c in everything(result):
        assert c.deployment.kind == "api" and c.deployment.usd_per_month is not None
        assert current_prices(real.prices.get(c.model_id, ()), AS_OF)
    reasons = {e.model_id: " ".join(e.reasons) for e in result.excluded}
    assert "no API price" in reasons["deepseek-ai/DeepSeek-V3"]


def test_math_tutor_costs_include_thinking_tokens(real, math_tutor):
    request, result = math_tutor
    for c in everything(result):
        model = real.models[c.model_id]
        row = next(p for p in current_prices(real.prices[c.model_id], AS_OF)
                   if p.provider_model == c.deployment.provider_model and p.tier == c.deployment.tier)
        cached_price = row.cached_input_usd_per_mtok if row.cached_input_usd_per_mtok is not None \
            else row.input_usd_per_mtok
        output = 5 * (1 + 8.0) if model.reasoning in ("yes", "hybrid") else 5
        expected = 16 * row.input_usd_per_mtok + 4 * cached_price + output * row.output_usd_per_mtok
        assert c.deployment.usd_per_month == pytest.approx(expected), c.model_id
        assert c.deployment.usd_per_month == pytest.approx(api_cost(row, request.usage, model).usd_per_month)


def test_math_tutor_ranking_follows_the_math_weights(math_tutor):
    _, result = math_tutor
    candidates = everything(result)
    assert_ranked(candidates)
    top = candidates[0]
    math_term = next(t for t in top.terms if t.category == "math")
    assert math_term.weight == max(t.weight for t in top.terms)
    assert math_term.value is not None and math_term.evidence


def test_math_tutor_budget_excludes_with_a_reason_and_doubling_only_adds(real, math_tutor):
    request, result = math_tutor
    costs = sorted(c.deployment.usd_per_month for c in result.shortlist)
    budget = costs[len(costs) // 2]
    tight = recommend(dataclasses.replace(request, budget_usd_per_month=budget), real)
    for c in tight.shortlist:
        assert c.deployment.usd_per_month <= budget
    over = [e for e in tight.excluded if any("over your" in r for r in e.reasons)]
    assert over and len(over) == sum(1 for c in costs if c > budget)
    doubled = next(s for s in tight.sensitivity if s.label.startswith("budget doubled"))
    assert doubled.removed == () and doubled.eligible >= len(tight.shortlist)


def test_more_thinking_costs_more_only_for_thinking_models(real, math_tutor):
    request, result = math_tutor
    more = recommend(dataclasses.replace(request, usage=UsageProfile(20, 5, 0.2, 16.0), with_sensitivity=False), real)
    before = {c.model_id: c.deployment.usd_per_month for c in result.shortlist}
    for c in more.shortlist:
        if real.models[c.model_id].thinks:
            assert c.deployment.usd_per_month > before[c.model_id]
        else:
            assert c.deployment.usd_per_month == pytest.approx(before[c.model_id])


def test_prices_in_force_filters_by_model_before_choosing_the_latest_row_per_offering_in_the_wizard(real, math_tutor):
    """The bug: the wizard priced DeepSeek-R1 at deepseek-reasoner's old R1 price after the name moved to V3.1."""
    newer = [p for p in real.prices.get("deepseek-ai/DeepSeek-V3.1", ())
             if p.provider_model == "deepseek-reasoner" and p.effective_from <= AS_OF]
    assert newer, "the real catalog records deepseek-reasoner serving DeepSeek-V3.1"
    assert current_prices(real.prices["deepseek-ai/DeepSeek-R1"], AS_OF) == []
    assert [p.output_usd_per_mtok for p in current_prices(real.prices["deepseek-ai/DeepSeek-R1"], "2025-03-01")
            if p.provider_model == "deepseek-reasoner"] == [2.19]
    _, result = math_tutor  # an API-only request: R1 has no API price in force, so it is not shortlisted
    assert all(c.model_id != "deepseek-ai/DeepSeek-R1" for c in result.shortlist)


def test_quality_and_cost_use_the_same_mode(real):
    """A hybrid model ranked on non-thinking scores is billed no thinking tokens; ranked on thinking it is."""
    hybrid = next(m for m in real.models.values() if m.reasoning == "hybrid" and current_prices(
        real.prices.get(m.model_id, ()), AS_OF))
    usage = UsageProfile(20, 5, 0.2, 8.0)
    base = WizardRequest(("math-science-reasoning",), (), "api", context_tokens=16384, usage=usage, top_n=500,
                         prices_as_of=AS_OF, with_sensitivity=False)
    by_mode = {}
    for mode in ("thinking", "non-thinking"):
        result = recommend(dataclasses.replace(base, score_mode=mode), real)
        by_mode[mode] = next(c for c in result.shortlist if c.model_id == hybrid.model_id)
    assert by_mode["thinking"].deployment.usd_per_month > by_mode["non-thinking"].deployment.usd_per_month
    for mode, cand in by_mode.items():
        used = [e for t in cand.terms for e in t.evidence]
        modes = {r.mode for r in real.scores if r.model_id == hybrid.model_id
                 and (r.benchmark_id, r.value, r.source_url) in {(e.benchmark_id, e.value, e.source_url) for e in used}}
        assert modes <= {mode, "n.a."}, (mode, modes)
    with pytest.raises(PlanInputError):
        recommend(dataclasses.replace(base, score_mode="sometimes"), real)


# ---------------------------------------------------------------------------------------------------------------
# Scenario: an on-device assistant with 8 GB


@pytest.fixture(scope="module")
def on_device(real):
    request = WizardRequest(("on-device-edge",), (), "self-host", custom_gpu_memory_gb=8, context_tokens=4096,
                            license=LicenseNeeds(commercial_use=False), top_n=200, gpu_memory_utilization=0.9,
                            runtime_reserve_gb=1.0)
    return request, recommend(request, real)


def test_on_device_everything_fits_8_gb(real, on_device):
    _, result = on_device
    eligible = everything(result)
    assert eligible
    gpu = resolve_gpu(real, None, 8)
    for c in eligible:
        if c.deployment.memory_verdict == FITS:
            assert c.deployment.total_per_gpu_gb <= 8
        else:
            mp = memory_plan(real.models[c.model_id], real.architectures.get(c.model_id), c.deployment.precision,
                             "bf16", 4096, 1, gpu, 1, 0.9, 1.0)
            assert mp.verdict == UNKNOWN and mp.free_for_kv_per_gpu_gb >= 0
    for e in result.excluded:
        model = real.models[e.model_id]
        if model.open_weights and model.params_total_b and model.params_total_b > 20 and model.variant != "base":
            assert any("does not fit" in r for r in e.reasons), e


def test_on_device_ordering_and_memory_sensitivity(on_device):
    _, result = on_device
    assert_ranked(everything(result))
    doubled = next(s for s in result.sensitivity if s.label.startswith("device memory doubled"))
    assert doubled.removed == () and doubled.eligible >= len(result.shortlist)


def test_precision_restriction_is_respected(real, on_device):
    request, _ = on_device
    only_bf16 = recommend(dataclasses.replace(request, precisions=("bf16",), with_sensitivity=False), real)
    assert all(c.deployment.precision == "bf16" for c in only_bf16.shortlist)


# ---------------------------------------------------------------------------------------------------------------
# Licenses and other hard constraints


def test_mau_thresholds_are_read_from_license_conditions():
    assert mau_thresholds("more than 700 million monthly active users in the preceding month") == [700_000_000]
    assert mau_thresholds("over 100M monthly active users need a separate license") == [100_000_000]
    assert mau_thresholds("no threshold here") == []


def test_over_100m_users_excludes_a_license_with_a_100m_threshold(real):
    request = WizardRequest(("general-chat",), (), "self-host", gpu="h200-sxm", gpu_count=8, top_n=200,
                            license=LicenseNeeds(commercial_use=True, over_100m_monthly_users=True),
                            with_sensitivity=False)
    result = recommend(request, real)
    reasons = {e.model_id: " ".join(e.reasons) for e in result.excluded}
    assert "100,000,000 monthly active users" in reasons["Qwen/Qwen2-72B-Instruct"]  # Tongyi Qianwen license
    llama = next(c for c in result.shortlist if c.model_id == "meta-llama/Llama-3.1-70B-Instruct")
    assert any(u.requirement == "license" and "700,000,000" in u.detail for u in llama.unverified)


def test_attribution_not_acceptable_excludes_licenses_that_require_it(real):
    request = WizardRequest(("general-chat",), (), "self-host", gpu="h200-sxm", gpu_count=8, top_n=200,
                            license=LicenseNeeds(attribution_acceptable=False), with_sensitivity=False)
    result = recommend(request, real)
    for c in result.shortlist:
        lic = real.licenses.get(real.models[c.model_id].license_id)
        assert lic is None or lic.attribution_required is not True
    reasons = {e.model_id: " ".join(e.reasons) for e in result.excluded}
    assert "requires attribution" in reasons["Qwen/Qwen2.5-7B-Instruct"]  # Apache-2.0 keeps notices


def test_context_too_short_excludes(real):
    request = WizardRequest(("codebase-analysis",), (), "api", context_tokens=500_000, top_n=200,
                            with_sensitivity=False)
    result = recommend(request, real)
    for c in result.shortlist:
        cl = real.models[c.model_id].context_length
        assert (cl is not None and cl >= 500_000) or (cl is None and any(u.requirement == "context"
                                                                          for u in c.unverified))
    assert any("shorter than the 500,000" in " ".join(e.reasons) for e in result.excluded)


def test_latency_target_excludes_only_when_even_the_roofline_misses(real):
    request = WizardRequest(("general-chat",), (), "self-host", gpu="h200-sxm", gpu_count=1, top_n=200,
                            min_tokens_per_s=200, with_sensitivity=False, context_tokens=4096)
    result = recommend(request, real)
    for c in result.shortlist:
        if c.deployment.tokens_per_s_per_sequence is not None:
            assert c.deployment.tokens_per_s_per_sequence >= 200
    assert any("too slow for your target" in " ".join(e.reasons) for e in result.excluded)


def test_either_deployment_picks_the_cheaper_known_option(real):
    request = WizardRequest(("general-chat",), (), "either", gpu="h200-sxm", gpu_count=8, gpu_usd_per_hour=3.0,
                            usage=UsageProfile(10, 2), top_n=200, with_sensitivity=False, prices_as_of=AS_OF)
    result = recommend(request, real)
    for c in result.shortlist:
        if c.alternative is not None and c.alternative.usd_per_month is not None:
            assert c.deployment.usd_per_month <= c.alternative.usd_per_month


def test_multimodal_requires_image_input(real):
    result = recommend(WizardRequest(("multimodal-agents",), (), "api", top_n=200, with_sensitivity=False), real)
    assert any("image input is required" in a for a in result.assumptions)
    for c in result.shortlist:
        modalities = real.models[c.model_id].modalities
        assert modalities is None or "image" in modalities.split(";")


def test_base_models_only_for_fine_tuning(real):
    chat = recommend(WizardRequest(("general-chat",), (), "self-host", gpu="h200-sxm", gpu_count=8, top_n=200,
                                   with_sensitivity=False), real)
    tune = recommend(WizardRequest(("fine-tuning-base",), (), "self-host", gpu="h200-sxm", gpu_count=8, top_n=200,
                                   with_sensitivity=False), real)
    assert all(real.models[c.model_id].variant != "base" for c in chat.shortlist)
    assert any(real.models[c.model_id].variant == "base" for c in tune.shortlist)


@pytest.mark.parametrize("changes, message", [
    (dict(use_cases=()), "choose at least one use case"),
    (dict(use_cases=("astrology",)), "unknown use case 'astrology'"),
    (dict(deployment="cloud"), "deployment must be one of"),
    (dict(gpu=None), "self-hosting needs GPUs"),
    (dict(gpu_count=0), "GPU count must be at least 1"),
    (dict(context_tokens=-1), "at least 1"),
    (dict(budget_usd_per_month=-5.0), "budget must be a positive number"),
    (dict(languages=("Thai", "42")), "not a language name"),
    (dict(precisions=("int2",)), "unknown weight precision"),
    (dict(gpu="A100"), "matches 4 GPUs"),
])
def test_bad_wizard_input_gets_a_clear_message(real, changes, message):
    base = dict(use_cases=("general-chat",), deployment="self-host", gpu="h100-sxm", with_sensitivity=False)
    base.update(changes)
    with pytest.raises(PlanInputError, match=message):
        recommend(WizardRequest(**base), real)


def test_result_serialises_and_renders(thai_bot):
    request, result = thai_bot
    data = to_jsonable(result)
    assert data["shortlist"][0]["rank"] == 1 and data["excluded"]
    text = format_recommendation_text(result)
    assert "Excluded" in text and "Sensitivity" in text
    command = recommend_cli_command(request)
    assert "--use-case customer-support --language Thai --language Vietnamese" in command
    assert "--gpu h100-sxm" in command and command.endswith("--json")


def test_several_use_cases_average_their_normalised_weights(real):
    cases = use_cases(real)
    result = recommend(WizardRequest(("math-science-reasoning", "general-chat"), (), "api", top_n=5,
                                     with_sensitivity=False), real)
    expected: dict[str, float] = {}
    for uc in ("math-science-reasoning", "general-chat"):
        total = sum(w for _, w, _ in cases[uc].weights)
        for category, w, _ in cases[uc].weights:
            expected[category] = expected.get(category, 0.0) + w / total / 2
    assert dict(result.weights) == pytest.approx(expected)
    assert sum(w for _, w in result.weights) == pytest.approx(1.0)
    assert any("averaged" in a for a in result.assumptions)


def test_hybrid_model_in_thinking_mode_is_not_billed_at_the_non_thinking_tier(real):
    """Huawei Cloud prices Qwen3-32B's output per pattern (reasoning 2.695, non-reasoning 1.078 $/Mtok); the wizard
    picked the cheapest tier whatever mode it ranked the model in."""
    rows = [p for p in current_prices(real.prices.get("Qwen/Qwen3-32B", ()), "2026-12-06")
            if p.provider.startswith("Huawei Cloud")]
    assert sorted(p.output_usd_per_mtok for p in rows) == [1.078, 2.695]
    base = WizardRequest(("math-science-reasoning",), (), "api", context_tokens=16384,
                         usage=UsageProfile(20, 5, 0.2, 8.0), top_n=500, prices_as_of="2026-12-06",
                         with_sensitivity=False)
    for mode, output in (("thinking", 2.695), ("non-thinking", 1.078)):
        result = recommend(dataclasses.replace(base, score_mode=mode), real)
        qwen = next(c for c in result.shortlist if c.model_id == "Qwen/Qwen3-32B")
        row = next(p for p in rows if p.tier == qwen.deployment.tier)
        assert row.output_usd_per_mtok == output, (mode, qwen.deployment.tier)


@pytest.mark.parametrize("gpu", ["h100-sxm", "a100-pcie-40gb", "h200-nvl"])
@pytest.mark.parametrize("concurrency", [1, 16])
def test_what_ifs_on_alike_gpus_are_ranked_once_and_equal_those_ranked_apart(real, monkeypatch, gpu, concurrency):
    """Two catalog GPUs with the same memory and bandwidth that no measured run names (A100 40GB SXM and PCIe, H200
    SXM and NVL) rank the same, so the what-ifs rank them once; each what-if still equals the one ranked on its own."""
    from modelmatch.planning.wizard import sensitivity

    alike = {}
    for g in real.gpus.values():
        alike.setdefault((g.memory_gb, g.memory_bandwidth_gbps), []).append(g.gpu_id)
    pairs = [ids for ids in alike.values() if len(ids) > 1 and gpu not in ids]
    assert pairs, "the catalog has GPUs alike in memory and bandwidth; without them this test shows nothing"
    request = WizardRequest(("customer-support",), ("Thai",), "self-host", gpu=gpu, gpu_count=1,
                            concurrent_sequences=concurrency, usage=UsageProfile(500, 100), gpu_usd_per_hour=2.5,
                            top_n=200, prices_as_of=AS_OF)
    ranked_gpus = []
    real_rank = sensitivity.rank_order

    def counting_rank(req, catalog):
        ranked_gpus.append(req.gpu)
        return real_rank(req, catalog)

    monkeypatch.setattr(sensitivity, "rank_order", counting_rank)
    shared = recommend(request, dataclasses.replace(real)).sensitivity
    # recommend ranks the request itself through its own import: what is counted here are the what-ifs
    for ids in pairs:
        assert sum(ranked_gpus.count(i) for i in ids) == 1
    monkeypatch.setattr(sensitivity, "_ranks_alike", lambda catalog, changed: None)
    ranked_gpus.clear()
    apart = recommend(request, dataclasses.replace(real)).sensitivity
    assert all(ranked_gpus.count(i) == 1 for ids in pairs for i in ids)
    assert shared == apart


def test_measured_runs_without_their_rooflines_are_the_same_runs(real):
    """The wizard reads measured runs without each run's roofline comparison (compare=False): every other field is
    the planner's, so a run of the planned configuration is found alike."""
    from modelmatch.planning.speed import measured_speeds

    measured_models = [m for m in real.models.values() if real.measurements.get(m.model_id)]
    assert len(measured_models) >= 5, "the catalog has measured runs; without them this test shows nothing"
    compared = 0
    for model in measured_models:
        arch = real.architectures.get(model.model_id)
        full = measured_speeds(real, model, arch)
        lean = measured_speeds(real, model, arch, compare=False)
        assert [dataclasses.replace(s, roofline_tokens_per_s=None, measured_to_roofline_ratio=None, comparison="")
                for s in full] == list(lean)
        compared += sum(s.roofline_tokens_per_s is not None for s in full)
    assert compared, "no run had a roofline to leave out"


def test_comparable_benchmarks_are_those_every_ranked_model_has_else_the_most_common(real):
    """comparable_benchmarks from the per-category holdings (kept per catalog) against the rule written out here:
    the usable benchmarks every ranked model with a score in the category has; when they share none, the one most
    of them have (ties by id)."""
    from modelmatch.planning.wizard import quality

    rep = quality.representative_scores(real.scores, real)
    stats = quality.bench_stats(rep)
    ids = sorted(real.models)
    subsets = [ids, ids[::2], ids[1::3], ids[5:40], ids[:7], ids[:1], []]
    fallback_seen = False
    for category in sorted({b.category for b in real.benchmarks.values()}):
        benches = [b for b in quality.category_benchmarks(real, category) if quality._usable(b, stats)]
        holdings = quality.category_holdings(category, real, rep, stats)
        for subset in subsets:
            having = [held for held in ({b for b in benches if (m, b) in rep} for m in subset) if held]
            if not having:
                expected = ((), True)
            elif set.intersection(*having):
                expected = (tuple(sorted(set.intersection(*having))), True)
            else:
                counts = {b: sum(b in held for held in having) for b in benches}
                expected = ((min(counts, key=lambda b: (-counts[b], b)),), False)
                fallback_seen = True
            assert quality.comparable_benchmarks(category, subset, real, rep, stats, holdings) == expected
            assert quality.comparable_benchmarks(category, subset, real, rep, stats) == expected
    assert fallback_seen, "no subset shared no benchmark: the fallback was not tried"


def test_the_what_ifs_brief_ranking_orders_as_the_full_one(real):
    """rank_order (the what-ifs) writes no texts and, on a GPU no larger than one on which a model fit no layout,
    skips that model's walk over layouts; it must order the eligible models exactly as rank() does, each request
    ranked on its own fresh catalog."""
    shared = dataclasses.replace(real)
    largest_first = sorted(real.gpus.values(), key=lambda g: (-g.memory_gb, g.gpu_id))
    for deployment, budget in (("self-host", None), ("either", 3000.0)):
        for gpu in largest_first:
            request = WizardRequest(("customer-support",), ("Thai",), deployment, gpu=gpu.gpu_id, gpu_count=1,
                                    usage=UsageProfile(500, 100), gpu_usd_per_hour=2.5, budget_usd_per_month=budget,
                                    prices_as_of=AS_OF, with_sensitivity=False)
            brief = [m.model_id for m in rank_order(request, shared)]
            _, full, _ = rank(request, dataclasses.replace(real))
            assert brief == [c.model_id for c in full], (deployment, gpu.gpu_id)
    skips = [value[0] for key, value in shared._derived.items() if key[0] == "no_fit_up_to_gb"]
    smallest = min(g.memory_gb for g in real.gpus.values())
    assert any(up_to > smallest for up_to in skips), "no model fit nothing on a larger GPU: the skip was not tried"



def test_a_catalog_with_only_the_use_cases_scores_recommends_as_the_whole_one(real_catalog, real):
    """The command line reads only the scores of the categories its use cases weight (scores_for_use_cases): for
    every use case, alone and paired, self-hosted and through an API, the answer equals the whole catalog's."""
    weights = real.use_case_weights
    use_case_ids = sorted({w.use_case for w in weights})
    assert len(use_case_ids) >= 3
    requests = []
    for i, use_case in enumerate(use_case_ids):
        chosen = (use_case,) if i % 2 == 0 else (use_case, use_case_ids[i - 1])
        requests.append(WizardRequest(chosen, ("Thai",), "self-host", gpu="h100-sxm", gpu_count=2,
                                      usage=UsageProfile(50, 10), prices_as_of=AS_OF, top_n=100))
        requests.append(WizardRequest(chosen, (), "api", usage=UsageProfile(50, 10), prices_as_of=AS_OF, top_n=100,
                                      with_sensitivity=False))
    for request in requests:
        lean = load_decision_catalog(CatalogReader(real_catalog), scores_for_use_cases=request.use_cases)
        assert 0 < len(lean.scores) < len(real.scores)
        assert recommend(request, lean) == recommend(request, dataclasses.replace(real)), request.use_cases
