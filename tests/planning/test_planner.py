"""The planner: memory per GPU, fit and limits, roofline and measured speed, API and self-hosting cost.

Every expected number is computed by hand in the test from the catalog's numbers (or from test inputs that say so).
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from ingest.build import build
from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.architecture import Architecture, PlanInputError
from modelmatch.planning.memory import kv_cache_bytes_per_token
from modelmatch.planning.cost import HOURS_PER_MONTH, current_prices
from modelmatch.planning.fit import DOES_NOT_FIT, FITS, UNKNOWN
from modelmatch.planning.plan_text import format_plan_text, plan_cli_command, to_jsonable
from modelmatch.planning.planner import plan
from modelmatch.planning.records import GpuSpec, load_decision_catalog
from modelmatch.planning.request import PlanRequest, UsageProfile
from modelmatch.planning.speed import match_hardware, roofline
from tests.fixture_data import FIXTURE_ROWS, SRC, write_fixture_data


@pytest.fixture(scope="module")
def real(real_catalog):
    return load_decision_catalog(CatalogReader(real_catalog))


@pytest.fixture
def fixture_catalog(live_catalog):
    return load_decision_catalog(CatalogReader(live_catalog))


DSV3 = "deepseek-ai/DeepSeek-V3"
EMB_V3 = 2 * 129_280 * 7168  # DeepSeek-V3 input + output embedding matrices (catalog vocab_size x hidden_size)


def issue_example(**changes) -> PlanRequest:
    base = dict(model_id=DSV3, weights="fp8", context_tokens=32768, concurrent_sequences=8, gpu="h200-sxm",
                gpu_count=8, gpu_memory_utilization=0.9, runtime_reserve_gb=2.0)
    base.update(changes)
    return PlanRequest(**base)


def test_deepseek_v3_fp8_on_8_h200_fits_with_hand_computed_numbers(real):
    mem = plan(issue_example(), real).memory
    weights_gb = ((671e9 - EMB_V3) * 1 + EMB_V3 * 2) / 8 / 1e9
    kv_gb = 61 * (512 + 64) * 2 * 32768 * 8 / 1e9  # MLA latent is not split by tensor parallel
    overhead_gb = 141 * (1 - 0.9) + 2.0
    assert mem.weights_per_gpu_gb == pytest.approx(weights_gb)
    assert mem.kv_cache_per_gpu_gb == pytest.approx(kv_gb)
    assert mem.overhead_per_gpu_gb == pytest.approx(overhead_gb)
    assert mem.total_per_gpu_gb == pytest.approx(weights_gb + kv_gb + overhead_gb)
    assert mem.verdict == FITS and mem.margin_gb == pytest.approx(141 - (weights_gb + kv_gb + overhead_gb))
    free_tokens = math.floor((141 - overhead_gb - weights_gb) * 1e9 / 70_272)
    assert mem.max_context_tokens == free_tokens // 8
    assert mem.max_concurrent_sequences == free_tokens // 32768


def test_tensor_parallel_never_adds_gpu_memories(real):
    # Llama-3.1-70B in BF16 on 2 x 80 GB: 160 GB "in total" would hold 140 GB of weights, but each GPU holds half the
    # weights plus its own overhead, so it does not fit.
    mem = plan(PlanRequest("meta-llama/Llama-3.1-70B-Instruct", "bf16", context_tokens=4096, gpu="a100-sxm-80gb",
                           gpu_count=2, gpu_memory_utilization=0.9, runtime_reserve_gb=2.0), real).memory
    assert mem.weights_per_gpu_gb == pytest.approx(70e9 * 2 / 2 / 1e9)
    assert mem.kv_cache_per_gpu_gb == pytest.approx(2 * 80 * (8 // 2) * 128 * 2 * 4096 / 1e9)
    assert mem.total_per_gpu_gb == pytest.approx(70 + 2 * 80 * 4 * 128 * 2 * 4096 / 1e9 + 80 * 0.1 + 2)
    assert mem.verdict == DOES_NOT_FIT and mem.margin_gb < 0
    assert mem.max_context_tokens == 0 and "No room" in mem.limits_text


def test_largest_context_is_capped_by_the_models_own_window(real):
    mem = plan(issue_example(context_tokens=1024, concurrent_sequences=1, gpu="mi300x"), real).memory
    assert mem.max_context_tokens == 128_000 and "model's own limit" in mem.limits_text


def test_moe_memory_uses_total_and_speed_uses_active_parameters(real):
    result = plan(issue_example(concurrent_sequences=1), real)
    assert result.memory.weights_total_gb == pytest.approx(((671e9 - EMB_V3) + EMB_V3 * 2) / 1e9)
    active_per_gpu_gb = ((37e9 - EMB_V3) * 1 + EMB_V3 * 2) / 8 / 1e9
    kv_gb = 70_272 * 32768 / 1e9
    assert result.speed.batch1.tokens_per_s == pytest.approx(4800 / (active_per_gpu_gb + kv_gb))
    assert "37B active" in result.speed.batch1.formula


def test_moe_batch_roofline_counts_the_experts_a_batch_touches(real):
    result = plan(issue_example(), real)
    per_expert = 3 * 7168 * 2048
    distinct = 256 * (1 - (1 - 8 / 256) ** 8)  # expected distinct experts per layer for 8 sequences
    read_params = 37e9 - 58 * 8 * per_expert + 58 * distinct * per_expert  # 61 layers - 3 dense = 58 MoE layers
    weights_gb = ((read_params - EMB_V3) * 1 + EMB_V3 * 2) / 8 / 1e9
    kv_gb = 70_272 * 32768 * 8 / 1e9
    assert result.speed.at_concurrency.tokens_per_s == pytest.approx(8 * 4800 / (weights_gb + kv_gb))


def test_qwen3_30b_a3b_moe_roofline_from_test_inputs():
    # Test inputs: Qwen3-30B-A3B's catalog parameters (30B total, 3B active) with head_dim 128 given here because the
    # catalog row lacks it, on a device with a user-entered 1000 GB/s.
    from modelmatch.planning.records import ModelInfo

    model = ModelInfo("Qwen/Qwen3-30B-A3B", "Qwen3-30B-A3B", "Alibaba", "Qwen3", "instruct", "hybrid", True, 30.0, 3.0,
                      "moe", "gqa", 131072, "apache-2.0", "text", None, None)
    arch = Architecture("Qwen/Qwen3-30B-A3B", num_layers=48, num_attention_heads=32, num_kv_heads=4, head_dim=128)
    gpu = GpuSpec("custom", "device", 80, 1000.0, None, None, bandwidth_source="user-entered", user_entered=True)
    kv = kv_cache_bytes_per_token(arch, "gqa", "bf16", 1)
    line = roofline(model, arch, "bf16", kv, gpu, 1, 1024, 1)
    assert line.tokens_per_s == pytest.approx(1000 / (3e9 * 2 / 1e9 + 2 * 48 * 4 * 128 * 2 * 1024 / 1e9))
    assert "(user-entered)" in line.formula
    # With 4 sequences the experts they touch are unknown (no expert sizes): every weight is counted, and it says so.
    line4 = roofline(model, arch, "bf16", kv, gpu, 1, 1024, 4)
    assert line4.tokens_per_s == pytest.approx(4 * 1000 / (30e9 * 2 / 1e9 + 4 * 98_304 * 1024 / 1e9))
    assert "cannot be estimated" in line4.formula


def test_roofline_without_explanation_has_the_same_numbers_for_every_catalog_model_and_gpu(real):
    """The wizard's what-ifs ask for the numbers only (explain=False): the same tokens/s and bytes per step as the
    explained roofline, dense and MoE, one sequence and many, with an empty formula where there is a roofline."""
    compared = 0
    for model in real.models.values():
        arch = real.architectures.get(model.model_id)
        if arch is None or model.attention is None:
            continue
        kv = kv_cache_bytes_per_token(arch, model.attention, "bf16", 1)
        for gpu in real.gpus.values():
            for sequences in (1, 16):
                full = roofline(model, arch, "bf16", kv, gpu, 1, 8192, sequences)
                brief = roofline(model, arch, "bf16", kv, gpu, 1, 8192, sequences, explain=False)
                assert (brief.tokens_per_s, brief.tokens_per_s_per_sequence, brief.bytes_per_step_per_gpu) == \
                    (full.tokens_per_s, full.tokens_per_s_per_sequence, full.bytes_per_step_per_gpu), model.model_id
                if full.tokens_per_s is not None:
                    assert brief.formula == "" and full.formula
                    compared += 1
    assert compared > 100


def test_missing_bandwidth_says_which_gpu(real):
    gpu = GpuSpec("h100-sxm", "NVIDIA H100 SXM 80GB", 80, None, None, None)
    arch = real.architectures[DSV3]
    kv = kv_cache_bytes_per_token(arch, "mla")
    line = roofline(real.models[DSV3], arch, "fp8", kv, gpu, 8, 1024, 1)
    assert line.tokens_per_s is None
    assert "no official memory bandwidth for NVIDIA H100 SXM 80GB in the catalog" in line.formula


def without_head_dim(catalog, model_id):
    """The catalog as it is while a row lacks head_dim (another maintainer may be filling it right now)."""
    arch = dataclasses.replace(catalog.architectures[model_id], head_dim=None)
    return dataclasses.replace(catalog, architectures={**catalog.architectures, model_id: arch})


def test_unknown_kv_cache_keeps_weights_check_and_says_why(real):
    catalog = without_head_dim(real, "Qwen/Qwen2.5-7B-Instruct")
    mem = plan(PlanRequest("Qwen/Qwen2.5-7B-Instruct", "bf16", context_tokens=8192, gpu="l4"), catalog).memory
    assert mem.verdict == UNKNOWN and mem.kv_cache_per_gpu_gb is None and mem.total_per_gpu_gb is None
    assert "head_dim" in mem.verdict_text
    assert mem.free_for_kv_per_gpu_gb == pytest.approx(24 - (24 * 0.1 + 2) - 7.61 * 2)


def test_no_measurement_yet_shows_roofline_only(real):
    result = plan(issue_example(), real)
    assert result.speed.measurements == ()
    assert result.speed.measured_status == "no measurement yet for DeepSeek-V3: only the roofline is shown"


def _measured_data(tmp_path):
    """Fixture catalog plus a GPU whose name carries a product code and one measured run on it (test inputs)."""
    gpus = [{"gpu_id": "tx100", "name": "TestCorp TX100 80GB", "vendor": "TestCorp", "memory_gb": "80",
             "memory_bandwidth_gbps": "3350", "bf16_tflops_dense": "989", "form_factor": "SXM", "source_url": SRC,
             "as_of": "2024-01-01"}]
    runs = [{"run_id": "run-1", "model_id": "test-org/Alpha-7B-Instruct", "engine": "vllm", "engine_version": "0.0",
             "hardware": "TestCorp TX100 80GB", "gpu_count": "1", "dtype": "bfloat16", "weights": "official",
             "concurrency": "1", "input_len": "512", "output_len": "512", "requests_ok": "10",
             "requests_failed": "0", "output_tokens_per_s": "100", "measured_at": "2026-01-01T00:00:00Z"}]
    prices = FIXTURE_ROWS["prices"] + [
        {"provider": "TestCloud", "model_id": "test-org/Alpha-7B-Instruct", "provider_model": "alpha-chat",
         "input_usd_per_mtok": "0", "output_usd_per_mtok": "10", "effective_from": "2025-01-01",
         "source_url": SRC, "as_of": "2025-01-01"},
        {"provider": "CheapCloud", "model_id": "test-org/Alpha-7B-Instruct", "provider_model": "alpha",
         "input_usd_per_mtok": "0", "output_usd_per_mtok": "1", "effective_from": "2025-01-01",
         "source_url": SRC, "as_of": "2025-01-01"}]
    data = write_fixture_data(tmp_path / "data", {"gpus": gpus, "measurements": runs, "prices": prices})
    build(data, data / "catalog.duckdb")
    return load_decision_catalog(CatalogReader(data / "catalog.duckdb"))


ALPHA_ROOFLINE_1024 = 3350 / (7.6e9 * 2 / 1e9 + 2 * 28 * 4 * 128 * 2 * 1024 / 1e9)


def test_measured_speed_is_shown_with_its_ratio_to_the_roofline(tmp_path):
    catalog = _measured_data(tmp_path)
    result = plan(PlanRequest("test-org/Alpha-7B-Instruct", "bf16", context_tokens=1024, gpu="tx100"), catalog)
    (m,) = result.speed.measurements
    assert m.roofline_tokens_per_s == pytest.approx(ALPHA_ROOFLINE_1024)  # 512 + 512 tokens, one sequence
    assert m.measured_to_roofline_ratio == pytest.approx(100 / ALPHA_ROOFLINE_1024)
    assert "of the" in m.comparison and "roofline" in m.comparison


def test_self_host_cost_uses_the_measured_run_and_break_even(tmp_path):
    catalog = _measured_data(tmp_path)
    usage = UsageProfile(input_mtok_per_month=0, output_mtok_per_month=100)
    result = plan(PlanRequest("test-org/Alpha-7B-Instruct", "bf16", context_tokens=1024, gpu="tx100",
                              gpu_usd_per_hour=2.0, usage=usage, prices_as_of="2026-01-01"), catalog)
    sh = result.cost.self_host
    assert sh.throughput_source == "measured, run run-1" and sh.tokens_per_s == 100
    seconds = 100e6 / 100
    assert sh.replicas == math.ceil(seconds / (HOURS_PER_MONTH * 3600)) == 1
    assert sh.usd_per_month == pytest.approx(1 * 2.0 * 730)
    assert sh.usd_per_mtok_output_at_full_use == pytest.approx(2.0 / (100 * 3600) * 1e6)
    capacity_mtok = 100 * 730 * 3600 / 1e6
    by_provider = {b.provider: b for b in result.cost.break_even}
    # $10 per M output: the API bill for 100 M is $1000; one replica costs $1460, matched at 146 M (< capacity).
    assert by_provider["TestCloud"].output_mtok_per_month == pytest.approx(100 * 1460 / 1000)
    assert by_provider["TestCloud"].output_mtok_per_month < capacity_mtok
    # $1 per M output: matching $1460 needs 1460 M a month, more than one replica can make.
    assert by_provider["CheapCloud"].output_mtok_per_month is None
    assert "never gets cheaper" in by_provider["CheapCloud"].text


def test_self_host_without_price_asks_for_it(real):
    result = plan(issue_example(), real)
    assert result.cost.self_host is None and "enter your GPU rental price" in result.cost.self_host_status


def test_api_cost_with_cache_thinking_and_price_history(fixture_catalog):
    # Beta MoE thinks (reasoning "yes"): 1 thinking token per answer token doubles the billed output.
    usage = UsageProfile(10, 2, cached_input_share=0.5, thinking_tokens_per_output_token=1.0)
    now = plan(PlanRequest("test-org/Beta-MoE", "bf16", context_tokens=1024, gpu="test-gpu", usage=usage,
                           prices_as_of="2025-10-01"), fixture_catalog)
    (row,) = now.cost.api
    assert row.effective_from == "2025-09-05"
    # no cached price in the newer row: cached tokens billed at the input price, and the formula says so
    assert row.usd_per_month == pytest.approx(5 * 0.28 + 5 * 0.28 + 2 * (1 + 1) * 0.42)
    assert "billed at the input price" in row.formula
    before = plan(PlanRequest("test-org/Beta-MoE", "bf16", context_tokens=1024, gpu="test-gpu", usage=usage,
                              prices_as_of="2025-06-01"), fixture_catalog)
    assert before.cost.api[0].usd_per_month == pytest.approx(5 * 0.55 + 5 * 0.14 + 4 * 2.19)


def test_current_prices_keep_history_out_of_the_present(fixture_catalog):
    rows = fixture_catalog.prices["test-org/Beta-MoE"]
    assert [r.effective_from for r in current_prices(rows, "2025-01-19")] == []
    assert [r.effective_from for r in current_prices(rows, "2025-01-20")] == ["2025-01-20"]
    assert [r.effective_from for r in current_prices(rows, "2026-01-01")] == ["2025-09-05"]


def test_kv_curve_for_compared_models(real):
    result = plan(issue_example(compare_model_ids=("meta-llama/Llama-3.1-70B-Instruct",)), real)
    by_model = {}
    for p in result.kv_curve:
        by_model.setdefault(p.model_id, {})[p.context_tokens] = p.kv_cache_gb
    assert by_model[DSV3][32768] == pytest.approx(70_272 * 32768 / 1e9)
    assert by_model["meta-llama/Llama-3.1-70B-Instruct"][32768] == pytest.approx(327_680 * 32768 / 1e9)


def test_compared_model_without_kv_is_listed_as_missing(real):
    result = plan(issue_example(compare_model_ids=("Qwen/Qwen3-8B",)), without_head_dim(real, "Qwen/Qwen3-8B"))
    assert any("Qwen3-8B" in m and "head_dim" in m for m in result.kv_curve_missing)
    assert all(p.model_id != "Qwen/Qwen3-8B" for p in result.kv_curve)


@pytest.mark.parametrize("changes, message", [
    (dict(context_tokens=-5), "at least 1"),
    (dict(context_tokens=0), "at least 1"),
    (dict(gpu_count=0), "GPU count must be at least 1"),
    (dict(model_id="deepseek-ai/DeepSeek-V4"), "unknown model"),
    (dict(context_tokens=200_000), "impossible combination: a context of 200,000 tokens"),
    (dict(gpu_count=3), "impossible combination: 128 attention heads"),
    (dict(weights="int2"), "unknown weight precision"),
    (dict(kv_dtype="int4"), "unknown KV-cache dtype"),
    (dict(gpu="A100"), "matches 4 GPUs"),
    (dict(gpu="TPU v5e"), "unknown GPU"),
    (dict(usage=UsageProfile(cached_input_share=1.5)), "between 0 and 1"),
    (dict(usage=UsageProfile(output_mtok_per_month=-1)), "at least 0"),
    (dict(gpu_usd_per_hour=-2.0), "positive"),
    (dict(model_id="openai/gpt-4o-2024-08-06"), "API-only"),
    (dict(gpu=None, custom_gpu_memory_gb=-8), "positive number of GB"),
    (dict(custom_gpu_memory_gb=8), "not both"),
    (dict(gpu_memory_utilization=1.5), "at most 1"),
])
def test_bad_input_gets_a_clear_message(real, changes, message):
    with pytest.raises(PlanInputError, match=message):
        plan(issue_example(**changes), real)


def test_unknown_model_suggests_close_ids(real):
    with pytest.raises(PlanInputError, match="Did you mean deepseek-ai/DeepSeek-V3"):
        plan(issue_example(model_id="deepseek-ai/DeepSeek-V3x"), real)


def test_model_without_parameter_count_is_explained(real):
    assert real.models["deepseek-ai/deepseek-vl2"].params_total_b is None
    with pytest.raises(PlanInputError, match="no official total parameter count for deepseek-ai/deepseek-vl2"):
        plan(issue_example(model_id="deepseek-ai/deepseek-vl2", context_tokens=1024), real)


def test_custom_device_is_labelled_as_user_input(real):
    result = plan(PlanRequest("meta-llama/Llama-3.1-8B-Instruct", "gguf-q4_k_m", context_tokens=4096,
                              custom_gpu_memory_gb=8, gpu_bandwidth_gbps=100), real)
    assert result.gpu.user_entered and result.gpu.memory_gb == 8
    assert any("your input" in n for n in result.notes)
    assert result.memory.weights_lower_bound and "(lower bound)" in result.memory.verdict_text


def test_match_hardware_names(tmp_path):
    catalog = _measured_data(tmp_path)
    assert match_hardware(catalog, "TestCorp TX100 80GB").gpu_id == "tx100"
    assert match_hardware(catalog, "TestCorp TX200") is None


def test_result_serialises_and_text_and_cli_command(real):
    request = issue_example(usage=UsageProfile(100, 20), gpu_usd_per_hour=3.0)
    result = plan(request, real)
    data = json.loads(json.dumps(to_jsonable(result)))
    assert data["memory"]["verdict"] == "fits" and data["memory"]["kv"]["bytes_per_token"] == 70_272
    assert data["memory"]["kv"]["ok"] is True
    text = format_plan_text(result)
    assert text.splitlines()[3].startswith("Fits:") and "70,272 bytes per token" in text
    command = plan_cli_command(request)
    assert command.startswith("python -m modelmatch plan --model deepseek-ai/DeepSeek-V3 --weights fp8")
    assert "--gpu h200-sxm" in command and "--gpu-usd-per-hour 3" in command and command.endswith("--json")


def test_a_memory_plan_reads_only_the_gpus_memory_size(real):
    """The wizard reuses one memory plan for every GPU of the same size (its what-ifs try each catalog GPU): two
    boards that differ in everything but memory must give the same plan, and another size a different one."""
    from modelmatch.planning.fit import memory_plan

    model, arch = real.models[DSV3], real.architectures[DSV3]
    h200 = real.gpus["h200-sxm"]
    twin = GpuSpec("other-board", "Other board", h200.memory_gb, 1.0, 2.0, "https://example.org/other", "PCIe",
                   "user-entered", True)
    smaller = dataclasses.replace(h200, memory_gb=h200.memory_gb - 1)
    args = ("fp8", "bf16", 32768, 8)
    rest = (8, 0.9, 2.0)
    assert memory_plan(model, arch, *args, h200, *rest) == memory_plan(model, arch, *args, twin, *rest)
    assert memory_plan(model, arch, *args, h200, *rest) != memory_plan(model, arch, *args, smaller, *rest)
