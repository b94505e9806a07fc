"""Memory arithmetic from a model's real architecture: KV cache per token (MHA/GQA/MQA, DeepSeek's MLA, and DeepSeek-V4's
compressed layers through `sequence_cache`), with the
formula written out with the numbers filled in. Weight bytes per precision are in `weights`, the whole cache of one
sequence by layer kind (sliding-window, hybrid linear attention, DSA included) in `sequence_cache`, and the
architecture record they all read in `architecture`.

Public API (stable; the Compare page and the planner both call it):
- `kv_cache_bytes_per_token(arch, attention, kv_dtype="bf16", tensor_parallel=1) -> KVCachePerToken`

Nothing here guesses a missing architecture number: a result that cannot be computed says which field is missing
for which model, and carries `bytes_per_token=None`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from modelmatch.planning.architecture import (
    ATTENTION_TYPES,
    KV_DTYPES,
    Architecture,
    PlanInputError,
    _fmt,
    _missing_message,
    kv_heads_per_gpu,
)
from modelmatch.planning.sequence_cache import sequence_cache


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


def _has_layout(arch: Architecture) -> bool:
    """The row describes sliding-window, hybrid-linear, sparse or unmodelled attention (not one plain formula)."""
    return bool(arch.sliding_window_layers or arch.full_attention_interval or arch.index_topk or arch.index_head_dim
                or arch.attention_not_modelled or arch.compress_ratios)


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
    if _has_layout(arch) and (attention is not None or arch.full_attention_interval or arch.kv_lora_rank
                              or arch.compress_ratios):
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
