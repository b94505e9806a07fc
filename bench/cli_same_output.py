"""Check that two checkouts print the same bytes for the README's CLI examples (and their help and error paths).

    python -m bench.cli_same_output OLD_CHECKOUT CATALOG.duckdb

Runs each command in OLD_CHECKOUT and in this checkout against the same catalog and compares stdout, stderr and the
exit status byte for byte; prints one line per command and exits 1 on any difference.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.ratios import README_PLAN, README_RECOMMEND

REPO_ROOT = Path(__file__).resolve().parent.parent


def commands(db: str) -> dict[str, list[str]]:
    text = lambda args: [a for a in args if a != "--json"]  # noqa: E731
    return {
        "plan --json": [*README_PLAN, "--db", db], "plan": [*text(README_PLAN), "--db", db],
        "recommend --json": [*README_RECOMMEND, "--db", db], "recommend": [*text(README_RECOMMEND), "--db", db],
        "recommend api": ["recommend", "--use-case", "customer-support", "--deployment", "api", "--json", "--db", db],
        "--help": ["--help"], "plan --help": ["plan", "--help"], "eval --help": ["eval", "--help"],
        "plan unknown model": ["plan", "--model", "nope", "--db", db], "unknown subcommand": ["bogus"],
    }


def run(tree: Path, args: list[str]) -> tuple[int, bytes, bytes]:
    out = subprocess.run([sys.executable, "-m", "modelmatch", *args], cwd=tree, capture_output=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(tree)})
    return out.returncode, out.stdout, out.stderr


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    old, db = Path(args[0]).resolve(), str(Path(args[1]).resolve())
    differ = 0
    for name, cmd in commands(db).items():
        before, after = run(old, cmd), run(REPO_ROOT, cmd)
        same = before == after
        differ += not same
        print(f"{'same' if same else 'DIFFERENT':9s} {name} ({len(after[1]):,} bytes of stdout, exit {after[0]})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
