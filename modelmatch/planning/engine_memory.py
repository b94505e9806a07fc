"""Memory per GPU as a serving engine allocates it: weights split by tensor, pipeline or expert parallelism (plus
the multi-token-prediction module when it is loaded), and the peak an engine reaches.

Engines differ in how they take memory:
- vLLM and SGLang preallocate a share of every GPU (`--gpu-memory-utilization`, `--mem-fraction-static`) at start:
  their peak is that share, and the question is whether weights, runtime and the needed cache fit inside it.
- Hugging Face transformers allocates as it goes: weights, the cache of the tokens in use, and the activations of
  the prompt's forward pass (prefill), which for long prompts is the largest transient. Several GPUs with
  `device_map="auto"` split the layers between them (a pipeline, run one stage at a time).

Every function returns its formula with the numbers filled in, and names what the catalog lacks instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelmatch.planning.architecture import Architecture, PlanInputError
from modelmatch.planning.sequence_cache import SequenceCache
from modelmatch.planning.weights import PRECISIONS, embedding_params, moe_expert_params, weight_bytes

ENGINES = ("vllm", "sglang", "transformers")
PREALLOCATING_ENGINES = ("vllm", "sglang")
ENGINE_LABELS = {"vllm": "vLLM (preallocates its share of each GPU)",
                 "sglang": "SGLang (preallocates its share of each GPU)",
                 "transformers": "Hugging Face transformers (allocates weights, cache in use and activations)"}
# Prefill activations held at once in a decoder layer, in units of prompt tokens x hidden size x 2 bytes: the residual
# stream, the normalised input, the attention output and RMSNorm's float32 upcast (two 16-bit units).
HIDDEN_COPIES = 4
# Gate, up and their SwiGLU product are alive together in a gated MLP: three prompt x intermediate tensors.
MLP_COPIES = 3
ACTIVATION_BYTES = 2


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise PlanInputError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return engine


@dataclass(frozen=True)
class Parallelism:
    """How the GPUs share the model. gpus = tensor x pipeline; expert parallel spreads the routed experts over all."""

    tensor: int = 1
    pipeline: int = 1
    expert: bool = False

    @property
    def gpus(self) -> int:
        return self.tensor * self.pipeline

    @property
    def text(self) -> str:
        parts = [f"tensor parallel {self.tensor}"]
        if self.pipeline > 1:
            parts.append(f"pipeline parallel {self.pipeline}")
        if self.expert:
            parts.append(f"expert parallel over {self.gpus} GPUs (attention and dense layers replicated)")
        return ", ".join(parts)


def parallelism_for(engine: str, gpu_count: int, pipeline_parallel: int = 1, expert_parallel: bool = False
                    ) -> Parallelism:
    """The split an engine uses for `gpu_count` GPUs. transformers with device_map="auto" splits layers only."""
    check_engine(engine)
    if not isinstance(pipeline_parallel, int) or pipeline_parallel < 1:
        raise PlanInputError(f"pipeline-parallel size must be a whole number of at least 1, got {pipeline_parallel!r}")
    if engine == "transformers":
        if expert_parallel:
            raise PlanInputError("impossible combination: transformers has no expert parallelism; choose vLLM or "
                                 "SGLang, or turn expert parallelism off")
        return Parallelism(1, gpu_count, False)
    if gpu_count % pipeline_parallel != 0:
        raise PlanInputError(f"impossible combination: {gpu_count} GPUs cannot form {pipeline_parallel} pipeline "
                             "stages of equal size")
    if expert_parallel and pipeline_parallel > 1:
        raise PlanInputError("this planner models expert parallelism without pipeline stages; set pipeline "
                             "parallel to 1")
    return Parallelism(gpu_count // pipeline_parallel, pipeline_parallel, expert_parallel)


@dataclass(frozen=True)
class WeightsPerGpu:
    """The weights one GPU holds under the engine's split of the model, with its formula."""

    total_bytes: float
    per_gpu_bytes: float
    formula: str
    notes: tuple[str, ...]
    lower_bound: bool
    mtp_bytes: float = 0.0


def _bytes_per_param(precision: str) -> float:
    return PRECISIONS[precision].bits_per_weight / 8


def weights_per_gpu(params_total_b: float, precision: str, arch: Architecture | None, par: Parallelism,
                    include_mtp: bool = False, architecture: str | None = None) -> WeightsPerGpu:
    """Weights on the busiest GPU. Tensor parallel divides every matrix; a pipeline stage holds its share of the
    layers plus one embedding matrix (input on the first stage, output on the last); expert parallel keeps the
    attention and dense parts whole on every GPU and divides the routed experts."""
    notes: list[str] = []
    params_b = params_total_b
    mtp_b = 0.0
    if include_mtp:
        if arch is None or arch.mtp_params_b is None:
            notes.append("multi-token-prediction weights asked for, but the catalog has no MTP parameter count for "
                         "this model: not counted")
        else:
            mtp_b = arch.mtp_params_b
            params_b += mtp_b
            notes.append(f"includes the {mtp_b:g}B multi-token-prediction module (loaded for MTP speculative "
                         "decoding)")
    wb = weight_bytes(params_b, precision, arch)
    notes.extend(wb.notes)
    total = wb.bytes
    mtp_bytes = weight_bytes(mtp_b, precision, None).bytes if mtp_b else 0.0
    formula = wb.formula
    if par.expert:
        expert = moe_expert_params(arch) if architecture == "moe" else None
        if expert is None:
            raise PlanInputError("expert parallelism needs the routed experts' size: the catalog lacks hidden_size, "
                                 "moe_intermediate_size, first_k_dense or expert counts for this model (or it is "
                                 "not MoE)")
        per_expert, moe_layers, text = expert
        experts_bytes = per_expert * arch.n_routed_experts * moe_layers * _bytes_per_param(precision)
        rest = max(total - experts_bytes, 0.0)
        per_gpu = rest + experts_bytes / par.gpus
        formula += (f"; routed experts {moe_layers} MoE layers × {arch.n_routed_experts} experts × ({text}) = "
                    f"{experts_bytes / 1e9:,.2f} GB split over {par.gpus} GPUs, the other {rest / 1e9:,.2f} GB on "
                    f"every GPU = {per_gpu / 1e9:,.2f} GB per GPU")
        return WeightsPerGpu(total, per_gpu, formula, tuple(notes), wb.lower_bound, mtp_bytes)
    stage = total
    if par.pipeline > 1:
        emb, emb_text, _ = embedding_params(arch)
        if emb is None:
            stage = total / par.pipeline
            formula += f"; ÷ {par.pipeline} pipeline stages = {stage / 1e9:,.2f} GB per stage"
            notes.append("no vocab_size or hidden_size in the catalog: the embedding matrices are spread evenly over "
                         "the pipeline stages, although the first and last stage really hold one each")
        else:
            matrices = 1 if arch.tie_word_embeddings else 2
            emb_bytes = emb * (2 if PRECISIONS[precision].embeddings_16bit else _bytes_per_param(precision))
            one_matrix = emb_bytes / matrices
            stage = (total - emb_bytes) / par.pipeline + one_matrix
            formula += (f"; busiest pipeline stage = ({total / 1e9:,.2f} GB − {emb_bytes / 1e9:,.2f} GB embeddings "
                        f"[{emb_text}]) ÷ {par.pipeline} stages + one embedding matrix {one_matrix / 1e9:,.2f} GB = "
                        f"{stage / 1e9:,.2f} GB")
    per_gpu = stage / par.tensor
    if par.tensor > 1:
        formula += f"; ÷ {par.tensor} tensor-parallel GPUs = {per_gpu / 1e9:,.2f} GB per GPU"
    return WeightsPerGpu(total, per_gpu, formula, tuple(notes), wb.lower_bound, mtp_bytes)


@dataclass(frozen=True)
class Activations:
    """The largest transient memory of a prompt's forward pass, with its formula (None when unknown)."""

    bytes: float | None
    formula: str
    missing: tuple[str, ...] = ()


def prefill_activations(arch: Architecture | None, architecture: str | None, prompt_tokens: int, tensor: int = 1
                        ) -> Activations:
    """Largest transient of a prompt's forward pass in one layer (transformers, flash attention, batch 1).

    Dense: prompt x (4 x hidden + 3 x intermediate) x 2 bytes. MoE (experts run one after another): the hidden
    copies, the router's float32 logits, and the gated MLP of the tokens one expert receives on average (prompt x k /
    experts), or of a leading dense layer when there is one. Only the last token's logits are computed.
    """
    p = prompt_tokens
    if arch is None:
        return Activations(None, "no architecture row: prefill activations cannot be computed", ("architecture row",))
    need = ["hidden_size"]
    if architecture == "moe":
        need += ["moe_intermediate_size", "experts_per_token", "n_routed_experts"]
        if arch.first_k_dense:
            need.append("intermediate_size")
    else:
        need.append("intermediate_size")
    missing = tuple(n for n in need if getattr(arch, n) is None)
    if missing:
        return Activations(None, f"prefill activations need {', '.join(missing)}, which the catalog lacks for "
                                 f"{arch.model_id}", missing)
    h = arch.hidden_size
    hidden = HIDDEN_COPIES * p * h * ACTIVATION_BYTES
    if architecture == "moe":
        e, k, mi = arch.n_routed_experts, arch.experts_per_token, arch.moe_intermediate_size
        per_expert_tokens = -(-p * k // e)
        mlp = MLP_COPIES * per_expert_tokens * (mi // tensor) * ACTIVATION_BYTES
        mlp_text = f"{MLP_COPIES} × ⌈{p:,} × {k} / {e}⌉ tokens per expert × {mi // tensor:,} moe_intermediate"
        if arch.first_k_dense:
            dense = MLP_COPIES * p * (arch.intermediate_size // tensor) * ACTIVATION_BYTES
            if dense > mlp:
                mlp, mlp_text = dense, f"{MLP_COPIES} × {p:,} × {arch.intermediate_size // tensor:,} intermediate"
        router = p * e * 4
        total = hidden + mlp + router
        formula = (f"{HIDDEN_COPIES} × {p:,} prompt tokens × {h:,} hidden × 2 bytes + {mlp_text} × 2 bytes + "
                   f"{p:,} × {e} router logits × 4 bytes = {total / 1e9:,.3f} GB")
        return Activations(total, formula)
    inter = arch.intermediate_size // tensor
    mlp = MLP_COPIES * p * inter * ACTIVATION_BYTES
    total = hidden + mlp
    formula = (f"{p:,} prompt tokens × ({HIDDEN_COPIES} × {h:,} hidden + {MLP_COPIES} × {inter:,} intermediate) × 2 "
               f"bytes = {total / 1e9:,.3f} GB")
    return Activations(total, formula)


@dataclass(frozen=True)
class EnginePeak:
    """The peak memory per GPU an inference engine is predicted to allocate, with its formula."""

    engine: str
    peak_gb: float | None  # predicted peak allocated memory per GPU
    formula: str
    lower_bound: bool
    missing: tuple[str, ...]


def engine_peak(engine: str, gpu_memory_gb: float, utilization: float, weights_gb: float, cache: SequenceCache,
                context_tokens: int, prompt_tokens: int, sequences: int, activations: Activations,
                weights_lower_bound: bool = False) -> EnginePeak:
    """Predicted peak memory per GPU for the engine.

    vLLM / SGLang: their preallocated share, utilization x GPU memory (weights, cache pool and runtime live inside).
    transformers: weights + the larger of (cache of the prompt + prefill activations) and (cache of the whole
    context at the end of decoding): what torch.cuda.max_memory_allocated reports.
    """
    if engine in PREALLOCATING_ENGINES:
        peak = gpu_memory_gb * utilization
        return EnginePeak(engine, peak, f"{engine} preallocates {utilization:g} × {gpu_memory_gb:g} GB = {peak:,.2f} GB "
                                        "per GPU at start (weights, cache pool and runtime live inside it)",
                          False, ())
    missing = list(cache.missing) + list(activations.missing)
    kv_prompt = cache.bytes_for(prompt_tokens)
    kv_context = cache.bytes_for(context_tokens)
    if cache.not_modelled:
        return EnginePeak(engine, None, f"not modelled: {cache.not_modelled}", True, tuple(missing) or
                          ("attention_not_modelled",))
    kv_prompt_gb = (kv_prompt or 0) * sequences / 1e9
    kv_context_gb = (kv_context or 0) * sequences / 1e9
    act_gb = (activations.bytes or 0) * sequences / 1e9
    prefill = kv_prompt_gb + act_gb
    peak = weights_gb + max(prefill, kv_context_gb)
    lower = bool(missing) or weights_lower_bound
    formula = (f"{weights_gb:,.2f} GB weights + max(prefill: {kv_prompt_gb:,.3f} GB cache of {prompt_tokens:,} prompt "
               f"tokens + {act_gb:,.3f} GB activations, end of decoding: {kv_context_gb:,.3f} GB cache of "
               f"{context_tokens:,} tokens) = {peak:,.2f} GB per GPU")
    if missing:
        formula += f" (lower bound: the catalog lacks {', '.join(dict.fromkeys(missing))})"
    return EnginePeak(engine, peak, formula, lower, tuple(dict.fromkeys(missing)))
