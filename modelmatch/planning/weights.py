"""Weight bytes per precision: the stored formats (bits per weight and what each keeps in 16-bit), the embedding
and output matrices, and one routed expert's parameters, each with the formula written out with the numbers filled
in."""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelmatch.planning.architecture import Architecture, PlanInputError, _fmt


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
    """The weights' size at one precision, with its formula (a lower bound where parts are unknown)."""

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
