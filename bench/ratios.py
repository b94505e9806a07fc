"""Side-by-side ratios in one run: pages against a bare one-chart Streamlit page, the CLI against a bare process.

Every figure is printed next to its yardstick measured in the same run, samples interleaved (A, B, A, B, ...), and
ratios are of medians: on a shared machine only the ratio means something.

    python -m bench.ratios pages DATA_DIR [--rounds 3] [--warm 5] [--baseline-tree OLD_CHECKOUT]
        [--pages overview,models,compare,playground,evals]
    python -m bench.ratios cli CATALOG.duckdb [--rounds 5] [--baseline-tree OLD_CHECKOUT]

pages: each sample is a fresh Python process that opens the page through app.py under AppTest (cold: process
start to the first finished script run, with the startup check of data/ included), then reruns it unchanged
(warm). The yardstick is a one-chart page (title, a 20-point Altair chart) in the same harness. DATA_DIR holds the
CSV tables and catalog.duckdb (the repository's data/ or bench.synthetic_catalog's folder). playground and evals
run with an endpoints file naming one OpenAI-compatible server (never contacted: no prompt is sent), so the pages
do what they do when an operator has configured one (e.g. start the SDK's background import), and a runs store in
a temporary folder.

cli: `python -m modelmatch plan` / `recommend` (the README's examples, with --db) against a bare process that
opens the catalog with DuckDB and runs one query; and `recommend` as the README types it, without --db, on the same
catalog named as the configured one (MODELMATCH_CATALOG, and MODELMATCH_DATA_DIR its folder), so the CLI first
checks that the catalog is current with its data (it must be: the run stops if it would build).

--baseline-tree: another checkout (e.g. `git archive` of the commit before a change) measured in the same rounds,
so before/after ratios come from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

BARE_PAGE = '''import altair as alt
import streamlit as st

st.title("Bare page")
points = [{"x": i, "y": (i * 7) % 11} for i in range(20)]
st.altair_chart(alt.Chart(alt.Data(values=points)).mark_point().encode(x="x:Q", y="y:Q"), width="stretch")
'''

# Worker: one fresh process, one page: cold first run, then warm reruns; prints JSON. Run as a file (not -m) so
# that the tree under test, not this one, is what `modelmatch` and `pages` resolve to.
WORKER = '''import json, sys, time
from streamlit.testing.v1 import AppTest, app_test, local_script_runner
script, page, params, warm = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
if sys.argv[5] == "1":
    # A server keeps one ScriptCache (each script compiled once); AppTest makes a new one per run, so every
    # rerun would re-parse and compile app.py and the page. Share one, as the server does.
    shared = app_test.ScriptCache()
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared
at = AppTest.from_file(script, default_timeout=300)
if page:
    at.switch_page(page)
for key, value in params.items():
    at.query_params[key] = value
started = time.perf_counter()
at.run()
first_ms = (time.perf_counter() - started) * 1000
assert not at.exception, [e.message for e in at.exception]
warm_ms = []
for _ in range(warm):
    started = time.perf_counter()
    at.run()
    warm_ms.append((time.perf_counter() - started) * 1000)
    assert not at.exception
print(json.dumps({"first_ms": first_ms, "warm_ms": warm_ms}))
'''


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_worker(tree: Path, script: Path, page: str, params: dict[str, str], warm: int, env: dict[str, str],
               worker: Path, share_script_cache: bool = True) -> tuple[float, float, float]:
    """(process wall ms to the first finished run, the first run's ms, median warm rerun ms)."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, str(worker), str(script), page, json.dumps(params), str(warm),
                          "1" if share_script_cache else "0"],
                         cwd=tree, env=full_env, capture_output=True, text=True, timeout=900)
    wall_ms = (time.perf_counter() - started) * 1000
    if out.returncode != 0:
        raise SystemExit(f"worker failed for {page or script}:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    warm_total = sum(result["warm_ms"])
    # Wall to first drawn page: the process's wall less the warm reruns it did afterwards.
    return wall_ms - warm_total, result["first_ms"], median(result["warm_ms"])


# The README's Thai/Vietnamese support request as a link's query (the wizard and the summary read the same keys).
SUPPORT_REQUEST = {"use_case": "customer-support", "lang": "Thai,Vietnamese", "deploy": "self-host", "gpu": "h100-sxm"}


def page_targets(data_dir: Path) -> dict[str, tuple[str, dict[str, str]]]:
    import duckdb

    con = duckdb.connect(str(data_dir / "catalog.duckdb"), read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT model_id FROM scores GROUP BY model_id "
                                         "ORDER BY count(*) DESC, model_id LIMIT 3").fetchall()]
    finally:
        con.close()
    return {"overview": ("pages/overview.py", {}), "models": ("pages/models.py", {}),
            "compare": ("pages/compare.py", {"models": ",".join(ids)}),
            "playground": ("pages/playground.py", {}), "evals": ("pages/evals.py", {}),
            # The decision pages as the README's examples open them: the planner on its default model and GPU, the
            # wizard on the Thai/Vietnamese support request (it ranks the catalog and its what-ifs on every run
            # that changes an input, and reads the ranking from its cache on a rerun), then the summary of it.
            "planner": ("pages/planner.py", {}),
            "wizard": ("pages/wizard.py", SUPPORT_REQUEST), "summary": ("pages/summary.py", SUPPORT_REQUEST),
            "glossary": ("pages/glossary.py", {}), "data": ("pages/data.py", {})}


ENDPOINTS_TOML = """[[endpoint]]
name = "Configured server"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "configured"
"""


def bench_pages(args: argparse.Namespace) -> None:
    data_dir = args.target.resolve()
    env = {"MODELMATCH_DATA_DIR": str(data_dir), "MODELMATCH_CATALOG": str(data_dir / "catalog.duckdb")}
    trees = {"new": REPO_ROOT} | ({"old": args.baseline_tree.resolve()} if args.baseline_tree else {})
    targets = {name: target for name, target in page_targets(data_dir).items() if name in args.pages.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "endpoints.toml").write_text(ENDPOINTS_TOML)
        env |= {"MODELMATCH_ENDPOINTS": str(Path(tmp) / "endpoints.toml"),
                "MODELMATCH_RUNS_DB": str(Path(tmp) / "runs.sqlite")}
        worker, bare = Path(tmp) / "worker.py", Path(tmp) / "bare_page.py"
        worker.write_text(WORKER)
        bare.write_text(BARE_PAGE)
        samples: dict[str, list[tuple[float, float, float]]] = {}
        for round_no in range(args.rounds):
            samples.setdefault("bare", []).append(run_worker(REPO_ROOT, bare, "", {}, args.warm, env, worker,
                                                                      not args.apptest_compiles))
            for name, (page, params) in targets.items():
                for label, tree in trees.items():
                    samples.setdefault(f"{name} ({label})", []).append(
                        run_worker(tree, tree / "app.py", page, params, args.warm, env, worker,
                                   not args.apptest_compiles))
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    bare_wall, bare_first, bare_warm = (median([s[i] for s in samples["bare"]]) for i in range(3))
    compiled = "recompiled every run (AppTest default)" if args.apptest_compiles else "compiled once (as a server)"
    print(f"catalog {data_dir}; {args.rounds} interleaved rounds, {args.warm} warm reruns each; medians; "
          f"scripts {compiled}")
    print(f"{'page':16s} {'cold start ms':>13s} {'x bare':>7s} {'1st run ms':>10s} {'x bare':>7s} "
          f"{'warm ms':>8s} {'x bare':>7s}")
    print(f"{'bare one-chart':16s} {bare_wall:13.0f} {1:7.2f} {bare_first:10.0f} {1:7.2f} {bare_warm:8.1f} {1:7.2f}")
    for name, rows in samples.items():
        if name == "bare":
            continue
        wall, first, warm = (median([s[i] for s in rows]) for i in range(3))
        print(f"{name:16s} {wall:13.0f} {wall / bare_wall:7.2f} {first:10.0f} {first / bare_first:7.2f} "
              f"{warm:8.1f} {warm / bare_warm:7.2f}")


README_PLAN = ["plan", "--model", "deepseek-ai/DeepSeek-V3", "--weights", "fp8", "--context", "32768", "--batch",
               "8", "--gpu", "h200-sxm", "--gpus", "8", "--input-mtok", "100", "--output-mtok", "20",
               "--gpu-usd-per-hour", "3", "--json"]
README_RECOMMEND = ["recommend", "--use-case", "customer-support", "--language", "Thai", "--language", "Vietnamese",
                    "--deployment", "self-host", "--gpu", "h100-sxm", "--gpus", "1", "--context", "8192",
                    "--input-mtok", "50", "--output-mtok", "10", "--json"]
BARE_PROCESS = ("import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
                "rows = con.execute('SELECT * FROM models').fetchall(); print(len(rows))")


def timed(cmd: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> float:
    env = {**os.environ, "PYTHONPATH": str(cwd), **(extra_env or {})}
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=300)
    elapsed = (time.perf_counter() - started) * 1000
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {out.stderr.decode()[-2000:]}")
    return elapsed


def bench_cli(args: argparse.Namespace) -> None:
    db = str(args.target.resolve())
    trees = {"new": REPO_ROOT} | ({"old": args.baseline_tree.resolve()} if args.baseline_tree else {})
    commands = {"bare: open catalog + 1 query": (REPO_ROOT, [sys.executable, "-c", BARE_PROCESS, db])}
    configured = {"MODELMATCH_CATALOG": db, "MODELMATCH_DATA_DIR": str(Path(db).parent)}
    for label, tree in trees.items():
        commands[f"plan ({label})"] = (tree, [sys.executable, "-m", "modelmatch", *README_PLAN, "--db", db])
        commands[f"recommend ({label})"] = (tree, [sys.executable, "-m", "modelmatch", *README_RECOMMEND, "--db", db])
        commands[f"recommend, no --db ({label})"] = (tree, [sys.executable, "-m", "modelmatch", *README_RECOMMEND])
    from ingest.build import built_data_sha256, current_data_sha256

    if built_data_sha256(Path(db)) != current_data_sha256(Path(db).parent):
        raise SystemExit(f"{db} is not current with the CSVs beside it: the runs without --db would rebuild it")
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, (cwd, cmd) in commands.items():
            samples[name].append(timed(cmd, cwd, configured if "no --db" in name else {}))
    bare = median(samples["bare: open catalog + 1 query"])
    print(f"catalog {db}; {args.rounds} interleaved rounds; medians of wall time per process")
    for name, values in samples.items():
        print(f"{name:32s} {median(values):8.0f} ms  {median(values) / bare:5.2f}x bare")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("pages", "cli"))
    parser.add_argument("target", type=Path, help="pages: the data folder (with catalog.duckdb); cli: the catalog")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (one sample of each per round)")
    parser.add_argument("--warm", type=int, default=5, help="pages: warm reruns per sample")
    parser.add_argument("--apptest-compiles", action="store_true",
                        help="pages: let AppTest re-compile the scripts on every run (its default; a server does not)")
    parser.add_argument("--baseline-tree", type=Path, help="another checkout to measure in the same rounds")
    parser.add_argument("--pages", default="overview,models,compare",
                        help="pages: which, comma-separated, of overview, models, compare, playground, evals, "
                             "planner, wizard, summary, glossary, data (default overview,models,compare)")
    args = parser.parse_args(argv)
    (bench_pages if args.what == "pages" else bench_cli)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
