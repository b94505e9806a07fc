"""What the SDK's background import (sdk_stream.start_warm_up) costs the Playground page: its first render, the
reruns right after it (while the import runs beside them) and reruns once the import is done, with the warm-up on
and switched off, side by side. Each sample is a fresh Python process (the import happens once per process); the
two variants alternate (on, off, off, on, ...). The page runs under AppTest with an endpoints file naming one
OpenAI-compatible server that is never contacted (no prompt is sent).

    python -m bench.warm_up_render DATA_DIR [--rounds 6]

DATA_DIR holds the CSV tables and catalog.duckdb (a built copy of the repository's data/, or
bench.synthetic_catalog's folder).
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

# One fresh process: the first render, 5 reruns at once, a pause longer than the import, 5 more reruns; prints JSON.
WORKER = '''import json, statistics, sys, time
from streamlit.testing.v1 import AppTest, app_test, local_script_runner
shared = app_test.ScriptCache()  # one compile per script, as a server does
app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared
from modelmatch.chat import sdk_stream
if sys.argv[2] == "off":
    sdk_stream.start_warm_up = lambda endpoints: False
at = AppTest.from_file(sys.argv[1], default_timeout=300)
at.switch_page("pages/playground.py")
started = time.perf_counter()
at.run()
first_ms = (time.perf_counter() - started) * 1000
assert not at.exception, [e.message for e in at.exception]

def reruns():
    times = []
    for _ in range(5):
        started = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)

right_after_ms = reruns()
time.sleep(float(sys.argv[3]))
later_ms = reruns()
print(json.dumps({"first_ms": first_ms, "right_after_ms": right_after_ms, "later_ms": later_ms,
                  "sdk_imported": "openai" in sys.modules}))
'''

ENDPOINTS_TOML = """[[endpoint]]
name = "Configured server"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
model = "configured"
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warm_up_render", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="folder with the CSV tables and catalog.duckdb")
    parser.add_argument("--rounds", type=int, default=6, help="fresh processes per variant (default 6)")
    parser.add_argument("--pause-s", type=float, default=1.5,
                        help="pause before the later reruns, longer than the import (default 1.5)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    samples: dict[str, list[dict]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        worker = Path(tmp) / "worker.py"
        worker.write_text(WORKER)
        (Path(tmp) / "endpoints.toml").write_text(ENDPOINTS_TOML)
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MODELMATCH_DATA_DIR": str(data_dir),
               "MODELMATCH_CATALOG": str(data_dir / "catalog.duckdb"),
               "MODELMATCH_ENDPOINTS": str(Path(tmp) / "endpoints.toml"),
               "MODELMATCH_RUNS_DB": str(Path(tmp) / "runs.sqlite")}
        for round_index in range(args.rounds):
            for variant in (("on", "off") if round_index % 2 == 0 else ("off", "on")):
                out = subprocess.run([sys.executable, str(worker), str(REPO_ROOT / "app.py"), variant,
                                      str(args.pause_s)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                     timeout=600)
                if out.returncode != 0:
                    raise SystemExit(f"worker failed ({variant}):\n{out.stderr[-3000:]}")
                samples[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"Playground page, catalog {data_dir}; {args.rounds} fresh processes per variant, interleaved; medians "
          f"in ms; {os.cpu_count()} CPU cores")
    print(f"{'warm-up':<8} {'first render':>12} {'reruns right after':>18} {f'reruns {args.pause_s:g} s later':>20} "
          f"{'SDK imported':>12}")
    for variant, rows in samples.items():
        first, right_after, later = (statistics.median(r[k] for r in rows)
                                     for k in ("first_ms", "right_after_ms", "later_ms"))
        imported = sum(r["sdk_imported"] for r in rows)
        print(f"{variant:<8} {first:>12.1f} {right_after:>18.1f} {later:>20.1f} {imported:>9}/{len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
