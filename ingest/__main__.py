"""Command line for the write side: `python -m ingest check`, `python -m ingest build [--db PATH]`, `report`, and the
importers: `fetch <source>` writes a review batch under data/imports/, `review` lists held rows, `accept` / `reject`
answer them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest.build import BuildFailed, build
from ingest.changes import read_changes
from ingest.cli_review import REVIEW_COMMANDS, add_review_commands, run_review_command
from ingest.coverage import coverage, format_coverage
from ingest.tier_coverage import format_tier_report, tier_report
from ingest.measure.cli import MEASURE_COMMANDS, add_measure_commands, run_measure_command
from modelmatch.catalog.reader import CatalogMissing, CatalogReader
from ingest.validate import Problem, validate
from modelmatch import settings


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _report_problems(problems: list[Problem]) -> None:
    by_file: dict[str, int] = {}
    for problem in problems:
        print(problem)
        by_file[problem.file] = by_file.get(problem.file, 0) + 1
    print(f"\n{len(problems)} problem(s) in {len(by_file)} file(s).", file=sys.stderr)


def _report_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if warnings:
        print(f"{len(warnings)} warning(s): they do not stop the build; `python -m ingest report` lists them.",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    # Before the parser: its help shows settings, and a typo in one must not become a traceback.
    bad_settings = settings.check_all()
    if bad_settings:
        for line in bad_settings:
            print(f"error: {line}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help=f"CSV folder (default: {settings.get('data_dir')})")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate every CSV and report every problem; writes nothing")
    build_parser = sub.add_parser("build", help="validate, then atomically replace the catalog file")
    build_parser.add_argument("--db", type=Path, default=None,
                              help=f"catalog file to write (default: {settings.get('catalog_path')})")
    report_parser = sub.add_parser("report", help="what the built catalog covers and which gaps remain")
    report_parser.add_argument("--db", type=Path, default=None, help="catalog file to read")
    add_review_commands(sub)
    add_measure_commands(sub)
    args = parser.parse_args(argv)
    data_dir = args.data or settings.data_dir()
    if not data_dir.is_dir():
        print(f"error: data folder {data_dir} does not exist", file=sys.stderr)
        return 2

    if args.command in REVIEW_COMMANDS:
        return run_review_command(args, data_dir)

    if args.command in MEASURE_COMMANDS:
        return run_measure_command(args, data_dir, argv)

    if args.command == "check":
        result = validate(data_dir, progress=_progress)
        _report_warnings(result.warnings)
        if result.problems:
            _report_problems(result.problems)
            return 1
        total = sum(f.rows for f in result.files)
        print(f"ok: {total} rows in {len(result.files)} files, no problems")
        return 0

    db_path = args.db or settings.catalog_path()
    if args.command == "report":
        try:
            reader = CatalogReader(db_path)
            print(format_coverage(coverage(reader)))
            print()
            print(format_tier_report(tier_report(reader)))
        except CatalogMissing as missing:
            print(f"error: {missing}", file=sys.stderr)
            return 2
        return 0

    try:
        report = build(data_dir, db_path, progress=_progress)
    except BuildFailed as failed:
        _report_problems(failed.problems)
        print(f"build refused: nothing was written; {db_path} is unchanged", file=sys.stderr)
        return 1
    _report_warnings(report.warnings)
    counts = ", ".join(f"{name} {n}" for name, n in report.row_counts.items())
    print(f"built {report.db_path} (build {report.build_id}, {report.seconds:.2f} s): {counts}")
    changes = read_changes(CatalogReader(report.db_path))
    if changes is not None:
        print(changes.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
