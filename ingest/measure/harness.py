"""`python -m ingest measure`: a streaming benchmark of one endpoint (OpenAI-compatible server or local transformers
model) at several concurrency levels or a Poisson request rate, written as catalog rows.

Definitions follow `vllm bench serve` (modelmatch.chat.timing): TTFT from the request being sent to the first text chunk,
TPOT = (latency - TTFT) / (output tokens - 1), ITL = gaps between text chunks, percentiles by linear interpolation,
throughput = tokens of successful requests / benchmark wall time. Failed requests are counted, never averaged in;
warm-up requests are never recorded. Token counts come from the server's usage; without it, from a tokenizer when
one is available, and every row says which.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from modelmatch.chat.types import ChatMessage, ChatRequest
from modelmatch.chat.endpoints import (ApiKeyError, Endpoint, EndpointsFileError, load_endpoints,
                                      resolve_api_key, resolve_headers)
from modelmatch.chat.timing import RunSummary, summarize

from ingest.measure import hardware
from ingest.measure.progress import Progress
from ingest.measure.prompts import PromptError, PromptMaker, token_counter
from ingest.measure.records import RowProblem, session_paths, slug, utc_now, write_session
from ingest.measure.runner import LevelRun, Send, gc_paused, run_level, thread_sender
from ingest.measure.workers import WorkerError, WorkerTarget, default_workers, run_level_in_workers
from ingest.validate import validate

EXIT_INTERRUPTED = 130


class MeasureError(Exception):
    """A measurement cannot start or go on; the message says what to change."""


@dataclass
class Target:
    """What is measured, and what the rows will say produced the numbers."""

    endpoint: Endpoint
    send: Send
    engine: str
    engine_version: str
    hardware: str
    gpu_count: int | None
    dtype: str
    quantization: str | None
    weights: str
    path: str
    tokenizer: Any | None = None
    tokenizer_name: str = ""
    secrets: list[str | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tokenizer_lock: Any | None = None  # a local model's tokenizer is shared with its generation thread
    worker_target: WorkerTarget | None = None  # how worker processes rebuild `send`; None: in this process only


@dataclass
class Plan:
    model_id: str
    input_len: int
    output_len: int
    num_requests: int
    concurrencies: list[int] | None
    rate_per_s: float | None
    max_concurrency: int | None
    warmup: int
    time_limit_s: float
    temperature: float
    seed: int
    out_dir: Path
    command: str
    notes: str = ""
    workers: int | None = None  # worker processes per level; None: default_workers(concurrency)


@dataclass
class Session:
    """Everything measured so far; the rows are built from it whenever the files are (re)written."""

    name: str
    plan: Plan
    target: Target
    input_len_method: str = ""
    levels: list[LevelRun] = field(default_factory=list)
    written: tuple[Path, Path] | None = None

    def run_id(self, level: LevelRun) -> str:
        if level.rate_per_s is not None:
            return f"{self.name}-rate{level.rate_per_s:g}"
        return f"{self.name}-c{level.concurrency}"

    def recordable(self) -> list[LevelRun]:
        return [lv for lv in self.levels if lv.completed]

    def summary_row(self, level: LevelRun, summary: RunSummary, finished_at) -> dict:
        t, p = self.target, self.plan
        ok = [c.metrics for c in level.completed if c.metrics.ok]
        mean = (lambda xs: sum(xs) / len(xs) if xs else None)
        notes = [f"endpoint {t.endpoint.name!r}", *t.notes,
                 f"{p.warmup} warm-up request(s) sent first and not recorded"]
        if level.status != "complete":
            why = "interrupted (Ctrl-C)" if level.status == "interrupted" else f"the {p.time_limit_s:g} s time limit"
            notes.append(f"stopped early by {why}: {len(level.completed)} of {level.planned} requests completed; "
                         f"{level.dropped} in flight were dropped and {level.not_started} never started (neither "
                         "counted as failed)")
        if summary.token_source == "mixed":
            notes.append("token counts: server usage for some requests, tokenizer for others")
        if summary.requests_without_output_tokens:
            notes.append(f"{summary.requests_without_output_tokens} successful request(s) had no token count "
                         "(no server usage and no tokenizer), so throughput and TPOT are left empty")
        if level.workers > 1:
            notes.append(f"streams spread over {level.workers} worker processes, all stamping one clock "
                         "(time.perf_counter = CLOCK_MONOTONIC)")
        if p.notes:
            notes.append(p.notes)
        d = lambda dist, q: getattr(dist, f"p{q}")  # noqa: E731
        row = {
            "run_id": self.run_id(level), "model_id": p.model_id, "engine": t.engine,
            "engine_version": t.engine_version, "path": t.path, "hardware": t.hardware, "gpu_count": t.gpu_count,
            "dtype": t.dtype, "quantization": t.quantization, "weights": t.weights,
            "concurrency": level.concurrency, "request_rate_per_s": level.rate_per_s,
            "input_len": p.input_len, "output_len": p.output_len,
            "requests_ok": summary.requests_ok, "requests_failed": summary.requests_failed,
            "output_tokens_per_s": summary.output_tokens_per_s, "total_tokens_per_s": summary.total_tokens_per_s,
            "token_source": summary.token_source, "duration_s": summary.duration_s, "measured_at": finished_at,
            "command": p.command, "notes": "; ".join(notes), "status": level.status, "warmup_requests": p.warmup,
            "input_len_method": self.input_len_method,
            "input_tokens_mean": mean([m.input_tokens for m in ok if m.input_tokens is not None]),
            "output_tokens_mean": mean([m.output_tokens for m in ok if m.output_tokens is not None]),
            "ttfat_ms_p50": summary.ttfat_ms.p50,
        }
        for metric in ("ttft", "tpot", "itl", "e2e"):
            for q in (50, 95, 99):
                row[f"{metric}_ms_p{q}"] = d(getattr(summary, f"{metric}_ms"), q)
        return row

    def request_rows(self, level: LevelRun) -> list[dict]:
        rows = []
        base = level.started_at_s or 0.0
        for done in sorted(level.completed, key=lambda c: c.index):
            m = done.metrics
            rows.append({
                "run_id": self.run_id(level), "request_index": done.index, "ok": m.ok, "error": m.error or None,
                "input_tokens": m.input_tokens, "output_tokens": m.output_tokens,
                "reasoning_tokens": m.reasoning_tokens, "ttft_ms": m.ttft_ms, "ttfat_ms": m.ttfat_ms,
                "tpot_ms": m.tpot_ms, "e2e_ms": m.e2e_ms,
                "itl_ms": ";".join(f"{gap:.3f}" for gap in m.itl_ms) or None,
                "started_at_s": max(0.0, m.started_at_s - base), "token_source": m.token_source,
                "connect_ms": m.connect_ms,
            })
        return rows

    def write(self) -> tuple[Path, Path] | None:
        levels = self.recordable()
        if not levels:
            return None
        finished = utc_now()
        summaries = [self.summary_row(lv, summarize([c.metrics for c in lv.completed], lv.duration_s), finished)
                     for lv in levels]
        requests = [row for lv in levels for row in self.request_rows(lv)]
        self.written = write_session(self.plan.out_dir, self.name, summaries, requests)
        return self.written


# ---------------------------------------------------------------------------------------------------------------
# Setting up the target


def _parse_levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MeasureError(f"--concurrency must be whole numbers separated by commas, e.g. 1,8,32; got {text!r}")
    if not levels or any(c < 1 for c in levels):
        raise MeasureError(f"--concurrency needs at least one level, each at least 1; got {text!r}")
    return levels


def _load_tokenizer(ref: str) -> Any:
    from transformers import AutoTokenizer

    # Local files only (a folder, or the Hugging Face cache the server's machine already has): a measurement never
    # waits on the network before it starts.
    try:
        return AutoTokenizer.from_pretrained(ref, trust_remote_code=False, local_files_only=True)
    except Exception as exc:
        raise MeasureError(f"cannot load the tokenizer {ref!r} from a folder or the local Hugging Face cache "
                           f"({type(exc).__name__}: {str(exc)[:200]}); download it first (huggingface-cli download "
                           f"{ref} --include 'tokenizer*' '*.json'), pass a folder, or leave --tokenizer out to "
                           "approximate prompt lengths") from exc


def _norm_dtype(text: str) -> str:
    text = str(text).replace("torch.", "")
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "half": "fp16"}.get(text, text)


def _local_hardware(device: str) -> tuple[str, int, list[str]]:
    if device.startswith("cuda"):
        gpus = hardware.nvidia_smi_gpus()
        if gpus:
            return gpus[0].name, 1, []
        import torch

        return torch.cuda.get_device_name(0), 1, ["GPU name from torch (nvidia-smi unavailable)"]
    if device == "cpu":
        return "CPU", 0, [f"CPU: {hardware.cpu_model()}"]
    return device, 1, []


def openai_target(args, endpoint: Endpoint) -> Target:
    missing = [flag for flag, value in (("--engine", args.engine), ("--engine-version", args.engine_version),
                                        ("--hardware", args.hardware), ("--dtype", args.dtype)) if not value]
    if missing:
        raise MeasureError(f"endpoint {endpoint.name!r} is a server this command cannot look inside: say what it "
                           f"runs with {', '.join(missing)} (e.g. --engine vllm --engine-version 0.8.5 --hardware "
                           "auto --gpu-count 1 --dtype bf16; --hardware auto reads nvidia-smi on this machine, "
                           "for a server running here)")
    hw, notes = args.hardware, []
    if hw == "auto":
        gpus = hardware.nvidia_smi_gpus()
        if not gpus:
            raise MeasureError("--hardware auto needs nvidia-smi on this machine, and there is none; name the "
                               "server's GPU as its nvidia-smi prints it, e.g. --hardware 'NVIDIA H100 80GB HBM3'")
        hw = gpus[0].name
        notes.append("hardware read from nvidia-smi on the measuring machine")
    try:
        key = resolve_api_key(endpoint)
    except ApiKeyError as bad:
        raise MeasureError(f"endpoint {endpoint.name!r}: {bad}") from None
    if endpoint.api_key_env and key is None:
        raise MeasureError(f"endpoint {endpoint.name!r} needs its key in the environment variable "
                           f"{endpoint.api_key_env}, which is not set")
    try:
        _, header_secrets = resolve_headers(endpoint)
    except ApiKeyError as missing:
        raise MeasureError(str(missing)) from None
    from modelmatch.chat.openai_client import astream_chat

    def send(request: ChatRequest, on_sent: Callable[[float], None] | None = None):
        return astream_chat(endpoint, key, request, on_sent=on_sent, transport="timing")

    tokenizer = _load_tokenizer(args.tokenizer) if args.tokenizer else None
    notes.append("streamed over the OpenAI-compatible API (modelmatch.chat.openai_client's timing client), TTFT timed "
                 "from the request being sent")
    return Target(endpoint, send, args.engine, args.engine_version, hw, args.gpu_count, args.dtype,
                  args.quantization, args.weights or "official", "openai-stream", tokenizer,
                  args.tokenizer or "", [key, *header_secrets], notes,
                  worker_target=WorkerTarget(endpoint, key, "timing", args.tokenizer or None))


def local_target(args, endpoint: Endpoint) -> Target:
    from modelmatch.chat import local_backend

    try:
        loaded = local_backend.load_model(endpoint.model)
    except local_backend.LocalModelError as exc:
        raise MeasureError(str(exc)) from exc
    hw, gpu_count, notes = _local_hardware(str(loaded.device))
    if args.hardware:
        raise MeasureError("--hardware is read from this machine for a local model; leave it out")

    def stream(request: ChatRequest, cancel):
        return local_backend.stream_local(endpoint, request, cancel)

    notes.append(f"local transformers model {endpoint.model} on {loaded.device} through "
                 "modelmatch.chat.local_backend (one generation at a time: concurrent requests queue, and the queueing "
                 "counts in their TTFT)")
    tokenizer = _load_tokenizer(args.tokenizer) if args.tokenizer else loaded.tokenizer
    import transformers

    return Target(endpoint, thread_sender(stream), "transformers", transformers.__version__, hw, gpu_count,
                  _norm_dtype(loaded.dtype), args.quantization, args.weights or "official", "transformers-generate",
                  tokenizer, args.tokenizer or endpoint.model, [], notes,
                  None if args.tokenizer else loaded.tokenizer_lock)


def find_endpoint(args) -> Endpoint:
    if args.local_model:
        return Endpoint(name=f"local {Path(args.local_model).name or args.local_model}"[:64], kind="transformers",
                        model=args.local_model, max_tokens_cap=1_000_000)
    from modelmatch import settings

    path = args.endpoints_file or settings.endpoints_path()
    try:
        endpoints, origin = load_endpoints(path)
    except EndpointsFileError as exc:
        raise MeasureError(str(exc)) from exc
    for endpoint in endpoints:
        if endpoint.name == args.endpoint:
            return endpoint
    names = ", ".join(repr(e.name) for e in endpoints)
    raise MeasureError(f"no endpoint named {args.endpoint!r} in {origin}; the endpoints there are: {names}")


def catalog_model_ids(data_dir: Path) -> set[str]:
    result = validate(data_dir)
    return {row.values["model_id"] for row in result.tables.get("models", []) if row.values.get("model_id")}


# ---------------------------------------------------------------------------------------------------------------
# Running


def _level_line(level: LevelRun, summary: RunSummary) -> str:
    def ms(dist) -> str:
        return "-" if dist.p50 is None else f"p50 {dist.p50:,.1f} p99 {dist.p99:,.1f} ms"

    rate = "-" if summary.output_tokens_per_s is None else f"{summary.output_tokens_per_s:,.1f} tok/s"
    status = "" if level.status == "complete" else f" [{level.status}]"
    return (f"{level.label}: {summary.requests_ok} ok, {summary.requests_failed} failed in "
            f"{summary.duration_s:.2f} s{status} | TTFT {ms(summary.ttft_ms)} | TPOT {ms(summary.tpot_ms)} | "
            f"ITL {ms(summary.itl_ms)} | output {rate}")


def _requests(maker: PromptMaker, n: int, plan: Plan) -> tuple[list[ChatRequest], str]:
    requests, method = [], ""
    for _ in range(n):
        prompt = maker.make(plan.input_len)
        method = prompt.method
        requests.append(ChatRequest(messages=(ChatMessage("user", prompt.text),), max_tokens=plan.output_len,
                                    temperature=plan.temperature, top_p=1.0, exact_output_tokens=True))
    return requests, method


async def measure(session: Session, out: TextIO, progress_enabled: bool) -> None:
    """Warm up, then measure each level in turn, rewriting the session's files after each one."""
    plan, target = session.plan, session.target
    maker = PromptMaker(target.tokenizer, seed=plan.seed, tokenizer_name=target.tokenizer_name,
                        lock=target.tokenizer_lock)
    count_tokens = token_counter(target.tokenizer, target.tokenizer_lock)
    deadline = time.perf_counter() + plan.time_limit_s
    if plan.warmup:
        warm, _ = _requests(maker, plan.warmup, plan)
        first_level = (plan.concurrencies or [plan.max_concurrency or 1])[0]
        warm_level = LevelRun(concurrency=min(plan.warmup, first_level), rate_per_s=None, planned=plan.warmup)
        print(f"warming up: {plan.warmup} request(s), not recorded", file=out, flush=True)
        await run_level(warm_level, target.send, warm, deadline_s=deadline, count_tokens=count_tokens)
        if warm_level.completed and all(not c.metrics.ok for c in warm_level.completed):
            raise MeasureError(f"every warm-up request failed, so nothing was measured: "
                               f"{warm_level.completed[0].metrics.error}")
    if plan.rate_per_s is not None:
        shapes = [(plan.max_concurrency, plan.rate_per_s)]
    else:
        shapes = [(c, None) for c in plan.concurrencies or []]
    for index, (concurrency, rate) in enumerate(shapes):
        if time.perf_counter() >= deadline:
            left = ", ".join(LevelRun(c, r, 0).label for c, r in shapes[index:])
            print(f"time limit of {plan.time_limit_s:g} s reached; not measured: {left}", file=out, flush=True)
            break
        requests, session.input_len_method = _requests(maker, plan.num_requests, plan)
        level = LevelRun(concurrency=concurrency, rate_per_s=rate, planned=len(requests))
        session.levels.append(level)
        progress = Progress(level.label, len(requests), stream=out, enabled=progress_enabled)
        workers = plan.workers if plan.workers is not None else default_workers(concurrency)
        try:
            if workers > 1 and target.worker_target is not None:
                await run_level_in_workers(level, target.worker_target, requests, workers, deadline_s=deadline,
                                           progress=progress, seed=plan.seed + index)
            else:
                with gc_paused():
                    await run_level(level, target.send, requests, deadline_s=deadline, progress=progress,
                                    count_tokens=count_tokens, seed=plan.seed + index)
        except WorkerError as exc:
            raise MeasureError(f"{exc}") from exc
        finally:
            progress.close()
        print(_level_line(level, summarize([c.metrics for c in level.completed], level.duration_s)), file=out,
              flush=True)
        session.write()


def run(args, data_dir: Path, out: TextIO | None = None) -> int:
    """The `measure` command. Returns the exit status."""
    out = out if out is not None else sys.stderr
    try:
        session = _prepare(args, data_dir, out)
    except (MeasureError, PromptError) as exc:
        print(f"error: {exc}", file=out)
        return 2
    except KeyboardInterrupt:
        print("interrupted before measuring: nothing was written", file=out)
        return EXIT_INTERRUPTED
    summary_path, request_path = session_paths(session.plan.out_dir, session.name)
    interrupted = False
    try:
        asyncio.run(measure(session, out, not args.no_progress))
    except KeyboardInterrupt:
        interrupted = True
    except MeasureError as exc:
        print(f"error: {exc}", file=out)
        session.write()
        return 1
    except RowProblem as exc:  # a harness bug: say so plainly, and write nothing half-checked
        print(f"internal error: a measured row does not fit the schema ({exc}); nothing more was written", file=out)
        return 1
    written = session.write()
    ok = sum(len(lv.completed) for lv in session.levels)
    if interrupted:
        level = session.levels[-1] if session.levels else None
        dropped = level.dropped if level else 0
        if written:
            print(f"interrupted: kept {ok} completed request(s) in {summary_path} and {request_path} (the "
                  f"interrupted level is marked status=interrupted); {dropped} request(s) in flight were dropped",
                  file=out)
        else:
            print("interrupted before any request completed: nothing was written", file=out)
        return EXIT_INTERRUPTED
    if not written:
        print("no request completed: nothing was written", file=out)
        return 1
    print(f"wrote {summary_path} ({len(session.recordable())} configuration(s)) and {request_path} ({ok} "
          f"request(s)); load them into the catalog with: python -m ingest build", file=out)
    return 0


def _prepare(args, data_dir: Path, out: TextIO) -> Session:
    if bool(args.endpoint) == bool(args.local_model):
        raise MeasureError("name exactly one target: --endpoint NAME (from the endpoints file) or --local-model "
                           "PATH_OR_REPO_ID")
    for name in ("input_len", "output_len", "num_requests"):
        if getattr(args, name) < 1:
            raise MeasureError(f"--{name.replace('_', '-')} must be at least 1")
    if args.time_limit_s <= 0:
        raise MeasureError("--time-limit-s must be positive")
    if args.warmup < 0:
        raise MeasureError("--warmup cannot be negative")
    rate = args.request_rate
    if rate is not None and rate <= 0:
        raise MeasureError("--request-rate must be a positive number of requests per second")
    if rate is not None and args.concurrency:
        raise MeasureError("use --concurrency (fixed levels) or --request-rate (Poisson arrivals), not both; cap a "
                           "rate run's concurrency with --max-concurrency")
    levels = None if rate is not None else _parse_levels(args.concurrency or "1")
    workers = _parse_workers(getattr(args, "workers", "auto"))
    if args.max_concurrency is not None and (rate is None or args.max_concurrency < 1):
        raise MeasureError("--max-concurrency (at least 1) only goes with --request-rate")
    endpoint = find_endpoint(args)
    model_id = args.model_id or endpoint.model_id
    if not model_id:
        raise MeasureError(f"which catalog model does {endpoint.name!r} serve? pass --model-id (e.g. "
                           "Qwen/Qwen2.5-7B-Instruct); the measurement rows are keyed by it")
    if model_id not in catalog_model_ids(data_dir):
        raise MeasureError(f"{model_id!r} is not in the catalog's models ({data_dir / 'models'}); add the model "
                           "first, or pass the --model-id it is listed under")
    if args.output_len > endpoint.max_tokens_cap:
        raise MeasureError(f"--output-len {args.output_len} is above the endpoint's max_tokens_cap "
                           f"({endpoint.max_tokens_cap}); raise the cap in the endpoints file or ask for fewer tokens")
    print(f"preparing {endpoint.name!r} ({endpoint.kind}) for {model_id}", file=out, flush=True)
    target = local_target(args, endpoint) if endpoint.kind == "transformers" else openai_target(args, endpoint)
    plan = Plan(model_id=model_id, input_len=args.input_len, output_len=args.output_len,
                num_requests=args.num_requests, concurrencies=levels, rate_per_s=rate,
                max_concurrency=args.max_concurrency, warmup=args.warmup, time_limit_s=args.time_limit_s,
                temperature=args.temperature, seed=args.seed, out_dir=Path(args.out or data_dir),
                command=_command(args.argv, target.secrets), notes=args.notes or "", workers=workers)
    name = f"measure-{utc_now():%Y%m%dT%H%M%SZ}-{slug(model_id)}-{uuid.uuid4().hex[:6]}"
    session = Session(name, plan, target)
    total = plan.warmup + plan.num_requests * (len(levels) if levels else 1)
    shape = (f"concurrency {', '.join(map(str, levels))}" if levels else
             f"Poisson rate {rate:g}/s" + (f", max concurrency {args.max_concurrency}" if args.max_concurrency else ""))
    print(f"plan: {shape}; {plan.num_requests} request(s) per configuration + {plan.warmup} warm-up = {total} "
          f"requests of {plan.input_len} input and {plan.output_len} output tokens; time limit "
          f"{plan.time_limit_s:g} s", file=out, flush=True)
    if target.tokenizer is None:
        print("note: no tokenizer, so prompt lengths are approximated (pass --tokenizer for exact lengths); the "
              "rows say so", file=out, flush=True)
    return session


def _parse_workers(text: str | None) -> int | None:
    if text is None or str(text).strip().lower() == "auto":
        return None
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise MeasureError(f"--workers must be 'auto' or a whole number of processes, at least 1; got {text!r}")
    return workers


def _command(argv: list[str] | None, secrets: list[str | None]) -> str:
    from modelmatch.chat.endpoints import redact

    text = shlex.join(["python", "-m", "ingest", *(argv if argv is not None else sys.argv[1:])])
    return redact(text, secrets)
