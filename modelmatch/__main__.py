"""Command line: `python -m modelmatch plan ...`, `... recommend ...` and `... eval ...` (your own evals).

Each subcommand calls the same function as its page (planner.plan, recommend.recommend, evals.summarize) and
prints the same result, as JSON with --json or as text. Bad input exits with status 2 and a one-line reason on
stderr.

To add a subcommand: write `_add_<name>(subparsers)` that registers its arguments and sets `handler`, then list
it in SUBCOMMANDS.
"""

from __future__ import annotations

import gc
import sys

# Run as `python -m modelmatch`: a plan or a recommendation is one short process whose imports and catalog load
# allocate tens of thousands of objects that all stay alive, and the cyclic collector's passes over them were
# ~14 ms of a ~350 ms `recommend` (half of it while importing). Paused until the catalog is loaded or another
# subcommand starts (_resume_collection). Imported (a test, the console script), the module changes nothing.
_collection_paused = __name__ == "__main__"
if _collection_paused:
    gc.disable()

# The imports come after the pause: they are where most of those objects come from.
import argparse
import json
from pathlib import Path
from typing import Callable

from modelmatch import settings
from modelmatch.catalog.reader import CatalogMissing, CatalogReader
from modelmatch.evals import upload_limit
from modelmatch.planning.engine_memory import ENGINES
from modelmatch.planning.architecture import KV_DTYPES, PlanInputError
from modelmatch.planning.weights import PRECISION_QUALITY_ORDER, PRECISIONS
from modelmatch.planning.plan_text import to_jsonable
from modelmatch.planning.records import DecisionCatalog, load_decision_catalog
from modelmatch.planning.request import UsageProfile
from modelmatch.planning.wizard.modes import WIZARD_MODES
from modelmatch.planning.wizard.request import DEPLOYMENTS

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A problem the user can fix; printed as `error: <message>` with exit status 2."""


def _open_catalog(db: Path | None, scores_on_first_use: bool, scores_for_use_cases: tuple[str, ...] | None = None
                  ) -> DecisionCatalog:
    """The catalog the app would show: --db as given, else the configured file, built from data/ if stale.
    scores_on_first_use: a plan never reads a score; a recommendation always does, so it reads them with the rest,
    while the collector is still paused, and only those of the categories its use cases weight
    (scores_for_use_cases)."""
    if db is None:
        # Checked as the app checks it at start: by file stats, hashing the CSVs only when a stat differs from the
        # last check's (hashing every CSV was most of what this form of the command paid over `--db`).
        from ingest.problems import BuildFailed
        from ingest.stat_check import ensure_current_unless_unchanged

        db = settings.catalog_path()
        try:
            # A build may run: it makes and drops rows by the hundred thousand, so the collector is back on for it;
            # when the stats match, the catalog loads with it still paused, as with --db.
            ensure_current_unless_unchanged(settings.data_dir(), db, before_full_check=_resume_collection)
        except BuildFailed as failed:
            if not db.exists():
                raise CliError(f"data/ has {len(failed.problems)} problem(s) and there is no catalog yet; run "
                               "`python -m ingest check` to see them") from failed
            print(f"warning: data/ has {len(failed.problems)} problem(s); using the last good catalog build",
                  file=sys.stderr)
    try:
        # The prices are read when something looks at them: a self-hosting recommendation never does.
        return load_decision_catalog(CatalogReader(db), prices_on_first_use=True,
                                     scores_on_first_use=scores_on_first_use,
                                     scores_for_use_cases=scores_for_use_cases)
    except CatalogMissing as missing:
        raise CliError(str(missing)) from missing
    finally:
        _resume_collection()


def _resume_collection() -> None:
    """End the pause this module started when run as a script: what is alive now (modules, the catalog) is moved
    out of the collector's reach for good (gc.freeze), so later passes look only at what the command makes next."""
    global _collection_paused
    if _collection_paused:
        _collection_paused = False
        gc.freeze()
        gc.enable()


def _usage(args: argparse.Namespace) -> UsageProfile:
    return UsageProfile(args.input_mtok, args.output_mtok, args.cached_share, args.thinking_ratio)


def _emit(result, as_json: bool, text: Callable) -> None:
    if as_json:
        # One write of the whole text (json.dump writes each of its ~6,000 pieces separately).
        sys.stdout.write(json.dumps(to_jsonable(result), indent=2, ensure_ascii=False) + "\n")
    else:
        print(text(result))


def _common_deployment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpu", help="catalog gpu_id (e.g. h100-sxm) or an unambiguous part of its name")
    p.add_argument("--gpu-memory-gb", type=float, help="a device not in the catalog: its memory in GB")
    p.add_argument("--gpu-bandwidth-gbps", type=float,
                   help="memory bandwidth in GB/s you trust, when the catalog has none (labelled as your input)")
    p.add_argument("--gpu-usd-per-hour", type=float,
                   help="your rental price per GPU-hour in USD (not in the catalog; no default)")
    p.add_argument("--context", type=int, default=8192, help="tokens per sequence: prompt + output (default 8192)")
    p.add_argument("--input-mtok", type=float, default=0.0, help="input tokens per month, millions")
    p.add_argument("--output-mtok", type=float, default=0.0, help="output (answer) tokens per month, millions")
    p.add_argument("--cached-share", type=float, default=0.0, help="share of input tokens served from cache, 0-1")
    p.add_argument("--thinking-ratio", type=float, default=0.0,
                   help="reasoning models: thinking tokens per answer token (billed and generated as output)")
    p.add_argument("--kv-dtype", choices=list(KV_DTYPES), default="bf16", help="KV-cache element type")
    p.add_argument("--utilization", type=float, default=settings.planner_gpu_memory_utilization(),
                   help="share of GPU memory the engine may use (default from "
                        "MODELMATCH_PLANNER_GPU_MEMORY_UTILIZATION)")
    p.add_argument("--reserve-gb", type=float, default=settings.planner_runtime_reserve_gb(),
                   help="GB per GPU reserved for activations and runtime (an assumption; default from "
                        "MODELMATCH_PLANNER_RUNTIME_RESERVE_GB)")
    p.add_argument("--prices-as-of", help="use the prices in effect on this date (YYYY-MM-DD; default today)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON (what the page shows)")
    p.add_argument("--db", type=Path, help="catalog file to read (default: the configured catalog)")


def _run_plan(args: argparse.Namespace) -> None:
    # Imported by the subcommand that runs: plan does not load the wizard, recommend not the planner.
    from modelmatch.planning.plan_text import format_plan_text
    from modelmatch.planning.planner import plan
    from modelmatch.planning.request import PlanRequest

    catalog = _open_catalog(args.db, scores_on_first_use=True)
    request = PlanRequest(
        model_id=args.model, weights=args.weights, kv_dtype=args.kv_dtype, context_tokens=args.context,
        concurrent_sequences=args.batch, gpu=args.gpu, gpu_count=args.gpus, custom_gpu_memory_gb=args.gpu_memory_gb,
        gpu_bandwidth_gbps=args.gpu_bandwidth_gbps, gpu_usd_per_hour=args.gpu_usd_per_hour,
        gpu_memory_utilization=args.utilization, runtime_reserve_gb=args.reserve_gb, usage=_usage(args),
        compare_model_ids=tuple(args.compare or ()), prices_as_of=args.prices_as_of, engine=args.engine,
        pipeline_parallel=args.pipeline_parallel, expert_parallel=args.expert_parallel, include_mtp=args.mtp,
        prompt_tokens=args.prompt_tokens)
    _emit(plan(request, catalog), args.json, format_plan_text)


def _add_plan(sub) -> None:
    p = sub.add_parser("plan", help="memory, speed roofline and monthly cost of one model on given GPUs",
                       description="Will it fit, how fast can it decode, and what will a month cost.")
    p.add_argument("--model", required=True, help="catalog model_id, e.g. deepseek-ai/DeepSeek-V3")
    p.add_argument("--weights", default="bf16",
                   help=f"weight precision: {', '.join(PRECISIONS)} (aliases: int4, awq, gptq, q4_k_m, q8_0)")
    p.add_argument("--batch", type=int, default=1, help="concurrent sequences (default 1)")
    p.add_argument("--gpus", type=int, default=1, help="GPUs (tensor parallel x pipeline stages; default 1)")
    p.add_argument("--compare", action="append", metavar="MODEL_ID",
                   help="another model for the KV-cache-versus-context chart (repeatable)")
    p.add_argument("--engine", choices=ENGINES, default="vllm",
                   help="vllm or sglang (preallocate a share of each GPU) or transformers (weights + cache in use + "
                        "activations); the JSON's memory.peak_gb is that engine's predicted peak per GPU")
    p.add_argument("--pipeline-parallel", type=int, default=1,
                   help="pipeline stages (--gpus = tensor parallel x stages; default 1)")
    p.add_argument("--expert-parallel", action="store_true",
                   help="MoE: split the routed experts over the GPUs, attention replicated (data-parallel attention)")
    p.add_argument("--mtp", action="store_true", help="load the multi-token-prediction module (speculative decoding)")
    p.add_argument("--prompt-tokens", type=int,
                   help="prompt part of --context, for prefill activations (default: all of it)")
    _common_deployment_args(p)
    p.set_defaults(handler=_run_plan)


def _run_recommend(args: argparse.Namespace) -> None:
    from modelmatch.planning.wizard.recommend import recommend
    from modelmatch.planning.wizard.request import LicenseNeeds, WizardRequest
    from modelmatch.planning.wizard.text import format_recommendation_text

    catalog = _open_catalog(args.db, scores_on_first_use=False, scores_for_use_cases=tuple(args.use_case))
    request = WizardRequest(
        use_cases=tuple(args.use_case), languages=tuple(args.language or ()), deployment=args.deployment,
        gpu=args.gpu, gpu_count=args.gpus, custom_gpu_memory_gb=args.gpu_memory_gb,
        gpu_bandwidth_gbps=args.gpu_bandwidth_gbps, gpu_usd_per_hour=args.gpu_usd_per_hour,
        context_tokens=args.context, concurrent_sequences=args.concurrency, usage=_usage(args),
        budget_usd_per_month=args.budget_usd, min_tokens_per_s=args.min_tokens_per_s,
        license=LicenseNeeds(commercial_use=not args.non_commercial, over_100m_monthly_users=args.over_100m_users,
                             attribution_acceptable=not args.no_attribution),
        needs_image_input=True if args.needs_image else None,
        include_base_models=True if args.include_base else None,
        precisions=tuple(args.precision) if args.precision else PRECISION_QUALITY_ORDER, kv_dtype=args.kv_dtype,
        gpu_memory_utilization=args.utilization, runtime_reserve_gb=args.reserve_gb, top_n=args.top,
        prices_as_of=args.prices_as_of, with_sensitivity=not args.no_sensitivity, score_mode=args.score_mode)
    _emit(recommend(request, catalog), args.json, format_recommendation_text)


def _add_recommend(sub) -> None:
    p = sub.add_parser("recommend", help="ranked shortlist for a use case, with reasons and exclusions",
                       description="Hard constraints first, then a transparent score from the use-case weights.")
    p.add_argument("--use-case", action="append", required=True,
                   help="use-case id from the use_case_weights table, e.g. customer-support (repeatable)")
    p.add_argument("--language", action="append", help="a language that must be served, e.g. Thai (repeatable)")
    p.add_argument("--deployment", choices=DEPLOYMENTS, default="either", help="self-host, api or either")
    p.add_argument("--gpus", type=int, default=1, help="GPUs available for self-hosting (default 1)")
    p.add_argument("--concurrency", type=int, default=1, help="sequences served at once (default 1)")
    p.add_argument("--budget-usd", type=float, help="monthly budget in USD")
    p.add_argument("--min-tokens-per-s", type=float, help="latency target: decode tokens/s each user should see")
    p.add_argument("--non-commercial", action="store_true", help="commercial use is not needed")
    p.add_argument("--over-100m-users", action="store_true", help="the product has over 100M monthly active users")
    p.add_argument("--no-attribution", action="store_true", help="crediting the model is not acceptable")
    p.add_argument("--needs-image", action="store_true", help="the model must accept image input")
    p.add_argument("--include-base", action="store_true", help="include base (not instruction-tuned) checkpoints")
    p.add_argument("--precision", action="append", help="allowed weight precision for self-hosting (repeatable; "
                                                        "default: all)")
    p.add_argument("--top", type=int, default=10, help="shortlist length (default 10)")
    p.add_argument("--no-sensitivity", action="store_true", help="skip the what-if runs")
    p.add_argument("--score-mode", choices=[m for m in WIZARD_MODES if m], default="",
                   help="rank hybrid models on their thinking or non-thinking scores (default: each model's "
                        "default; thinking tokens are billed only in thinking mode)")
    _common_deployment_args(p)
    p.set_defaults(handler=_run_recommend)


def _run_eval(args: argparse.Namespace) -> None:
    from modelmatch.evals import cli as eval_cli

    try:
        eval_cli.run(args)
    except eval_cli.EvalInputError as exc:
        raise CliError(str(exc)) from exc


EVAL_HELP = "run an eval set across endpoints: accuracy per language, consistency, cost"


def _add_eval(sub, full: bool = True) -> None:
    if not full:  # another subcommand runs: list eval in the help without importing its modules (pandas, HTTP)
        sub.add_parser("eval", help=EVAL_HELP)
        return
    from modelmatch.evals import cli as eval_cli

    p = sub.add_parser("eval", help=EVAL_HELP, description=eval_cli.__doc__.split("\n\n")[0],
                       epilog="Exit status: 0 every item scored; 2 bad input (nothing sent); 3 some items failed or "
                              "were not sent (resume the run); 130 stopped with Ctrl-C.")
    eval_cli.add_arguments(p)
    p.set_defaults(handler=_run_eval)


SUBCOMMANDS = (_add_plan, _add_recommend, _add_eval)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; given the subcommand about to run (argv's first word), the eval subcommand's arguments, and
    with them its imports, are registered only when eval is the one (or the word is not a plain subcommand)."""
    parser = argparse.ArgumentParser(prog="python -m modelmatch", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lean = command in ("plan", "recommend")
    for add in SUBCOMMANDS:
        if add is _add_eval:
            add(sub, full=not lean)
        else:
            add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before the parser: its defaults come from the settings, and a typo in one must not become a traceback.
    bad_settings = settings.check_all()
    if bad_settings:
        for line in bad_settings:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    upload_warning = upload_limit.command_line_warning()
    if upload_warning:  # the app is where uploads happen: a warning, not a reason to stop this command
        print(f"warning: {upload_warning}", file=sys.stderr)
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(words[0] if words else None).parse_args(argv)
    if args.command not in ("plan", "recommend"):  # they resume once their catalog is loaded
        _resume_collection()
    try:
        args.handler(args)
    except (PlanInputError, CliError, settings.SettingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `... | head` closed the pipe: not an error of ours
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
