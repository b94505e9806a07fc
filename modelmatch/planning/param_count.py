"""Parameter counts from an architecture row, and the check against the count the vendor states.

Counted: token embeddings and the output head (once when tied), attention (MHA/GQA/MQA: q, k, v, o projections;
DeepSeek's MLA: the query down/up projections or the plain query projection, the joint KV down projection with the
decoupled RoPE key, the KV up projection, the output projection, and the two latent norms), the dense gated MLP
(gate, up, down), MoE layers (every routed expert plus the shared experts, each a gated MLP of
moe_intermediate_size, or shared_expert_intermediate_size for the shared one when the row has it, and the router),
and RMSNorm weights (two per layer and a final one).

Hybrid linear attention (Qwen3-Next, Qwen3.5: every full_attention_interval-th layer is full attention, the others
Gated DeltaNet), as the models' reference code builds a Gated DeltaNet layer: with key_dim = linear_num_key_heads x
linear_key_head_dim and value_dim = linear_num_value_heads x linear_value_head_dim, the fused input projection to
q, k, v and the output gate z (hidden x (2 key_dim + 2 value_dim)), the projection to the per-value-head beta and
decay inputs (hidden x 2 linear_num_value_heads), the depthwise short convolution over q, k and v
((2 key_dim + value_dim) x linear_conv_kernel_dim) and the output projection (value_dim x hidden). Gated attention
(attn_output_gate) doubles the query projection (it also yields the per-head output gate).

Not counted: biases (Qwen2's q/k/v biases are under 0.05 % of any Qwen2 model), per-head q/k norms (Qwen3: 256
numbers a layer), Gated DeltaNet's per-head decay and bias vectors and its gated norm (a few thousand numbers a
layer), the one-output shared-expert gate of Qwen MoE layers (hidden numbers a layer), vision towers, and extra
prediction modules that are shipped beside the main model (DeepSeek-V3's multi-token-prediction layer, which
DeepSeek also leaves out of its 671B).

Active parameters are the total less the routed experts a token does not use: every MoE layer runs
experts_per_token of n_routed_experts, plus the shared experts. Vendors differ on the input embedding table (a
token reads one row of it, no matrix multiply): Mistral counts it as active (Mixtral 12.9B), DeepSeek does not
(DeepSeek-V3 37B: 37.55B with it, 36.63B without). The check accepts either convention and says which matched.

A vendor's count is often rounded or cut off to the size in the name ("8B", "70B", Qwen2.5-7B's 7,615,616,512
parameters stated as 7.61B), so the check allows 1 % or one unit of the stated number's last digit, whichever is
larger; anything beyond is a mismatch reported with both numbers and a reason, never dropped. Counts of 1000B or
more are stated in trillions, so their last digit is read there (DeepSeek-V4-Pro's "1.6T", a cell of 1600: ±100B).

DeepSeek-V4 rows (compress_ratios set) are counted by _count_deepseek_v4, which follows transformers'
DeepseekV4ForCausalLM layer by layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from modelmatch.catalog.cells import clean

RELATIVE_TOLERANCE = 0.01


@dataclass(frozen=True)
class ParamCount:
    model_id: str
    total: int | None
    active: int | None
    missing: tuple[str, ...] = ()
    input_embedding: int = 0  # left out of the active count by vendors that count only what a token multiplies

    @property
    def ok(self) -> bool:
        return self.total is not None


def _get(row: Mapping[str, Any] | Any, name: str) -> Any:
    getter = row.get if hasattr(row, "get") else (lambda k, d=None: getattr(row, k, d))
    return clean(getter(name, None))


def _need(row: Any, names: tuple[str, ...], missing: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in names:
        value = _get(row, name)
        if value is None:
            missing.append(name)
        else:
            out[name] = int(value)
    return out


def count_params(arch: Mapping[str, Any] | Any, attention: str | None) -> ParamCount:
    """Total and active parameters of one architecture row; `attention` is the models row's attention type."""
    model_id = str(_get(arch, "model_id") or "")
    if _get(arch, "compress_ratios") is not None:
        return _count_deepseek_v4(arch, model_id)
    missing: list[str] = []
    base = _need(arch, ("num_layers", "hidden_size", "vocab_size", "num_attention_heads"), missing)
    moe = _get(arch, "n_routed_experts") is not None
    if attention == "mla":
        attn_fields = _need(arch, ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"), missing)
    else:
        attn_fields = _need(arch, ("head_dim",), missing)
    if moe:
        moe_fields = _need(arch, ("experts_per_token", "moe_intermediate_size"), missing)
    first_dense = int(_get(arch, "first_k_dense") or 0) if moe else None
    needs_dense_mlp = not moe or (first_dense or 0) > 0
    dense_fields = _need(arch, ("intermediate_size",), missing) if needs_dense_mlp else {}
    linear_fields = {}
    if _get(arch, "full_attention_interval") is not None:
        linear_fields = _need(arch, ("full_attention_interval", "linear_num_key_heads", "linear_num_value_heads",
                                     "linear_key_head_dim", "linear_value_head_dim", "linear_conv_kernel_dim"),
                              missing)
    if missing:
        return ParamCount(model_id, None, None, tuple(dict.fromkeys(missing)))

    hidden, layers, vocab, heads = (base["hidden_size"], base["num_layers"], base["vocab_size"],
                                    base["num_attention_heads"])
    tied = bool(_get(arch, "tie_word_embeddings"))
    embeddings = vocab * hidden * (1 if tied else 2)
    norms = layers * 2 * hidden + hidden

    if attention == "mla":
        rope, nope, v_dim, kv_rank = (attn_fields["qk_rope_head_dim"], attn_fields["qk_nope_head_dim"],
                                      attn_fields["v_head_dim"], attn_fields["kv_lora_rank"])
        q_rank = _get(arch, "q_lora_rank")
        q_head = heads * (nope + rope)
        query = hidden * q_head if not q_rank else hidden * q_rank + q_rank + q_rank * q_head
        attn = query + hidden * (kv_rank + rope) + kv_rank + kv_rank * heads * (nope + v_dim) + heads * v_dim * hidden
    else:
        head_dim = attn_fields["head_dim"]
        kv_heads = int(_get(arch, "num_kv_heads") or heads)
        query_width = 2 if _get(arch, "attn_output_gate") else 1  # gated attention: query and output gate
        attn = hidden * heads * head_dim * (1 + query_width) + hidden * kv_heads * head_dim * 2

    attention_weights = layers * attn
    if linear_fields:
        full_layers = layers // linear_fields["full_attention_interval"]
        key_dim = linear_fields["linear_num_key_heads"] * linear_fields["linear_key_head_dim"]
        value_dim = linear_fields["linear_num_value_heads"] * linear_fields["linear_value_head_dim"]
        linear_layer = (hidden * (2 * key_dim + 2 * value_dim) + hidden * 2 * linear_fields["linear_num_value_heads"]
                        + (2 * key_dim + value_dim) * linear_fields["linear_conv_kernel_dim"] + value_dim * hidden)
        attention_weights = full_layers * attn + (layers - full_layers) * linear_layer
    total = embeddings + norms + attention_weights
    active = total
    if not moe:
        mlp = 3 * hidden * dense_fields["intermediate_size"]
        total += layers * mlp
        active = total
    else:
        routed = int(_get(arch, "n_routed_experts"))
        shared = int(_get(arch, "n_shared_experts") or 0)
        per_token = moe_fields["experts_per_token"]
        expert = 3 * hidden * moe_fields["moe_intermediate_size"]
        shared_width = _get(arch, "shared_expert_intermediate_size")
        shared_expert = 3 * hidden * int(shared_width) if shared_width is not None else expert
        dense_layers = first_dense or 0
        moe_layers = layers - dense_layers
        dense_mlp = 3 * hidden * dense_fields["intermediate_size"] if dense_layers else 0
        router = hidden * routed
        total += dense_layers * dense_mlp + moe_layers * (routed * expert + shared * shared_expert + router)
        active += dense_layers * dense_mlp + moe_layers * (per_token * expert + shared * shared_expert + router)
    return ParamCount(model_id, total, active, input_embedding=vocab * hidden)


# The compress ratios DeepSeek-V4's layers use, as transformers' DeepseekV4Config maps them: 0 sliding window only,
# 4 compressed sparse attention (overlapping windows and the lightning indexer), 128 heavily compressed attention.
V4_SLIDING, V4_CSA, V4_HCA = 0, 4, 128


def _count_deepseek_v4(arch: Mapping[str, Any] | Any, model_id: str) -> ParamCount:
    """DeepSeek-V4 (hybrid compressed attention, grouped output projection, hyper-connections, hash-routed MoE).

    As transformers' DeepseekV4ForCausalLM builds it, per layer: the query down projection, its norm and the up
    projection (hidden x q_lora_rank + q_lora_rank + q_lora_rank x heads x head_dim); one shared key=value projection
    and its norm (hidden x head_dim + head_dim); the grouped output projection (heads x head_dim x o_lora_rank, then
    o_groups x o_lora_rank x hidden); one attention sink per head; on compressed layers the compressor (CSA, ratio 4:
    kv and gate projections to 2 x head_dim, a ratio x 2 head_dim position bias and a head_dim norm, plus the indexer:
    kv and gate projections to 2 x index_head_dim, its position bias and norm, the query up projection q_lora_rank x
    index_n_heads x index_head_dim and the per-head weight projection hidden x index_n_heads; HCA, ratio 128: kv and
    gate projections to head_dim, a ratio x head_dim position bias and a head_dim norm); two hyper-connection mixers
    (each (2 + hc_mult) x hc_mult outputs from hc_mult x hidden inputs, plus that many biases and 3 scales); two
    RMSNorms; every layer is MoE (routed experts, shared experts of moe_intermediate_size, the router's expert x
    hidden weight; hash-routed layers have the same weight and look their experts up in a token table, a buffer, not
    a parameter). Model: embeddings and output head, the final norm and the output hyper-connection head
    (hc_mult x hc_mult x hidden + hc_mult + 1). The multi-token-prediction layer (the config's extra compress_ratios
    entry) is not counted: transformers does not build it, and DeepSeek-V4-Flash's stated 284B matches the count
    without it."""
    from modelmatch.planning.architecture import Architecture, PlanInputError, layer_compress_ratios

    needed = ("num_layers", "hidden_size", "vocab_size", "num_attention_heads", "head_dim", "q_lora_rank", "o_groups",
              "o_lora_rank", "hc_mult", "n_routed_experts", "experts_per_token", "moe_intermediate_size")
    missing: list[str] = []
    v = _need(arch, needed, missing)
    try:
        ratios = layer_compress_ratios(Architecture.from_row(arch)) if not missing else None
    except PlanInputError:
        missing.append("compress_ratios")
        ratios = None
    if ratios is not None and V4_CSA in ratios:
        v.update(_need(arch, ("index_n_heads", "index_head_dim"), missing))
    if ratios is not None and set(ratios) - {V4_SLIDING, V4_CSA, V4_HCA}:
        missing.append("compress_ratios (only 0, 4 and 128 are modelled)")
    if missing:
        return ParamCount(model_id, None, None, tuple(dict.fromkeys(missing)))
    hidden, heads, hd, qr = v["hidden_size"], v["num_attention_heads"], v["head_dim"], v["q_lora_rank"]
    vocab, n_hc = v["vocab_size"], v["hc_mult"]
    attention = (hidden * qr + qr + qr * heads * hd + hidden * hd + hd + heads * hd * v["o_lora_rank"]
                 + v["o_groups"] * v["o_lora_rank"] * hidden + heads)
    compressor = {V4_SLIDING: 0,
                  V4_HCA: 2 * hidden * hd + V4_HCA * hd + hd}
    if V4_CSA in ratios:
        ih, ihd = v["index_n_heads"], v["index_head_dim"]
        indexer = 4 * hidden * ihd + V4_CSA * 2 * ihd + ihd + qr * ih * ihd + hidden * ih
        compressor[V4_CSA] = 4 * hidden * hd + V4_CSA * 2 * hd + hd + indexer
    mixer_out = (2 + n_hc) * n_hc
    hyper = 2 * (mixer_out * n_hc * hidden + mixer_out + 3)
    routed, per_token = int(_get(arch, "n_routed_experts")), v["experts_per_token"]
    shared = int(_get(arch, "n_shared_experts") or 0)
    expert = 3 * hidden * v["moe_intermediate_size"]
    moe_all = routed * expert + shared * expert + routed * hidden
    layers = sum(attention + compressor[r] + hyper + 2 * hidden for r in ratios)
    tied = bool(_get(arch, "tie_word_embeddings"))
    model = vocab * hidden * (1 if tied else 2) + hidden + n_hc * n_hc * hidden + n_hc + 1
    total = model + layers + len(ratios) * moe_all
    active = total - len(ratios) * (routed - per_token) * expert
    return ParamCount(model_id, total, active, input_embedding=vocab * hidden)


@dataclass(frozen=True)
class Check:
    """One comparison of a computed count with the stated one (billions)."""

    what: str  # "total" or "active"
    computed_b: float
    stated_b: float | None
    alternative_b: float | None = None  # active without the input embedding (the other vendors' convention)
    convention: str = field(default="", init=False)

    def __post_init__(self) -> None:
        # Compare with whichever convention is nearer the stated number, and say so (`convention`).
        if self.alternative_b is not None and self.stated_b is not None and \
                abs(self.alternative_b - self.stated_b) < abs(self.computed_b - self.stated_b):
            object.__setattr__(self, "computed_b", self.alternative_b)
            object.__setattr__(self, "convention", "without the input embedding")
        else:
            object.__setattr__(self, "convention", "" if self.alternative_b is None else "with the input embedding")

    @property
    def allowed_b(self) -> float | None:
        if self.stated_b is None:
            return None
        return max(RELATIVE_TOLERANCE * self.stated_b, last_digit_unit(self.stated_b))

    @property
    def relative_diff(self) -> float | None:
        if not self.stated_b:
            return None
        return (self.computed_b - self.stated_b) / self.stated_b

    @property
    def agrees(self) -> bool | None:
        if self.stated_b is None:
            return None
        return abs(self.computed_b - self.stated_b) <= self.allowed_b + 1e-12

    def to_precision_of_stated(self, max_figures: int = 3) -> bool | None:
        """Does the computed count reproduce the stated one to its precision (at most three significant figures)?
        Vendors both round and cut off (Qwen2.5-7B: 7,615,616,512 parameters, stated 7.61B), so the two must be
        less than one unit of the last compared digit apart."""
        if self.stated_b is None or self.stated_b <= 0:
            return None
        figures = min(significant_figures(self.stated_b), max_figures)
        unit = 10 ** (math.floor(math.log10(self.stated_b)) - figures + 1)
        return abs(self.computed_b - self.stated_b) < unit


def _digits(value: float) -> tuple[str, str]:
    whole, _, frac = repr(abs(float(value))).partition(".")
    return whole, frac.rstrip("0")


# Counts of a thousand billion or more are stated in trillions ("1.6T"), so a catalog cell of 1600 (billions) carries
# the precision of 1.6: its figures and last digit are read in trillions.
TRILLION_B = 1000


def _in_trillions(value: float) -> bool:
    return abs(float(value)) >= TRILLION_B and float(value).is_integer()


def significant_figures(value: float) -> int:
    """Written significant figures; an integer's trailing zeros count (70 -> 2, 671 -> 3, 0.6 -> 1, 72.71 -> 4),
    except that a count of 1000B or more is read as stated in trillions (1600 = 1.6T -> 2)."""
    if _in_trillions(value):
        return significant_figures(float(value) / TRILLION_B)
    whole, frac = _digits(value)
    return max(1, len((whole + frac).lstrip("0")))


def last_digit_unit(value: float) -> float:
    """One unit of the last written digit: 70 -> 1, 72.71 -> 0.01, 0.6 -> 0.1; 1600 (1.6T) -> 100."""
    if _in_trillions(value):
        return last_digit_unit(float(value) / TRILLION_B) * TRILLION_B
    _, frac = _digits(value)
    return 10.0 ** -len(frac)


@dataclass(frozen=True)
class Verification:
    model_id: str
    status: str  # verified, mismatch, incomplete (architecture lacks numbers), no-stated-count
    count: ParamCount
    checks: tuple[Check, ...]
    reason: str

    @property
    def mismatches(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.agrees is False)


def verify(arch: Mapping[str, Any] | Any, model: Mapping[str, Any] | Any) -> Verification:
    """Compare the count from `arch` with `model`'s params_total_b / params_active_b."""
    count = count_params(arch, _get(model, "attention"))
    model_id = count.model_id or str(_get(model, "model_id") or "")
    if not count.ok:
        return Verification(model_id, "incomplete", count, (),
                            f"architecture row lacks {', '.join(count.missing)}")
    stated_total, stated_active = _get(model, "params_total_b"), _get(model, "params_active_b")
    checks = [Check("total", count.total / 1e9, None if stated_total is None else float(stated_total))]
    if _get(arch, "n_routed_experts") is not None or stated_active != stated_total:
        checks.append(Check("active", count.active / 1e9, None if stated_active is None else float(stated_active),
                            (count.active - count.input_embedding) / 1e9))
    stated = [c for c in checks if c.stated_b is not None]
    if not stated:
        return Verification(model_id, "no-stated-count", count, tuple(checks),
                            f"no official parameter count on the model row (computed {count.total / 1e9:.2f}B)")
    bad = [c for c in stated if not c.agrees]
    if not bad:
        return Verification(model_id, "verified", count, tuple(checks), "; ".join(
            f"{c.what} {c.computed_b:.2f}B vs stated {c.stated_b:g}B"
            + (f" ({c.convention})" if c.convention else "") for c in stated))
    reasons = []
    for c in bad:
        why = (f"the stated {c.stated_b:g}B is rounded to {significant_figures(c.stated_b)} significant figure(s)"
               if significant_figures(c.stated_b) <= 2 and abs(c.relative_diff) < 0.1
               else "the architecture row or the stated count is wrong, or the model has parts this count "
                    "does not cover (vision tower, extra modules)")
        reasons.append(f"{c.what}: computed {c.computed_b:.2f}B vs stated {c.stated_b:g}B "
                       f"({c.relative_diff:+.1%}); {why}")
    return Verification(model_id, "mismatch", count, tuple(checks), "; ".join(reasons))
