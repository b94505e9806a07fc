"""`python -m ingest.measure.table FOLDER`: the local measurement rows under FOLDER/measurements as one table (model,
batch, prompt, decode tokens/s, prefill tokens/s, TTFT, peak GB, KV measured/formula, roofline fractions), for a
note or a review before the rows are committed."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

COLUMNS = (
    ("model", "model_id", "{}"),
    ("path", "path", "{}"),
    ("batch", "concurrency", "{}"),
    ("prompt", "input_len", "{}"),
    ("decode tok/s", "output_tokens_per_s", "{:,.1f}"),
    ("prefill tok/s", "prefill_tokens_per_s", "{:,.0f}"),
    ("TTFT ms", "ttft_ms_p50", "{:,.1f}"),
    ("peak GB", "peak_memory_gb", "{:,.2f}"),
    ("KV meas/formula", "kv_cache_measured_to_formula", "{:.3f}"),
    ("roofline (datasheet)", "roofline_fraction", "{:.0%}"),
    ("roofline (copy)", "copy_roofline_fraction", "{:.0%}"),
)


def read_rows(folder: Path) -> list[dict]:
    rows = []
    for path in sorted((folder / "measurements").glob("measure-local-*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def _cell(row: dict, column: str, pattern: str) -> str:
    value = row.get(column, "")
    if value in ("", None):
        return "-"
    if pattern == "{}":
        return value
    return pattern.format(float(value))


def format_table(rows: list[dict]) -> str:
    """A Markdown table, one line per measured configuration, then what every row shares (GPU, driver, engine,
    weights, copy bandwidth)."""
    if not rows:
        return "no local measurement rows"
    lines = ["| " + " | ".join(title for title, _, _ in COLUMNS) + " |",
             "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row, column, pattern) for _, column, pattern in COLUMNS) + " |")
    shared = sorted({(r.get("hardware", ""), r.get("gpu_driver", ""), r.get("engine", ""), r.get("engine_version", ""),
                      r.get("weights", ""), r.get("copy_bandwidth_gbps", ""), r.get("memory_bandwidth_gbps", ""))
                     for r in rows})
    for hardware, driver, engine, version, weights, copy, datasheet in shared:
        lines.append("")
        lines.append(f"{hardware}" + (f", driver {driver}" if driver else "") + f"; {engine} {version}; "
                     f"weights={weights}; copy bandwidth "
                     + (f"{float(copy):,.0f} GB/s" if copy else "not measured") + "; datasheet bandwidth "
                     + (f"{float(datasheet):,.0f} GB/s" if datasheet else "none"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m ingest.measure.table FOLDER (the folder that holds measurements/)", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    if not (folder / "measurements").is_dir():
        print(f"error: {folder / 'measurements'} is not a folder", file=sys.stderr)
        return 2
    print(format_table(read_rows(folder)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
