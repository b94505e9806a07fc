"""How far off is the measuring client? Runs the harness's own request path (ingest.measure.runner with
modelmatch.chat.openai_client.astream_chat) against bench.truth_server in a second process on loopback, and prints
each client's error request by request: measured minus true TTFT, inter-token gaps and TPOT, p50 and p99, and the
share of reported gaps under 1 ms, at each concurrency, the clients one after another at each level (--clients).

True values come from the server's own stamps on the shared monotonic clock: TTFT = first chunk handed to the
kernel - request arrived in the server's kernel; gap i = token chunk i+1 handed to the kernel - chunk i; TPOT =
([DONE] handed to the kernel - first chunk) / (tokens - 1), vLLM's definition. "recv" is the first chunk in the
kernel -> the client stamps it. The server's slip (how late it was against its own plan) and its read delay (the
request in its kernel -> its loop read it) are printed too, but they are not the client's error. vLLM's and
SGLang's own benchmark clients race in bench/peer_clients.py (each in a throwaway venv that its --install makes; see
its --help).

    python -m bench.client_accuracy                       # concurrency 1, 100, 500; timing, workers, sdk
    python -m bench.client_accuracy --concurrency 500 --clients timing,timing-h11,workers --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ingest.measure.runner import LevelRun, gc_paused, run_level  # noqa: E402
from ingest.measure.workers import WorkerTarget, run_level_in_workers  # noqa: E402
from modelmatch.chat import http_stream  # noqa: E402
from modelmatch.chat.types import ChatMessage, ChatRequest  # noqa: E402
from modelmatch.chat.endpoints import Endpoint  # noqa: E402
from modelmatch.chat.openai_client import astream_chat  # noqa: E402
from modelmatch.chat.timing import percentile  # noqa: E402

# The clients raced, all in this repository's request path above the bytes (request body, SSE parser, timer):
#   timing      ours, one process, the chunked body through http_stream.ChunkedDecoder
#   timing-h11  ours, one process, the body through h11 as before (CHUNKED_FAST_PATH off): the before/after
#   workers     ours, the level spread over --workers processes (ingest.measure.workers)
#   sdk         the official openai SDK (httpx) as the playground uses it (modelmatch.chat.sdk_stream)
CLIENTS = ("timing", "timing-h11", "workers", "sdk")
ZERO_GAP_MS = 1.0  # a reported inter-token gap under this, where the server spaced tokens --gap-ms apart


def start_server(ttft_ms: float, gap_ms: float) -> tuple[subprocess.Popen, int]:
    ready = Path(tempfile.mkdtemp(prefix="truth-")) / "port"
    proc = subprocess.Popen([sys.executable, "-m", "bench.truth_server", "--ttft-ms", str(ttft_ms), "--gap-ms",
                             str(gap_ms), "--ready-file", str(ready)], cwd=REPO_ROOT,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not ready.exists() or not ready.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the truth server did not start")
        time.sleep(0.05)
    return proc, int(ready.read_text())


def fetch_truth(port: int, reset: bool = False) -> dict[int, dict]:
    if reset:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/reset", method="POST", data=b""),
                               timeout=30).read()
        return {}
    raw = urllib.request.urlopen(f"http://127.0.0.1:{port}/truth", timeout=60).read()
    return {int(k): v for k, v in json.loads(raw).items()}


def measure_level(port: int, client: str, concurrency: int, n: int, tokens: int, time_limit_s: float,
                  rid_base: int, workers: int) -> tuple[LevelRun, dict[int, dict]]:
    endpoint = Endpoint(name="truth", kind="openai", model="truth", base_url=f"http://127.0.0.1:{port}/v1",
                        max_tokens_cap=100_000, think_tags=False, first_byte_timeout_s=300, stall_timeout_s=300)
    requests = [ChatRequest(messages=(ChatMessage("user", f"rid:{rid_base + i} hello"),), max_tokens=tokens,
                            temperature=0.0, exact_output_tokens=True) for i in range(n)]
    level = LevelRun(concurrency=concurrency, rate_per_s=None, planned=n)
    transport = "sdk" if client == "sdk" else "timing"

    def send(request, on_sent):
        return astream_chat(endpoint, None, request, on_sent=on_sent, transport=transport)

    fetch_truth(port, reset=True)
    deadline = time.perf_counter() + time_limit_s

    async def go() -> None:
        if client == "workers":
            await run_level_in_workers(level, WorkerTarget(endpoint, None, "timing"), requests, workers,
                                       deadline_s=deadline)
        else:
            await run_level(level, send, requests, deadline_s=deadline)

    http_stream.CHUNKED_FAST_PATH = client != "timing-h11"
    try:
        with gc_paused():
            asyncio.run(go())
    finally:
        http_stream.CHUNKED_FAST_PATH = True
    return level, fetch_truth(port)


def errors(level: LevelRun, truth: dict[int, dict], rid_base: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("ttft", "tpot", "itl", "zero", "send", "receive", "slip",
                                                    "read")}
    for done in level.completed:
        m = done.metrics
        t = truth.get(rid_base + done.index)
        if not m.ok or t is None or m.ttft_ms is None or m.tpot_ms is None:
            continue
        true_ttft_ms = (t["first"] - t["arrived"]) * 1000
        true_tpot_ms = (t["done"] - t["first"]) * 1000 / (t["tokens"] - 1)
        out["ttft"].append(m.ttft_ms - true_ttft_ms)
        out["tpot"].append(m.tpot_ms - true_tpot_ms)
        sent = t.get("sent_at") or []
        true_gaps = [(b - a) * 1000 for a, b in zip(sent, sent[1:])]
        if len(true_gaps) == len(m.itl_ms):  # one text event per token chunk: gap i against gap i
            out["itl"].extend(got - true for got, true in zip(m.itl_ms, true_gaps))
            out["zero"].extend(1.0 if got < ZERO_GAP_MS else 0.0 for got in m.itl_ms)
        out["send"].append((t["arrived"] - m.started_at_s) * 1000)
        out["receive"].append((m.started_at_s + m.ttft_ms / 1000 - t["first"]) * 1000)
        out["slip"].append((t["first"] - t["arrived"] - t["ttft_nominal_s"]) * 1000)
        out["read"].append((t["read_at"] - t["arrived"]) * 1000)
    return out


def fmt(values: list[float], q: float) -> str:
    v = percentile(values, q)
    return "    n/a" if v is None else f"{v:+7.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client_accuracy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", default="1,100,500", help="comma-separated levels (default 1,100,500)")
    parser.add_argument("--clients", default="timing,workers,sdk",
                        help=f"comma-separated, run one after another at each level: {', '.join(CLIENTS)} "
                             "(default timing,workers,sdk)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the workers client (default 2)")
    parser.add_argument("--requests-per-level", type=int, default=0,
                        help="requests at each level (default: 40 at c=1, else 2 x concurrency)")
    parser.add_argument("--tokens", type=int, default=32, help="output tokens per request (default 32)")
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="server's TTFT (default 50 ms)")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="server's gap between tokens (default 20 ms)")
    parser.add_argument("--time-limit-s", type=float, default=120.0, help="per level (default 120 s)")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in clients if c not in CLIENTS]
    if unknown:
        parser.error(f"unknown client(s) {', '.join(unknown)}; choose from {', '.join(CLIENTS)}")
    proc, port = start_server(args.ttft_ms, args.gap_ms)
    load = os.getloadavg()
    print(f"truth server: TTFT {args.ttft_ms:g} ms, gap {args.gap_ms:g} ms, {args.tokens} tokens per request; "
          f"{os.cpu_count()} CPU cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start; "
          f"client and server share this machine over loopback; workers client: {args.workers} processes\n")
    header = (f"{'conc':>5} {'client':>10} {'n':>5} {'fail':>4} | {'TTFT err p50':>12} {'p99':>7} | "
              f"{'ITL err p50':>11} {'p99':>7} {'~0 gaps':>7} | {'TPOT err p50':>12} {'p99':>7} | "
              f"{'recv p99':>8} | {'srv slip p99':>12} {'srv read p99':>12}")
    print(header)
    print("-" * len(header))
    try:
        rid_base = 0
        for c in levels:
            n = args.requests_per_level or (40 if c == 1 else 2 * c)
            for client in clients:
                level, truth = measure_level(port, client, c, n, args.tokens, args.time_limit_s, rid_base,
                                             args.workers)
                e = errors(level, truth, rid_base)
                rid_base += n
                zero = f"{100 * sum(e['zero']) / len(e['zero']):6.1f}%" if e["zero"] else "    n/a"
                print(f"{c:>5} {client:>10} {len(e['ttft']):>5} {level.failed:>4} | {fmt(e['ttft'], 50):>12} "
                      f"{fmt(e['ttft'], 99)} | {fmt(e['itl'], 50):>11} {fmt(e['itl'], 99)} {zero:>7} | "
                      f"{fmt(e['tpot'], 50):>12} {fmt(e['tpot'], 99)} | {fmt(e['receive'], 99):>8} | "
                      f"{fmt(e['slip'], 99):>12} {fmt(e['read'], 99):>12}"
                      + (f"  [{level.status}]" if level.status != "complete" else ""), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    load = os.getloadavg()
    print(f"\nerrors in ms, measured minus true (positive: the client reports slower than the truth); ~0 gaps: "
          f"share of reported inter-token gaps under {ZERO_GAP_MS:g} ms (the server spaced them {args.gap_ms:g} ms "
          f"apart); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
