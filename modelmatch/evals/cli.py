"""`python -m modelmatch eval`: run an eval set across endpoints from the command line, with the page's numbers.

    python -m modelmatch eval starter --endpoints qwen,deepseek --languages en,th --json
    python -m modelmatch eval my_set.csv --endpoints qwen --dry-run      # check the file and estimate, send nothing
    python -m modelmatch eval --resume RUN_ID                           # send only what is not scored yet
    python -m modelmatch eval --show RUN_ID --json                      # print a stored run
    python -m modelmatch eval --list

Exit status: 0 every item scored; 2 bad input (every problem in the file is listed on stderr first; nothing is
sent); 3 the run ended with failed or unsent items (resume it); 130 stopped with Ctrl-C (resumable).
API keys come from the environment variables the endpoints file names (api_key_env); never from arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from modelmatch.evals import summary as evals

from modelmatch import settings
from modelmatch.chat.endpoints import (ApiKeyError, EndpointsFileError, load_endpoints, resolve_api_key,
                                      resolve_headers)
from modelmatch.evals.run_setup import MAX_ENDPOINTS, RunConfig, create_run
from modelmatch.evals.runner import EvalRunner
from modelmatch.evals.sets import load_named
from modelmatch.evals.store import EvalStore, RunsDatabaseBusy, valid_run_id
from modelmatch.chat.shared_limits import SharedDailySpend, SharedSlidingWindowLimiter

EXIT_INCOMPLETE = 3
EXIT_CANCELLED = 130


class EvalInputError(Exception):
    """Bad input: printed as `error: <message>`, exit status 2."""


def _csv_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("set", nargs="?", help="eval set: a .csv/.tsv file, or 'starter' for the built-in set")
    p.add_argument("--endpoints", help=f"comma-separated endpoint names from the endpoints file (1 to {MAX_ENDPOINTS})")
    p.add_argument("--endpoints-file", type=Path, help="endpoints file (default: MODELMATCH_ENDPOINTS)")
    p.add_argument("--languages", help="only these languages, comma-separated (e.g. en,th)")
    p.add_argument("--categories", help="only these categories, comma-separated (e.g. math)")
    p.add_argument("--max-groups", type=int, help="only the first N questions (each with all its translations)")
    p.add_argument("--max-tokens", type=int, default=1024, help="max output tokens per reply (default 1024; "
                                                                "reasoning models need more)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (default 1.0)")
    p.add_argument("--thinking", choices=("on", "off"), help="switch thinking on/off where the endpoint can")
    p.add_argument("--concurrency", type=int, default=settings.value("eval_concurrency"),
                   help="requests in flight per endpoint (default MODELMATCH_EVAL_CONCURRENCY)")
    p.add_argument("--retries", type=int, default=settings.value("eval_retries"),
                   help="retries after 429/5xx/timeouts (default MODELMATCH_EVAL_RETRIES)")
    p.add_argument("--retry-base-s", type=float, default=settings.value("eval_retry_base_s"),
                   help="first retry delay, doubled each retry (default MODELMATCH_EVAL_RETRY_BASE_S)")
    p.add_argument("--max-cost-usd", type=float, default=settings.value("eval_cost_cap_usd"),
                   help="stop sending before the run could cost more than this, at catalog list prices "
                        "(default MODELMATCH_EVAL_COST_CAP_USD)")
    p.add_argument("--no-cost-cap", action="store_true", help="no spending cap")
    p.add_argument("--assume-output-tokens", type=int, default=300,
                   help="average reply length assumed for the typical cost estimate (default 300)")
    p.add_argument("--no-answer-instruction", action="store_true",
                   help="send prompts as written, without the request for a final 'ANSWER:' line")
    p.add_argument("--dry-run", action="store_true", help="check the set and print the estimate; send nothing")
    p.add_argument("--resume", metavar="RUN_ID", help="resume a run: send only items not scored yet")
    p.add_argument("--show", metavar="RUN_ID", help="print a stored run's results; send nothing")
    p.add_argument("--list", action="store_true", help="list recent eval runs")
    p.add_argument("--with-reasoning", action="store_true", help="include reasoning text in --json output")
    p.add_argument("--runs-db", type=Path, help="runs database (default MODELMATCH_RUNS_DB)")
    p.add_argument("--db", type=Path, help="catalog file for prices (default: the configured catalog)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _store(args) -> EvalStore:
    try:
        return EvalStore(args.runs_db or settings.runs_db_path())
    except RunsDatabaseBusy as busy:
        raise EvalInputError(f"{busy} (here: --runs-db FILE)") from None


def _endpoints(args):
    path = args.endpoints_file or settings.endpoints_path()
    try:
        found, origin = load_endpoints(path)
    except EndpointsFileError as exc:
        raise EvalInputError(str(exc)) from None
    return list(found), origin


def _reader(db: Path | None):
    """The catalog for prices, or None (the eval still runs; costs are then unknown)."""
    from modelmatch.catalog.reader import CatalogMissing, CatalogReader

    path = db
    if path is None:
        from ingest.stat_check import ensure_current_unless_unchanged  # hashes the CSVs only when a stat changed

        path = settings.catalog_path()
        try:
            ensure_current_unless_unchanged(settings.data_dir(), path)
        except Exception:  # noqa: BLE001 - data/ with problems or a failed build: the last good catalog, or none
            pass
    try:
        reader = CatalogReader(Path(path))
        reader.build_info()
        return reader
    except (CatalogMissing, Exception):
        return None


def _keys(endpoints) -> dict[str, str | None]:
    keys = {}
    for endpoint in endpoints:
        try:
            key = resolve_api_key(endpoint, None) if endpoint.has_key else None
        except ApiKeyError as bad:
            raise EvalInputError(f"{endpoint.name}: {bad}") from None
        if endpoint.has_key and key is None:
            raise EvalInputError(f"{endpoint.name} needs an API key: set the environment variable "
                                 f"{endpoint.api_key_env or endpoint.api_key_secret}")
        try:
            resolve_headers(endpoint)  # a header secret missing now would fail every item of the run
        except ApiKeyError as missing:
            raise EvalInputError(str(missing)) from None
        keys[endpoint.name] = key
    return keys


def _print_estimate(plan: evals.RunPlan, out) -> None:
    print(f"Requests to send: {plan.estimate.requests:,}", file=out)
    for row in plan.estimate.endpoints:
        if not row.requests:
            print(f"  {row.endpoint_name}: nothing to send", file=out)
            continue
        if row.usd_upper is None:
            cost = "cost unknown"
        else:
            cost = (f"about ${row.usd_typical:,.4f} if replies average {row.output_tokens_assumed} tokens; at most "
                    f"${row.usd_upper:,.4f}")
        noun = "request" if row.requests == 1 else "requests"
        print(f"  {row.endpoint_name}: {row.requests:,} {noun}, ~{row.input_tokens:,} input tokens, {cost}"
              + (f" ({row.price_note})" if row.price_note else ""), file=out)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=out)


def _progress_line(progress) -> str:
    parts = []
    for p in progress.endpoints:
        parts.append(f"{p.name} {p.complete}/{p.total}" + (f" ({p.failed + p.not_sent} failed)" if p.failed + p.not_sent
                                                          else ""))
    cap = "" if progress.cost_cap_usd is None else f" of the ${progress.cost_cap_usd:g} cap"
    return f"[{progress.fraction:4.0%}] " + " · ".join(parts) + f" · ${progress.spent_usd:.4f} counted{cap}"


def _run(runner: EvalRunner, quiet: bool) -> str:
    runner.start()
    last = ""
    try:
        while not runner.wait(0.5):
            if not quiet:
                line = _progress_line(runner.progress())
                if line != last:
                    print(line, file=sys.stderr)
                    last = line
    except KeyboardInterrupt:
        print("stopping: requests in flight are abandoned; finished items are kept", file=sys.stderr)
        runner.cancel()
        runner.wait()
    progress = runner.progress()
    if not quiet:
        print(_progress_line(progress), file=sys.stderr)
    if progress.message:
        print(f"warning: {progress.message}", file=sys.stderr)
    return progress.outcome


def _emit(store: EvalStore, run_id: str, args) -> evals.EvalSummary:
    summary = evals.summarize(store, run_id)
    if summary is None:
        raise EvalInputError(f"no eval run {run_id!r}")
    if args.json:
        json.dump(evals.to_jsonable(summary, with_reasoning=args.with_reasoning), sys.stdout, indent=2,
                  ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(evals.format_summary_text(summary))
    return summary


def _exit_for(outcome: str, summary: evals.EvalSummary, run_id: str) -> None:
    if outcome == "cancelled":
        print(f"cancelled; resume with: python -m modelmatch eval --resume {run_id}", file=sys.stderr)
        raise SystemExit(EXIT_CANCELLED)
    if not summary.complete:
        print(f"{summary.incomplete_requests} request(s) failed or were not sent (not counted as wrong); resume "
              f"with: python -m modelmatch eval --resume {run_id}", file=sys.stderr)
        raise SystemExit(EXIT_INCOMPLETE)


def run(args: argparse.Namespace) -> None:
    if args.list:
        store = _store(args)
        runs = store.recent_runs(50)
        if args.json:
            json.dump(evals._records(runs.drop(columns=["endpoints_json"])), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            for row in runs.itertuples():
                names = ", ".join(e["name"] for e in json.loads(row.endpoints_json))
                print(f"{row.run_id}  {row.created_at:%Y-%m-%d %H:%M}  {row.set_name}  {row.status}  "
                      f"{row.scored}/{row.item_count * max(1, len(json.loads(row.endpoints_json)))} scored  [{names}]")
        return
    if args.show:
        if not valid_run_id(args.show):
            raise EvalInputError(f"{args.show!r} is not a run id (16 hex characters)")
        _emit(_store(args), args.show, args)
        return
    if args.concurrency < 1 or args.retries < 0 or args.max_tokens < 1 or args.retry_base_s < 0:
        raise EvalInputError("--concurrency and --max-tokens must be at least 1, --retries and --retry-base-s at "
                             "least 0")
    if not args.no_cost_cap and args.max_cost_usd < 0:
        raise EvalInputError("--max-cost-usd must not be negative")
    cap = None if args.no_cost_cap else args.max_cost_usd
    available, _origin = _endpoints(args)
    if args.resume:
        if not valid_run_id(args.resume):
            raise EvalInputError(f"{args.resume!r} is not a run id (16 hex characters)")
        store = _store(args)
        info = store.run_info(args.resume)
        if info is None:
            raise EvalInputError(f"no eval run {args.resume!r} in {store.path}")
        config = evals.config_for_resume(info, cap, args.concurrency)
        plan = evals.plan_resume(store, args.resume, available, config, args.assume_output_tokens)
        run_id = args.resume
    else:
        if not args.set:
            raise EvalInputError("name an eval set (a .csv/.tsv file or 'starter'), or use --resume/--show/--list")
        loaded = load_named(args.set)
        if not loaded.ok:
            for problem in loaded.problems:
                print(f"{args.set}: {problem}", file=sys.stderr)
            raise EvalInputError(f"{len(loaded.problems)} problem(s) in {args.set}; nothing was sent")
        eval_set = loaded.eval_set.subset(_csv_list(args.languages) or None, _csv_list(args.categories) or None,
                                          args.max_groups)
        if not eval_set.items:
            raise EvalInputError("no items left after --languages/--categories/--max-groups (the set has languages "
                                 f"{', '.join(loaded.eval_set.languages)} and categories "
                                 f"{', '.join(loaded.eval_set.categories) or '(none)'})")
        names = _csv_list(args.endpoints)
        if not names:
            raise EvalInputError("--endpoints is required: " + ", ".join(e.name for e in available))
        endpoints, unknown = evals.pick_endpoints(names, available)
        if unknown:
            raise EvalInputError(f"unknown endpoint(s) {', '.join(unknown)}; the endpoints file names: "
                                 + ", ".join(e.name for e in available))
        config = RunConfig(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                           thinking=None if args.thinking is None else args.thinking == "on",
                           concurrency=args.concurrency, retries=args.retries, retry_base_s=args.retry_base_s,
                           breaker_failures=settings.value("eval_breaker_failures"), cost_cap_usd=cap,
                           add_answer_instruction=not args.no_answer_instruction)
        plan = evals.plan_new_run(eval_set, endpoints, config, _reader(args.db), dt.date.today(),
                                  args.assume_output_tokens)
        store = None
    if plan.problems:
        raise EvalInputError("; ".join(plan.problems))
    _print_estimate(plan, sys.stderr)
    if args.dry_run:
        # A dry run sends nothing, so it needs no key; it says which keys a real run will need.
        for endpoint in plan.endpoints:
            if endpoint.has_key and resolve_api_key(endpoint, None) is None:
                print(f"note: a real run needs {endpoint.name}'s API key in "
                      f"{endpoint.api_key_env or endpoint.api_key_secret}", file=sys.stderr)
        print("dry run: nothing was sent", file=sys.stderr)
        return
    keys = _keys(plan.endpoints)
    if store is None:
        store = _store(args)
        run_id = create_run(store, eval_set, plan.endpoints, config, plan.prices, plan.price_notes,
                            {"languages": _csv_list(args.languages), "categories": _csv_list(args.categories),
                             "max_groups": args.max_groups, "source": "cli"})
    print(f"run {run_id}", file=sys.stderr)
    # The endpoint's requests per minute and its daily spend cap are counted in the runs database, with the app's
    # visitors and replicas that share it.
    runner = EvalRunner(store, run_id, plan.endpoints, keys, config, plan.prices,
                        limiter=SharedSlidingWindowLimiter(store.path, window_s=60),
                        daily_spend=SharedDailySpend(store.path), clock=time.perf_counter)
    outcome = _run(runner, args.quiet)
    summary = _emit(store, run_id, args)
    _exit_for(outcome, summary, run_id)
