"""`python -m ingest measure-local`: speed and memory of catalog architectures, built with random weights on the
device (no download: speed and memory depend on shapes, not on weight values).

For each model and batch size it times a prefill of `prompt_len` tokens and `decode_steps` greedy decode steps, on
one or more code paths:
- static-cache+compile: a StaticCache and the decode step under torch.compile(mode="reduce-overhead",
  fullgraph=True), the fast path transformers documents ("LLM inference optimization"); CUDA graphs on a GPU;
- static-cache: the same without compiling;
- eager: the default DynamicCache.
It also measures the KV cache: the allocator's growth (torch.cuda.memory_allocated) between two known numbers of
cached tokens on a GPU, the bytes of the cache tensors themselves on a CPU, against the planner's formula
(modelmatch.planning.memory); and batch-1 decode as a fraction of the memory-bandwidth roofline of the GPU (bandwidth from
the catalog's gpus table, matched by nvidia-smi's name).
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from modelmatch.planning.architecture import Architecture
from modelmatch.planning.memory import kv_cache_bytes_per_token
from modelmatch.planning.sequence_cache import sequence_cache
from modelmatch.chat.timing import Distribution

from ingest.measure import hardware
from ingest.measure.arch_config import BuildSpec, build_spec, make_config
from ingest.measure.records import RowProblem, session_paths, slug, utc_now, write_session
from ingest.validate import validate

# The list (catalog ids); rows the catalog cannot build are reported as skipped, with the missing fields.
# In priority order: the models people choose between, then one of each layout (MLA + MoE, MoE, sliding window,
# hybrid linear attention); a run that hits its time limit keeps the first ones.
DEFAULT_MODELS = (
    "Qwen/Qwen3-8B", "Qwen/Qwen2.5-7B-Instruct", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    "meta-llama/Llama-3.1-8B-Instruct", "deepseek-ai/DeepSeek-V2-Lite-Chat", "Qwen/Qwen3-30B-A3B",
    "google/gemma-2-9b-it", "Qwen/Qwen3.5-9B", "Qwen/Qwen3.5-35B-A3B",
)
PATHS = ("static-cache+compile", "static-cache", "eager")
GB = 1e9


class LocalMeasureError(Exception):
    pass


@dataclass
class Catalog:
    models: dict[str, dict]
    architectures: dict[str, dict]
    gpus: list[dict]


def read_catalog(data_dir: Path) -> Catalog:
    result = validate(data_dir)
    rows = lambda name: [r.values for r in result.tables.get(name, [])]  # noqa: E731
    return Catalog({m["model_id"]: m for m in rows("models")}, {a["model_id"]: a for a in rows("architectures")},
                   rows("gpus"))


@dataclass
class Timed:
    prefill_s: list[float] = field(default_factory=list)
    decode_s: list[float] = field(default_factory=list)
    started_s: list[float] = field(default_factory=list)
    peak_memory_bytes: int | None = None


@dataclass
class ModelBuilt:
    spec: BuildSpec
    model: Any
    config: Any
    params: int
    weight_bytes: int
    build_s: float


# ---------------------------------------------------------------------------------------------------------------
# Device helpers


class Device:
    def __init__(self, name: str):
        import torch

        self.torch = torch
        self.name = name
        self.cuda = name.startswith("cuda")

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def now(self) -> float:
        self.sync()
        return time.perf_counter()

    def allocated(self) -> int | None:
        return self.torch.cuda.memory_allocated() if self.cuda else None

    def free_bytes(self) -> int | None:
        if self.cuda:
            return self.torch.cuda.mem_get_info()[0]
        return hardware.available_ram_bytes()

    def empty(self) -> None:
        import gc

        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()

    def is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, getattr(self.torch, "OutOfMemoryError", ())) or "out of memory" in str(exc).lower()


def _params(n: int) -> str:
    return f"{n / 1e9:,.2f}B" if n >= 1e8 else f"{n / 1e6:,.3g}M"


def _count_params(config: Any) -> tuple[int, int]:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    return params, sum(p.numel() * p.element_size() for p in model.parameters())


def build_model(spec: BuildSpec, device: Device, seed: int) -> ModelBuilt:
    import torch
    from transformers import AutoModelForCausalLM

    config = make_config(spec)
    started = time.perf_counter()
    torch.manual_seed(seed)
    with torch.device(device.name):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.eval()
    device.sync()
    params = sum(p.numel() for p in model.parameters())
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return ModelBuilt(spec, model, model.config, params, weight_bytes, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------------------
# KV cache


def _cache_tensor_bytes(cache: Any) -> int:
    import torch

    total = 0
    for layer in getattr(cache, "layers", []):
        for value in vars(layer).values():
            if torch.is_tensor(value) and value.dim() >= 3:
                total += value.numel() * value.element_size()
    return total


def kv_interval(tokens: int) -> tuple[int, int]:
    """The two cache sizes whose difference is measured (constant overheads cancel)."""
    return max(1, tokens // 2), max(2, tokens)


def formula_over_interval(arch: dict, attention: str | None, tokens: int) -> tuple[float | None, str]:
    """The planner's cache growth per token between the same two cache sizes the measurement uses: a sliding-window
    layer grows until its window is full, so below the window it counts, and above it does not."""
    low, high = kv_interval(tokens)
    cache = sequence_cache(Architecture.from_row(arch), attention, "bf16")
    if not cache.ok:
        return None, cache.message
    growth = (cache.bytes_for(high) - cache.bytes_for(low)) / (high - low)
    windows = [p.window_tokens for p in cache.parts if p.window_tokens is not None]
    note = (f"; between {low} and {high} cached tokens the planner's cache grows by {growth:,.0f} bytes per token "
            f"(window(s) of {', '.join(f'{w:,}' for w in windows)} tokens)" if windows else "")
    return growth, note


def measure_kv_bytes_per_token(built: ModelBuilt, device: Device, tokens: int, seed: int) -> tuple[float, str]:
    """KV-cache bytes per cached token: the growth between caches of tokens/2 and tokens tokens (so constant
    overheads cancel). On CUDA from the allocator; on a CPU from the cache tensors' own sizes."""
    import torch
    from transformers import DynamicCache

    model = built.model
    low, high = kv_interval(tokens)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.randint(0, built.config.vocab_size, (1, high), generator=gen).to(device.name)

    def cached(n: int) -> tuple[int | None, int]:
        device.empty()
        before = device.allocated()
        cache = DynamicCache(config=model.config)
        with torch.inference_mode():
            out = model(input_ids=ids[:, :n], past_key_values=cache, use_cache=True, logits_to_keep=1)
        del out
        device.sync()
        grown = None if before is None else device.allocated() - before
        held = _cache_tensor_bytes(cache)
        del cache
        return grown, held

    cached(low)  # first forward allocates lazily built buffers (rotary tables, masks); keep them out
    grown_low, held_low = cached(low)
    grown_high, held_high = cached(high)
    tensors = (held_high - held_low) / (high - low)
    if grown_low is not None and grown_high is not None:
        measured = (grown_high - grown_low) / (high - low)
        return measured, (f"allocator growth (torch.cuda.memory_allocated) between {low} and {high} cached tokens; "
                          f"the cache tensors themselves: {tensors:,.0f} bytes/token")
    return tensors, (f"sum of the cache tensors' bytes between {low} and {high} cached tokens (a CPU has no "
                     "allocator counter)")


# ---------------------------------------------------------------------------------------------------------------
# Timing one configuration


def _decode_step(model: Any) -> Callable:
    def step(token, cache_position, cache):
        logits = model(input_ids=token, cache_position=cache_position, past_key_values=cache, use_cache=True,
                       return_dict=False)[0]
        return logits[:, -1].argmax(-1, keepdim=True)

    return step


def time_configuration(built: ModelBuilt, device: Device, path: str, batch: int, prompt_len: int, steps: int,
                       repeats: int, seed: int) -> Timed:
    """Warm up once (compiles on the compiled path), then time `repeats` prefill + decode runs."""
    import torch
    from transformers import DynamicCache, StaticCache

    model = built.model
    gen = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.randint(0, built.config.vocab_size, (batch, prompt_len), generator=gen).to(device.name)
    max_len = prompt_len + steps + 1
    static = path.startswith("static")
    cache = StaticCache(config=model.config, max_cache_len=max_len) if static else None
    step = _decode_step(model)
    if path == "static-cache+compile":
        import torch._dynamo

        torch._dynamo.config.cache_size_limit = max(64, torch._dynamo.config.cache_size_limit)
        step = torch.compile(step, mode="reduce-overhead", fullgraph=True)
    mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)

    def once(timed: Timed | None) -> None:
        if static:
            cache.reset()
            run_cache = cache
        else:
            run_cache = DynamicCache(config=model.config)
        start = device.now()
        out = model(input_ids=ids, past_key_values=run_cache, use_cache=True, logits_to_keep=1,
                    cache_position=torch.arange(prompt_len, device=device.name))
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        del out
        prefilled = device.now()
        position = prompt_len
        for _ in range(steps):
            if mark is not None and path == "static-cache+compile":
                mark()
            token = step(token.clone(), torch.tensor([position], device=device.name), run_cache)
            position += 1
        done = device.now()
        if timed is not None:
            timed.started_s.append(start)
            timed.prefill_s.append(prefilled - start)
            timed.decode_s.append(done - prefilled)

    # One inference-mode scope for the whole configuration: the static cache's tensors are created inside it and
    # must be reset inside it.
    with torch.inference_mode():
        once(None)  # warm-up: compilation, CUDA graph capture, allocator growth; never timed
        if device.cuda:
            torch.cuda.reset_peak_memory_stats()
        timed = Timed()
        for _ in range(repeats):
            once(timed)
    if device.cuda:
        timed.peak_memory_bytes = torch.cuda.max_memory_allocated()
    return timed


# ---------------------------------------------------------------------------------------------------------------
# Roofline


def weights_read_per_step(built: ModelBuilt, batch: int) -> tuple[float, str]:
    """Bytes of weights one decode step reads for `batch` sequences: every weight except the input embedding (a
    lookup reads `batch` rows; tied embeddings are read whole as the output matrix), and for MoE the routed experts
    the batch is expected to touch under uniform routing: a share 1 - (1 - k/E)^batch of them."""
    config = built.config
    tied = bool(getattr(config, "tie_word_embeddings", False))
    k = getattr(config, "num_experts_per_tok", None)
    experts = (getattr(config, "n_routed_experts", None) or getattr(config, "num_local_experts", None)
               or getattr(config, "num_experts", None))
    dense = routed = 0
    for name, p in built.model.named_parameters():
        size = p.numel() * p.element_size()
        if "embed_tokens" in name and not tied:
            continue
        if ".experts." in name and "shared" not in name:
            routed += size
        else:
            dense += size
    if routed and k and experts:
        share = 1 - (1 - k / experts) ** batch
        return dense + routed * share, (f"{dense / GB:,.2f} GB always read + {routed / GB:,.2f} GB routed experts × "
                                        f"{share:.3f} touched ({k} of {experts} per token, {batch} sequence(s))")
    return dense + routed, f"{(dense + routed) / GB:,.2f} GB of weights (all read every step)"


def roofline(built: ModelBuilt, kv_per_token: float | None, bandwidth_gbps: float | None, batch: int,
             prompt_len: int, steps: int) -> tuple[float | None, str]:
    if bandwidth_gbps is None or kv_per_token is None:
        return None, ""
    weights, text = weights_read_per_step(built, batch)
    context = prompt_len + 1 + steps / 2  # mean cached tokens over the timed decode
    kv = kv_per_token * context * batch
    tokens_per_s = batch * bandwidth_gbps * GB / (weights + kv)
    return tokens_per_s, (f"roofline {batch} × {bandwidth_gbps:,g} GB/s ÷ ({text} + {kv / GB:,.3f} GB KV cache at "
                          f"{context:,.0f} tokens) = {tokens_per_s:,.1f} tok/s")


# ---------------------------------------------------------------------------------------------------------------
# The command


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise LocalMeasureError(f"--batch-sizes must be whole numbers separated by commas, got {text!r}")
    if not sizes or any(s < 1 for s in sizes):
        raise LocalMeasureError(f"--batch-sizes needs at least one size, each at least 1, got {text!r}")
    return sizes


def _choose_device(requested: str | None) -> str:
    import torch

    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise LocalMeasureError(f"--device {requested}: torch sees no CUDA GPU on this machine "
                                f"(torch {torch.__version__})")
    if not requested.startswith(("cuda", "cpu")):
        raise LocalMeasureError("--device is cuda or cpu")
    return requested


def _choose_models(args, catalog: Catalog, out: TextIO) -> list[str]:
    if args.model:
        unknown = [m for m in args.model if m not in catalog.models]
        if unknown:
            raise LocalMeasureError(f"not in the catalog's models: {', '.join(unknown)}")
        return list(dict.fromkeys(args.model))
    if args.all:
        return sorted(catalog.architectures)
    return [m for m in DEFAULT_MODELS if m in catalog.models]


def largest_dense_that_fits(catalog: Catalog, free_bytes: int | None, exclude: list[str], max_positions: int,
                            headroom: float = 0.8) -> tuple[str | None, str]:
    """The catalog's largest buildable dense model whose bf16 weights fit in `headroom` of the free memory."""
    if free_bytes is None:
        return None, "free memory unknown"
    best: tuple[int, str] | None = None
    for model_id, arch in catalog.architectures.items():
        model = catalog.models.get(model_id)
        if model is None or model.get("architecture") != "dense" or model_id in exclude:
            continue
        spec = build_spec(model, arch, max_positions)
        if not spec.ok:
            continue
        _, weight_bytes = _count_params(make_config(spec))
        if weight_bytes <= free_bytes * headroom and (best is None or weight_bytes > best[0]):
            best = (weight_bytes, model_id)
    if best is None:
        return None, "no buildable dense model fits"
    return best[1], f"{best[1]}: {best[0] / GB:,.1f} GB of bf16 weights, {free_bytes / GB:,.1f} GB free"


def run(args, data_dir: Path, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stderr
    try:
        return _run(args, data_dir, out)
    except LocalMeasureError as exc:
        print(f"error: {exc}", file=out)
        return 2


def _run(args, data_dir: Path, out: TextIO) -> int:
    import torch
    import transformers

    for name in ("prompt_len", "decode_steps", "repeats", "kv_tokens"):
        if getattr(args, name) < 1:
            raise LocalMeasureError(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_layers is not None and args.max_layers < 1:
        raise LocalMeasureError("--max-layers must be at least 1")
    long_prompt = getattr(args, "long_prompt_len", None)
    if long_prompt is not None and long_prompt < 1:
        raise LocalMeasureError("--long-prompt-len must be at least 1")
    copy_mib = getattr(args, "copy_mib", None)
    if copy_mib is not None and copy_mib < 0:
        raise LocalMeasureError("--copy-mib must be 0 (no copy measurement) or more")
    sizes = _parse_sizes(args.batch_sizes)
    device = Device(_choose_device(args.device))
    paths = [p.strip() for p in (args.paths or ("static-cache+compile" if device.cuda else "eager")).split(",")
             if p.strip()]
    bad = [p for p in paths if p not in PATHS]
    if bad:
        raise LocalMeasureError(f"unknown path(s) {', '.join(bad)}; choose from {', '.join(PATHS)}")
    fallback_to_eager = args.paths is None and device.cuda

    out_dir = args.out
    if out_dir is None:
        out_dir = data_dir if device.cuda else None
    writes_into_data = out_dir is not None and Path(out_dir).resolve() == Path(data_dir).resolve()
    if args.max_layers and writes_into_data:
        raise LocalMeasureError("--max-layers builds truncated models: their rows never go into the data folder; "
                                "pass --out to another folder, or leave --max-layers out")

    catalog = read_catalog(data_dir)
    max_positions = max(args.prompt_len, long_prompt or 0) + args.decode_steps + 64
    model_ids = _choose_models(args, catalog, out)

    if device.cuda:
        gpus = hardware.nvidia_smi_gpus()
        hw_name = gpus[0].name if gpus else torch.cuda.get_device_name(0)
        driver = gpus[0].driver if gpus else None
        hw_note = ("GPU name from nvidia-smi" + (f", driver {driver}" if driver else "") if gpus
                   else "GPU name from torch (nvidia-smi unavailable)")
        gpu_count = 1
    else:
        hw_name, hw_note, gpu_count, driver = "CPU", f"CPU: {hardware.cpu_model()}", 0, None
    bandwidth, bandwidth_note = args.memory_bandwidth_gbps, ""
    if bandwidth is not None:
        bandwidth_note = f"bandwidth {bandwidth:g} GB/s user-entered (--memory-bandwidth-gbps)"
    elif device.cuda:
        row = hardware.match_catalog_gpu(hw_name, catalog.gpus)
        if row is not None and row.get("memory_bandwidth_gbps"):
            bandwidth = float(row["memory_bandwidth_gbps"])
            bandwidth_note = f"bandwidth {bandwidth:g} GB/s from the catalog's gpus row {row['gpu_id']}"
        else:
            which = f"row {row['gpu_id']} has no bandwidth" if row else f"no catalog GPU matches {hw_name!r}"
            bandwidth_note = (f"no roofline: {which} (pass --memory-bandwidth-gbps from the vendor's datasheet to "
                              "get one)")
    else:
        bandwidth_note = "no roofline on a CPU unless --memory-bandwidth-gbps is given"

    if not args.model and not args.all:
        extra, why = largest_dense_that_fits(catalog, device.free_bytes(), model_ids, max_positions)
        if extra:
            model_ids.append(extra)
            print(f"largest dense model that fits in bf16: {why}", file=out)
        else:
            print(f"largest dense model that fits in bf16: none ({why})", file=out)

    if args.plan_only:
        return _print_plan(model_ids, catalog, device, max_positions, args.max_layers, out)

    copy = None
    if copy_mib is None:
        # 2 GiB on a GPU (each copy then takes about a millisecond, far above the timer's resolution) unless memory
        # is short; 64 MiB on a CPU, where larger copies only take longer.
        free = device.free_bytes() or 0
        copy_mib = min(2048, free // 4 // 2**20) if device.cuda else 64
    if copy_mib:
        copy = hardware.measure_copy_bandwidth(device.name, copy_mib * 2**20)
        device.empty()
        print(f"copy bandwidth: {copy.note}", file=out, flush=True)

    session = f"measure-local-{utc_now():%Y%m%dT%H%M%SZ}-{'gpu' if device.cuda else 'cpu'}-{uuid.uuid4().hex[:6]}"
    command = "python -m ingest " + " ".join(getattr(args, "argv", []) or [])
    print(f"device {device.name} ({hw_name}); torch {torch.__version__}, transformers {transformers.__version__}; "
          f"paths {', '.join(paths)}; batch sizes {', '.join(map(str, sizes))}; prompt {args.prompt_len} tokens, "
          f"{args.decode_steps} decode steps, {args.repeats} repeat(s)"
          + (f"; batch 1 also at a {long_prompt}-token prompt" if long_prompt else "") + f"; {bandwidth_note}",
          file=out, flush=True)

    summaries: list[dict] = []
    requests: list[dict] = []
    skipped: list[str] = []
    deadline = time.perf_counter() + args.time_limit_s
    for model_id in model_ids:
        if time.perf_counter() > deadline:
            skipped.append(f"{model_id}: not started, the {args.time_limit_s:g} s time limit passed")
            continue
        model = catalog.models.get(model_id)
        spec = build_spec(model, catalog.architectures.get(model_id), max_positions, args.max_layers)
        if not spec.ok:
            message = f"skip {model_id}: {spec.problem}"
            print(message, file=out, flush=True)
            skipped.append(message)
            continue
        rows, reqs, problems = measure_model(spec, model, catalog, device, sizes, paths, fallback_to_eager, args,
                                             bandwidth, bandwidth_note, hw_name, hw_note, gpu_count, session,
                                             command, transformers.__version__, torch.__version__, out,
                                             copy=copy, driver=driver)
        summaries.extend(rows)
        requests.extend(reqs)
        skipped.extend(problems)
        if out_dir is not None and summaries:
            try:
                write_session(Path(out_dir), session, summaries, requests)
            except RowProblem as exc:
                print(f"internal error: a row does not fit the schema ({exc}); nothing more was written", file=out)
                return 1

    print("", file=out)
    if skipped:
        print(f"{len(skipped)} skipped:", file=out)
        for line in skipped:
            print(f"  {line}", file=out)
    if not summaries:
        print("nothing was measured", file=out)
        return 1
    if out_dir is None:
        print(f"{len(summaries)} row(s) measured on a CPU and not written (a CPU run writes only with --out; the "
              "catalog is for GPU figures)", file=out)
        return 0
    summary_path, request_path = session_paths(Path(out_dir), session)
    print(f"wrote {summary_path} ({len(summaries)} row(s)) and {request_path} ({len(requests)} row(s))"
          + ("; load them into the catalog with: python -m ingest build" if writes_into_data else ""), file=out)
    return 0


def _print_plan(model_ids: list[str], catalog: Catalog, device: Device, max_positions: int,
                max_layers: int | None, out: TextIO) -> int:
    free = device.free_bytes()
    print(f"{device.name}: {'unknown' if free is None else f'{free / GB:,.1f} GB'} free", file=out)
    for model_id in model_ids:
        spec = build_spec(catalog.models[model_id], catalog.architectures.get(model_id), max_positions, max_layers)
        if not spec.ok:
            print(f"  skip {model_id}: {spec.problem}", file=out)
            continue
        params, weight_bytes = _count_params(make_config(spec))
        fits = "" if free is None or weight_bytes * 1.05 <= free else "  (does not fit)"
        print(f"  {model_id}: {spec.model_type}, {_params(params)} params, {weight_bytes / GB:,.2f} GB bf16{fits}"
              + (f"; {'; '.join(spec.notes)}" if spec.notes else ""), file=out)
    return 0


def measure_model(spec: BuildSpec, model_row: dict, catalog: Catalog, device: Device, sizes: list[int],
                  paths: list[str], fallback_to_eager: bool, args, bandwidth: float | None, bandwidth_note: str,
                  hw_name: str, hw_note: str, gpu_count: int, session: str, command: str, tf_version: str,
                  torch_version: str, out: TextIO, copy: hardware.CopyBandwidth | None = None,
                  driver: str | None = None) -> tuple[list[dict], list[dict], list[str]]:
    model_id = spec.model_id
    config = make_config(spec)
    params, weight_bytes = _count_params(config)
    free = device.free_bytes()
    if free is not None and weight_bytes * 1.05 > free:
        message = (f"skip {model_id}: {weight_bytes / GB:,.1f} GB of bf16 weights do not fit in the "
                   f"{free / GB:,.1f} GB free on {device.name}")
        print(message, file=out, flush=True)
        return [], [], [message]
    try:
        built = build_model(spec, device, args.seed)
    except Exception as exc:
        device.empty()
        message = f"skip {model_id}: building it failed: {type(exc).__name__}: {str(exc)[:200]}"
        print(message, file=out, flush=True)
        return [], [], [message]
    layers = (f"{spec.layers_built} of {spec.layers_total} layers (TRUNCATED)" if spec.truncated
              else f"{spec.layers_total} layers")
    print(f"{model_id}: {spec.model_type}, {layers}, {_params(built.params)} params "
          f"({built.weight_bytes / GB:,.3g} GB bf16), built with random weights on {device.name} in "
          f"{built.build_s:.1f} s", file=out, flush=True)

    arch = catalog.architectures[model_id]
    if spec.truncated:
        arch = {**arch, "num_layers": spec.layers_built}
        layer_types = list(getattr(built.config, "layer_types", None) or [])
        if arch.get("sliding_window_layers") is not None and layer_types:
            # The formula must describe the layers actually built (Gemma 2 alternates sliding and global layers).
            arch["sliding_window_layers"] = sum(t == "sliding_attention" for t in layer_types)
    formula = kv_cache_bytes_per_token(Architecture.from_row(arch), model_row.get("attention"), "bf16")
    # Like with like: the planner's growth over the same two cache sizes (a sliding window not yet full grows too).
    expected, window_note = formula_over_interval(arch, model_row.get("attention"), args.kv_tokens)
    kv_measured, kv_method = None, ""
    try:
        kv_measured, kv_method = measure_kv_bytes_per_token(built, device, args.kv_tokens, args.seed)
        kv_method += window_note
        ratio = kv_measured / expected if expected else None
        print(f"  KV cache: measured {kv_measured:,.0f} bytes/token, planner formula "
              + (f"{expected:,.0f} (measured/formula {ratio:.3f})" if expected else f"n/a: "
                 f"{formula.formula}") + f" [{kv_method.split(';')[0]}]", file=out, flush=True)
    except Exception as exc:
        if not device.is_oom(exc):
            raise
        device.empty()
        kv_method = f"KV measurement ran out of memory at {args.kv_tokens} tokens"
        print(f"  {kv_method}", file=out)

    rows, reqs, problems = [], [], []
    compile_failed = ""
    # The batch sweep at the prompt length, then batch 1 at the long prompt (time to first token and prefill speed
    # at a long input).
    configurations = [(batch, args.prompt_len) for batch in sizes]
    long_prompt = getattr(args, "long_prompt_len", None)
    if long_prompt:
        configurations.append((1, long_prompt))
    for batch, prompt_len in configurations:
        for path in paths:
            use = path
            if compile_failed and path == "static-cache+compile":
                use = "eager"
            try:
                timed = time_configuration(built, device, use, batch, prompt_len, args.decode_steps,
                                           args.repeats, args.seed + batch)
            except Exception as exc:
                device.empty()
                if device.is_oom(exc):
                    message = f"{model_id} batch {batch} prompt {prompt_len} {use}: out of memory"
                    print(f"  {message}", file=out, flush=True)
                    problems.append(message)
                    continue
                if use == "static-cache+compile" and fallback_to_eager:
                    compile_failed = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                    print(f"  static-cache+compile failed ({compile_failed}); measuring eager instead", file=out)
                    use = "eager"
                    timed = time_configuration(built, device, use, batch, prompt_len, args.decode_steps,
                                               args.repeats, args.seed + batch)
                else:
                    message = (f"{model_id} batch {batch} prompt {prompt_len} {use}: failed: {type(exc).__name__}: "
                               f"{str(exc)[:200]}")
                    print(f"  {message}", file=out, flush=True)
                    problems.append(message)
                    continue
            row, req = _rows(spec, built, timed, use, batch, args, kv_measured, kv_method, formula, expected, bandwidth,
                             bandwidth_note, hw_name, hw_note, gpu_count, session, command, tf_version,
                             torch_version, compile_failed if use != path else "", prompt=prompt_len, copy=copy,
                             driver=driver)
            rows.append(row)
            reqs.extend(req)
            peak = "" if row["peak_memory_gb"] is None else f", peak {row['peak_memory_gb']:,.2f} GB"
            roof = ("" if row["roofline_fraction"] is None
                    else f", {row['roofline_fraction']:.0%} of the {row['roofline_tokens_per_s']:,.0f} tok/s roofline")
            print(f"  batch {batch:>3} prompt {prompt_len:>6} {use:<21} prefill {row['prefill_tokens_per_s']:>10,.1f} tok/s | decode "
                  f"{row['output_tokens_per_s']:>9,.1f} tok/s (TPOT {row['tpot_ms_p50']:,.2f} ms){peak}{roof}",
                  file=out, flush=True)
    del built
    device.empty()
    return rows, reqs, problems


def _rows(spec: BuildSpec, built: ModelBuilt, timed: Timed, path: str, batch: int, args, kv_measured: float | None,
          kv_method: str, formula, formula_bytes: float | None, bandwidth: float | None, bandwidth_note: str,
          hw_name: str, hw_note: str, gpu_count: int, session: str, command: str, tf_version: str, torch_version: str,
          fallback_reason: str, prompt: int | None = None, copy: hardware.CopyBandwidth | None = None,
          driver: str | None = None) -> tuple[dict, list[dict]]:
    steps = args.decode_steps
    prompt = args.prompt_len if prompt is None else prompt
    ttft = Distribution.of([s * 1000 for s in timed.prefill_s])
    tpot = Distribution.of([d * 1000 / steps for d in timed.decode_s])
    e2e = Distribution.of([(p + d) * 1000 for p, d in zip(timed.prefill_s, timed.decode_s)])
    median = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2  # noqa: E731
    decode_tps = batch * steps / median(timed.decode_s)
    prefill_tps = batch * prompt / median(timed.prefill_s)
    total = sum(timed.prefill_s) + sum(timed.decode_s)
    total_tps = len(timed.prefill_s) * batch * (prompt + steps + 1) / total if total > 0 else None
    ceiling, roof_text = roofline(built, kv_measured, bandwidth, batch, prompt, steps)
    copy_ceiling, copy_text = roofline(built, kv_measured, copy.gbps if copy else None, batch, prompt, steps)
    notes = [f"random-init weights built from the catalog's architecture row as transformers {spec.model_type} "
             f"({_params(built.params)} params); torch {torch_version}", hw_note,
             f"path {path}: " + {"static-cache+compile": "StaticCache, decode step under torch.compile("
                                  "mode='reduce-overhead', fullgraph=True)",
                                  "static-cache": "StaticCache, no compile",
                                  "eager": "DynamicCache, no compile"}[path],
             f"output_len = 1 token from the prefill + {steps} timed greedy decode steps per sequence; TTFT = "
             "prefill time; TPOT = decode time / decode steps; each request row is one timed repeat of the whole "
             "batch",
             *spec.notes]
    if fallback_reason:
        notes.append(f"static-cache+compile failed ({fallback_reason}); this row is the eager path")
    if kv_method:
        notes.append(f"KV cache measured by {kv_method}")
    if formula_bytes is None:
        notes.append(f"planner KV formula: {formula.formula}")
    notes.append(roof_text or bandwidth_note)
    if copy is not None:
        notes.append(f"measured bandwidth: {copy.note}" + (f"; on it the {copy_text}" if copy_text else ""))
    if timed.peak_memory_bytes is None:
        notes.append("peak memory not measured (no CUDA allocator on a CPU)")
    long = f"-p{prompt}" if prompt != args.prompt_len else ""
    run_id = f"{session}-{slug(spec.model_id)}-b{batch}{long}-{path.replace('+', '-')}"
    row = {
        "run_id": run_id, "model_id": spec.model_id, "engine": "transformers", "engine_version": tf_version,
        "path": path, "hardware": hw_name, "gpu_count": gpu_count, "dtype": "bf16", "quantization": None,
        "weights": "random-init", "concurrency": batch, "input_len": prompt, "output_len": steps + 1,
        "requests_ok": len(timed.prefill_s), "requests_failed": 0,
        "ttft_ms_p50": ttft.p50, "ttft_ms_p95": ttft.p95, "ttft_ms_p99": ttft.p99,
        "tpot_ms_p50": tpot.p50, "tpot_ms_p95": tpot.p95, "tpot_ms_p99": tpot.p99,
        "e2e_ms_p50": e2e.p50, "e2e_ms_p95": e2e.p95, "e2e_ms_p99": e2e.p99,
        "output_tokens_per_s": decode_tps, "total_tokens_per_s": total_tps, "prefill_tokens_per_s": prefill_tps,
        "peak_memory_gb": None if timed.peak_memory_bytes is None else timed.peak_memory_bytes / GB,
        "kv_cache_bytes_per_token": kv_measured, "token_source": "fixed-length", "duration_s": total,
        "measured_at": utc_now(), "command": command, "notes": "; ".join(n for n in notes if n),
        "status": "complete", "warmup_requests": 1, "input_len_method": "exact: random token ids of prompt length",
        "input_tokens_mean": float(prompt), "output_tokens_mean": float(steps + 1),
        "kv_cache_formula_bytes_per_token": formula_bytes,
        "kv_cache_measured_to_formula": (kv_measured / formula_bytes if kv_measured is not None and formula_bytes
                                         else None),
        "memory_bandwidth_gbps": bandwidth if ceiling is not None else None,
        "roofline_tokens_per_s": ceiling,
        "roofline_fraction": decode_tps / ceiling if ceiling else None,
        "copy_bandwidth_gbps": copy.gbps if copy else None,
        "copy_roofline_tokens_per_s": copy_ceiling,
        "copy_roofline_fraction": decode_tps / copy_ceiling if copy_ceiling else None,
        "gpu_driver": driver,
    }
    base = timed.started_s[0] if timed.started_s else 0.0
    reqs = [{"run_id": run_id, "request_index": i, "ok": True, "input_tokens": prompt, "output_tokens": steps + 1,
             "ttft_ms": p * 1000, "ttfat_ms": p * 1000, "tpot_ms": d * 1000 / steps, "e2e_ms": (p + d) * 1000,
             "started_at_s": s - base, "token_source": "fixed-length"}
            for i, (p, d, s) in enumerate(zip(timed.prefill_s, timed.decode_s, timed.started_s))]
    return row, reqs
