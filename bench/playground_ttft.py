"""The playground's TTFT overhead, old client (the h11 timing client) against the new one (the openai SDK), side by
side in one run: each request goes through the playground's path (`stream_chat` on the shared streaming loop, the
clock started just before the call, as a playground column starts its timer) to bench.truth_server in a second
process on loopback, at concurrency 1, the two clients interleaved (the order swapped every round).

Overhead = the TTFT the playground would show - the true TTFT (the server's first chunk handed to the kernel minus
the request's arrival, both on the shared monotonic clock), split into "send" (start -> the server has the whole
request: building, connecting, writing) and "receive" (first chunk in the kernel -> the event reaches the page's
side). The truth server closes every connection, so this is the cost with a new connection each time; the first
request of each client (imports, the SDK client's creation) is printed apart and left out of the medians.

--fresh N adds the first request in a fresh process, N processes per variant, interleaved: "sdk, cold" (nothing
started the SDK's import), "sdk, warmed" (the page's background import, sdk_stream.start_warm_up, started as the
page is drawn) and the timing client for reference. Each process imports the playground's modules as the page
has, then waits --think-s (the user writing a prompt, the same wait in every variant), then sends one request.

    python -m bench.playground_ttft                   # 40 rounds
    python -m bench.playground_ttft --rounds 100 --ttft-ms 30
    python -m bench.playground_ttft --rounds 10 --fresh 8 --think-s 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.client_accuracy import fetch_truth, start_server  # noqa: E402
from modelmatch.chat.endpoints import Endpoint  # noqa: E402
from modelmatch.chat.openai_client import stream_chat  # noqa: E402
from modelmatch.chat.timing import percentile  # noqa: E402
from modelmatch.chat.types import ChatMessage, ChatRequest  # noqa: E402

CLIENTS = {"timing": "old: h11 timing client", "sdk": "new: openai SDK"}
FRESH = {"sdk-cold": "sdk, cold", "sdk-warmed": "sdk, warmed", "timing": "timing client"}


def one_request(endpoint: Endpoint, transport: str, rid: int, tokens: int) -> tuple[float, float] | None:
    """(playground's TTFT in ms, the first content event's clock reading) or None if the stream failed."""
    request = ChatRequest(messages=(ChatMessage("user", f"rid:{rid} hello"),), max_tokens=tokens, temperature=0.0,
                          exact_output_tokens=True)
    started = time.perf_counter()
    first_at = None
    for event in stream_chat(endpoint, None, request, threading.Event(), transport=transport):
        if event.kind == "content" and first_at is None:
            first_at = event.at_s
        if event.kind == "error":
            return None
    return ((first_at - started) * 1000, started) if first_at is not None else None


def truth_endpoint(port: int) -> Endpoint:
    return Endpoint(name="truth", kind="openai", model="truth", base_url=f"http://127.0.0.1:{port}/v1",
                    max_tokens_cap=100_000, think_tags=False)


def one_fresh(args: argparse.Namespace) -> int:
    """The child of --fresh: one request in this (fresh) process; prints JSON."""
    from modelmatch.chat import sdk_stream

    endpoint = truth_endpoint(args.port)
    if args.one_fresh == "sdk-warmed":
        sdk_stream.start_warm_up([endpoint])
    time.sleep(args.think_s)
    transport = "timing" if args.one_fresh == "timing" else "sdk"
    got = one_request(endpoint, transport, args.rid, args.tokens)
    print(json.dumps(None if got is None else {"ttft_ms": got[0], "started": got[1]}))
    return 0


def fresh_processes(port: int, args: argparse.Namespace, rid_base: int) -> dict[str, list[tuple[int, float, float]]]:
    """variant -> [(rid, playground TTFT ms, start clock reading)], one fresh process each, variants interleaved."""
    got: dict[str, list[tuple[int, float, float]]] = {name: [] for name in FRESH}
    rid = rid_base
    for round_index in range(args.fresh):
        order = list(FRESH) if round_index % 2 == 0 else list(reversed(FRESH))
        for variant in order:
            rid += 1
            out = subprocess.run([sys.executable, "-m", "bench.playground_ttft", "--one-fresh", variant, "--port",
                                  str(port), "--rid", str(rid), "--tokens", str(args.tokens), "--think-s",
                                  str(args.think_s)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
            result = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
            if result is not None:
                got[variant].append((rid, result["ttft_ms"], result["started"]))
    return got


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.playground_ttft", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40, help="requests per client (default 40)")
    parser.add_argument("--tokens", type=int, default=8, help="output tokens per request (default 8)")
    parser.add_argument("--ttft-ms", type=float, default=50.0, help="server's TTFT (default 50 ms)")
    parser.add_argument("--gap-ms", type=float, default=5.0, help="server's gap between tokens (default 5 ms)")
    parser.add_argument("--fresh", type=int, default=0,
                        help="also the first request in N fresh processes per variant (default 0: off)")
    parser.add_argument("--think-s", type=float, default=1.0,
                        help="--fresh: seconds between the page's modules loaded and the request (default 1)")
    parser.add_argument("--one-fresh", choices=list(FRESH), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_fresh:
        return one_fresh(args)
    proc, port = start_server(args.ttft_ms, args.gap_ms)
    endpoint = truth_endpoint(port)
    fresh: dict[str, list[tuple[int, float, float]]] = {}
    # rid -> (client, playground TTFT ms, start clock reading); the first request of each client is its cold start
    runs: dict[int, tuple[str, float, float]] = {}
    cold: dict[str, int] = {}
    failed = {name: 0 for name in CLIENTS}
    try:
        fetch_truth(port, reset=True)
        rid = 0
        for round_index in range(args.rounds + 1):
            order = list(CLIENTS) if round_index % 2 == 0 else list(reversed(CLIENTS))
            for transport in order:
                rid += 1
                got = one_request(endpoint, transport, rid, args.tokens)
                if got is None:
                    failed[transport] += 1
                    continue
                runs[rid] = (transport, *got)
                cold.setdefault(transport, rid)
        if args.fresh:
            fresh = fresh_processes(port, args, rid)
        truth = fetch_truth(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    rows: dict[str, dict[str, list[float]]] = {name: {"overhead": [], "send": [], "receive": []} for name in CLIENTS}
    cold_ms: dict[str, float] = {}
    for rid, (transport, ttft_ms, started) in runs.items():
        t = truth.get(rid)
        if t is None:
            continue
        true_ttft_ms = (t["first"] - t["arrived"]) * 1000
        overhead = ttft_ms - true_ttft_ms
        if cold.get(transport) == rid:
            cold_ms[transport] = overhead
            continue
        send_ms = (t["arrived"] - started) * 1000
        rows[transport]["overhead"].append(overhead)
        rows[transport]["send"].append(send_ms)
        rows[transport]["receive"].append(overhead - send_ms)

    print(f"truth server: TTFT {args.ttft_ms:g} ms, gap {args.gap_ms:g} ms, {args.tokens} tokens; concurrency 1; "
          f"{args.rounds} interleaved rounds; {os.cpu_count()} CPU cores; loopback, a new connection per request\n")
    header = (f"{'client':<24} {'n':>4} {'fail':>4} | {'overhead p50':>12} {'p90':>7} | {'send p50':>8} "
              f"{'receive p50':>11} | {'first request':>13}")
    print(header)
    print("-" * len(header))
    for name, label in CLIENTS.items():
        r = rows[name]
        p50, p90 = percentile(r["overhead"], 50), percentile(r["overhead"], 90)
        send, receive = percentile(r["send"], 50), percentile(r["receive"], 50)
        first = cold_ms.get(name)
        print(f"{label:<24} {len(r['overhead']):>4} {failed[name]:>4} | {_ms(p50):>12} {_ms(p90):>7} | "
              f"{_ms(send):>8} {_ms(receive):>11} | {_ms(first):>13}")
    old, new = percentile(rows["timing"]["overhead"], 50), percentile(rows["sdk"]["overhead"], 50)
    if old and new:
        print(f"\nnew / old median overhead: {new / old:.1f}x ({new - old:+.2f} ms per request)")
    print("times in ms: the playground's TTFT minus the true TTFT (send + receive)")
    if fresh:
        print(f"\nfirst request in a fresh process ({args.fresh} processes per variant, interleaved; "
              f"{args.think_s:g} s between the page's modules loaded and the request)")
        print(f"{'variant':<16} {'n':>3} | {'overhead p50':>12} {'min':>7} {'max':>7}")
        for name, label in FRESH.items():
            overheads = [ttft_ms - (truth[rid]["first"] - truth[rid]["arrived"]) * 1000
                         for rid, ttft_ms, _ in fresh[name] if rid in truth]
            if overheads:
                print(f"{label:<16} {len(overheads):>3} | {statistics.median(overheads):>12.2f} "
                      f"{min(overheads):>7.2f} {max(overheads):>7.2f}")
            else:
                print(f"{label:<16} {0:>3} | {'n/a':>12}")
    return 0


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
