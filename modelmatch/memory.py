"""Memory arithmetic from a model's real architecture: KV cache per token (MHA/GQA/MQA and DeepSeek's MLA) and
weight bytes per precision, each with the formula written out with the numbers filled in.

Public API (stable; the Compare page and the planner both call it):
- `Architecture.from_row(row)`: build from an `architectures` row (dict, pandas Series or namedtuple-like).
- `kv_cache_bytes_per_token(arch, attention, kv_dtype="bf16", tensor_parallel=1) -> KVCachePerToken`
- `weight_bytes(params_b, precision, arch=None, ...) -> WeightBytes`
- `KV_DTYPES`, `PRECISIONS`

Nothing here guesses a missing architecture number: a result that cannot be computed says which field is missing
for which model, and carries `bytes_per_token=None`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

# Bytes for one stored KV element. fp8 caches (vLLM --kv-cache-dtype fp8) store one byte per element; their
# per-tensor scale factors are a handful of floats per layer, not per token, so they do not change bytes/token.
KV_DTYPES: dict[str, int] = {"bf16": 2, "fp16": 2, "fp8": 1}

ATTENTION_TYPES = ("mha", "gqa", "mqa", "mla")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pandas.NA compare unequal to themselves
    except (TypeError, ValueError):  # pandas.NA raises on bool()
        return True


def clean(value: Any) -> Any:
    """Catalog cell -> plain Python value, with every flavour of 'empty' (None, NaN, pandas.NA) as None."""
    if _is_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()  # numpy scalars -> int/float/bool
        except (AttributeError, ValueError):
            return value
    return value


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
            if value is not None and f.name not in ("model_id", "source_url", "tie_word_embeddings"):
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
