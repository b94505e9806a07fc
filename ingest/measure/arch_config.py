"""Catalog architecture rows -> transformers configs, so a model can be built with random weights and no download.

Speed and memory do not depend on weight values, only on shapes; the shapes come from the catalog's
`architectures` row (official config.json or paper). A row that lacks a number the config needs is refused with
the missing fields named: nothing is guessed. Which transformers model class a family uses is a fixed table here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DENSE_FIELDS = ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim", "intermediate_size",
                "vocab_size")
MLA_MOE_FIELDS = ("num_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size",
                  "n_routed_experts", "n_shared_experts", "experts_per_token", "moe_intermediate_size",
                  "first_k_dense", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")

# (model_type, architecture) by the models table's `family`; DeepSeek's R1 distills are Qwen2 / Llama models.
_FAMILY_TYPES: dict[tuple[str, str], str] = {
    ("Qwen2", "dense"): "qwen2", ("Qwen2.5", "dense"): "qwen2", ("Qwen2.5-Coder", "dense"): "qwen2",
    ("Qwen2.5-Math", "dense"): "qwen2", ("Qwen3", "dense"): "qwen3", ("Qwen3", "moe"): "qwen3_moe",
    ("Qwen3-Coder", "moe"): "qwen3_moe", ("Llama 2", "dense"): "llama", ("Llama 3.1", "dense"): "llama",
    ("Yi-1.5", "dense"): "llama", ("Gemma 2", "dense"): "gemma2", ("Mixtral", "moe"): "mixtral",
    ("DeepSeek-V2", "moe"): "deepseek_v2", ("DeepSeek-Coder-V2", "moe"): "deepseek_v2",
    ("DeepSeek-V3", "moe"): "deepseek_v3", ("DeepSeek-R1", "moe"): "deepseek_v3",
    # Hybrid linear attention (Gated DeltaNet layers with a full-attention layer every few): text models only.
    ("Qwen3-Next", "moe"): "qwen3_next", ("Qwen3.5", "moe"): "qwen3_5_moe_text", ("Qwen3.5", "dense"): "qwen3_5_text",
}
HYBRID_TYPES = ("qwen3_next", "qwen3_5_moe_text", "qwen3_5_text")
HYBRID_FIELDS = ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim", "vocab_size",
                 "full_attention_interval", "linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim",
                 "linear_value_head_dim", "linear_conv_kernel_dim")
HYBRID_MOE_FIELDS = ("n_routed_experts", "experts_per_token", "moe_intermediate_size",
                     "shared_expert_intermediate_size")


@dataclass
class BuildSpec:
    model_id: str
    model_type: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    problem: str = ""  # why it cannot be built (empty when it can)
    notes: list[str] = field(default_factory=list)
    layers_total: int | None = None
    layers_built: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def truncated(self) -> bool:
        return self.layers_built is not None and self.layers_total is not None and self.layers_built < self.layers_total


def model_type_for(model: dict) -> str | None:
    model_id, family, architecture = model.get("model_id", ""), model.get("family") or "", model.get("architecture")
    if family == "DeepSeek-R1" and architecture == "dense":
        if "Distill-Qwen" in model_id:
            return "qwen2"
        if "Distill-Llama" in model_id:
            return "llama"
        return None
    return _FAMILY_TYPES.get((family, architecture or ""))


def _required(model_type: str) -> tuple[str, ...]:
    if model_type in ("deepseek_v2", "deepseek_v3"):
        return MLA_MOE_FIELDS
    if model_type == "mixtral":
        return DENSE_FIELDS + ("n_routed_experts", "experts_per_token")
    if model_type in ("qwen3_next", "qwen3_5_moe_text"):
        return HYBRID_FIELDS + HYBRID_MOE_FIELDS
    if model_type == "qwen3_5_text":
        return HYBRID_FIELDS + ("intermediate_size",)
    if model_type == "qwen3_moe":
        return ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim", "vocab_size",
                "n_routed_experts", "experts_per_token", "moe_intermediate_size")
    return DENSE_FIELDS


def build_spec(model: dict, arch: dict | None, max_positions: int, max_layers: int | None = None) -> BuildSpec:
    """How to build `model` from its catalog rows, or why it cannot be built."""
    model_id = model["model_id"]
    model_type = model_type_for(model)
    if model_type is None:
        families = sorted({f for f, _ in _FAMILY_TYPES})
        return BuildSpec(model_id, None, problem=f"no transformers model class is known for family "
                                                 f"{model.get('family')!r} ({model.get('architecture')}); known "
                                                 f"families: {', '.join(families)}")
    if arch is None:
        return BuildSpec(model_id, model_type, problem="the catalog has no architecture row for it")
    missing = tuple(name for name in _required(model_type) if arch.get(name) is None)
    if missing:
        return BuildSpec(model_id, model_type, missing=missing,
                         problem=f"the catalog's architecture row has no {', '.join(missing)} (needed to build a "
                                 f"{model_type} config); add them from the official config.json")
    a = arch
    layers = int(a["num_layers"])
    built = min(layers, max_layers) if max_layers else layers
    spec = BuildSpec(model_id, model_type, layers_total=layers, layers_built=built)
    kw: dict[str, Any] = {
        "num_hidden_layers": built, "hidden_size": a["hidden_size"], "num_attention_heads": a["num_attention_heads"],
        "vocab_size": a["vocab_size"], "max_position_embeddings": max(int(a.get("max_position_embeddings") or 0),
                                                                       max_positions),
        "use_cache": True,
    }
    if a.get("intermediate_size") is not None:
        kw["intermediate_size"] = a["intermediate_size"]
    if model_type in ("deepseek_v2", "deepseek_v3"):
        kw.update(num_key_value_heads=a["num_attention_heads"], kv_lora_rank=a["kv_lora_rank"],
                  q_lora_rank=a.get("q_lora_rank"), qk_rope_head_dim=a["qk_rope_head_dim"],
                  qk_nope_head_dim=a["qk_nope_head_dim"], v_head_dim=a["v_head_dim"],
                  n_routed_experts=a["n_routed_experts"], n_shared_experts=a["n_shared_experts"],
                  num_experts_per_tok=a["experts_per_token"], moe_intermediate_size=a["moe_intermediate_size"],
                  first_k_dense_replace=min(a["first_k_dense"], built))
        if a.get("q_lora_rank") is None:
            spec.notes.append("q_lora_rank is empty in the catalog: built with uncompressed queries (DeepSeek-V2-Lite "
                              "has none)")
        if model_type == "deepseek_v3":
            spec.notes.append("expert-group routing settings (n_group, topk_group) are transformers' defaults: they "
                              "change which experts are picked, not how many")
    else:
        kw.update(num_key_value_heads=a["num_kv_heads"], head_dim=a["head_dim"])
        if model_type == "mixtral":
            kw.update(num_local_experts=a["n_routed_experts"], num_experts_per_tok=a["experts_per_token"])
        if model_type == "qwen3_moe":
            kw.update(num_experts=a["n_routed_experts"], num_experts_per_tok=a["experts_per_token"],
                      moe_intermediate_size=a["moe_intermediate_size"])
        if model_type == "gemma2" and a.get("sliding_window") is not None:
            kw["sliding_window"] = a["sliding_window"]
        if model_type in HYBRID_TYPES:
            if a.get("attn_output_gate") is not None and not _truthy(a["attn_output_gate"]):
                return BuildSpec(model_id, model_type, problem=f"transformers' {model_type} always gates the "
                                 "attention output, and the catalog's row says attn_output_gate false")
            interval = int(a["full_attention_interval"])
            # The same convention as the planner's hybrid layout: every interval-th layer is full attention.
            kw["layer_types"] = ["full_attention" if (i + 1) % interval == 0 else "linear_attention"
                                 for i in range(built)]
            kw.update({name: a[name] for name in HYBRID_FIELDS[6:] if name != "full_attention_interval"})
            if model_type != "qwen3_5_text":
                kw.update(num_experts=a["n_routed_experts"], num_experts_per_tok=a["experts_per_token"],
                          moe_intermediate_size=a["moe_intermediate_size"],
                          shared_expert_intermediate_size=a["shared_expert_intermediate_size"])
            if model_type == "qwen3_next":
                kw.update(decoder_sparse_step=1, mlp_only_layers=[])  # every layer MoE, as the row counts it
            spec.notes.append("hybrid: Gated DeltaNet layers run transformers' own kernels or its PyTorch fallback "
                              "when the optional fused kernels are not installed")
    if a.get("tie_word_embeddings") is not None:
        kw["tie_word_embeddings"] = bool(a["tie_word_embeddings"])
    else:
        spec.notes.append("tie_word_embeddings is empty in the catalog: transformers' default for "
                          f"{model_type} was used")
    if spec.truncated:
        spec.notes.append(f"TRUNCATED: {built} of {layers} layers built (a small proof run, not the model's speed)")
    spec.kwargs = kw
    return spec


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def make_config(spec: BuildSpec) -> Any:
    from transformers import AutoConfig

    return AutoConfig.for_model(spec.model_type, **spec.kwargs)
