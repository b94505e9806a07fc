"""The client race against vLLM's and SGLang's own benchmark clients, on bench.truth_server.

The peers are not this project's dependencies and no peer code is in this repository: each is installed into a
throwaway virtual environment outside the repository (--install makes it, with the commands below), and this
script runs the peer's own benchmark command from there against the truth server, reads the peer's saved result,
and prints the peer's error next to ours (the `timing`, `workers` and `sdk` clients of bench.client_accuracy; `sdk`
is the official openai SDK) at the same concurrency, in one run. No GPU is needed and nothing is fetched at run time:
the prompts are sampled with a small tokenizer trained here (tests/tiny_model.py), and the peers run with the
Hugging Face Hub switched off.

Peer clients put no tag of ours in their prompts, so their requests cannot be matched one by one with the
server's record: the error here is per percentile (the client's p50 minus the truth's p50 over the same run, and
so for p99), for every client in the table, ours included, so the rows compare alike. bench.client_accuracy
gives ours per request.

    python -m bench.peer_clients --vllm VLLM --sglang SGLANG --install --concurrency 1,100
    python -m bench.peer_clients --vllm VLLM --sglang SGLANG --concurrency 1,100,500 --rounds 3

One round is one run of every client at a level; on a shared machine a single round's p99 moves with the load, so
--rounds N runs each level N times (the clients' order rotated each round) and ends with each cell's median over the
rounds, the smallest error in size marked, and how many cells each client has.

Installing (what --install runs, once per folder; the folders are throwaway, anywhere outside the repository):

  vLLM 0.34.0 without its dependencies, then only what `vllm bench serve` imports, with the CPU build of torch
  (a plain `pip install vllm` stops on flashinfer-python 0.7.3, which the package registry does not have; vllm
  0.33.0 installs in full, but brings about 9 GB of CUDA libraries):

    python -m venv VLLM && VLLM/bin/pip install --no-deps vllm==0.34.0
    VLLM/bin/pip install torch==2.13.0 aiohttp numpy tqdm "transformers>=5.16.1,<5.23" regex psutil pyzmq \\
        requests uvloop fastapi pillow pybase64 cachetools prometheus_client openai oss-harmony cbor2 msgspec \\
        cloudpickle py-cpuinfo partial_json_parser uvicorn llguidance xgrammar watchfiles orjson einops

  SGLang 0.5.23 without its dependencies, then what `python -m sglang.benchmark.serving` imports. Its import
  chain reaches torchvision (through sglang.srt's model configs), and the registry's torchvision is built against
  CUDA torch, so this one takes torch 2.14.1 with its CUDA libraries (about 6 GB; no GPU is needed to import it).
  SGLang 0.5.3 to 0.5.9 import nothing heavy, but their chat client reads `choices[0]` of every chunk and fails
  every request on the usage chunk (`"choices": []`, as the OpenAI API and vLLM send it):

    python -m venv SGLANG && SGLANG/bin/pip install --no-deps sglang==0.5.23
    SGLANG/bin/pip install torch==2.14.1 torchvision==0.29.1 triton aiohttp msgspec numpy orjson requests tqdm \\
        transformers psutil pybase64 pillow starlette pyzmq IPython datasets apache-tvm-ffi sentencepiece \\
        compressed_tensors gguf

The commands it runs (printed too), with PORT the truth server's, TOK the tokenizer folder and N requests
(default 40 at concurrency 1, else 2 x concurrency):

    VLLM/bin/vllm bench serve --backend openai-chat --base-url http://127.0.0.1:PORT --endpoint /v1/chat/completions
        --model truth --tokenizer TOK --dataset-name random --random-input-len 16 --random-output-len 32
        --num-prompts N --max-concurrency C --ignore-eos --request-rate inf --save-result --save-detailed
        --result-dir DIR --result-filename vllm.json
    SGLANG/bin/python -m sglang.benchmark.serving --backend sglang-oai-chat --base-url http://127.0.0.1:PORT
        --model truth --tokenizer TOK --dataset-name random-ids --random-input-len 16 --random-output-len 32
        --num-prompts N --max-concurrency C --random-range-ratio 1 --warmup-requests 0
        --output-file DIR/sglang.jsonl --output-details

SGLang's `random` dataset samples ShareGPT text from the Hugging Face Hub even with a local tokenizer; `random-ids`
draws token ids instead, the same as vLLM's `random`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.client_accuracy import CLIENTS, ZERO_GAP_MS, fetch_truth, measure_level, start_server  # noqa: E402
from modelmatch.chat.timing import percentile  # noqa: E402

TOKENS = 32
PEERS = ("vllm", "sglang")
# What --install runs in a new venv: the peer without its dependencies, then what its benchmark client imports.
INSTALL = {
    "vllm": (["vllm==0.34.0"],
             ["torch==2.13.0", "aiohttp", "numpy", "tqdm", "transformers>=5.16.1,<5.23", "regex", "psutil", "pyzmq",
              "requests", "uvloop", "fastapi", "pillow", "pybase64", "cachetools", "prometheus_client", "openai",
              "oss-harmony", "cbor2", "msgspec", "cloudpickle", "py-cpuinfo", "partial_json_parser", "uvicorn",
              "llguidance", "xgrammar", "watchfiles", "orjson", "einops"]),
    "sglang": (["sglang==0.5.23"],
               ["torch==2.14.1", "torchvision==0.29.1", "triton", "aiohttp", "msgspec", "numpy", "orjson",
                "requests", "tqdm", "transformers", "psutil", "pybase64", "pillow", "starlette", "pyzmq", "IPython",
                "datasets", "apache-tvm-ffi", "sentencepiece", "compressed_tensors", "gguf"]),
}


def peer_tool(peer: str, venv: Path) -> Path:
    return venv / "bin" / ("vllm" if peer == "vllm" else "python")


def install_peer(peer: str, venv: Path) -> None:
    """Make the throwaway venv and install the peer into it (INSTALL); a folder that already has the tool is kept."""
    if _has_module(venv, peer):
        return
    if REPO_ROOT in venv.resolve().parents or venv.resolve() == REPO_ROOT:
        raise SystemExit(f"{venv}: peers are installed outside the repository")
    package, deps = INSTALL[peer]
    pip = str(venv / "bin" / "pip")
    for command in ([sys.executable, "-m", "venv", str(venv)], [pip, "install", "--no-deps", *package],
                    [pip, "install", *deps]):
        print("$ " + " ".join(command), file=sys.stderr, flush=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def _has_module(venv: Path, module: str) -> bool:
    python = venv / "bin" / "python"
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return python.exists() and subprocess.run([str(python), "-c", probe]).returncode == 0


def peer_command(peer: str, venv: Path, port: int, tokenizer: str, concurrency: int, n: int, out: Path) -> list[str]:
    base = f"http://127.0.0.1:{port}"
    common = ["--model", "truth", "--tokenizer", tokenizer, "--random-input-len", "16", "--random-output-len",
              str(TOKENS), "--num-prompts", str(n), "--max-concurrency", str(concurrency)]
    if peer == "vllm":
        return [str(peer_tool(peer, venv)), "bench", "serve", "--backend", "openai-chat", "--base-url", base,
                "--endpoint", "/v1/chat/completions", "--dataset-name", "random", *common, "--ignore-eos",
                "--request-rate", "inf", "--save-result", "--save-detailed", "--result-dir", str(out.parent),
                "--result-filename", out.name]
    return [str(peer_tool(peer, venv)), "-m", "sglang.benchmark.serving", "--backend", "sglang-oai-chat",
            "--base-url", base, "--dataset-name", "random-ids", *common, "--random-range-ratio", "1",
            "--warmup-requests", "0", "--output-file", str(out), "--output-details"]


def peer_env() -> dict[str, str]:
    """The peer's environment: the Hugging Face Hub off (the tokenizer is a local folder), no GPU looked for."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", CUDA_VISIBLE_DEVICES="")
    env.pop("PYTHONPATH", None)
    return env


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


CELLS = ("TTFT p50", "TTFT p99", "ITL p50", "ITL p99", "TPOT p50", "TPOT p99")
HEADER = (f"{'conc':>5} {'client':>8} {'n':>5} | {'TTFT p50':>9} {'p99':>7} | {'ITL p50':>9} {'p99':>7} "
          f"{'~0 gaps':>7} | {'TPOT p50':>9} {'p99':>7}")


@dataclass(frozen=True)
class RaceRow:
    """One client at one concurrency in one round: its error per CELLS (client's percentile minus the truth's over
    the same run, ms; None where either side has no value) and the share of its reported gaps under ZERO_GAP_MS."""
    concurrency: int
    client: str
    requests: int
    errors_ms: tuple[float | None, ...]
    zero_gap_share: float | None


def race_row(concurrency: int, client: str, got: dict[str, list[float]], true: dict[str, list[float]]) -> RaceRow:
    errors = []
    for metric in ("ttft", "itl", "tpot"):
        for q in (50, 99):
            a, b = percentile(got[metric], q), percentile(true[metric], q)
            errors.append(None if a is None or b is None else a - b)
    zero = sum(1 for g in got["itl"] if g < ZERO_GAP_MS) / len(got["itl"]) if got["itl"] else None
    return RaceRow(concurrency, client, len(got["ttft"]), tuple(errors), zero)


def format_row(r: RaceRow, marks: tuple[str, ...] = ("",) * len(CELLS)) -> str:
    cells = ["    n/a" if e is None else f"{e:+7.2f}" for e in r.errors_ms]
    cells = [f"{cell}{mark or ' '}" for cell, mark in zip(cells, marks)]
    zero = "n/a" if r.zero_gap_share is None else f"{100 * r.zero_gap_share:6.1f}%"
    return (f"{r.concurrency:>5} {r.client:>8} {r.requests:>5} | {cells[0]:>9} {cells[1]} | {cells[2]:>9} "
            f"{cells[3]} {zero:>7} | {cells[4]:>9} {cells[5]}")


def median_rows(rows: list[RaceRow]) -> list[RaceRow]:
    """Per concurrency and client, in the order first seen: the median of each error and of the ~0 share over the
    rounds that have a value (requests: the median count)."""
    groups: dict[tuple[int, str], list[RaceRow]] = {}
    for r in rows:
        groups.setdefault((r.concurrency, r.client), []).append(r)

    def mid(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    return [RaceRow(c, client, int(statistics.median(r.requests for r in rs)),
                    tuple(mid([r.errors_ms[i] for r in rs]) for i in range(len(CELLS))),
                    mid([r.zero_gap_share for r in rs]))
            for (c, client), rs in groups.items()]


def cell_winners(rows: list[RaceRow]) -> dict[tuple[int, str], tuple[str, ...]]:
    """Per (concurrency, client): a mark per CELLS, "*" where its error is the smallest in size of every client at
    that concurrency, "" elsewhere and where it has no value. Sizes are compared as printed (to 0.01 ms), so clients
    that print the same size all get the mark."""
    marks: dict[tuple[int, str], list[str]] = {(r.concurrency, r.client): [""] * len(CELLS) for r in rows}
    for c in dict.fromkeys(r.concurrency for r in rows):
        level = [r for r in rows if r.concurrency == c]
        for i in range(len(CELLS)):
            sizes = [round(abs(r.errors_ms[i]), 2) for r in level if r.errors_ms[i] is not None]
            if not sizes:
                continue
            best = min(sizes)
            for r in level:
                if r.errors_ms[i] is not None and round(abs(r.errors_ms[i]), 2) == best:
                    marks[c, r.client][i] = "*"
    return {key: tuple(m) for key, m in marks.items()}


def summary_lines(rows: list[RaceRow], rounds: int) -> list[str]:
    """The medians over the rounds, the smallest error of each cell marked, and how many cells each client has."""
    medians = median_rows(rows)
    marks = cell_winners(medians)
    lines = [f"Medians over {rounds} rounds (* the smallest error in size at that concurrency):", HEADER,
             "-" * len(HEADER)]
    lines += [format_row(r, marks[r.concurrency, r.client]) for r in medians]
    clients = list(dict.fromkeys(r.client for r in medians))
    won = {client: sum(mark == "*" for (_, c), ms in marks.items() if c == client for mark in ms)
           for client in clients}
    cells = len({r.concurrency for r in medians}) * len(CELLS)
    lines.append(f"cells where each client has the smallest error, of {cells}: "
                 + ", ".join(f"{client} {won[client]}" for client in clients))
    return lines


def round_order(clients: list, round_index: int) -> list:
    """The clients rotated by one place per round, so that no client always runs first (or last) at a level."""
    shift = round_index % len(clients) if clients else 0
    return clients[shift:] + clients[:shift]


def run_peer(peer: str, venv: Path, port: int, tokenizer: str, c: int, n: int, time_limit_s: float
             ) -> RaceRow | str:
    """The peer's row, or a line saying its command failed."""
    with tempfile.TemporaryDirectory(prefix="peer-") as folder:
        out = Path(folder) / ("vllm.json" if peer == "vllm" else "sglang.jsonl")
        command = peer_command(peer, venv, port, tokenizer, c, n, out)
        print("$ " + " ".join(command), file=sys.stderr, flush=True)
        fetch_truth(port, reset=True)
        log = Path(folder) / "peer.log"
        with log.open("wb") as sink:
            try:
                done = subprocess.run(command, cwd=folder, timeout=time_limit_s + 120, env=peer_env(),
                                      stdout=sink, stderr=subprocess.STDOUT)
                code = done.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        truth = fetch_truth(port)
        if code != 0 or not out.exists():
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
            print("\n".join(tail), file=sys.stderr)
            return f"{c:>5} {peer:>8} the peer's command failed (exit {code}; its last lines above)"
        return race_row(c, peer, read_peer_result(out), truth_values(truth))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_clients", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm", type=Path, help="the throwaway venv vLLM is (or, with --install, goes) in")
    parser.add_argument("--sglang", type=Path, help="the throwaway venv SGLang is (or, with --install, goes) in")
    parser.add_argument("--install", action="store_true", help="make a missing peer venv first (see above)")
    parser.add_argument("--tokenizer", help="local tokenizer folder (default: the tests' tiny tokenizer, built "
                                            "into a temporary folder)")
    parser.add_argument("--concurrency", default="1,100,500")
    parser.add_argument("--requests", type=int, default=0, help="per level (default 40 at c=1, else 2 x c)")
    parser.add_argument("--clients", default="timing,workers,sdk", help="ours, from bench.client_accuracy "
                                                                        "(default timing,workers,sdk)")
    parser.add_argument("--workers", type=int, default=2, help="processes for our workers client (default 2)")
    parser.add_argument("--time-limit-s", type=float, default=300.0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every level this many times, the clients in a rotated order each round, then "
                             "print each cell's median over the rounds with the smallest error marked (default 1)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    peers = {p: getattr(args, p) for p in PEERS if getattr(args, p)}
    ours = [c.strip() for c in args.clients.split(",") if c.strip()]
    if bad := [c for c in ours if c not in CLIENTS]:
        parser.error(f"unknown client(s) {', '.join(bad)}; choose from {', '.join(CLIENTS)}")
    for peer, venv in peers.items():
        if args.install:
            install_peer(peer, venv)
        if not peer_tool(peer, venv).exists():
            print(f"no {peer_tool(peer, venv)}: install the peer first (--install, or the commands in --help)",
                  file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="peer-tok-") as tok_folder:
        tokenizer = args.tokenizer
        if tokenizer is None:
            from tests.tiny_model import build_tiny_tokenizer

            build_tiny_tokenizer(Path(tok_folder))
            tokenizer = tok_folder
        return race(args, peers, ours, tokenizer)


def race(args: argparse.Namespace, peers: dict[str, Path], ours: list[str], tokenizer: str) -> int:
    proc, port = start_server(50.0, 20.0)
    load = os.getloadavg()
    print(f"truth server: TTFT 50 ms, gap 20 ms, {TOKENS} tokens; {os.cpu_count()} CPU cores, load average "
          f"{load[0]:.2f}; error = client's percentile - truth's percentile over the same run (ms)\n")
    print(HEADER)
    print("-" * len(HEADER))
    rid_base = 0
    rows: list[RaceRow] = []
    clients = [(peer, venv) for peer, venv in peers.items()] + [(client, None) for client in ours]
    try:
        for c in [int(x) for x in args.concurrency.split(",") if x.strip()]:
            n = args.requests or (40 if c == 1 else 2 * c)
            for round_index in range(args.rounds):
                for name, venv in round_order(clients, round_index):
                    if venv is not None:
                        got = run_peer(name, venv, port, tokenizer, c, n, args.time_limit_s)
                    else:
                        level, truth = measure_level(port, name, c, n, TOKENS, args.time_limit_s, rid_base,
                                                     args.workers)
                        rid_base += n
                        tagged = {k: v for k, v in truth.items() if k >= 0}
                        got = race_row(c, name, ours_values(level), truth_values(tagged))
                    if isinstance(got, RaceRow):
                        rows.append(got)
                        print(format_row(got), flush=True)
                    else:
                        print(got, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    load = os.getloadavg()
    if args.rounds > 1 and rows:
        print()
        print("\n".join(summary_lines(rows, args.rounds)))
    print(f"\n~0 gaps: share of reported inter-token gaps under {ZERO_GAP_MS:g} ms (the server spaced them 20 ms "
          f"apart); load average {load[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
