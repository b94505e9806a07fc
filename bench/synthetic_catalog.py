"""Write a synthetic catalog (5,000 models x 60 benchmarks x 3 sources by default) and build it.

SYNTHETIC DATA FOR BENCHMARKS ONLY: model ids live under `synthetic/`, sources under example.org. It is written
to a folder you name (never data/) and exercises the real validation and atomic build. The GPUs and the use-case
weights are the repository's own rows (data/gpus, data/use_case_weights: they name no model), so the wizard and the
decision summary rank the 5,000 models as they rank the real ones, on the GPUs the README's requests name.

    python -m bench.synthetic_catalog /tmp/synth --models 5000 --benchmarks 60 --sources 3
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import sys
import time
from pathlib import Path

from ingest.build import build
from modelmatch.catalog.schema import CATEGORIES, TABLES, VENDORS

SRC = "https://example.org/synthetic"
REPO_DATA = Path(__file__).resolve().parent.parent / "data"


# A table is a folder of CSVs and each file is bounded (ingest/regular_file.py, 64 MiB): 300,000 score rows are about
# 34 MB, so the 900,000-row default is written as three files of one table.
ROWS_PER_FILE = 300_000


def write(folder: Path, table: str, rows: list[dict]) -> None:
    columns = next(t for t in TABLES if t.name == table).column_names
    (folder / table).mkdir(parents=True, exist_ok=True)
    parts = [rows[i:i + ROWS_PER_FILE] for i in range(0, len(rows), ROWS_PER_FILE)] or [[]]
    for index, part in enumerate(parts, start=1):
        name = "synthetic.csv" if len(parts) == 1 else f"synthetic-{index}.csv"
        with open(folder / table / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(part)


def generate(data_dir: Path, n_models: int, n_benchmarks: int, n_sources: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    write(data_dir, "licenses", [{"license_id": "synthetic", "name": "Synthetic", "commercial_use": "yes",
                                  "source_url": SRC, "as_of": "2025-01-01"}])
    models = []
    for i in range(n_models):
        total = round(rng.choice([0.5, 1.5, 3, 7, 14, 32, 70, 236, 671]) * rng.uniform(0.9, 1.1), 1)
        moe = total > 100
        models.append({
            "model_id": f"synthetic/model-{i:05d}", "display_name": f"Synthetic {i:05d}",
            "family": f"Family {i % 40}", "vendor": VENDORS[i % len(VENDORS)],
            "variant": "instruct", "reasoning": rng.choice(["no", "yes", "hybrid"]),
            "release_date": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", "open_weights": "true",
            "params_total_b": total, "params_active_b": round(total / 18, 1) if moe else total,
            "architecture": "moe" if moe else "dense", "attention": "mla" if moe else "gqa",
            "context_length": rng.choice([32768, 131072]), "license_id": "synthetic",
            "source_url": SRC, "source_location": "synthetic", "as_of": "2025-01-01"})
    write(data_dir, "models", models)
    write(data_dir, "architectures", [{"model_id": m["model_id"], "num_layers": 32, "num_attention_heads": 32,
                                       "num_kv_heads": 8, "head_dim": 128, "source_url": SRC,
                                       "as_of": "2025-01-01"} for m in models])
    benchmarks = [{"benchmark_id": f"bench-{j:02d}", "name": f"Bench {j:02d}",
                   "category": CATEGORIES[j % len(CATEGORIES)], "metric": "accuracy", "unit": "percent",
                   "higher_is_better": "true"} for j in range(n_benchmarks)]
    write(data_dir, "benchmarks", benchmarks)
    scores = []
    for m in models:
        for b in benchmarks:
            base = rng.uniform(20, 90)
            for k in range(n_sources):
                scores.append({"model_id": m["model_id"], "benchmark_id": b["benchmark_id"],
                               "value": f"{min(100.0, base + rng.uniform(-2, 2)):.1f}", "setting": "5-shot",
                               "provenance": "official" if k == 0 else "third-party",
                               "source_url": f"{SRC}/{k}", "source_location": f"Table {k}",
                               "as_of": f"202{4 + k % 2}-0{1 + k}-01"})
    write(data_dir, "scores", scores)
    write(data_dir, "prices", [{"provider": "Synthetic Cloud", "model_id": m["model_id"],
                                "provider_model": m["model_id"], "input_usd_per_mtok": f"{rng.uniform(0.05, 5):.3f}",
                                "output_usd_per_mtok": f"{rng.uniform(0.1, 15):.3f}", "effective_from": "2025-01-01",
                                "source_url": SRC, "as_of": "2025-01-01"} for m in models])
    for table in ("gpus", "use_case_weights"):
        for source in sorted((REPO_DATA / table).glob("*.csv")):
            (data_dir / table).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, data_dir / table / source.name)
    for table in ("measurements", "measurement_requests"):
        write(data_dir, table, [])
    for table in TABLES:  # tables added later (e.g. use-case weights) start empty
        if not (data_dir / table.name).exists():
            write(data_dir, table.name, [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="where to write data/ and catalog.duckdb (not the repo's data/)")
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--benchmarks", type=int, default=60)
    parser.add_argument("--sources", type=int, default=3)
    args = parser.parse_args(argv)
    data_dir = args.folder / "data"
    started = time.perf_counter()
    generate(data_dir, args.models, args.benchmarks, args.sources)
    print(f"wrote synthetic CSVs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    report = build(data_dir, data_dir / "catalog.duckdb", progress=lambda m: print(m, file=sys.stderr))
    print(f"built {report.db_path}: {report.row_counts} in {report.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
