"""The catalog build against DuckDB's own CSV reader on the same files, side by side in one run, and the same
build at a base commit, with every table of both catalogs compared row by row.

SYNTHETIC DATA FOR BENCHMARKS ONLY (bench/synthetic_catalog.py: 5,000 models x 60 benchmarks x 3 sources = 900,000
score rows by default), written to a temporary folder; the repository's data/ is built too, for the comparison.

    python -m bench.build_speed                      # 900,000 score rows, 3 interleaved rounds
    python -m bench.build_speed --base main          # also the build and rebuild at another commit, interleaved
                                                     # with ours, and the row comparison
    python -m bench.build_speed --models 500 --rounds 1 --base main
    python -m bench.build_speed --data data --rounds 9 --base main   # the repository's own data instead

Each figure comes from its own child process: wall seconds of the work, CPU seconds (user + system, all threads:
steadier than wall time on a shared machine) and the child's peak resident memory (VmHWM, which includes the
interpreter and its imports; the "bare" row is a child that only imports what the build imports). "read_csv" is
DuckDB's plain read_csv (type detection on) of every CSV the build reads, each into an in-memory table. "build" is a first build into a new file; "rebuild" builds again over it, so it also
records what changed against the previous catalog.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_META_TABLES = ("build_meta", "build_files", "build_tables", "build_previous", "build_changes",
                     "build_change_rows")


# --- children ------------------------------------------------------------------------------------------------------
def _peak_mb() -> float:
    """This process's peak resident memory. VmHWM starts afresh at exec; ru_maxrss (the fallback off Linux) may
    carry the parent's peak over."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 1024 / 1024


def _cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(mode: str, data_dir: Path, db_path: Path) -> dict:
    import time

    import duckdb  # noqa: F401 - imported before the clock starts in every mode, as the build imports it

    from ingest.build import build
    from ingest.data_files import data_files

    started, cpu_started = time.perf_counter(), _cpu_s()
    if mode == "bare":
        pass
    elif mode == "read_csv":
        con = duckdb.connect(":memory:")
        for index, path in enumerate(data_files(data_dir)):
            con.execute(f"CREATE TABLE t{index} AS SELECT * FROM read_csv(?)", [str(path)])
        con.close()
    elif mode in ("build", "rebuild"):
        if mode == "build":
            for leftover in (db_path, Path(str(db_path) + ".wal")):
                leftover.unlink(missing_ok=True)
        build(data_dir, db_path)
    else:
        raise SystemExit(f"unknown mode {mode}")
    return {"seconds": time.perf_counter() - started, "cpu_s": _cpu_s() - cpu_started, "peak_mb": _peak_mb()}


def run_child(mode: str, data_dir: Path, db_path: Path, source_root: Path) -> dict:
    """One measurement in a fresh process that imports the build from source_root (this checkout or a base
    commit's export) and this script from the checkout."""
    code = ("import json, sys; from pathlib import Path; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
            "from bench.build_speed import child; "
            "print(json.dumps(child(sys.argv[3], Path(sys.argv[4]), Path(sys.argv[5]))))")
    proc = subprocess.run([sys.executable, "-c", code, str(source_root), str(REPO_ROOT), mode, str(data_dir),
                           str(db_path)], cwd=source_root, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} at {source_root} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the base commit -----------------------------------------------------------------------------------------------
def export_commit(commit: str, into: Path) -> Path:
    """The commit's ingest/ and modelmatch/ packages, unpacked into a folder of their own."""
    archive = subprocess.run(["git", "archive", "--format=tar", commit, "ingest", "modelmatch"], cwd=REPO_ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


# --- comparing two catalogs ----------------------------------------------------------------------------------------
def compare_catalogs(a: Path, b: Path) -> list[str]:
    """Every table of the schema, row by row in stored order (rowid) and column by column: the differences, or
    an empty list. The build's own bookkeeping tables are compared too, except ids and times."""
    import duckdb

    from modelmatch.catalog.schema import TABLES

    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    con.execute("ATTACH ? AS a (READ_ONLY)", [str(a)])
    con.execute("ATTACH ? AS b (READ_ONLY)", [str(b)])
    differences = []
    checks = [(t.name, "rowid, *") for t in TABLES]
    checks += [("build_files", "path, sha256, rows"), ("build_tables", "*"), ("build_changes", "*")]
    for table, columns in checks:
        for left, right in (("a", "b"), ("b", "a")):
            try:
                only = con.execute(f'SELECT count(*) FROM (SELECT {columns} FROM {left}."{table}" EXCEPT ALL '
                                   f'SELECT {columns} FROM {right}."{table}")').fetchall()[0][0]
            except duckdb.Error as exc:
                differences.append(f"{table}: cannot be compared ({str(exc).splitlines()[0]})")
                break
            if only:
                differences.append(f"{table}: {only} row(s) only in {left}")
    con.close()
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--benchmarks", type=int, default=60)
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of read_csv / build / rebuild")
    parser.add_argument("--base", help="a commit whose build and rebuild are timed in the same rounds and whose "
                        "catalog is compared row by row")
    parser.add_argument("--data", type=Path, help="time the build of this data folder (the repository's own: data) "
                        "instead of a synthetic one; its catalog is written to a temporary folder")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="build-speed-") as scratch:
        scratch_dir = Path(scratch)
        if args.data:
            data_dir = args.data.resolve()
            print(f"{data_dir}: {len(list(data_dir.rglob('*.csv')))} CSV files, "
                  f"{sum(p.stat().st_size for p in data_dir.rglob('*.csv')) / 1e6:.1f} MB")
        else:
            data_dir = scratch_dir / "data"
            # In a process of its own, so this one stays small (a child's peak memory must not start from ours).
            subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                            "from bench.synthetic_catalog import generate; "
                            "generate(Path(sys.argv[1]), *map(int, sys.argv[2:]))", str(data_dir), str(args.models),
                            str(args.benchmarks), str(args.sources)], cwd=REPO_ROOT, check=True)
            score_rows = args.models * args.benchmarks * args.sources
            print(f"synthetic catalog: {score_rows:,} score rows, "
                  f"{sum(p.stat().st_size for p in data_dir.rglob('*.csv')) / 1e6:.0f} MB of CSV")
        # (label, mode, source tree, catalog file): the base commit's build and rebuild run in the same rounds as
        # ours, so the before/after ratio comes from one interleaved run, not from runs minutes apart.
        plan = [(mode, mode, REPO_ROOT, scratch_dir / "branch.duckdb")
                for mode in ("bare", "read_csv", "build", "rebuild")]
        if args.base:
            base_root = export_commit(args.base, scratch_dir / "base")
            plan += [(f"{mode} at {args.base}", mode, base_root, scratch_dir / "base.duckdb")
                     for mode in ("build", "rebuild")]
        results: dict[str, list[dict]] = {label: [] for label, *_ in plan}
        for _ in range(args.rounds):
            for label, mode, source_root, db_path in plan:
                results[label].append(run_child(mode, data_dir, db_path, source_root))
        rows = [(label, statistics.median(r["seconds"] for r in runs), statistics.median(r["cpu_s"] for r in runs),
                 max(r["peak_mb"] for r in runs)) for label, runs in results.items()]
        read_s, read_cpu_s = rows[1][1], rows[1][2]
        print(f"\n{'':24} {'wall s':>8} {'x read_csv':>10} {'CPU s':>8} {'x read_csv':>10} {'peak MB':>8}   "
              f"(medians of {args.rounds} interleaved round(s); peak = max)")
        for name, seconds, cpu_s, peak in rows:
            print(f"{name:24} {seconds:8.2f} {seconds / read_s:10.2f} {cpu_s:8.2f} {cpu_s / read_cpu_s:10.2f} "
                  f"{peak:8.0f}")
        if args.base:
            print()
            # Keyed by folder, so the repository's data is compared once when it is the one timed.
            compared = {(REPO_ROOT / "data").resolve(): "repository data/",
                        data_dir: "synthetic" if not args.data else str(data_dir)}
            for folder, label in compared.items():
                ours, theirs = scratch_dir / "ours-first.duckdb", scratch_dir / "base-first.duckdb"
                for path in (ours, theirs):
                    path.unlink(missing_ok=True)
                # Both first builds (the timed catalogs were rebuilt, so their change records differ).
                run_child("build", folder, ours, REPO_ROOT)
                run_child("build", folder, theirs, base_root)
                differences = compare_catalogs(ours, theirs)
                print(f"{label}: every table equal, row by row in stored order, to the build at {args.base}"
                      if not differences else
                      f"{label}: DIFFERENT from the build at {args.base}: " + "; ".join(differences))
    return 0


if __name__ == "__main__":
    sys.exit(main())
