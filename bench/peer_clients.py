"""The client race against vLLM's and SGLang's own benchmark clients, on bench.truth_server.

The peers are not this project's dependencies and no peer code is in this repository: install each into a
throwaway virtual environment first (each pulls large dependencies: vLLM brings torch), then point this script at
it. It starts the truth server, runs the peer's benchmark command against it, reads the peer's saved result, and
prints the peer's error next to ours (the `timing` and `workers` clients of bench.client_accuracy) at the same
concurrency, in one run.

Peer clients put no tag of ours in their prompts, so their requests cannot be matched one by one with the
server's record: the error here is per percentile (the client's p50 minus the truth's p50 over the same run, and
so for p99), for every client in the table, ours included, so the rows compare alike. bench.client_accuracy
gives ours per request.

Install the peers (a manual step, once; outside the repository):

    python -m venv /path/to/peer-vllm && /path/to/peer-vllm/bin/pip install vllm
    python -m venv /path/to/peer-sglang && /path/to/peer-sglang/bin/pip install "sglang" aiohttp numpy requests \\
        tqdm transformers

Both build random prompts with a tokenizer: pass a local tokenizer folder or a Hugging Face id already in the local
cache (--tokenizer). Run them where the Hugging Face Hub is reachable: SGLang 0.5.23's client fetched files from it
even with a local tokenizer folder (its `random` dataset samples ShareGPT text), so on a machine without network it
stopped before sending a request. Then:

    python -m bench.peer_clients --peer vllm --venv /path/to/peer-vllm --tokenizer gpt2 --concurrency 1,100,500
    python -m bench.peer_clients --peer sglang --venv /path/to/peer-sglang --tokenizer gpt2 --concurrency 100

The commands it runs (printed too), with PORT the truth server's and N = 2 x concurrency (40 at 1):

    VENV/bin/vllm bench serve --backend openai-chat --base-url http://127.0.0.1:PORT --endpoint /v1/chat/completions
        --model truth --tokenizer TOKENIZER --dataset-name random --random-input-len 16 --random-output-len 32
        --ignore-eos --num-prompts N --max-concurrency C --request-rate inf --save-result --save-detailed
        --result-dir DIR --result-filename vllm.json
    VENV/bin/python -m sglang.bench_serving --backend sglang-oai-chat --base-url http://127.0.0.1:PORT
        --model truth --tokenizer TOKENIZER --dataset-name random --random-input-len 16 --random-output-len 32
        --random-range-ratio 1 --num-prompts N --max-concurrency C --warmup-requests 0
        --output-file DIR/sglang.jsonl --output-details
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.client_accuracy import ZERO_GAP_MS, fetch_truth, measure_level, start_server  # noqa: E402
from modelmatch.chat.timing import percentile  # noqa: E402

TOKENS = 32


def peer_command(peer: str, venv: Path, port: int, tokenizer: str, concurrency: int, n: int, out: Path) -> list[str]:
    base = f"http://127.0.0.1:{port}"
    common = ["--model", "truth", "--tokenizer", tokenizer, "--dataset-name", "random", "--random-input-len", "16",
              "--random-output-len", str(TOKENS), "--num-prompts", str(n), "--max-concurrency", str(concurrency)]
    if peer == "vllm":
        return [str(venv / "bin" / "vllm"), "bench", "serve", "--backend", "openai-chat", "--base-url", base,
                "--endpoint", "/v1/chat/completions", *common, "--ignore-eos", "--request-rate", "inf",
                "--save-result", "--save-detailed", "--result-dir", str(out.parent), "--result-filename", out.name]
    return [str(venv / "bin" / "python"), "-m", "sglang.bench_serving", "--backend", "sglang-oai-chat", "--base-url",
            base, *common, "--random-range-ratio", "1", "--warmup-requests", "0", "--output-file", str(out),
            "--output-details"]


def read_peer_result(path: Path) -> dict[str, list[float]]:
    """Per-request TTFT, inter-token gaps and TPOT (ms) from a vLLM result JSON or an SGLang JSONL (its last line),
    both with the detail lists: `ttfts` (s) and `itls` (s, a list per request)."""
    text = path.read_text(encoding="utf-8").strip()
    result = json.loads(text.splitlines()[-1]) if path.suffix == ".jsonl" else json.loads(text)
    ttfts = [t * 1000 for t in result["ttfts"] if t]
    gaps = [[g * 1000 for g in request] for request in result["itls"]]
    tpots = [sum(g) / len(g) for g in gaps if g]  # (last token - first token) / (tokens - 1)
    return {"ttft": ttfts, "itl": [g for request in gaps for g in request], "tpot": tpots}


def truth_values(truth: dict[int, dict]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ttft": [], "itl": [], "tpot": []}
    for t in truth.values():
        if "first" not in t:
            continue
        out["ttft"].append((t["first"] - t["arrived"]) * 1000)
        sent = t.get("sent_at") or []
        out["itl"].extend((b - a) * 1000 for a, b in zip(sent, sent[1:]))
        if t["tokens"] > 1:
            out["tpot"].append((t["done"] - t["first"]) * 1000 / (t["tokens"] - 1))
    return out


def ours_values(level) -> dict[str, list[float]]:
    ok = [c.metrics for c in level.completed if c.metrics.ok]
    return {"ttft": [m.ttft_ms for m in ok if m.ttft_ms is not None],
            "itl": [g for m in ok for g in m.itl_ms], "tpot": [m.tpot_ms for m in ok if m.tpot_ms is not None]}


def row(concurrency: int, client: str, got: dict[str, list[float]], true: dict[str, list[float]]) -> str:
    cells = []
    for metric in ("ttft", "itl", "tpot"):
        for q in (50, 99):
            a, b = percentile(got[metric], q), percentile(true[metric], q)
            cells.append("    n/a" if a is None or b is None else f"{a - b:+7.2f}")
    zero = got["itl"] and 100 * sum(1 for g in got["itl"] if g < ZERO_GAP_MS) / len(got["itl"])
    return (f"{concurrency:>5} {client:>8} {len(got['ttft']):>5} | {cells[0]:>9} {cells[1]} | {cells[2]:>9} "
            f"{cells[3]} {'n/a' if zero == [] else f'{zero:5.1f}%':>6} | {cells[4]:>9} {cells[5]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_clients", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", choices=("vllm", "sglang"), required=True)
    parser.add_argument("--venv", type=Path, required=True, help="the throwaway environment the peer is installed in")
    parser.add_argument("--tokenizer", required=True, help="local tokenizer folder or cached Hugging Face id")
    parser.add_argument("--concurrency", default="1,100,500")
    parser.add_argument("--workers", type=int, default=2, help="processes for our workers client (default 2)")
    parser.add_argument("--time-limit-s", type=float, default=300.0)
    args = parser.parse_args(argv)
    tool = args.venv / "bin" / ("vllm" if args.peer == "vllm" else "python")
    if not tool.exists():
        print(f"no {tool}: install the peer first (see --help: a throwaway venv, outside the repository)",
              file=sys.stderr)
        return 2
    proc, port = start_server(50.0, 20.0)
    load = os.getloadavg()
    print(f"truth server: TTFT 50 ms, gap 20 ms, {TOKENS} tokens; {os.cpu_count()} CPU cores, load average "
          f"{load[0]:.2f}; error = client's percentile - truth's percentile over the same run (ms)\n")
    print(f"{'conc':>5} {'client':>8} {'n':>5} | {'TTFT p50':>9} {'p99':>7} | {'ITL p50':>9} {'p99':>7} "
          f"{'~0 gaps':>6} | {'TPOT p50':>9} {'p99':>7}")
    rid_base = 0
    try:
        for c in [int(x) for x in args.concurrency.split(",") if x.strip()]:
            n = 40 if c == 1 else 2 * c
            with tempfile.TemporaryDirectory(prefix="peer-") as folder:
                out = Path(folder) / ("vllm.json" if args.peer == "vllm" else "sglang.jsonl")
                command = peer_command(args.peer, args.venv, port, args.tokenizer, c, n, out)
                print("$ " + " ".join(command), file=sys.stderr, flush=True)
                fetch_truth(port, reset=True)
                done = subprocess.run(command, cwd=folder, timeout=args.time_limit_s + 120,
                                      stdout=subprocess.DEVNULL)
                truth = fetch_truth(port)
                if done.returncode != 0 or not out.exists():
                    print(f"{c:>5} {args.peer:>8} the peer's command failed (exit {done.returncode})", flush=True)
                else:
                    print(row(c, args.peer, read_peer_result(out), truth_values(truth)), flush=True)
            for client in ("timing", "workers"):
                level, truth = measure_level(port, client, c, n, TOKENS, args.time_limit_s, rid_base, args.workers)
                rid_base += n
                tagged = {k: v for k, v in truth.items() if k >= 0}
                print(row(c, client, ours_values(level), truth_values(tagged)), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
