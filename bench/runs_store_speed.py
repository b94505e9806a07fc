"""The runs store before and after its move from DuckDB to SQLite, side by side, on the same workload.

1. Save+load operations per second of the playground's RunsStore: each run has two columns and a two-turn history;
   it is saved, then loaded back (two operations).
2. The eval event loop's stall per scored item: an eval run against a loopback OpenAI-compatible server that answers
   at once, with a ticker task on the runner's own event loop asking to wake every 1 ms. How late it wakes is how
   long something else held the loop (a store write, scoring), i.e. how late every other stream's chunks would be
   stamped. Reported: the summed lateness beyond the ticker's own 1 ms per scored item, and the longest stall.

    python -m bench.runs_store_speed                      # this tree vs commit 87756cd (the DuckDB store)
    python -m bench.runs_store_speed --base 87756cd --runs 300 --items 120

The base commit's modelmatch package is taken from git (git archive) into a temporary folder; each tree runs in its
own process, on its own runs file in a temporary folder.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

WORKER = r'''
import asyncio, json, statistics, sys, time
from pathlib import Path
tree, repo, work, runs_n, items_n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
sys.path.insert(0, tree)
sys.path.append(repo)  # the loopback server the tests use (tests/openai_server.py)
from modelmatch.chat.runs_store import ColumnRecord, RunRecord, RunsStore
from modelmatch.chat.endpoints import Endpoint
from modelmatch.evals.store import EvalStore
from modelmatch.evals.run_setup import RunConfig, create_run
from modelmatch.evals.runner import EvalRunner
from modelmatch.evals.sets import parse_eval_set
from tests.openai_server import ScriptedServer, answer_script
import modelmatch
assert modelmatch.__file__.startswith(tree), modelmatch.__file__

suffix = sys.argv[6]
store = RunsStore(work / f"runs{suffix}")
runs = [RunRecord(prompt=f"question {i} " + "x" * 200, columns=[
    ColumnRecord(c, f"E{c}", None, {"temperature": 0.7}, [{"role": "user", "content": f"earlier {i}"},
                 {"role": "assistant", "content": "earlier answer " * 20}], "reasoning " * 30, "answer " * 50,
                 ttft_ms=120.0, e2e_ms=900.0, input_tokens=40, output_tokens=60) for c in range(2)])
        for i in range(runs_n)]
store.save(runs[0]); store.load(runs[0].run_id)  # warm: tables made, modules loaded
t0 = time.perf_counter()
for run in runs[1:]:
    store.save(run)
    assert store.load(run.run_id) is not None
elapsed = time.perf_counter() - t0
ops_per_s = 2 * (runs_n - 1) / elapsed

csv = "id,language,scorer,expected,prompt\n" + "".join(f"q{i},en,numeric,5,What is {i} + 5 - {i}?\n"
                                                       for i in range(items_n))
eval_set = parse_eval_set(csv.encode(), "bench.csv", "bench").eval_set
evals = EvalStore(work / f"runs{suffix}")
lateness_ms = []

async def tick():
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(0.001)
        lateness_ms.append((loop.time() - start) * 1000 - 1.0)

real_main = EvalRunner._main

async def main(self):
    ticker = asyncio.create_task(tick())
    try:
        await real_main(self)
    finally:
        ticker.cancel()

EvalRunner._main = main
with ScriptedServer(answer_script(["So 5.", "\nANSWER: 5"])) as server:
    ep = Endpoint(name="Bench", kind="openai", model="bench", base_url=server.base_url, model_id="org/Bench",
                  requests_per_minute=1_000_000, first_byte_timeout_s=10, stall_timeout_s=10)
    config = RunConfig(concurrency=4, cost_cap_usd=None, retries=0)
    run_id = create_run(evals, eval_set, [ep], config, {"Bench": None}, {"Bench": ""})
    t0 = time.perf_counter()
    progress = EvalRunner(evals, run_id, [ep], {}, config, {"Bench": None}).run()
    eval_s = time.perf_counter() - t0
scored = sum(p.scored for p in progress.endpoints)
assert scored == items_n, progress
late = sorted(lateness_ms)
print(json.dumps({"ops_per_s": ops_per_s, "scored": scored, "eval_s": eval_s,
                  "stall_ms_per_item": sum(max(0.0, x) for x in late) / scored,
                  "max_stall_ms": late[-1], "p99_stall_ms": late[int(0.99 * (len(late) - 1))],
                  "ticks": len(late)}))
'''


def extract_base(commit: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", "--format=tar", commit, "modelmatch"], cwd=REPO_ROOT,
                             capture_output=True, check=True, timeout=120).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(tree: Path, work: Path, runs: int, items: int, suffix: str) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MODELMATCH_RUNS_DB": str(work / f"runs{suffix}"), "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, "-c", WORKER, str(tree), str(REPO_ROOT), str(work), str(runs), str(items),
                           suffix], capture_output=True, text=True, env=env, timeout=900, cwd=work)
    if proc.returncode != 0:
        raise SystemExit(f"{tree.name}: the workload failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="87756cd", help="commit with the DuckDB store (default: 87756cd)")
    parser.add_argument("--runs", type=int, default=300, help="runs saved and loaded per tree")
    parser.add_argument("--items", type=int, default=120, help="eval items scored per tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runs-store-bench-") as tmp:
        base_tree = extract_base(args.base, Path(tmp) / "base")
        before = measure(base_tree, Path(tmp) / "before", args.runs, args.items, ".duckdb")
        after = measure(REPO_ROOT, Path(tmp) / "after", args.runs, args.items, ".sqlite")
    rows = [("save+load operations per second", "ops_per_s", "{:,.0f}"),
            ("eval loop stall per scored item (ms)", "stall_ms_per_item", "{:.2f}"),
            ("longest eval loop stall (ms)", "max_stall_ms", "{:.1f}"),
            ("99th percentile tick lateness (ms)", "p99_stall_ms", "{:.2f}"),
            ("eval run wall time (s)", "eval_s", "{:.2f}")]
    print(f"runs store: {args.runs} runs saved+loaded, {args.items} eval items scored, "
          f"base {args.base} (DuckDB) vs this tree (SQLite WAL)")
    print(f"{'':40} {'before':>12} {'after':>12} {'after/before':>13}")
    for label, key, fmt in rows:
        ratio = after[key] / before[key] if before[key] else float("nan")
        print(f"{label:40} {fmt.format(before[key]):>12} {fmt.format(after[key]):>12} {ratio:>12.2f}x")


if __name__ == "__main__":
    main()
