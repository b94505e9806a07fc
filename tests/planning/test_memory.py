"""KV-cache and weight formulas against hand-computed arithmetic, written out in each test.

Architecture numbers come from the real catalog rows where those rows are complete (Llama-3.1-70B, DeepSeek-V2,
DeepSeek-V3). Where the catalog lacks a field (Qwen2.5-7B and Qwen3-30B-A3B have no head_dim yet), the test builds
the Architecture from explicit numbers and says they are test inputs.
"""

from __future__ import annotations

import dataclasses

import pytest

from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.architecture import Architecture, PlanInputError, kv_heads_per_gpu
from modelmatch.planning.memory import kv_cache_bytes_per_token
from modelmatch.planning.weights import PRECISIONS, weight_bytes


@pytest.fixture(scope="module")
def arch_rows(real_catalog) -> dict[str, dict]:
    df = CatalogReader(real_catalog).query("SELECT * FROM architectures")
    return {r["model_id"]: r for r in df.to_dict("records")}


# Test inputs for Qwen2.5-7B-Instruct: layers and heads as in the catalog row; head_dim 128 is a test input
# because the catalog row has no head_dim yet.
QWEN25_7B = Architecture("Qwen/Qwen2.5-7B-Instruct", num_layers=28, num_attention_heads=28, num_kv_heads=4,
                         head_dim=128, hidden_size=3584, vocab_size=152064, tie_word_embeddings=False)
# Test inputs for Qwen3-30B-A3B: 48 layers, 32 query / 4 KV heads as in the catalog row; head_dim 128 is a test input.
QWEN3_30B_A3B = Architecture("Qwen/Qwen3-30B-A3B", num_layers=48, num_attention_heads=32, num_kv_heads=4,
                             head_dim=128, n_routed_experts=128, experts_per_token=8)


def test_qwen25_7b_gqa_bf16_and_fp8():
    bf16 = kv_cache_bytes_per_token(QWEN25_7B, "gqa", "bf16")
    assert bf16.bytes_per_token == 2 * 28 * 4 * 128 * 2 == 57_344
    assert "2 (K and V) × 28 layers × 4 KV heads × 128 head_dim × 2 bytes (bf16) = 57,344" in bf16.formula
    fp8 = kv_cache_bytes_per_token(QWEN25_7B, "gqa", "fp8")
    assert fp8.bytes_per_token == 2 * 28 * 4 * 128 * 1 == 28_672


def test_qwen25_7b_tensor_parallel_splits_kv_heads():
    assert kv_cache_bytes_per_token(QWEN25_7B, "gqa", "bf16", 2).bytes_per_token == 2 * 28 * (4 // 2) * 128 * 2
    assert kv_cache_bytes_per_token(QWEN25_7B, "gqa", "bf16", 4).bytes_per_token == 2 * 28 * 1 * 128 * 2
    # 28 query heads cannot be split over 8 GPUs: an impossible combination, not a silently divided number.
    with pytest.raises(PlanInputError, match="28 attention heads cannot be split evenly over 8 GPUs"):
        kv_cache_bytes_per_token(QWEN25_7B, "gqa", "bf16", 8)


def test_qwen25_7b_catalog_row_without_head_dim_says_what_is_missing(arch_rows):
    row = Architecture.from_row(arch_rows["Qwen/Qwen2.5-7B-Instruct"])
    result = kv_cache_bytes_per_token(dataclasses.replace(row, head_dim=None), "gqa")
    assert result.bytes_per_token is None and not result.ok
    assert result.missing == ("head_dim",)
    assert "Qwen/Qwen2.5-7B-Instruct" in result.formula and "no head_dim" in result.formula


def test_llama31_70b_gqa_from_the_catalog(arch_rows):
    arch = Architecture.from_row(arch_rows["meta-llama/Llama-3.1-70B-Instruct"])
    assert (arch.num_layers, arch.num_kv_heads, arch.head_dim) == (80, 8, 128)
    assert kv_cache_bytes_per_token(arch, "gqa").bytes_per_token == 2 * 80 * 8 * 128 * 2 == 327_680
    # 8 GPUs: one KV head each.
    assert kv_cache_bytes_per_token(arch, "gqa", "bf16", 8).bytes_per_token == 2 * 80 * 1 * 128 * 2
    # 16 GPUs: more GPUs than KV heads, each keeps one replicated head, so per-GPU bytes stop shrinking.
    assert kv_cache_bytes_per_token(arch, "gqa", "bf16", 16).bytes_per_token == 2 * 80 * 1 * 128 * 2


def test_deepseek_v2_mla_from_the_catalog(arch_rows):
    arch = Architecture.from_row(arch_rows["deepseek-ai/DeepSeek-V2"])
    result = kv_cache_bytes_per_token(arch, "mla")
    assert result.bytes_per_token == 60 * (512 + 64) * 2 == 69_120
    assert "60 layers × (512 kv_lora_rank + 64 qk_rope_head_dim) × 2 bytes (bf16) = 69,120" in result.formula
    assert kv_cache_bytes_per_token(arch, "mla", "fp8").bytes_per_token == 60 * (512 + 64) * 1


def test_deepseek_v3_mla_is_not_split_by_tensor_parallel(arch_rows):
    arch = Architecture.from_row(arch_rows["deepseek-ai/DeepSeek-V3"])
    one = kv_cache_bytes_per_token(arch, "mla", "bf16", 1)
    eight = kv_cache_bytes_per_token(arch, "mla", "bf16", 8)
    assert one.bytes_per_token == eight.bytes_per_token == 61 * (512 + 64) * 2 == 70_272
    assert "each of the 8 GPUs holds all of it" in eight.formula


def test_mla_is_far_smaller_than_the_same_model_counted_as_mha(arch_rows):
    # The reason MLA exists: a per-head K/V cache of DeepSeek-V3's 128 heads would be 2 x 61 x 128 x 128 x 2 bytes.
    arch = Architecture.from_row(arch_rows["deepseek-ai/DeepSeek-V3"])
    mla = kv_cache_bytes_per_token(arch, "mla").bytes_per_token
    as_mha = kv_cache_bytes_per_token(dataclasses.replace(arch, num_kv_heads=128), "mha").bytes_per_token
    assert as_mha == 2 * 61 * 128 * 128 * 2
    assert mla * 10 < as_mha


def test_qwen3_30b_a3b_moe_gqa():
    result = kv_cache_bytes_per_token(QWEN3_30B_A3B, "gqa")
    assert result.bytes_per_token == 2 * 48 * 4 * 128 * 2 == 98_304


def test_mla_missing_latent_rank_is_reported(arch_rows):
    arch = dataclasses.replace(Architecture.from_row(arch_rows["deepseek-ai/DeepSeek-V3"]), kv_lora_rank=None)
    result = kv_cache_bytes_per_token(arch, "mla")
    assert not result.ok and result.missing == ("kv_lora_rank",)


def test_mha_without_kv_field_uses_one_kv_head_per_attention_head_and_mqa_one():
    arch = Architecture("test/mha", num_layers=2, num_attention_heads=4, head_dim=8)  # test inputs
    assert kv_cache_bytes_per_token(arch, "mha").bytes_per_token == 2 * 2 * 4 * 8 * 2
    assert kv_cache_bytes_per_token(arch, "mqa").bytes_per_token == 2 * 2 * 1 * 8 * 2
    # GQA needs the KV head count: it is never taken from the query heads.
    assert kv_cache_bytes_per_token(arch, "gqa").missing == ("num_kv_heads",)


def test_missing_attention_type_and_bad_inputs():
    assert kv_cache_bytes_per_token(QWEN25_7B, None).missing == ("attention",)
    with pytest.raises(PlanInputError, match="unknown KV-cache dtype"):
        kv_cache_bytes_per_token(QWEN25_7B, "gqa", "int3")
    with pytest.raises(PlanInputError, match="at least 1"):
        kv_cache_bytes_per_token(QWEN25_7B, "gqa", "bf16", 0)
    with pytest.raises(PlanInputError, match="4 KV heads cannot be split over 3 GPUs"):
        kv_heads_per_gpu(4, None, 3)


def test_accepts_a_plain_catalog_dict_as_the_compare_page_passes_it(arch_rows):
    row = dict(arch_rows["meta-llama/Llama-3.1-70B-Instruct"])
    assert kv_cache_bytes_per_token(row, "gqa").bytes_per_token == 2 * 80 * 8 * 128 * 2


def test_weight_bytes_bf16_and_gguf():
    assert weight_bytes(7.61, "bf16").bytes == pytest.approx(7.61e9 * 2)
    assert weight_bytes(7.61, "gguf-q8_0").bytes == pytest.approx(7.61e9 * 34 / 32)  # 34 bytes per 32 weights
    q4 = weight_bytes(7.61, "gguf-q4_k_m")
    assert q4.bytes == pytest.approx(7.61e9 * 144 / 256)  # the Q4_K floor: 144 bytes per 256 weights
    assert q4.lower_bound and "lower bound" in q4.formula


def test_int4_awq_keeps_embeddings_in_16_bit(arch_rows):
    arch = Architecture.from_row(arch_rows["meta-llama/Llama-3.1-70B-Instruct"])
    emb = 2 * 128_256 * 8192  # untied input and output matrices
    expected = (70e9 - emb) * (4 + (16 + 4) / 128) / 8 + emb * 2
    assert weight_bytes(70, "int4-awq", arch).bytes == pytest.approx(expected)
    assert PRECISIONS["int4-awq"].bits_per_weight == 4.15625


def test_fp8_deepseek_v3_with_untranscribed_tying_counts_two_matrices(arch_rows):
    arch = Architecture.from_row(arch_rows["deepseek-ai/DeepSeek-V3"])
    assert arch.tie_word_embeddings is None
    emb = 2 * 129_280 * 7168
    result = weight_bytes(671, "fp8", arch)
    assert result.bytes == pytest.approx((671e9 - emb) * 1 + emb * 2)
    assert any("does not say whether" in n for n in result.notes)


def test_fp8_without_vocab_is_a_stated_lower_bound():
    result = weight_bytes(30, "fp8", QWEN3_30B_A3B)  # no vocab_size / hidden_size in these test inputs
    assert result.bytes == pytest.approx(30e9) and result.lower_bound
    assert any("lower bound" in n for n in result.notes)


def test_weight_bytes_rejects_bad_input():
    with pytest.raises(PlanInputError, match="unknown weight precision"):
        weight_bytes(7, "int2")
    with pytest.raises(PlanInputError, match="positive"):
        weight_bytes(-1, "bf16")
