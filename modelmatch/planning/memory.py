"""Memory arithmetic from a model's real architecture: KV cache per token (MHA/GQA/MQA and DeepSeek's MLA) and
weight bytes per precision, each with the formula written out with the numbers filled in.

Public API (stable; the Compare page and the planner both call it):
- `Architecture.from_row(row)`: build from an `architectures` row (dict, pandas Series or namedtuple-like).
- `kv_cache_bytes_per_token(arch, attention, kv_dtype="bf16", tensor_parallel=1) -> KVCachePerToken`
- `sequence_cache(arch, attention, kv_dtype="bf16", tensor_parallel=1, pipeline_parallel=1) -> SequenceCache`:
  the whole cache of one sequence by layer kind (sliding-window, hybrid linear attention, DSA included)
- `weight_bytes(params_b, precision, arch=None, ...) -> WeightBytes`
- `KV_DTYPES`, `PRECISIONS`

Nothing here guesses a missing architecture number: a result that cannot be computed says which field is missing
for which model, and carries `bytes_per_token=None`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

from modelmatch.catalog.cells import clean

# Bytes for one stored KV element. fp8 caches (vLLM --kv-cache-dtype fp8) store one byte per element; their
# per-tensor scale factors are a handful of floats per layer, not per token, so they do not change bytes/token.
KV_DTYPES: dict[str, int] = {"bf16": 2, "fp16": 2, "fp8": 1}

ATTENTION_TYPES = ("mha", "gqa", "mqa", "mla")


_TEXT_FIELDS = ("model_id", "source_url", "tie_word_embeddings", "attention_not_modelled")
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
    # Attention beyond plain MHA/GQA/MLA (see modelmatch/sequence_cache.py for how each is counted).
    sliding_window_layers: int | None = None
    full_attention_interval: int | None = None
    linear_num_key_heads: int | None = None
    linear_num_value_heads: int | None = None
    linear_key_head_dim: int | None = None
    linear_value_head_dim: int | None = None
    linear_conv_kernel_dim: int | None = None
    index_n_heads: int | None = None
    index_head_dim: int | None = None
    index_topk: int | None = None
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
            if f.name == "tie_word_embeddings" and value is not None:
                value = bool(value)
            values[f.name] = value
        if not values.get("model_id"):
            raise ValueError("an architecture row needs its model_id")
        return cls(**values)


@dataclass(frozen=True)
class KVCachePerToken:
    """KV-cache bytes one token occupies (per GPU when tensor_parallel > 1), or why it cannot be computed."""

    model_id: str
    attention: str | None
    kv_dtype: str
    bytes_per_element: int
    tensor_parallel: int
    bytes_per_token: int | None
    formula: str  # the formula with the model's numbers filled in, or the reason it cannot be filled in
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.bytes_per_token is not None

    @property
    def message(self) -> str:
        return self.formula if not self.ok else ""


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


def _has_layout(arch: Architecture) -> bool:
    """The row describes sliding-window, hybrid-linear, sparse or unmodelled attention (not one plain formula)."""
    return bool(arch.sliding_window_layers or arch.full_attention_interval or arch.index_topk or arch.index_head_dim
                or arch.attention_not_modelled)


def kv_cache_bytes_per_token(arch: Architecture | Mapping[str, Any], attention: str | None,
                             kv_dtype: str = "bf16", tensor_parallel: int = 1) -> KVCachePerToken:
    """Bytes of KV cache per token for one sequence, per GPU, with the formula text.

    MHA/GQA/MQA: 2 (K and V) x layers x KV heads x head_dim x bytes. MLA (DeepSeek-V2/V3) caches one compressed
    latent plus the decoupled RoPE key per layer, shared by all heads: layers x (kv_lora_rank + qk_rope_head_dim)
    x bytes. Because it is shared by all heads, tensor parallelism does not split it: every GPU keeps all of it.
    """
    arch = Architecture.from_row(arch)
    if kv_dtype not in KV_DTYPES:
        raise PlanInputError(f"unknown KV-cache dtype {kv_dtype!r}; choose one of {', '.join(KV_DTYPES)}")
    if not isinstance(tensor_parallel, int) or tensor_parallel < 1:
        raise PlanInputError(f"GPU count must be a whole number of at least 1, got {tensor_parallel!r}")
    bpe = KV_DTYPES[kv_dtype]
    tp = tensor_parallel
    base = dict(model_id=arch.model_id, attention=attention, kv_dtype=kv_dtype, bytes_per_element=bpe,
                tensor_parallel=tp)
    if _has_layout(arch) and (attention is not None or arch.full_attention_interval or arch.kv_lora_rank):
        # Sliding, hybrid-linear and sparse layouts: the per-token figure is the part that grows without bound; the
        # windowed and fixed-size parts are in sequence_cache(), which the planner uses.
        seq = sequence_cache(arch, attention, kv_dtype, tp)
        if not seq.ok:
            return KVCachePerToken(**base, bytes_per_token=None, formula=seq.message or seq.formula,
                                   missing=seq.missing or ("attention_not_modelled",), notes=seq.notes)
        bounded = [p for p in seq.parts if p.window_tokens is not None or p.bytes_per_sequence]
        extra = "".join(f"; {p.label} not in this per-token figure: {p.formula}" for p in bounded)
        return KVCachePerToken(**base, bytes_per_token=seq.growing_bytes_per_token,
                               formula=seq.formula if not bounded else
                               "; ".join(p.formula for p in seq.parts if p not in bounded) + extra,
                               notes=seq.notes)
    notes: list[str] = []
    if arch.sliding_window:
        notes.append(f"the architecture row has a {arch.sliding_window:,}-token sliding window; engines that cache "
                     "only the window for local-attention layers use less than this full-attention figure "
                     "beyond that length")

    if attention is None:
        return KVCachePerToken(**base, bytes_per_token=None, missing=("attention",),
                               formula=f"cannot compute KV cache for {arch.model_id}: the catalog has no "
                                       "attention type (MHA/GQA/MLA) for this model")
    if attention not in ATTENTION_TYPES:
        raise PlanInputError(f"unknown attention type {attention!r}; expected one of {', '.join(ATTENTION_TYPES)}")

    if attention == "mla":
        missing = [n for n in ("num_layers", "kv_lora_rank", "qk_rope_head_dim") if getattr(arch, n) is None]
        if missing:
            return KVCachePerToken(**base, bytes_per_token=None, missing=tuple(missing),
                                   formula=_missing_message(arch.model_id, missing, "the MLA KV cache"))
        if arch.num_attention_heads is not None and arch.num_attention_heads % tp != 0:
            raise PlanInputError(f"impossible combination: {arch.num_attention_heads} attention heads cannot be "
                                 f"split evenly over {tp} GPUs")
        per_token = arch.num_layers * (arch.kv_lora_rank + arch.qk_rope_head_dim) * bpe
        formula = (f"{arch.num_layers} layers × ({arch.kv_lora_rank} kv_lora_rank + {arch.qk_rope_head_dim} "
                   f"qk_rope_head_dim) × {bpe} bytes ({kv_dtype}) = {_fmt(per_token)} bytes per token")
        if tp > 1:
            formula += f"; the latent is shared by all heads, so each of the {tp} GPUs holds all of it"
        notes.append("MLA figure assumes an engine that caches the compressed latent (DeepSeek's inference code, "
                     "vLLM and SGLang MLA backends); an implementation that expands K and V per head caches far more")
        return KVCachePerToken(**base, bytes_per_token=per_token, formula=formula, notes=tuple(notes))

    # MHA, GQA and MQA share one formula; they differ only in how many KV heads there are.
    kv_heads = arch.num_kv_heads
    kv_heads_source = "KV heads"
    if kv_heads is None and attention == "mha" and arch.num_attention_heads is not None:
        kv_heads, kv_heads_source = arch.num_attention_heads, "KV heads (MHA: one per attention head)"
    elif kv_heads is None and attention == "mqa":
        kv_heads, kv_heads_source = 1, "KV head (MQA)"
    missing = [n for n, v in (("num_layers", arch.num_layers), ("num_kv_heads", kv_heads),
                              ("head_dim", arch.head_dim)) if v is None]
    if missing:
        return KVCachePerToken(**base, bytes_per_token=None, missing=tuple(missing),
                               formula=_missing_message(arch.model_id, missing, "the KV cache"))
    heads_here = kv_heads_per_gpu(kv_heads, arch.num_attention_heads, tp)
    per_token = 2 * arch.num_layers * heads_here * arch.head_dim * bpe
    if tp == 1:
        formula = (f"2 (K and V) × {arch.num_layers} layers × {kv_heads} {kv_heads_source} × {arch.head_dim} "
                   f"head_dim × {bpe} bytes ({kv_dtype}) = {_fmt(per_token)} bytes per token")
    else:
        split = (f"{kv_heads} KV heads / {tp} GPUs = {heads_here}" if kv_heads % tp == 0
                 else f"{kv_heads} KV heads over {tp} GPUs: 1 replicated head")
        formula = (f"2 (K and V) × {arch.num_layers} layers × {heads_here} KV heads per GPU ({split}) × "
                   f"{arch.head_dim} head_dim × {bpe} bytes ({kv_dtype}) = {_fmt(per_token)} bytes per token per GPU")
    return KVCachePerToken(**base, bytes_per_token=per_token, formula=formula, notes=tuple(notes))


# ---------------------------------------------------------------------------------------------------------------
# Weights


@dataclass(frozen=True)
class Precision:
    """How many bits one weight takes in a stored format, and which tensors the format leaves in 16-bit."""

    key: str
    label: str
    bits_per_weight: float
    derivation: str  # where bits_per_weight comes from
    embeddings_16bit: bool  # the format keeps the embedding and output matrices in 16-bit
    lower_bound: bool = False  # a mixed format whose real size is above bits_per_weight
    source_url: str = ""


# Format constants (block layouts), not catalog data: each derivation names the definition it comes from.
_GGML = "https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-common.h"
PRECISIONS: dict[str, Precision] = {p.key: p for p in (
    Precision("bf16", "BF16 (16-bit, as released)", 16.0, "16 bits per weight", False),
    Precision("fp8", "FP8 (8-bit float)", 8.0,
              "8 bits per weight; per-block or per-channel scales add under 0.1 % and are not counted", True),
    Precision("int8", "INT8 (8-bit integer, W8A8 / weight-only)", 8.0,
              "8 bits per weight; per-channel scales add under 0.1 % and are not counted", True),
    Precision("int8-gptq", "INT8 GPTQ (group size 128)", 8.0 + (16 + 8) / 128,
              "8 bits + (16-bit scale + 8-bit zero point) per group of 128 weights = 8.1875 bits per weight", True),
    Precision("int4-awq", "INT4 AWQ / GPTQ (group size 128)", 4.0 + (16 + 4) / 128,
              "4 bits + (16-bit scale + 4-bit zero point) per group of 128 weights = 4.15625 bits per weight", True,
              source_url="https://github.com/mit-han-lab/llm-awq"),
    Precision("gguf-q8_0", "GGUF Q8_0", 34 * 8 / 32,
              "block_q8_0: 32 int8 weights + one fp16 scale = 34 bytes per 32 weights = 8.5 bits per weight", False,
              source_url=_GGML),
    Precision("gguf-q4_k_m", "GGUF Q4_K_M", 144 * 8 / 256,
              "block_q4_K: 144 bytes per 256 weights = 4.5 bits per weight; Q4_K_M stores some attention-V and "
              "FFN-down tensors and the output matrix as Q6_K (210 bytes per 256 = 6.5625 bits), so a real file "
              "is larger: this is a lower bound", False, lower_bound=True, source_url=_GGML),
)}
# Quality order the wizard walks when it looks for the best precision that fits.
PRECISION_QUALITY_ORDER = ("bf16", "fp8", "int8", "gguf-q8_0", "int4-awq", "gguf-q4_k_m")


@dataclass(frozen=True)
class WeightBytes:
    params_b: float
    precision: str
    bytes: float
    formula: str
    notes: tuple[str, ...] = ()
    lower_bound: bool = False

    @property
    def gb(self) -> float:
        return self.bytes / 1e9


def embedding_params(arch: Architecture | None) -> tuple[float | None, str, list[str]]:
    """Parameters in the input embedding and output matrices, from vocab_size x hidden_size.

    When the catalog does not say whether the two are tied, count two matrices: the larger (safer) case.
    """
    notes: list[str] = []
    if arch is None or arch.vocab_size is None or arch.hidden_size is None:
        return None, "", notes
    matrices = 1 if arch.tie_word_embeddings else 2
    if arch.tie_word_embeddings is None:
        notes.append(f"the catalog does not say whether {arch.model_id} ties its input and output embeddings; "
                     "counted as two matrices (the larger case)")
    text = f"{matrices} × {arch.vocab_size:,} vocab × {arch.hidden_size:,} hidden"
    return float(matrices * arch.vocab_size * arch.hidden_size), text, notes


def weight_bytes(params_b: float, precision: str, arch: Architecture | None = None) -> WeightBytes:
    """Bytes of weights for `params_b` billion parameters stored at `precision`.

    Formats that keep embeddings in 16-bit (FP8, INT8, AWQ/GPTQ as served by vLLM) are computed as
    (params - embedding params) x bits / 8 + embedding params x 2 when the architecture gives vocab and hidden size.
    """
    if precision not in PRECISIONS:
        raise PlanInputError(f"unknown weight precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if params_b is None or not math.isfinite(params_b) or params_b <= 0:
        raise PlanInputError("the parameter count must be a positive number")
    p = PRECISIONS[precision]
    params = params_b * 1e9
    notes: list[str] = [p.derivation]
    bits = p.bits_per_weight
    if p.embeddings_16bit:
        emb, emb_text, emb_notes = embedding_params(arch)
        notes.extend(emb_notes)
        if emb is not None and emb < params:
            total = (params - emb) * bits / 8 + emb * 2
            formula = (f"({_fmt(params_b)}B params − {emb_text} = {emb / 1e9:,.3f}B embedding params) × {bits:g} "
                       f"bits / 8 + {emb / 1e9:,.3f}B × 2 bytes (embeddings stay 16-bit) = {total / 1e9:,.2f} GB")
            return WeightBytes(params_b, precision, total, formula, tuple(notes), p.lower_bound)
        missing = [n for n in ("vocab_size", "hidden_size")
                   if arch is None or getattr(arch, n) is None]
        notes.append("this format keeps the embedding and output matrices in 16-bit, but the catalog has no "
                     f"{' or '.join(missing) or 'embedding size'} for this model, so every parameter is counted at "
                     f"{bits:g} bits: a lower bound")
        total = params * bits / 8
        formula = f"{_fmt(params_b)}B params × {bits:g} bits / 8 = {total / 1e9:,.2f} GB (lower bound)"
        return WeightBytes(params_b, precision, total, formula, tuple(notes), True)
    total = params * bits / 8
    formula = f"{_fmt(params_b)}B params × {bits:g} bits / 8 = {total / 1e9:,.2f} GB"
    if p.lower_bound:
        formula += " (lower bound)"
    return WeightBytes(params_b, precision, total, formula, tuple(notes), p.lower_bound)


def moe_expert_params(arch: Architecture | None) -> tuple[float, int, str] | None:
    """(params of one routed expert, number of MoE layers, formula) from the architecture, or None if unknown.

    One expert is a gated MLP: gate, up and down projections of hidden x moe_intermediate each.
    """
    if arch is None:
        return None
    need = (arch.hidden_size, arch.moe_intermediate_size, arch.num_layers, arch.n_routed_experts,
            arch.experts_per_token, arch.first_k_dense)
    if any(v is None for v in need):
        return None
    moe_layers = arch.num_layers - arch.first_k_dense
    per_expert = 3.0 * arch.hidden_size * arch.moe_intermediate_size
    text = f"3 × {arch.hidden_size:,} hidden × {arch.moe_intermediate_size:,} moe_intermediate per expert"
    return per_expert, moe_layers, text


# ---------------------------------------------------------------------------------------------------------------
# The cache one sequence keeps, for every attention layout in the catalog


# DeepSeek's FlashMLA FP8 sparse cache (DeepSeek-V3.2): per token and layer the 512-value latent in float8_e4m3,
# one float32 scale per 128 latent values, and the 64 RoPE values in bfloat16 = 512 + 4 x 4 + 64 x 2 = 656 bytes.
FLASHMLA_FP8_SCALE_BLOCK = 128
FLASHMLA_FP8_SOURCE = ("https://github.com/deepseek-ai/FlashMLA/blob/9241ae3ef9bac614dd25e45e507e089f888280e0/docs/"
                       "20250929-hopper-fp8-sparse-deep-dive.md")
# DeepSeek-V3.2-Exp's reference code caches each indexer key in float8_e4m3fn plus one float32 scale per 128 values
# (inference/model.py: k_cache and k_scale_cache, block_size = 128).
DSA_INDEXER_SCALE_BLOCK = 128
# Gated DeltaNet state: counted at 4 bytes (float32) for the recurrent state, the larger case, because the engines'
# state dtype follows the checkpoint config; the short-convolution state is kept in the 16-bit model dtype.
LINEAR_STATE_BYTES = 4
LINEAR_CONV_STATE_BYTES = 2


@dataclass(frozen=True)
class CachePart:
    """One kind of layer's cache for one sequence, per GPU."""

    label: str
    layers: int
    bytes_per_token: int = 0  # grows with every token (bounded by window_tokens when set)
    window_tokens: int | None = None
    bytes_per_sequence: int = 0  # fixed size, whatever the context length
    formula: str = ""

    def bytes_for(self, context_tokens: int) -> int:
        tokens = context_tokens if self.window_tokens is None else min(context_tokens, self.window_tokens)
        return self.bytes_per_token * tokens + self.bytes_per_sequence


@dataclass(frozen=True)
class SequenceCache:
    """Everything one sequence keeps between decode steps, per GPU, split by layer kind, or why it cannot be said."""

    model_id: str
    kind: str  # gqa | mha | mqa | sliding-window+global | mla | mla+dsa | hybrid-linear
    kv_dtype: str
    tensor_parallel: int
    pipeline_parallel: int
    parts: tuple[CachePart, ...]
    formula: str
    missing: tuple[str, ...] = ()
    not_modelled: str | None = None
    notes: tuple[str, ...] = ()
    decode_topk_tokens: int | None = None  # DSA: tokens whose latent a decode step reads

    @property
    def ok(self) -> bool:
        return not self.missing and self.not_modelled is None and bool(self.parts)

    @property
    def growing_bytes_per_token(self) -> int | None:
        """Bytes each extra token adds at long context (unbounded layers only), per GPU."""
        if not self.ok:
            return None
        return sum(p.bytes_per_token for p in self.parts if p.window_tokens is None)

    @property
    def constant_bytes(self) -> int:
        return sum(p.bytes_per_sequence for p in self.parts)

    def bytes_for(self, context_tokens: int) -> int | None:
        if not self.ok:
            return None
        return sum(p.bytes_for(context_tokens) for p in self.parts)

    def decode_read_bytes(self, context_tokens: int) -> int | None:
        """Cache bytes one decode step reads: all of it, except DSA, which reads the latent of the top-k tokens only
        (the indexer keys of every token are still scanned)."""
        if not self.ok:
            return None
        if self.decode_topk_tokens is None:
            return self.bytes_for(context_tokens)
        total = 0
        for p in self.parts:
            tokens = min(context_tokens, self.decode_topk_tokens) if p.label.startswith("MLA latent") else \
                context_tokens
            total += p.bytes_per_token * tokens + p.bytes_per_sequence
        return total

    @property
    def message(self) -> str:
        if self.not_modelled:
            return f"not modelled: {self.not_modelled}"
        return self.formula if not self.ok else ""


def _stage_layers(layers: int, pipeline_parallel: int) -> int:
    """Layers on the busiest pipeline stage (stages get whole layers)."""
    return -(-layers // pipeline_parallel)


def _split_heads(heads: int, tp: int, what: str) -> int:
    if heads % tp != 0:
        raise PlanInputError(f"impossible combination: {heads} {what} cannot be split evenly over {tp} GPUs")
    return heads // tp


def sequence_cache(arch: Architecture | Mapping[str, Any], attention: str | None, kv_dtype: str = "bf16",
                   tensor_parallel: int = 1, pipeline_parallel: int = 1) -> SequenceCache:
    """What one sequence caches, per GPU, for every attention layout the catalog describes.

    - MHA/GQA/MQA: 2 x layers x KV heads x head_dim x bytes per token.
    - Sliding window + global layers: the sliding layers keep at most `sliding_window` tokens.
    - MLA: layers x (kv_lora_rank + qk_rope_head_dim) x bytes per token, replicated on every tensor-parallel GPU.
    - DSA (MLA + DeepSeek Sparse Attention): the MLA latent (FlashMLA's 656-byte FP8 format when the cache is fp8)
      plus the FP8 indexer key and its float32 scales; decode reads the latent of the top-k tokens only.
    - Hybrid linear attention: per linear layer a fixed recurrent state (value heads x key dim x value dim) and a
      convolution state ((2 x key heads x key dim + value heads x value dim) x (kernel - 1)); KV only on every
      full_attention_interval-th layer.
    Pipeline parallelism splits the layers, so each stage keeps only its own layers' cache.
    """
    arch = Architecture.from_row(arch)
    if kv_dtype not in KV_DTYPES:
        raise PlanInputError(f"unknown KV-cache dtype {kv_dtype!r}; choose one of {', '.join(KV_DTYPES)}")
    for value, what in ((tensor_parallel, "tensor-parallel size"), (pipeline_parallel, "pipeline-parallel size")):
        if not isinstance(value, int) or value < 1:
            raise PlanInputError(f"{what} must be a whole number of at least 1, got {value!r}")
    tp, pp, bpe = tensor_parallel, pipeline_parallel, KV_DTYPES[kv_dtype]
    base = dict(model_id=arch.model_id, kv_dtype=kv_dtype, tensor_parallel=tp, pipeline_parallel=pp)

    def fail(kind: str, missing: list[str], what: str) -> SequenceCache:
        return SequenceCache(**base, kind=kind, parts=(), missing=tuple(missing),
                             formula=_missing_message(arch.model_id, missing, what))

    if arch.attention_not_modelled:
        return SequenceCache(**base, kind=attention or "unknown", parts=(), not_modelled=arch.attention_not_modelled,
                             formula=f"not modelled: {arch.attention_not_modelled}")
    inferred_note = ()
    if attention is None and arch.full_attention_interval is not None:
        attention = "gqa"  # hybrid rows: the full-attention layers' KV heads decide; missing ones are named below
    elif attention is None and arch.kv_lora_rank is not None:
        # The architecture row itself is MLA (a compressed KV rank exists only there); the models row lacks the type.
        attention = "mla"
        inferred_note = ("attention type read from the architecture row: it has a kv_lora_rank, so MLA",)
    if attention is None:
        return SequenceCache(**base, kind="unknown", parts=(), missing=("attention",),
                             formula=f"cannot compute the cache for {arch.model_id}: the catalog has no attention "
                                     "type (MHA/GQA/MLA) for this model")
    if attention not in ATTENTION_TYPES:
        raise PlanInputError(f"unknown attention type {attention!r}; expected one of {', '.join(ATTENTION_TYPES)}")
    if arch.num_layers is None:
        return fail(attention, ["num_layers"], "the cache")
    stage_note = f" on the busiest of {pp} pipeline stages" if pp > 1 else ""

    if attention == "mla":
        cache = _mla_cache(arch, base, kv_dtype, bpe, tp, pp, stage_note, fail)
        return dataclasses.replace(cache, notes=inferred_note + cache.notes) if inferred_note else cache

    kv_heads = arch.num_kv_heads
    if kv_heads is None and attention == "mha":
        kv_heads = arch.num_attention_heads
    elif kv_heads is None and attention == "mqa":
        kv_heads = 1
    hybrid = arch.full_attention_interval is not None
    missing = [n for n, v in (("num_kv_heads", kv_heads), ("head_dim", arch.head_dim)) if v is None]
    if hybrid:
        missing = [f"{n} (full-attention layers)" for n in missing]
    if hybrid:
        missing += [n for n in ("linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim",
                                "linear_value_head_dim", "linear_conv_kernel_dim") if getattr(arch, n) is None]
        if missing:
            return fail("hybrid-linear", missing, "the hybrid linear-attention cache")
    elif missing:
        return fail(attention, missing, "the KV cache")
    heads_here = kv_heads_per_gpu(kv_heads, arch.num_attention_heads, tp)
    per_layer = 2 * heads_here * arch.head_dim * bpe
    heads_text = f"{heads_here} KV heads per GPU" if tp > 1 else f"{kv_heads} KV heads"

    if hybrid:
        n = arch.full_attention_interval
        full_layers = arch.num_layers // n
        linear_layers = arch.num_layers - full_layers
        full_here = _stage_layers(full_layers, pp)
        linear_here = _stage_layers(linear_layers, pp)
        nk = _split_heads(arch.linear_num_key_heads, tp, "linear-attention key heads")
        nv = _split_heads(arch.linear_num_value_heads, tp, "linear-attention value heads")
        dk, dv, kernel = arch.linear_key_head_dim, arch.linear_value_head_dim, arch.linear_conv_kernel_dim
        state = nv * dk * dv * LINEAR_STATE_BYTES
        conv = (2 * nk * dk + nv * dv) * (kernel - 1) * LINEAR_CONV_STATE_BYTES
        kv_part = CachePart("full-attention KV", full_here, bytes_per_token=full_here * per_layer,
                            formula=f"2 (K and V) × {full_here} full-attention layers (every {n}th of "
                                    f"{arch.num_layers}) × {heads_text} × {arch.head_dim} head_dim × {bpe} bytes "
                                    f"({kv_dtype}) = {_fmt(full_here * per_layer)} bytes per token")
        state_part = CachePart("linear-attention state", linear_here, bytes_per_sequence=linear_here * (state + conv),
                               formula=f"{linear_here} linear layers × ({nv} value heads × {dk} × {dv} recurrent state "
                                       f"× {LINEAR_STATE_BYTES} bytes + (2 × {nk} key heads × {dk} + {nv} × {dv}) "
                                       f"conv channels × {kernel - 1} × {LINEAR_CONV_STATE_BYTES} bytes) = "
                                       f"{_fmt(linear_here * (state + conv))} bytes per sequence, whatever the context")
        formula = f"{kv_part.formula}; plus {state_part.formula}{stage_note}"
        notes = ("linear-attention (Gated DeltaNet) state counted at float32 (4 bytes), the larger case: engines keep "
                 "it in the dtype the checkpoint config names",)
        return SequenceCache(**base, kind="hybrid-linear", parts=(kv_part, state_part), formula=formula, notes=notes)

    if arch.sliding_window_layers:
        if arch.sliding_window is None:
            return fail("sliding-window+global", ["sliding_window"], "the sliding-window KV cache")
        local = arch.sliding_window_layers
        global_layers = arch.num_layers - local
        local_here, global_here = _stage_layers(local, pp), _stage_layers(global_layers, pp)
        parts = (
            CachePart("global-attention KV", global_here, bytes_per_token=global_here * per_layer,
                      formula=f"2 × {global_here} global layers × {heads_text} × {arch.head_dim} head_dim × {bpe} "
                              f"bytes ({kv_dtype}) = {_fmt(global_here * per_layer)} bytes per token"),
            CachePart("sliding-window KV", local_here, bytes_per_token=local_here * per_layer,
                      window_tokens=arch.sliding_window,
                      formula=f"2 × {local_here} sliding-window layers × {heads_text} × {arch.head_dim} head_dim × "
                              f"{bpe} bytes = {_fmt(local_here * per_layer)} bytes per token for at most "
                              f"{arch.sliding_window:,} tokens"),
        )
        formula = f"{parts[0].formula}; plus {parts[1].formula}{stage_note}"
        notes = ("assumes an engine that keeps only the window for sliding-window layers (vLLM's hybrid KV-cache "
                 "manager, SGLang, transformers' hybrid cache)",)
        return SequenceCache(**base, kind="sliding-window+global", parts=parts, formula=formula, notes=notes)

    layers_here = _stage_layers(arch.num_layers, pp)
    part = CachePart(f"{attention.upper()} KV", layers_here, bytes_per_token=layers_here * per_layer,
                     formula=f"2 (K and V) × {layers_here} layers × {heads_text} × {arch.head_dim} head_dim × {bpe} "
                             f"bytes ({kv_dtype}) = {_fmt(layers_here * per_layer)} bytes per token")
    notes: tuple[str, ...] = ()
    if arch.sliding_window:
        notes = (f"the architecture row has a {arch.sliding_window:,}-token sliding window but no count of sliding "
                 "layers, so every layer is counted as full attention",)
    return SequenceCache(**base, kind=attention, parts=(part,), formula=part.formula + stage_note, notes=notes)


def _mla_cache(arch: Architecture, base: dict, kv_dtype: str, bpe: int, tp: int, pp: int, stage_note: str,
               fail) -> SequenceCache:
    dsa = arch.index_topk is not None or arch.index_head_dim is not None
    kind = "mla+dsa" if dsa else "mla"
    missing = [n for n in ("kv_lora_rank", "qk_rope_head_dim") if getattr(arch, n) is None]
    if dsa:
        missing += [n for n in ("index_head_dim", "index_topk") if getattr(arch, n) is None]
    if missing:
        return fail(kind, missing, "the MLA cache")
    if arch.num_attention_heads is not None and arch.num_attention_heads % tp != 0:
        raise PlanInputError(f"impossible combination: {arch.num_attention_heads} attention heads cannot be "
                             f"split evenly over {tp} GPUs")
    layers = _stage_layers(arch.num_layers, pp)
    r, rope = arch.kv_lora_rank, arch.qk_rope_head_dim
    if dsa and kv_dtype == "fp8":
        per_layer = r + r // FLASHMLA_FP8_SCALE_BLOCK * 4 + rope * 2
        latent_text = (f"({r} float8 latent + {r // FLASHMLA_FP8_SCALE_BLOCK} float32 scales × 4 + {rope} bfloat16 "
                       f"RoPE × 2 = {per_layer} bytes, FlashMLA's FP8 sparse format)")
    else:
        per_layer = (r + rope) * bpe
        latent_text = f"({r} kv_lora_rank + {rope} qk_rope_head_dim) × {bpe} bytes ({kv_dtype})"
    parts = [CachePart("MLA latent", layers, bytes_per_token=layers * per_layer,
                       formula=f"{layers} layers × {latent_text} = {_fmt(layers * per_layer)} bytes per token")]
    notes = ["MLA figure assumes an engine that caches the compressed latent (DeepSeek's inference code, vLLM and "
             "SGLang MLA backends); an implementation that expands K and V per head caches far more"]
    topk = None
    if dsa:
        d = arch.index_head_dim
        index_bytes = d + -(-d // DSA_INDEXER_SCALE_BLOCK) * 4
        parts.append(CachePart("DSA indexer keys", layers, bytes_per_token=layers * index_bytes,
                               formula=f"{layers} layers × ({d} float8 indexer key + {-(-d // DSA_INDEXER_SCALE_BLOCK)}"
                                       f" float32 scale × 4 = {index_bytes} bytes) = {_fmt(layers * index_bytes)} bytes "
                                       "per token"))
        topk = arch.index_topk
        notes.append(f"DeepSeek Sparse Attention: each decode step reads the latent of at most {topk:,} selected "
                     "tokens, but scans every token's indexer key")
        if kv_dtype == "fp8":
            notes.append(f"FP8 cache in FlashMLA's documented layout: {FLASHMLA_FP8_SOURCE}")
        notes.append(f"counted over the {arch.num_layers} main-model layers; DeepSeek's FlashMLA note multiplies by "
                     f"{arch.num_layers + 1} (the multi-token-prediction layer adds one when it is used)")
    formula = "; plus ".join(p.formula for p in parts) + stage_note
    if tp > 1:
        formula += f"; the latent is shared by all heads, so each of the {tp} tensor-parallel GPUs holds all of it"
    return SequenceCache(**base, kind=kind, parts=tuple(parts), formula=formula, notes=tuple(notes),
                         decode_topk_tokens=topk)
