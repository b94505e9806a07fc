"""A plan as text and JSON: the CLI's printout, plain JSON types for export, and the CLI command that
prints a request's result."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from modelmatch import settings
from modelmatch.planning.memory import KVCachePerToken

if TYPE_CHECKING:  # annotations only: `recommend --json` prints through to_jsonable without importing the planner
    from modelmatch.planning.planner import PlanResult
    from modelmatch.planning.request import PlanRequest

_PLAIN_TYPES = frozenset({str, int, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}  # a class's dataclass field names, None if not a dataclass


def _field_names(kind: type) -> tuple[str, ...] | None:
    try:
        return _FIELD_NAMES[kind]
    except KeyError:
        names = (tuple(f.name for f in dataclasses.fields(kind))
                 if dataclasses.is_dataclass(kind) and not issubclass(kind, type) else None)
        _FIELD_NAMES[kind] = names
        return names


def to_jsonable(value: Any) -> Any:
    """Dataclasses, tuples and dates to plain JSON types; properties that carry meaning are added. (A recommendation
    is some 20,000 values: plain ones return at once, and a dataclass's field names are looked up once per class.)"""
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value
    names = _field_names(kind)
    if names is not None:
        out = {name: to_jsonable(getattr(value, name)) for name in names}
        if isinstance(value, KVCachePerToken):
            out["ok"] = value.ok
        return out
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_plan_text(result: PlanResult) -> str:
    m, mem, speed, cost = result.model, result.memory, result.speed, result.cost
    gpu_line = f"{mem.gpu_count} × {result.gpu.name} ({result.gpu.memory_gb:g} GB each)"
    lines = [
        f"{m.display_name} ({m.model_id}) on {gpu_line}",
        f"weights {mem.precision_label}, KV cache {mem.kv_dtype}, {mem.context_tokens:,} tokens × "
        f"{mem.concurrent_sequences} sequences",
        "",
        mem.verdict_text,
        f"  weights per GPU   {mem.weights_per_gpu_gb:10,.2f} GB   {mem.weights_formula}",
        f"  KV cache per GPU  {_gb(mem.kv_cache_per_gpu_gb):>10} GB   {mem.kv_cache_formula}",
        f"  overhead per GPU  {mem.overhead_per_gpu_gb:10,.2f} GB   {mem.overhead_formula}",
        f"  total per GPU     {_gb(mem.total_per_gpu_gb):>10} GB   of {mem.gpu_memory_gb:g} GB",
        f"  peak per GPU      {_gb(mem.peak_gb):>10} GB   {mem.peak_formula}",
        f"  engine {mem.engine}, {mem.parallelism}; attention {mem.attention_kind}",
        f"  cache per sequence: {(mem.cache.message or mem.cache.formula) if mem.cache else mem.kv.formula}",
        f"  {result.published_status}",
        f"  {mem.limits_text}",
        "",
        "Speed (decode):",
        f"  one sequence: {speed.batch1.formula}",
        f"  {mem.concurrent_sequences} sequences: {speed.at_concurrency.formula}",
        f"  {speed.measured_status}",
    ]
    lines += [f"  measured: {s.comparison}" for s in speed.measurements]
    lines += ["", "Cost per month:", f"  {cost.api_status}"]
    lines += [f"  {a.provider} {a.provider_model}{f' ({a.tier})' if a.tier else ''}: {a.formula}" for a in cost.api]
    lines += [f"  self-hosting: {cost.self_host_status}"]
    lines += [f"  {b.text}" for b in cost.break_even]
    if result.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in result.notes]
    return "\n".join(lines)


def _gb(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f}"


def plan_cli_command(request: PlanRequest) -> str:
    """The `python -m modelmatch plan` command that prints this request's result (the page shows it)."""
    import shlex

    args = ["python", "-m", "modelmatch", "plan", "--model", request.model_id, "--weights", request.weights,
            "--kv-dtype", request.kv_dtype, "--context", str(request.context_tokens),
            "--batch", str(request.concurrent_sequences), "--gpus", str(request.gpu_count)]
    if request.custom_gpu_memory_gb is not None:
        args += ["--gpu-memory-gb", f"{request.custom_gpu_memory_gb:g}"]
    elif request.gpu:
        args += ["--gpu", request.gpu]
    optional = (("--gpu-bandwidth-gbps", request.gpu_bandwidth_gbps), ("--gpu-usd-per-hour", request.gpu_usd_per_hour))
    args += [a for name, v in optional if v is not None for a in (name, f"{v:g}")]
    u = request.usage
    for name, value, default in (("--input-mtok", u.input_mtok_per_month, 0), ("--output-mtok",
                                 u.output_mtok_per_month, 0), ("--cached-share", u.cached_input_share, 0),
                                 ("--thinking-ratio", u.thinking_tokens_per_output_token, 0),
                                 ("--utilization", request.gpu_memory_utilization,
                                  settings.planner_gpu_memory_utilization()),
                                 ("--reserve-gb", request.runtime_reserve_gb, settings.planner_runtime_reserve_gb())):
        if value != default:
            args += [name, f"{value:g}"]
    for other in request.compare_model_ids:
        args += ["--compare", other]
    if request.engine != "vllm":
        args += ["--engine", request.engine]
    if request.pipeline_parallel != 1:
        args += ["--pipeline-parallel", str(request.pipeline_parallel)]
    if request.expert_parallel:
        args += ["--expert-parallel"]
    if request.include_mtp:
        args += ["--mtp"]
    if request.prompt_tokens is not None:
        args += ["--prompt-tokens", str(request.prompt_tokens)]
    return shlex.join(args + ["--json"])
