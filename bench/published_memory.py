"""Predicted against published: the planner's peak memory for every published memory point in the catalog.

Prints one line per point (model, engine, GPUs, input length, published GB, predicted GB, error %, what it is
compared with), then the median and worst absolute error, over all points and over the predictions that have every
term (a prediction is a lower bound when the catalog lacks an architecture number; the table names which). A
figure whose scope is end-of-generation (it holds no prefill transient) is compared with weights + the cache of
prompt and generated tokens, every other with the engine's peak. The goal is every point within ±10 %; where the
model is off, the model is fixed, not the tolerance.

    python -m bench.published_memory                 # the configured catalog (built from data/ if stale)
    python -m bench.published_memory --db /tmp/c.duckdb
    python -m bench.published_memory --csv out.csv   # also write the table
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.records import load_decision_catalog
from modelmatch.planning.published import END_OF_GENERATION, published_points, summarize


def _catalog(db: Path | None):
    from modelmatch import settings

    if db is None:
        from ingest.build import ensure_current

        db = settings.catalog_path()
        ensure_current(settings.data_dir(), db)
    return load_decision_catalog(CatalogReader(db))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="catalog file (default: the configured catalog)")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV here")
    args = parser.parse_args(argv)
    points = published_points(_catalog(args.db))
    header = (f"{'model':28} {'weights':10} {'engine':20} {'GPUs':>4} {'input':>7} {'published GB':>12} "
              f"{'predicted':>9} "
              f"{'error %':>8}  compared with")
    print(header)
    print("-" * len(header))
    for p in points:
        pred = "—" if p.predicted_gb is None else f"{p.predicted_gb:9.2f}"
        err = "—" if p.error_pct is None else f"{p.error_pct:+8.1f}"
        against = "end of generation" if p.scope == END_OF_GENERATION else "peak"
        flag = f"  {against}" + (f"; lower bound, the catalog lacks {', '.join(p.missing)}" if p.lower_bound else "")
        if p.predicted_gb is None:
            flag = f"  no prediction: {p.formula}"
        print(f"{p.model_id.split('/')[-1]:28} {p.precision or '?':10} {p.engine + ' ' + p.engine_version:20} "
              f"{p.gpu_count:>4} "
              f"{p.input_len:>7} {p.published_gb:12.2f} {pred:>9} {err:>8}{flag}")
    s = summarize(points)
    print()
    print(f"{s.points} published memory points; {s.predicted} predicted; {s.complete} with every term; "
          f"{s.within_10pct} within ±10 %")

    def line(label, median, worst):
        if worst is None:
            print(f"{label}: nothing to compare")
            return
        print(f"{label}: median |error| {median:.1f} %, worst {worst.error_pct:+.1f} % "
              f"({worst.model_id}, {worst.engine}, input {worst.input_len}, {worst.gpu_count} GPU(s))")

    complete_within = sum(1 for p in points if p.error_pct is not None and not p.lower_bound and abs(p.error_pct) <= 10)
    print(f"complete predictions within ±10 %: {complete_within} of {s.complete}")
    line("all predictions", s.median_abs_error_pct, s.worst)
    line("complete predictions", s.median_abs_error_complete_pct, s.worst_complete)
    if args.csv:
        with args.csv.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["model_id", "precision", "engine", "engine_version", "hardware", "gpu_count", "input_len",
                        "output_len",
                        "published_gb", "scope", "predicted_peak_gb", "error_pct", "lower_bound", "formula",
                        "source_url", "source_location"])
            for p in points:
                w.writerow([p.model_id, p.precision, p.engine, p.engine_version, p.hardware, p.gpu_count, p.input_len,
                            p.output_len, f"{p.published_gb:.4f}", p.scope,
                            "" if p.predicted_gb is None else f"{p.predicted_gb:.4f}",
                            "" if p.error_pct is None else f"{p.error_pct:.2f}", p.lower_bound, p.formula,
                            p.source_url, p.source_location])
    return 0


if __name__ == "__main__":
    sys.exit(main())
