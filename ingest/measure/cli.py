"""The `measure` and `measure-local` subcommands of `python -m ingest` (registered by ingest/__main__.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MEASURE_COMMANDS = ("measure", "measure-local")


def add_measure_commands(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser(
        "measure", help="benchmark an endpoint or a local transformers model; writes data/measurements rows",
        description="Stream requests of a fixed input and output length at each concurrency level (or at a "
                    "Poisson request rate) and record TTFT, TPOT, ITL and end-to-end latency (p50/p95/p99), "
                    "throughput and failures, as `vllm bench serve` defines them. Results go to "
                    "<out>/measurements/ and <out>/measurement_requests/; `python -m ingest build` loads them. "
                    "Ctrl-C stops early and keeps every completed request.")
    target = m.add_argument_group("what to measure")
    target.add_argument("--endpoint", help="endpoint name from the endpoints file")
    target.add_argument("--endpoints-file", type=Path, default=None,
                        help="endpoints file (default: MODELMATCH_ENDPOINTS or endpoints.toml)")
    target.add_argument("--local-model", help="a local transformers model: folder or Hugging Face repo id")
    target.add_argument("--model-id", help="catalog model id the rows are for (default: the endpoint's model_id)")
    work = m.add_argument_group("workload")
    work.add_argument("--input-len", type=int, default=512, help="prompt tokens per request (default 512)")
    work.add_argument("--output-len", type=int, default=128,
                      help="output tokens per request, exact where the server honours ignore_eos/min_tokens "
                           "(default 128)")
    work.add_argument("--num-requests", type=int, default=64, help="measured requests per configuration (default 64)")
    work.add_argument("--concurrency", default=None, help="comma-separated levels, e.g. 1,8,32,128 (default 1)")
    work.add_argument("--request-rate", type=float, default=None,
                      help="Poisson arrivals, requests per second (instead of --concurrency)")
    work.add_argument("--max-concurrency", type=int, default=None, help="cap on requests in flight at a rate")
    work.add_argument("--workers", default="auto",
                      help="processes the streams of a level are spread over, each with its own event loop, all "
                           "stamping one clock (CLOCK_MONOTONIC); 'auto' (default): one per 250 concurrent "
                           "streams, at most one per CPU but one, so up to 250 run in this process (and all of them on a "
                           "2-core machine)")
    work.add_argument("--warmup", type=int, default=2, help="warm-up requests, never recorded (default 2)")
    work.add_argument("--time-limit-s", type=float, default=1800.0,
                      help="stop starting requests after this many seconds; rows say status=time-limit (default 1800)")
    work.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)")
    work.add_argument("--seed", type=int, default=0, help="seed for prompts and arrival times (default 0)")
    work.add_argument("--tokenizer", help="tokenizer folder or repo id for exact prompt lengths and token counting "
                                          "when the server sends no usage (default: approximate)")
    rec = m.add_argument_group("what the rows record (required for servers this command cannot look inside)")
    rec.add_argument("--engine", help="serving engine, e.g. vllm, sglang, tgi")
    rec.add_argument("--engine-version", help="its version, e.g. 0.8.5")
    rec.add_argument("--hardware", help="the server's GPU as nvidia-smi names it, or 'auto' for this machine's")
    rec.add_argument("--gpu-count", type=int, default=None, help="GPUs the server uses")
    rec.add_argument("--dtype", help="weights dtype, e.g. bf16")
    rec.add_argument("--quantization", default=None, help="quantization scheme, if any (awq, fp8, ...)")
    rec.add_argument("--weights", default=None, choices=("official", "random-init"), help="default official")
    rec.add_argument("--notes", default=None, help="free text added to every row's notes")
    m.add_argument("--out", type=Path, default=None, help="folder holding measurements/ (default: the data folder)")
    m.add_argument("--no-progress", action="store_true", help="no progress bar")

    g = sub.add_parser(
        "measure-local", help="GPU speed of catalog architectures with random weights (no download)",
        description="Build each model from its catalog architecture row as a transformers config with random "
                    "weights on the device, then measure prefill tokens/s, batch-1 and batched decode tokens/s, peak "
                    "memory, KV-cache bytes per token (against the planner's formula) and batch-1 decode as a "
                    "fraction of the memory-bandwidth roofline. Rows say weights=random-init, engine=transformers, "
                    "and which code path (static-cache+compile, static-cache, eager) produced them.")
    g.add_argument("--model", action="append", default=None,
                   help="catalog model id (repeatable; default: the issue's list, then every architecture row)")
    g.add_argument("--all", action="store_true", help="every architecture row in the catalog")
    g.add_argument("--device", default=None, help="cuda (default when there is one) or cpu")
    g.add_argument("--batch-sizes", default="1,8,32", help="comma-separated (default 1,8,32)")
    g.add_argument("--prompt-len", type=int, default=512, help="prompt tokens per sequence (default 512)")
    g.add_argument("--decode-steps", type=int, default=128, help="decoded tokens timed per repeat (default 128)")
    g.add_argument("--repeats", type=int, default=3, help="timed repeats per configuration (default 3)")
    g.add_argument("--paths", default=None,
                   help="comma-separated code paths: static-cache+compile, static-cache, eager (default on CUDA: "
                        "static-cache+compile, falling back to eager if it fails; on CPU: eager)")
    g.add_argument("--long-prompt-len", type=int, default=None,
                   help="also time batch 1 at this prompt length (time to first token and prefill at a long input)")
    g.add_argument("--copy-mib", type=int, default=None,
                   help="size of the device-to-device copy that measures memory bandwidth in the same run (default "
                        "2048 on a GPU, 64 on a CPU; 0: none)")
    g.add_argument("--kv-tokens", type=int, default=512, help="cached tokens for the KV-cache measurement")
    g.add_argument("--max-layers", type=int, default=None,
                   help="build only this many layers (tiny proofs on a CPU); such rows are never written into the "
                        "data folder")
    g.add_argument("--memory-bandwidth-gbps", type=float, default=None,
                   help="bandwidth for the roofline when the catalog's gpus table has none for this GPU (recorded "
                        "as user-entered)")
    g.add_argument("--time-limit-s", type=float, default=3600.0, help="stop starting new models after this")
    g.add_argument("--out", type=Path, default=None,
                   help="folder holding measurements/ (default: the data folder on a GPU; a CPU run writes only "
                        "with --out)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--plan-only", action="store_true",
                   help="list what would be measured (models, sizes, skips with the missing fields) and stop")


def run_measure_command(args: argparse.Namespace, data_dir: Path, argv: list[str] | None) -> int:
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if args.command == "measure":
        from ingest.measure import harness

        return harness.run(args, data_dir)
    from ingest.measure import local_gpu

    return local_gpu.run(args, data_dir)
