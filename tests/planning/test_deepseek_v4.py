"""DeepSeek-V4 (issue 15: the planner could not size DeepSeek-V4-Flash / -Pro).

The catalog rows are DeepSeek's config.json files for deepseek-ai/DeepSeek-V4-Flash and -Pro, read as the verbatim
copies NVIDIA's AIConfigurator keeps (ai-dynamo/aiconfigurator @ ab0e2834, src/aiconfigurator/model_configs/
deepseek-ai--DeepSeek-V4-{Flash,Pro}_config.json). The parameter counter is checked against transformers'
independent DeepseekV4ForCausalLM built from the same numbers on the meta device (nothing is allocated), and the cache
against figures computed by hand for a tiny layout, following transformers' DeepseekV4 cache layers: one key=value
vector of head_dim per token in every layer's sliding window; on compressed sparse attention layers (ratio 4) one
compressed key=value and one indexer key per complete window of 4 tokens; on heavily compressed attention layers
(ratio 128) one compressed key=value per complete window of 128 tokens.
"""

from __future__ import annotations

import functools

import pytest

from modelmatch.planning.architecture import Architecture, PlanInputError
from modelmatch.planning.memory import kv_cache_bytes_per_token
from modelmatch.planning.param_count import count_params, verify
from modelmatch.planning.sequence_cache import sequence_cache

V4_ROWS = ("deepseek-ai/DeepSeek-V4-Flash", "deepseek-ai/DeepSeek-V4-Pro")

# Tiny layout by hand: 4 layers (sliding-only, CSA, HCA, CSA) plus the MTP entry, window 8, head_dim 16, indexer 8.
TINY = dict(model_id="test-org/Tiny-V4", num_layers=4, hidden_size=32, num_attention_heads=4, num_kv_heads=1,
            head_dim=16, vocab_size=100, tie_word_embeddings=False, sliding_window=8, n_routed_experts=4,
            n_shared_experts=1, experts_per_token=2, moe_intermediate_size=8, first_k_dense=0, q_lora_rank=12,
            index_n_heads=2, index_head_dim=8, index_topk=3, compress_ratios="0;4;128;4;0", o_groups=2,
            o_lora_rank=6, hc_mult=2)


@functools.lru_cache(maxsize=1)
def _catalog_rows():
    from ingest.measure.local_gpu import read_catalog
    from tests.conftest import REPO_ROOT

    return read_catalog(REPO_ROOT / "data")


def _transformers_config(arch: dict):
    from transformers import DeepseekV4Config

    ratios = [int(x) for x in str(arch["compress_ratios"]).split(";")]
    return DeepseekV4Config(
        vocab_size=int(arch["vocab_size"]), hidden_size=int(arch["hidden_size"]),
        moe_intermediate_size=int(arch["moe_intermediate_size"]), num_hidden_layers=int(arch["num_layers"]),
        num_attention_heads=int(arch["num_attention_heads"]), num_key_value_heads=int(arch["num_kv_heads"]),
        head_dim=int(arch["head_dim"]), q_lora_rank=int(arch["q_lora_rank"]),
        num_experts_per_tok=int(arch["experts_per_token"]), n_routed_experts=int(arch["n_routed_experts"]),
        n_shared_experts=int(arch["n_shared_experts"]), sliding_window=int(arch["sliding_window"]),
        o_groups=int(arch["o_groups"]), o_lora_rank=int(arch["o_lora_rank"]),
        index_n_heads=int(arch["index_n_heads"]), index_head_dim=int(arch["index_head_dim"]),
        index_topk=int(arch["index_topk"]), hc_mult=int(arch["hc_mult"]), tie_word_embeddings=False,
        compress_ratios=ratios)


def _meta_count(arch: dict) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(_transformers_config(arch))
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("model_id", V4_ROWS)
def test_the_v4_rows_count_what_transformers_builds(model_id):
    """Issue 15's counter got DeepSeek-V4-Flash 290.9B / 20.4B; the V4 layout must match transformers to 0.01 %."""
    pytest.importorskip("transformers.models.deepseek_v4")
    arch = _catalog_rows().architectures[model_id]
    assert arch["provenance"] == "official-copy"
    counted = count_params(arch, None)
    assert counted.ok, counted.missing
    assert counted.total == pytest.approx(_meta_count(arch), rel=1e-4)


def test_the_tiny_v4_layout_counts_what_transformers_builds():
    pytest.importorskip("transformers.models.deepseek_v4")
    assert count_params(TINY, None).total == _meta_count(TINY)


def test_the_v4_counts_meet_the_published_sizes():
    """DeepSeek's model card, as NVIDIA's TensorRT-LLM DeepSeek-V4 README and vLLM's recipes reproduce it, names
    DeepSeek-V4-Flash 284B total / 13B activated and DeepSeek-V4-Pro 1.6T / 49B."""
    rows = _catalog_rows().architectures
    flash = count_params(rows["deepseek-ai/DeepSeek-V4-Flash"], None)
    pro = count_params(rows["deepseek-ai/DeepSeek-V4-Pro"], None)
    assert round(flash.total / 1e9) == 284 and round((flash.active - flash.input_embedding) / 1e9) == 13
    assert round(pro.total / 1e11) / 10 == 1.6 and round((pro.active - pro.input_embedding) / 1e9) == 49
    assert verify(rows["deepseek-ai/DeepSeek-V4-Flash"],
                  {"params_total_b": 284, "params_active_b": 13}).status == "verified"


def test_the_tiny_v4_count_by_hand():
    h, heads, hd, qr, n = 32, 4, 16, 12, 2
    attention = h * qr + qr + qr * heads * hd + h * hd + hd + heads * hd * 6 + 2 * 6 * h + heads
    hca = 2 * h * hd + 128 * hd + hd
    indexer = 4 * h * 8 + 4 * 2 * 8 + 8 + qr * 2 * 8 + h * 2
    csa = 4 * h * hd + 4 * 2 * hd + hd + indexer
    hyper = 2 * ((2 + n) * n * n * h + (2 + n) * n + 3)
    layer = attention + hyper + 2 * h + (4 + 1) * 3 * h * 8 + 4 * h
    total = 2 * 100 * h + h + n * n * h + n + 1 + 4 * layer + 2 * csa + hca
    count = count_params(TINY, None)
    assert count.total == total
    assert count.active == total - 4 * (4 - 2) * 3 * h * 8


def test_a_v4_row_with_an_unknown_compress_ratio_is_not_counted():
    count = count_params({**TINY, "compress_ratios": "0;4;64;4;0"}, None)
    assert not count.ok and "compress_ratios (only 0, 4 and 128 are modelled)" in count.missing


def test_the_tiny_v4_cache_by_hand():
    """bf16, 1,000 tokens: 4 layers x 16 x 2 bytes for the last 8 tokens = 1,024 bytes; CSA: 2 layers x 16 x 2 = 64
    bytes per 4 tokens (250 windows) plus 2 x 8 x 2 = 32 indexer bytes per 4 tokens; HCA: 1 x 16 x 2 = 32 bytes per
    128 tokens (7 complete windows)."""
    cache = sequence_cache(TINY, None, "bf16")
    assert cache.ok and cache.kind == "deepseek-v4"
    assert cache.growing_bytes_per_token == 64 / 4 + 32 / 4 + 32 / 128
    assert cache.bytes_for(1_000) == 4 * 16 * 2 * 8 + 250 * 64 + 250 * 32 + 7 * 32
    assert cache.bytes_for(3) == 4 * 16 * 2 * 3  # no complete window yet
    assert cache.bytes_for(5) == 4 * 16 * 2 * 5 + 64 + 32  # one complete CSA window
    # a decode step reads the window, at most index_topk (3) CSA entries, every indexer key and every HCA entry
    assert cache.decode_read_bytes(1_000) == 4 * 16 * 2 * 8 + 3 * 64 + 250 * 32 + 7 * 32
    assert "not modelled: each compressed layer's partial-window buffer" in cache.notes[0]
    fp8 = sequence_cache(TINY, None, "fp8")
    assert fp8.bytes_for(1_000) * 2 == cache.bytes_for(1_000)


def test_the_v4_cache_is_held_whole_by_every_tensor_parallel_gpu_and_split_by_pipeline_stages():
    one, four = sequence_cache(TINY, None, "bf16", 4), sequence_cache(TINY, None, "bf16", 1)
    assert one.bytes_for(1_000) == four.bytes_for(1_000)
    staged = sequence_cache(TINY, None, "bf16", 1, 2)
    assert staged.bytes_for(1_000) == 2 * 16 * 2 * 8 + 250 * 32 + 250 * 16 + 7 * 32
    with pytest.raises(PlanInputError, match="cannot be split evenly"):
        sequence_cache(TINY, None, "bf16", 3)


def test_the_v4_per_token_figure_is_the_growing_part_and_names_the_window():
    kv = kv_cache_bytes_per_token(TINY, None, "bf16")
    assert kv.ok and kv.bytes_per_token == pytest.approx(24.25)
    assert "sliding-window key=value not in this per-token figure" in kv.formula
    assert "per 4 tokens" in kv.formula and "per 128 tokens" in kv.formula


def test_the_v4_flash_cache_from_its_row():
    """21 CSA layers x (512 + 128) x 2 bytes / 4 + 20 HCA layers x 512 x 2 / 128 = 6,720 + 160 bytes per token."""
    arch = Architecture.from_row(_catalog_rows().architectures["deepseek-ai/DeepSeek-V4-Flash"])
    cache = sequence_cache(arch, None, "bf16")
    assert cache.growing_bytes_per_token == 21 * (512 + 128) * 2 // 4 + 20 * 512 * 2 // 128 == 6_880
    assert cache.bytes_for(1_048_576) == 43 * 512 * 2 * 128 + 21 * 640 * 2 * (1_048_576 // 4) + 20 * 1024 * 8192


def test_a_v4_row_with_an_unknown_compress_ratio_says_not_modelled():
    cache = sequence_cache({**TINY, "compress_ratios": "0;4;64;4;0"}, None, "bf16")
    assert not cache.ok and cache.message.startswith("not modelled: DeepSeek-V4 layers with compress ratio 64")


def test_a_v4_row_without_the_indexer_numbers_names_them():
    cache = sequence_cache({**TINY, "index_head_dim": None}, None, "bf16")
    assert not cache.ok and cache.missing == ("index_head_dim",)


def test_a_compress_ratio_list_shorter_than_the_layers_is_refused():
    cache = sequence_cache({**TINY, "compress_ratios": "0;4"}, None, "bf16")
    assert not cache.ok and "fewer than num_layers" in cache.formula
