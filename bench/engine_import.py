"""What a new process pays before its first catalog query: the duckdb package against its C++ extension alone (what
modelmatch.catalog.engine imports), side by side.

Each sample is a fresh Python process that first imports pandas (a page has it loaded already), then imports one
of the two, opens CATALOG as the reader does (an in-memory database with the file attached read-only) and runs one
query, timing the import and the open-and-query apart. The two kinds alternate; prints medians and the ratio of the
package's figures to the extension's.

    python -m bench.engine_import CATALOG.duckdb [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

KINDS = {"duckdb package": "duckdb", "extension alone": "_duckdb"}

SAMPLE = '''import json, sys, time
import pandas
started = time.perf_counter()
engine = __import__(sys.argv[1])
imported = time.perf_counter()
con = engine.connect(":memory:")
con.execute("ATTACH ? AS catalog (READ_ONLY)", [sys.argv[2]])
con.execute("USE catalog")
con.execute("SELECT count(*) FROM models").fetchall()
queried = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "open_query_ms": (queried - imported) * 1000,
                  "package_loaded": "duckdb" in sys.modules}))
'''


def sample(module: str, catalog: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", SAMPLE, module, str(catalog)], capture_output=True, text=True,
                         timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"the {module} sample failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("catalog", type=Path, help="a built catalog.duckdb")
    parser.add_argument("--rounds", type=int, default=9, help="samples per kind, interleaved (default 9)")
    args = parser.parse_args(argv)
    if not args.catalog.is_file():
        raise SystemExit(f"no catalog at {args.catalog}: build one with `python -m ingest build`")
    samples: dict[str, list[dict]] = {name: [] for name in KINDS}
    for _ in range(args.rounds):
        for name, module in KINDS.items():
            samples[name].append(sample(module, args.catalog.resolve()))
    medians = {name: {key: statistics.median(s[key] for s in rows) for key in ("import_ms", "open_query_ms")}
               for name, rows in samples.items()}
    base = medians["extension alone"]
    print(f"fresh process with pandas loaded, then import, open {args.catalog.name}, one query; "
          f"{args.rounds} interleaved rounds; medians")
    for name, m in medians.items():
        loaded = "yes" if all(s["package_loaded"] for s in samples[name]) else "no"
        print(f"{name:16s} import {m['import_ms']:7.1f} ms {m['import_ms'] / base['import_ms']:5.2f}x   "
              f"open + query {m['open_query_ms']:6.1f} ms {m['open_query_ms'] / base['open_query_ms']:5.2f}x   "
              f"package loaded: {loaded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
