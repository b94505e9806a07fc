"""How fast it can decode: the bandwidth roofline (an upper bound, labelled as one) and the catalog's measured
runs, matched to catalog GPUs and compared with their own roofline."""

from __future__ import annotations

from dataclasses import dataclass

from modelmatch.planning.architecture import Architecture, PlanInputError
from modelmatch.planning.memory import KVCachePerToken, kv_cache_bytes_per_token
from modelmatch.planning.sequence_cache import SequenceCache
from modelmatch.planning.weights import moe_expert_params, weight_bytes
from modelmatch.planning.records import GB, DecisionCatalog, GpuSpec, MeasurementRow, ModelInfo
from modelmatch.planning.request import PRECISION_ALIASES, _gpu_codes, _tokens

@dataclass(frozen=True)
class Roofline:
    """The decode speed the GPUs' memory bandwidth allows at most (an upper bound), with its formula."""

    tokens_per_s: float | None  # aggregate over the concurrent sequences
    tokens_per_s_per_sequence: float | None
    bytes_per_step_per_gpu: float | None
    formula: str


@dataclass(frozen=True)
class MeasuredSpeed:
    """A measured run's speed as the planner shows it, with what it was measured on."""

    run_id: str
    engine: str
    hardware: str
    gpu_count: int | None
    precision: str | None
    concurrency: int | None
    input_len: int | None
    output_len: int | None
    output_tokens_per_s: float | None
    measured_at: str | None
    roofline_tokens_per_s: float | None
    measured_to_roofline_ratio: float | None
    comparison: str  # the ratio in words, or why there is none


@dataclass(frozen=True)
class SpeedEstimate:
    """A plan's speed: the bandwidth rooflines at one sequence and at the planned load, and measured runs."""

    batch1: Roofline  # one sequence decoding at the planned context
    at_concurrency: Roofline  # the planned number of sequences
    measurements: tuple[MeasuredSpeed, ...]
    measured_status: str
    notes: tuple[str, ...]


def _weights_read_per_step_b(model: ModelInfo, arch: Architecture | None, sequences: int, explain: bool = True
                             ) -> tuple[float | None, str]:
    """Billions of parameters one decode step reads, for `sequences` sequences decoding together (with how, unless
    explain is False: then the text is empty)."""
    active = model.active_params_b
    if model.architecture != "moe":
        if model.params_total_b is None:
            return None, f"no official parameter count for {model.model_id} in the catalog"
        return model.params_total_b, f"{model.params_total_b:g}B parameters (dense: all of them every step)"
    if active is None:
        return None, f"no official active-parameter count for {model.model_id} in the catalog"
    if sequences == 1:
        return active, f"{active:g}B active parameters (MoE, one sequence)"
    expert = moe_expert_params(arch)
    total = model.params_total_b
    if expert is None:
        return total, (f"{total:g}B parameters: with {sequences} sequences the routed experts they touch cannot be "
                       "estimated (the catalog lacks hidden_size, moe_intermediate_size, first_k_dense or expert "
                       "counts for this model), so every weight is counted as read each step")
    per_expert, moe_layers, expert_text = expert
    e, k = arch.n_routed_experts, arch.experts_per_token
    # Under uniform routing each sequence picks k of E experts per layer; the expected number of distinct experts
    # touched by all sequences is E x (1 - (1 - k/E)^sequences).
    distinct = e * (1 - (1 - k / e) ** sequences)
    always = active * 1e9 - moe_layers * k * per_expert
    read = min(total * 1e9, always + moe_layers * distinct * per_expert) / 1e9
    if not explain:
        return read, ""
    return read, (f"{read:,.1f}B parameters: {active:g}B active minus the routed experts, plus {distinct:,.1f} "
                  f"distinct experts of {e} expected per layer for {sequences} sequences (uniform routing; "
                  f"{expert_text}, {moe_layers} MoE layers)")


def roofline(model: ModelInfo, arch: Architecture | None, precision: str, kv: KVCachePerToken, gpu: GpuSpec,
             gpu_count: int, context_tokens: int, sequences: int, cache: SequenceCache | None = None,
             explain: bool = True) -> Roofline:
    """Decode roofline: tokens/s <= bandwidth / bytes read per step (weights touched + KV cache of every sequence).
    explain=False (the wizard's what-ifs, which read only the numbers): the same numbers, the formula left empty
    where there is a roofline."""
    if gpu.memory_bandwidth_gbps is None:
        return Roofline(None, None, None, f"no official memory bandwidth for {gpu.name} in the catalog, so there is "
                                          "no roofline; enter a bandwidth you trust to see one (it will be labelled "
                                          "as yours)")
    params_b, params_text = _weights_read_per_step_b(model, arch, sequences, explain)
    if params_b is None:
        return Roofline(None, None, None, f"no roofline: {params_text}")
    if cache is not None and cache.ok:
        # The cache one decode step reads: windows and fixed states included, DSA's top-k selection applied.
        kv_gb = cache.decode_read_bytes(context_tokens) * sequences / GB
    elif not kv.ok:
        return Roofline(None, None, None, f"no roofline: {kv.formula}")
    else:
        kv_gb = kv.bytes_per_token * context_tokens * sequences / GB
    weights_gb = weight_bytes(params_b, precision, arch).bytes / GB / gpu_count
    step_gb = weights_gb + kv_gb
    per_step_s = step_gb / gpu.memory_bandwidth_gbps
    tokens_per_s = sequences / per_step_s
    if not explain:
        return Roofline(tokens_per_s, tokens_per_s / sequences, step_gb * GB, "")
    seq_text = f"{sequences} sequences × " if sequences > 1 else ""
    yours = " (user-entered)" if gpu.bandwidth_source == "user-entered" else ""
    bw_text = f"{gpu.memory_bandwidth_gbps:,g} GB/s{yours}"
    formula = (f"{seq_text}{bw_text} ÷ ({weights_gb:,.2f} GB of weights per GPU [{params_text}] + {kv_gb:,.3f} GB "
               f"of KV cache at {context_tokens:,} tokens{f' × {sequences} sequences' if sequences > 1 else ''}"
               f") = {tokens_per_s:,.1f} tokens/s")
    return Roofline(tokens_per_s, tokens_per_s / sequences, step_gb * GB, formula)


def match_hardware(catalog: DecisionCatalog, hardware: str) -> GpuSpec | None:
    """The catalog GPU a measurement's nvidia-smi / rocm-smi name refers to, or None when it cannot be told."""
    # Asked for every measured run of every candidate model in every what-if; the answer reads only the GPU rows.
    return catalog.derived(("match_hardware", hardware), lambda: _match_hardware(catalog, hardware))


def _match_hardware(catalog: DecisionCatalog, hardware: str) -> GpuSpec | None:
    hw = _tokens(hardware)
    candidates = []
    for gpu in catalog.gpus.values():
        codes = _gpu_codes(gpu.name)
        if not codes or codes[0] not in hw:
            continue
        memory = f"{gpu.memory_gb:g}GB"
        if any(t.endswith("GB") for t in hw) and memory not in hw:
            continue
        candidates.append(gpu)
    if len(candidates) > 1:
        # PCIe and NVL boards carry their form factor in the driver's name; SXM boards usually do not.
        named = [g for g in candidates if (g.form_factor or "").upper() in hw]
        candidates = named or [g for g in candidates if (g.form_factor or "").upper() in ("SXM", "")]
    return candidates[0] if len(candidates) == 1 else None


def _precision_of(row: MeasurementRow) -> str | None:
    if row.quantization:
        q = row.quantization.lower()
        # "GPTQ-Int8" names both a method and a width: the width decides, so int8 is looked for first.
        if "gptq" in q and "int8" in q:
            return "int8-gptq"
        for word, key in (("int8", "int8"), ("awq", "int4-awq"), ("gptq", "int4-awq"), ("q4_k_m", "gguf-q4_k_m"),
                          ("q8_0", "gguf-q8_0"), ("fp8", "fp8")):
            if word in q:
                return key
        return None
    return PRECISION_ALIASES.get(row.dtype.lower())


def measured_speeds(catalog: DecisionCatalog, model: ModelInfo, arch: Architecture | None, compare: bool = True
                    ) -> tuple[MeasuredSpeed, ...]:
    """The model's measured runs; with compare False, without the roofline of each run's configuration (ceiling,
    ratio and comparison left empty): the wizard only looks for a run of the planned configuration, and working out
    every run's roofline was a fifth of a recommendation's ranking."""
    out = []
    for row in catalog.measurements.get(model.model_id, ()):
        precision = _precision_of(row)
        gpu = match_hardware(catalog, row.hardware)
        ratio, ceiling = None, None
        if not compare:
            comparison = ""
        elif row.requests_ok > 0 and row.output_tokens_per_s is None and row.total_tokens_per_s is not None:
            comparison = (f"the published speed, {row.total_tokens_per_s:,.1f} tokens/s, counts prompt and generated "
                          "tokens over the whole request, so it is not a decode speed and has no roofline ratio")
        elif row.requests_ok == 0 or row.output_tokens_per_s is None:
            comparison = "no successful requests with a throughput in this run"
        elif precision is None:
            comparison = f"no roofline: cannot tell the weight format of dtype {row.dtype!r} / {row.quantization!r}"
        elif gpu is None:
            comparison = f"no roofline: cannot tell which catalog GPU {row.hardware!r} is"
        else:
            try:
                kv = kv_cache_bytes_per_token(arch or Architecture(model.model_id), model.attention, "bf16",
                                              row.gpu_count or 1)
                line = roofline(model, arch, precision, kv, gpu, row.gpu_count or 1,
                                (row.input_len or 0) + (row.output_len or 0), row.concurrency or 1)
            except PlanInputError as exc:
                line = Roofline(None, None, None, str(exc))
            ceiling = line.tokens_per_s
            if ceiling:
                ratio = row.output_tokens_per_s / ceiling
                comparison = (f"measured {row.output_tokens_per_s:,.1f} tokens/s = {ratio:.0%} of the "
                              f"{ceiling:,.1f} tokens/s roofline for this run's configuration on {gpu.name}")
            else:
                comparison = line.formula
        out.append(MeasuredSpeed(row.run_id, f"{row.engine} {row.engine_version}", row.hardware, row.gpu_count,
                                 precision, row.concurrency, row.input_len, row.output_len, row.output_tokens_per_s,
                                 row.measured_at, ceiling, ratio, comparison))
    return tuple(out)


def _matching_measurement(catalog: DecisionCatalog, measured: tuple[MeasuredSpeed, ...], gpu: GpuSpec,
                          gpu_count: int, precision: str, sequences: int) -> MeasuredSpeed | None:
    """A measured run of exactly the planned configuration (GPU, count, weights, concurrency), if there is one."""
    for m in measured:
        if (m.output_tokens_per_s and m.precision == precision and (m.gpu_count or 1) == gpu_count
                and (m.concurrency or 1) == sequences):
            hw = match_hardware(catalog, m.hardware)
            if hw is not None and hw.gpu_id == gpu.gpu_id:
                return m
    return None
