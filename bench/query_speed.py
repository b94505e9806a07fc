"""The catalog queries pages run on a cache miss, timed side by side with the same queries of another checkout, on
one catalog, and their results compared.

    python -m bench.query_speed CATALOG.duckdb --baseline-tree OLD_CHECKOUT [--rounds 5] [--repeats 7]

Each round starts one fresh process per tree (A, B, A, B, ...): it opens the catalog, runs each query once untimed
(DuckDB's first query in a process pays for loading the tables it reads), then `--repeats` timed runs, and prints the
median of each. The table shows the median over rounds of those medians, each tree's ratio to the other, and whether
the two trees returned the same rows (a hash of the columns and of the rows in any order: before 2026-12-07
rows that tied on the ORDER BY of the scores query came in a different order from run to run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Run as a file with the tree under test first on sys.path, so `modelmatch` is that tree's package.
WORKER = '''import datetime as dt, hashlib, json, statistics, sys, time
from pathlib import Path
import pandas as pd
from modelmatch.catalog.models import ModelFilter, models_table
from modelmatch.catalog.prices import prices_in_force
from modelmatch.catalog.reader import CatalogReader
from modelmatch.catalog.scores import scores_for
from modelmatch.explore import overview
from modelmatch.explore.view_state import OverviewState

reader, repeats = CatalogReader(Path(sys.argv[1])), int(sys.argv[2])
vendors = [v for (v,) in reader.rows(
    "SELECT vendor FROM models GROUP BY vendor ORDER BY count(*) DESC, vendor LIMIT 2")]
ids = [m for (m,) in reader.rows("SELECT model_id FROM models WHERE vendor = ? ORDER BY model_id", [vendors[0]])]
bench = overview.vendors_default_benchmark(reader, tuple(vendors))
today = dt.date(2026, 12, 1)
queries = {
    "models_table, no filter": lambda: models_table(reader),
    f"models_table, vendor {vendors[0]}": lambda: models_table(reader, ModelFilter(vendors=(vendors[0],))),
    "models_table, two vendors, open weights": lambda: models_table(
        reader, ModelFilter(vendors=tuple(vendors), open_weights_only=True)),
    "scores_for, one vendor's models": lambda: scores_for(reader, ids),
    "prices_in_force, one vendor's models": lambda: prices_in_force(reader, today, ids),
    "vendors_default_benchmark, two vendors": lambda: pd.DataFrame([overview.vendors_default_benchmark(
        reader, tuple(vendors))]),
    "overview_data, two vendors": lambda: overview.overview_data(
        reader, OverviewState(benchmark_id=bench, vendors=tuple(vendors)), today).points,
}
out = {}
for name, run in queries.items():
    frame = run()
    rows = sorted(json.dumps(r, default=str) for r in frame.to_dict(orient="split")["data"])
    digest = hashlib.sha256(json.dumps([list(frame.columns), rows]).encode()).hexdigest()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    out[name] = {"ms": statistics.median(times), "sha": digest}
print(json.dumps(out))
'''


def run_tree(tree: Path, worker: Path, catalog: Path, repeats: int) -> dict:
    done = subprocess.run([sys.executable, str(worker), str(catalog), str(repeats)], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"worker failed in {tree}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalog", type=Path)
    parser.add_argument("--baseline-tree", type=Path, required=True, help="another checkout to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    catalog = args.catalog.resolve()
    trees = {"new": REPO_ROOT, "old": args.baseline_tree.resolve()}
    samples: dict[str, list[dict]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory() as folder:
        worker = Path(folder) / "query_worker.py"
        worker.write_text(WORKER, encoding="utf-8")
        for number in range(1, args.rounds + 1):
            for label, tree in trees.items():
                samples[label].append(run_tree(tree, worker, catalog, args.repeats))
            print(f"round {number}/{args.rounds} done", file=sys.stderr)
    print(f"catalog {catalog}; {args.rounds} interleaved rounds x {args.repeats} timed runs; medians")
    print(f"{'query':44} {'new ms':>8} {'old ms':>8} {'new/old':>8}  same rows")
    for name in samples["new"][0]:
        new = statistics.median(s[name]["ms"] for s in samples["new"])
        old = statistics.median(s[name]["ms"] for s in samples["old"])
        same = samples["new"][0][name]["sha"] == samples["old"][0][name]["sha"]
        print(f"{name:44} {new:8.1f} {old:8.1f} {new / old:8.2f}  {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
