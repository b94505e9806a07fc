"""The cache one sequence keeps between decode steps, per GPU, for every attention layout in the catalog
(MHA/GQA/MQA, sliding window + global, MLA, MLA + DSA, hybrid linear attention), split by layer kind, with the
formula written out, or which architecture field is missing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from modelmatch.catalog.cells import clean
from modelmatch.planning.architecture import (
    ATTENTION_TYPES,
    KV_DTYPES,
    Architecture,
    PlanInputError,
    _fmt,
    _missing_message,
    kv_heads_per_gpu,
    layer_compress_ratios,
)


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
    # Compressed caches (DeepSeek-V4) store one entry of bytes_per_entry per tokens_per_entry tokens (complete windows
    # only); bytes_per_token is then their average per token. topk_entries: a decode step reads at most this many.
    tokens_per_entry: int = 1
    bytes_per_entry: int = 0
    topk_entries: int | None = None

    def entries(self, context_tokens: int) -> int:
        tokens = context_tokens if self.window_tokens is None else min(context_tokens, self.window_tokens)
        return tokens // self.tokens_per_entry

    def bytes_for(self, context_tokens: int) -> int:
        if self.tokens_per_entry > 1:
            return self.bytes_per_entry * self.entries(context_tokens) + self.bytes_per_sequence
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
        if self.decode_topk_tokens is None and not any(p.topk_entries is not None for p in self.parts):
            return self.bytes_for(context_tokens)
        total = 0
        for p in self.parts:
            if p.topk_entries is not None:
                total += p.bytes_per_entry * min(p.entries(context_tokens), p.topk_entries) + p.bytes_per_sequence
                continue
            if p.tokens_per_entry > 1 or p.window_tokens is not None:
                total += p.bytes_for(context_tokens)
                continue
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
    - DeepSeek-V4 (compress_ratios): every layer keeps a sliding window of one shared key=value vector per token;
      compressed sparse attention layers add one compressed key=value and one indexer key per 4 tokens, heavily
      compressed attention layers one compressed key=value per 128 tokens (see _deepseek_v4_cache).
    - Hybrid linear attention: per linear layer a fixed recurrent state (value heads x key dim x value dim) and a
      convolution state ((2 x key heads x key dim + value heads x value dim) x (kernel - 1)); KV only on every
      full_attention_interval-th layer.
    Pipeline parallelism splits the layers, so each stage keeps only its own layers' cache.
    """
    arch = Architecture.from_row(arch)
    attention = clean(attention)  # a models row read through pandas gives NaN, not None, for "no attention type"
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
    if arch.compress_ratios is not None:
        return _deepseek_v4_cache(arch, base, kv_dtype, bpe, tp, pp, fail)
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
        if local > arch.num_layers:
            # An inconsistent row would otherwise give a negative cache per token.
            problem = f"sliding_window_layers {local} is more than num_layers {arch.num_layers}"
            return SequenceCache(**base, kind="sliding-window+global", parts=(), not_modelled=problem,
                                 formula=f"not modelled: {problem}")
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


# transformers' DeepseekV4Config maps the config's compress_ratios to layer types: 0 sliding window only, 4 compressed
# sparse attention (CSA: overlapping windows and the lightning indexer), 128 heavily compressed attention (HCA).
V4_LAYER_KINDS = {0: "sliding", 4: "CSA", 128: "HCA"}


def _per_token(bytes_per_entry: int, tokens_per_entry: int) -> int | float:
    return bytes_per_entry // tokens_per_entry if bytes_per_entry % tokens_per_entry == 0 else \
        bytes_per_entry / tokens_per_entry


def _deepseek_v4_cache(arch: Architecture, base: dict, kv_dtype: str, bpe: int, tp: int, pp: int,
                       fail) -> SequenceCache:
    """DeepSeek-V4's cache, as transformers' DeepseekV4 cache layers hold it (DeepseekV4HCACache, DeepseekV4CSACache).

    Attention is multi-query with one key=value head of head_dim shared by every query head (the same vector is the
    key and the value), so one vector per token and layer. Every layer keeps it for the last sliding_window tokens
    only. A CSA layer (compress ratio 4) also keeps one compressed key=value of head_dim per complete window of 4
    tokens and one compressed indexer key of index_head_dim per window (the lightning indexer scores every one of
    them and attention reads the index_topk best); an HCA layer (ratio 128) keeps one compressed key=value of
    head_dim per complete window of 128 tokens and reads them all. Shared by all heads, so every tensor-parallel GPU
    holds all of it."""
    kind = "deepseek-v4"
    try:
        ratios = layer_compress_ratios(arch)
    except PlanInputError as exc:
        return SequenceCache(**base, kind=kind, parts=(), missing=("compress_ratios",), formula=str(exc))
    unknown = sorted(set(ratios) - set(V4_LAYER_KINDS))
    if unknown:
        text = (f"DeepSeek-V4 layers with compress ratio {', '.join(map(str, unknown))} (only 0, 4 and 128 are "
                "described by the implementation this cache follows)")
        return SequenceCache(**base, kind=kind, parts=(), not_modelled=text, formula=f"not modelled: {text}")
    csa, hca = ratios.count(4), ratios.count(128)
    need = ["head_dim", "sliding_window"] + (["index_head_dim", "index_topk"] if csa else [])
    missing = [n for n in need if getattr(arch, n) is None]
    if missing:
        return fail(kind, missing, "the DeepSeek-V4 cache")
    if arch.num_attention_heads is not None and arch.num_attention_heads % tp != 0:
        raise PlanInputError(f"impossible combination: {arch.num_attention_heads} attention heads cannot be split "
                             f"evenly over {tp} GPUs")
    hd, window = arch.head_dim, arch.sliding_window
    layers_here, csa_here, hca_here = (_stage_layers(n, pp) for n in (len(ratios), csa, hca))
    stage_note = f" on the busiest of {pp} pipeline stages" if pp > 1 else ""
    parts = [CachePart("sliding-window key=value", layers_here, bytes_per_token=layers_here * hd * bpe,
                       window_tokens=window,
                       formula=f"{layers_here} layers × {hd} head_dim (one key=value head, K = V) × {bpe} bytes "
                               f"({kv_dtype}) = {_fmt(layers_here * hd * bpe)} bytes per token for at most "
                               f"{window:,} tokens (sliding window)")]
    if csa:
        ihd, topk = arch.index_head_dim, arch.index_topk
        kv_entry, index_entry = csa_here * hd * bpe, csa_here * ihd * bpe
        parts.append(CachePart("CSA compressed key=value", csa_here, bytes_per_token=_per_token(kv_entry, 4),
                               tokens_per_entry=4, bytes_per_entry=kv_entry, topk_entries=topk,
                               formula=f"{csa_here} CSA layers × {hd} head_dim × {bpe} bytes = {_fmt(kv_entry)} bytes "
                                       f"per 4 tokens = {_fmt(kv_entry / 4)} bytes per token"))
        parts.append(CachePart("CSA indexer keys", csa_here, bytes_per_token=_per_token(index_entry, 4),
                               tokens_per_entry=4, bytes_per_entry=index_entry,
                               formula=f"{csa_here} CSA layers × {ihd} index_head_dim × {bpe} bytes = "
                                       f"{_fmt(index_entry)} bytes per 4 tokens = {_fmt(index_entry / 4)} bytes per "
                                       "token"))
    if hca:
        entry = hca_here * hd * bpe
        parts.append(CachePart("HCA compressed key=value", hca_here, bytes_per_token=_per_token(entry, 128),
                               tokens_per_entry=128, bytes_per_entry=entry,
                               formula=f"{hca_here} HCA layers × {hd} head_dim × {bpe} bytes = {_fmt(entry)} bytes per "
                                       f"128 tokens = {_fmt(entry / 128)} bytes per token"))
    growing = sum(p.bytes_per_token for p in parts if p.window_tokens is None)
    formula = ("; plus ".join(p.formula for p in parts[1:] + parts[:1])
               + f"; growing part {_fmt(growing)} bytes per token (compressed entries are stored per complete window)"
               + stage_note)
    if tp > 1:
        formula += f"; one key=value head shared by all heads, so each of the {tp} tensor-parallel GPUs holds all of it"
    buffers = (hca_here * (128 - 1) * 2 * hd + csa_here * ((4 - 1) * 2 * 2 * hd + 2 * hd)
               + (csa_here * ((4 - 1) * 2 * 2 * arch.index_head_dim + 2 * arch.index_head_dim) if csa else 0)) * bpe
    notes = [f"not modelled: each compressed layer's partial-window buffer (the projected key and gate values of the "
             f"at most ratio − 1 tokens not yet compressed, plus CSA's overlap state); in transformers' layout about "
             f"{buffers / 1e6:,.2f} MB per sequence at {bpe} bytes, not in these figures",
             f"{csa} CSA, {hca} HCA and {len(ratios) - csa - hca} sliding-only layers of {len(ratios)} (compress_ratios); "
             "the multi-token-prediction layer (the list's last entry) adds its own cache only when an engine uses it "
             "for speculative decoding",
             "each decode step reads the sliding window, the HCA entries, every CSA indexer key and the "
             f"{arch.index_topk:,} CSA entries the indexer selects" if csa else
             "each decode step reads the sliding window and every compressed entry"]
    if kv_dtype == "fp8":
        notes.append("fp8 counted at 1 byte per element; an engine that keeps scales or the RoPE part in 16-bit "
                     "stores somewhat more")
    return SequenceCache(**base, kind=kind, parts=tuple(parts), formula=formula, notes=tuple(notes))
