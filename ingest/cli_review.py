"""The importer and review subcommands of `python -m ingest`: fetch, review, accept, reject."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest.importers import SOURCES, FetchError, MappingError, run_fetch
from ingest.importers.core import ImportPlan
from ingest.review import ReviewError, accept, import_summaries, reject, review_queue
from ingest.validate import validate

REVIEW_COMMANDS = ("fetch", "review", "accept", "reject")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_review_commands(sub) -> None:
    fetch = sub.add_parser(
        "fetch", help="download a public catalog and write a review batch under data/imports/<source>/",
        description="Download one source, map its ids through data/mappings/, compare with data/, run the guards, "
                    "and write data/imports/<source>/ (rows, unmapped.csv, last_fetch.md). Never writes the "
                    "catalog; a failure writes nothing. Sources: "
                    + "; ".join(f"{k}: {v}" for k, v in SOURCES.items()))
    fetch.add_argument("source", choices=list(SOURCES))
    fetch.add_argument("model_ids", nargs="*", metavar="MODEL_ID",
                       help="hf-config only: catalog model ids whose config.json to read")
    fetch.add_argument("--missing", action="store_true",
                       help="hf-config only: every open-weights model that has no architecture row yet")
    fetch.add_argument("--revision", default=None, help="hf-config only: branch, tag or commit (default main)")
    fetch.add_argument("--skip-failed", action="store_true",
                       help="hf-config only: write the configs that worked and list the failures (default: any "
                            "failure writes nothing)")
    fetch.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    sub.add_parser("review", help="list the rows held for review and each source's last fetch")
    acc = sub.add_parser("accept", help="accept held rows after checking their source (FILE:LINE as the build "
                                        "reports them, or FILE for every held row in it)")
    acc.add_argument("targets", nargs="+", metavar="FILE[:LINE]")
    acc.add_argument("--note", default="", help="what you checked, recorded in the row's notes")
    rej = sub.add_parser("reject", help="delete held rows (FILE:LINE, or FILE for every held row in it)")
    rej.add_argument("targets", nargs="+", metavar="FILE[:LINE]")


def run_review_command(args: argparse.Namespace, data_dir: Path) -> int:
    try:
        if args.command == "fetch":
            return _fetch(args, data_dir)
        if args.command == "review":
            return _review(data_dir)
        if args.command == "accept":
            for line in accept(data_dir, args.targets, args.note):
                print(line)
            print("next: python -m ingest build", file=sys.stderr)
            return 0
        for line in reject(data_dir, args.targets):
            print(line)
        return 0
    except ReviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _fetch(args: argparse.Namespace, data_dir: Path) -> int:
    if args.source != "hf-config" and (args.model_ids or args.missing or args.revision or args.skip_failed):
        print("error: MODEL_ID, --missing, --revision and --skip-failed apply to hf-config only", file=sys.stderr)
        return 2
    if args.source == "hf-config" and not args.model_ids and not args.missing:
        print("error: name the models (fetch hf-config Qwen/Qwen2.5-7B-Instruct ...) or pass --missing",
              file=sys.stderr)
        return 2
    try:
        outcome = run_fetch(args.source, data_dir, model_ids=args.model_ids, missing=args.missing,
                            revision=args.revision, skip_failed=args.skip_failed, dry_run=args.dry_run,
                            progress=_progress)
    except MappingError as exc:
        for problem in exc.problems:
            print(problem)
        print("fetch refused: fix the mapping problems above; nothing was written", file=sys.stderr)
        return 1
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if outcome.plan is None:
        return 0
    _print_plan(outcome.plan)
    if outcome.dry_run:
        print("dry run: nothing was written")
        return 0
    root = Path(data_dir).resolve().parent
    print("wrote " + ", ".join(p.resolve().relative_to(root).as_posix() for p in outcome.written))
    held = outcome.plan.count("held")
    folder = outcome.plan.folder.resolve().relative_to(root).as_posix()
    print(f"next: read {folder}/last_fetch.md"
          + (f"; check the {held} held row(s) at their source, then `python -m ingest accept FILE:LINE`"
             if held else "")
          + "; then `python -m ingest build`")
    return 0


def _print_plan(plan: ImportPlan) -> None:
    print(plan.headline())
    for change in plan.changes:
        if change.change == "unchanged":
            continue
        where = f" ({change.file_line})" if change.file_line else ""
        text = f"  {change.change.upper() if change.change == 'held' else change.change:10} {change.offering}{where}"
        if change.before:
            text += f": {change.before} -> {change.after}"
        elif change.after:
            text += f": {change.after}"
        if change.reason:
            text += f"\n             why held: {change.reason}"
        print(text)
    for fact in plan.facts:
        print(f"  check      {fact}")
    for missing in plan.missing:
        print(f"  missing    {missing}: mapped, but the source no longer lists it")
    for skipped in plan.skipped:
        print(f"  skipped    {skipped}")
    suggested = [u for u in plan.unmapped if u.suggested_model_id]
    if suggested:
        print(f"  {len(suggested)} unmapped id(s) look like catalog models; mapping lines to review and paste "
              f"into {plan.mapping_file}:")
        for u in suggested:
            print(f"    {u.mapping_line}")


def _review(data_dir: Path) -> int:
    result = validate(data_dir)
    queue = review_queue(result)
    if not queue:
        print("review queue: empty (no held rows)")
    else:
        print(f"review queue: {len(queue)} held row(s); the build refuses them until accepted or rejected")
        for held in queue:
            print(f"  {held.target}  {held.table}: {held.key}\n    why: {held.reason}\n    {held.accept_command}")
    for summary in import_summaries(data_dir):
        print(f"last fetch {summary.get('retrieved_at', '?')}: {summary.get('headline', '')}")
    other = [p for p in result.problems if p.column != "review"]
    if other:
        print(f"{len(other)} other validation problem(s): run `python -m ingest check`")
    return 0
