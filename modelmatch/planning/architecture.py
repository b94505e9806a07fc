"""The architecture record every memory formula reads (one `architectures` row), the cache dtypes and attention
types those formulas know, how KV heads split over tensor-parallel GPUs, and the error any planning input check
raises (`PlanInputError`: its message says why the input cannot be planned)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from modelmatch.catalog.cells import clean

# Bytes for one stored KV element. fp8 caches (vLLM --kv-cache-dtype fp8) store one byte per element; their
# per-tensor scale factors are a handful of floats per layer, not per token, so they do not change bytes/token.
KV_DTYPES: dict[str, int] = {"bf16": 2, "fp16": 2, "fp8": 1}

ATTENTION_TYPES = ("mha", "gqa", "mqa", "mla")


_TEXT_FIELDS = ("model_id", "source_url", "tie_word_embeddings", "attn_output_gate", "attention_not_modelled",
                "compress_ratios")
_FLOAT_FIELDS = ("mtp_params_b",)


@dataclass(frozen=True)
class Architecture:
    """The numbers of an `architectures` row that memory depends on; None means the catalog does not have it."""

    model_id: str
    num_layers: int | None = None
    hidden_size: int | None = None
    num_attention_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    tie_word_embeddings: bool | None = None
    sliding_window: int | None = None
    n_routed_experts: int | None = None
    n_shared_experts: int | None = None
    experts_per_token: int | None = None
    moe_intermediate_size: int | None = None
    first_k_dense: int | None = None
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    q_lora_rank: int | None = None
    # Attention beyond plain MHA/GQA/MLA (see modelmatch/planning/sequence_cache.py for how each is counted).
    sliding_window_layers: int | None = None
    full_attention_interval: int | None = None
    linear_num_key_heads: int | None = None
    linear_num_value_heads: int | None = None
    linear_key_head_dim: int | None = None
    linear_value_head_dim: int | None = None
    linear_conv_kernel_dim: int | None = None
    attn_output_gate: bool | None = None
    shared_expert_intermediate_size: int | None = None
    index_n_heads: int | None = None
    index_head_dim: int | None = None
    index_topk: int | None = None
    # DeepSeek-V4 hybrid attention (per-layer compress ratios, grouped output projection, hyper-connections).
    compress_ratios: str | None = None
    o_groups: int | None = None
    o_lora_rank: int | None = None
    hc_mult: int | None = None
    mtp_params_b: float | None = None
    attention_not_modelled: str | None = None
    source_url: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> "Architecture":
        """From a catalog row: a dict, a pandas Series, or an Architecture (returned as is)."""
        if isinstance(row, Architecture):
            return row
        get = row.get if hasattr(row, "get") else (lambda k, d=None: getattr(row, k, d))
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = clean(get(f.name, None))
            if value is not None and f.name in _FLOAT_FIELDS:
                value = float(value)
            elif value is not None and f.name not in _TEXT_FIELDS:
                value = int(value)
            if f.name in ("tie_word_embeddings", "attn_output_gate") and value is not None:
                value = bool(value)
            values[f.name] = value
        if not values.get("model_id"):
            raise ValueError("an architecture row needs its model_id")
        return cls(**values)


def layer_compress_ratios(arch: "Architecture") -> tuple[int, ...] | None:
    """The compress ratio of each main-model layer (the first num_layers entries of compress_ratios; the config lists
    one more, for the multi-token-prediction layer), or None when the row has no such list. A list shorter than
    num_layers raises PlanInputError."""
    if arch.compress_ratios is None:
        return None
    ratios = tuple(int(float(x)) for x in str(arch.compress_ratios).replace(",", ";").split(";") if x.strip())
    if arch.num_layers is None or len(ratios) < arch.num_layers:
        raise PlanInputError(f"{arch.model_id}: compress_ratios lists {len(ratios)} layers, fewer than num_layers "
                             f"{arch.num_layers}")
    return ratios[:arch.num_layers]


class PlanInputError(ValueError):
    """Input that cannot be planned (bad number, unknown name, impossible combination); the message says why."""


def _fmt(n: float) -> str:
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.4g}"


def _missing_message(model_id: str, names: list[str], what: str) -> str:
    fields_text = ", ".join(names)
    return (f"cannot compute {what} for {model_id}: the catalog's architecture row has no {fields_text}"
            if names else f"cannot compute {what} for {model_id}")


def kv_heads_per_gpu(num_kv_heads: int, num_attention_heads: int | None, tensor_parallel: int) -> int:
    """KV heads each GPU stores under tensor parallelism, following vLLM's rule.

    Heads are split evenly; when there are more GPUs than KV heads each GPU keeps one (replicated) KV head. Any
    other split is impossible, so it raises PlanInputError instead of pretending the memory divides.
    """
    tp = tensor_parallel
    if num_attention_heads is not None and num_attention_heads % tp != 0:
        raise PlanInputError(f"impossible combination: {num_attention_heads} attention heads cannot be split "
                             f"evenly over {tp} GPUs (tensor parallel needs heads divisible by the GPU count)")
    if num_kv_heads % tp == 0:
        return num_kv_heads // tp
    if tp % num_kv_heads == 0:
        return 1
    raise PlanInputError(f"impossible combination: {num_kv_heads} KV heads cannot be split over {tp} GPUs "
                         "(the GPU count must divide the KV heads, or the KV heads the GPU count)")
