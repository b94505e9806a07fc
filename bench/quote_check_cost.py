"""CPU cost of the build's fast-door check for a quote beside a blank (ingest.staging): the regex alone against the
substring scans that run first, on a score file of the synthetic catalog's size (300,000 rows, about 50 MB) whose notes
are quoted because they hold commas, as hand-written notes do. Pure CPU: the ratio holds whatever else runs.

SYNTHETIC DATA FOR BENCHMARKS ONLY (made in memory, never written).

    python -m bench.quote_check_cost                 # 300,000 rows, 5 repeats
    python -m bench.quote_check_cost --rows 50000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ingest.staging import QUOTE_BESIDE_BLANK, quote_beside_blank  # noqa: E402


def score_file(rows: int) -> bytes:
    head = b"model_id,benchmark_id,value,setting,provenance,source_url,source_location,as_of,notes\n"
    line = (b'synthetic/model-%d,bench-%d,%d.5,5-shot,official,https://example.org/report-%d.pdf,"Table 3, row %d",'
            b'2025-01-01,"Measured by the vendor, same pipeline as its own rows"\n')
    return head + b"".join(line % (i % 5000, i % 60, i % 100, i % 3, i % 60) for i in range(rows))


def median_s(fn, data: bytes, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    data = score_file(args.rows)
    regex = median_s(lambda d: QUOTE_BESIDE_BLANK.search(d) is not None, data, args.repeats)
    scans = median_s(quote_beside_blank, data, args.repeats)
    print(f"{args.rows:,} rows, {len(data) / 1e6:,.1f} MB, median of {args.repeats}")
    print(f"  regex alone            {regex * 1000:9.1f} ms")
    print(f"  scans, then the regex  {scans * 1000:9.1f} ms   ({regex / scans:,.1f}x less)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
