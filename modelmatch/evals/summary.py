"""Your own evals: plan a run (prices, estimate), summarise its results (accuracy per model x language with Wilson
intervals, cross-language consistency, worst language, language switches, cost and time), and the "your eval"
numbers the Compare page shows next to public scores. How the Evals page lays a summary out (tables, chart, filter)
is modelmatch.evals.results_view.

The page (pages/evals.py) and the CLI (`python -m modelmatch eval`) call these same functions, so both show the same
numbers. Failed items (transport failures, not sent) are never counted as wrong: accuracy is correct / scored.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Collection, Sequence

import pandas as pd

from modelmatch import settings
from modelmatch.chat.endpoints import Endpoint
from modelmatch.evals.run_setup import (
    MAX_ENDPOINTS,
    Price,
    RunConfig,
    RunEstimate,
    endpoint_price,
    estimate_run,
    price_of,
    todo_items,
)
from modelmatch.evals.scoring import LANGUAGE_NAMES
from modelmatch.evals.sets import EvalItem, EvalSet, sent_prompt
from modelmatch.evals.stats import consistency, wilson_interval
from modelmatch.evals.store import FAILED, SCORED, EvalStore, RunInfo, shared_store
from modelmatch.chat.runs_db import runs_file_exists
from modelmatch.chat.timing import percentile


def language_label(code: str) -> str:
    name = LANGUAGE_NAMES.get(code.split("-")[0].lower())
    return f"{name} ({code})" if name else code


# ---------------------------------------------------------------------------------------------------------------
# Planning a run


@dataclass
class RunPlan:
    endpoints: list[Endpoint]
    prices: dict[str, Price | None]
    price_notes: dict[str, str]
    todo: dict[str, list[EvalItem]]
    estimate: RunEstimate
    problems: list[str] = field(default_factory=list)  # reasons the run may not start
    warnings: list[str] = field(default_factory=list)


def pick_endpoints(names: Sequence[str], available: Sequence[Endpoint]) -> tuple[list[Endpoint], list[str]]:
    by_name = {e.name: e for e in available}
    picked = [by_name[n] for n in names if n in by_name]
    return picked, [n for n in names if n not in by_name]


def _check_plan(plan: RunPlan, config: RunConfig, max_requests: int | None) -> RunPlan:
    if not 1 <= len(plan.endpoints) <= MAX_ENDPOINTS:
        plan.problems.append(f"choose 1 to {MAX_ENDPOINTS} endpoints (got {len(plan.endpoints)})")
    if max_requests is not None and plan.estimate.requests > max_requests:
        plan.problems.append(f"{plan.estimate.requests:,} requests is over the limit of {max_requests:,} per run "
                             "(MODELMATCH_EVAL_MAX_REQUESTS_PER_RUN); choose fewer languages, items or endpoints")
    if config.cost_cap_usd is not None and plan.estimate.usd_upper > config.cost_cap_usd:
        plan.warnings.append(f"if every reply used all {config.max_tokens:,} tokens the run could cost up to "
                             f"${plan.estimate.usd_upper:,.4f}, over the ${config.cost_cap_usd:g} cap: the run stops "
                             "sending when the next request could pass the cap, and can be resumed with a higher cap")
    unpriced = [r.endpoint_name for r in plan.estimate.endpoints if r.usd_upper is None and r.requests]
    if unpriced:
        plan.warnings.append("no price for " + ", ".join(unpriced) +
                             ": their cost is not estimated and does not count against the cap")
    return plan


def plan_new_run(eval_set: EvalSet, endpoints: list[Endpoint], config: RunConfig, reader, today: dt.date,
                 typical_output_tokens: int = 300, max_requests: int | None = None) -> RunPlan:
    prices, notes = {}, {}
    for endpoint in endpoints:
        prices[endpoint.name], notes[endpoint.name] = endpoint_price(reader, endpoint, today)
    sent = {i.item_id: sent_prompt(i, config.add_answer_instruction) for i in eval_set.items}
    todo = {e.name: list(eval_set.items) for e in endpoints}
    estimate = estimate_run(todo, endpoints, prices, notes, config, sent, typical_output_tokens)
    return _check_plan(RunPlan(endpoints, prices, notes, todo, estimate), config, max_requests)


def plan_resume(store: EvalStore, run_id: str, available: Sequence[Endpoint], config: RunConfig,
                typical_output_tokens: int = 300, max_requests: int | None = None) -> RunPlan:
    """Resume: the run's own endpoints (by name, as the operator's file defines them now), its own prices, and only
    the items that are not scored yet."""
    info = store.run_info(run_id)
    if info is None:
        raise ValueError(f"no eval run {run_id!r}")
    endpoints, missing = pick_endpoints([e.name for e in info.endpoints], available)
    prices = {r.name: price_of(r) for r in info.endpoints}
    notes = {r.name: r.price_note for r in info.endpoints}
    todo = todo_items(store, run_id, [e.name for e in endpoints])
    sent = store.sent_prompts(run_id)
    estimate = estimate_run(todo, endpoints, prices, notes, config, sent, typical_output_tokens)
    plan = _check_plan(RunPlan(endpoints, prices, notes, todo, estimate), config, max_requests)
    if missing:
        plan.warnings.append("no longer in the endpoints file, so not resumed: " + ", ".join(missing))
    if not plan.estimate.requests:
        plan.problems.append("nothing to resume: every item is scored for every endpoint")
    return plan


def config_for_resume(info: RunInfo, cost_cap_usd: float | None, concurrency: int | None = None) -> RunConfig:
    """The run's own settings (same prompts, temperature, max tokens), with a new cap and concurrency."""
    config = RunConfig.from_dict(info.settings)
    values = config.as_dict()
    values["cost_cap_usd"] = cost_cap_usd
    if concurrency is not None:
        values["concurrency"] = concurrency
    return RunConfig(**values)


# ---------------------------------------------------------------------------------------------------------------
# Results


def results_table(store: EvalStore, run_id: str) -> pd.DataFrame:
    """One row per item x endpoint of the run, status scored | failed | pending (never sent in any session)."""
    info = store.run_info(run_id)
    items = store.items_frame(run_id)
    results = store.results_frame(run_id)
    names = [e.name for e in info.endpoints] if info else []
    grid = items.merge(pd.DataFrame({"endpoint_name": names}), how="cross")
    table = grid.merge(results.drop(columns=["run_id"]), on=["endpoint_name", "item_id"], how="left")
    table["status"] = table["status"].fillna("pending")
    table["position_endpoint"] = table["endpoint_name"].map({n: i for i, n in enumerate(names)})
    return table.sort_values(["position", "position_endpoint"]).drop(columns=["position_endpoint", "run_id"])


@dataclass
class ModelSummary:
    endpoint_name: str
    model: str
    model_id: str | None
    items: int
    scored: int
    correct: int
    accuracy: float | None  # 0-1
    ci_low: float | None
    ci_high: float | None
    failed: int
    pending: int
    consistency: float | None  # share of (English, other language) pairs that agree
    consistency_pairs: int
    all_agree_share: float | None
    groups_compared: int
    worst_language: str | None
    worst_language_accuracy: float | None
    worst_language_note: str
    language_switches: int
    language_judged: int
    no_answer_line: int  # scored replies whose answer came from a fallback, not an ANSWER line
    cost_usd: float | None
    cost_note: str
    input_tokens: int
    output_tokens: int
    request_time_s: float  # sum of request latencies
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    wall_s: float | None  # wall-clock time of the sessions that ran this endpoint


@dataclass
class EvalSummary:
    run: RunInfo
    languages: list[str]
    reference_language: str | None
    models: list[ModelSummary]
    by_language: pd.DataFrame
    by_category: pd.DataFrame
    consistency_by_language: pd.DataFrame
    sessions: pd.DataFrame
    table: pd.DataFrame

    @property
    def complete(self) -> bool:
        return all(m.scored == m.items for m in self.models)

    @property
    def incomplete_requests(self) -> int:
        return sum(m.failed + m.pending for m in self.models)


def _rate_rows(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rows = []
    for key, group in df.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        scored = group[group["status"] == SCORED]
        correct = int(scored["correct"].fillna(False).astype(bool).sum())
        low, high = wilson_interval(correct, len(scored))
        judged = scored["language_switch"].notna()
        rows.append({**dict(zip(keys, key)), "items": len(group), "scored": len(scored), "correct": correct,
                     "accuracy": correct / len(scored) if len(scored) else None, "ci_low": low, "ci_high": high,
                     "failed": int((group["status"] == FAILED).sum()),
                     "pending": int((group["status"] == "pending").sum()),
                     "language_switches": int(scored.loc[judged, "language_switch"].astype(bool).sum()),
                     "language_judged": int(judged.sum())})
    return pd.DataFrame(rows)


def reference_language(languages: list[str]) -> str | None:
    if "en" in languages:
        return "en"
    return languages[0] if languages else None


def summarize(store: EvalStore, run_id: str) -> EvalSummary | None:
    info = store.run_info(run_id)
    if info is None:
        return None
    table = results_table(store, run_id)
    languages = list(dict.fromkeys(store.items_frame(run_id)["language"]))
    reference = reference_language(languages)
    by_language = _rate_rows(table, ["endpoint_name", "language"])
    by_category = _rate_rows(table.assign(category=table["category"].fillna("").replace("", "(none)")),
                             ["endpoint_name", "category"])
    sessions = store.sessions_frame(run_id)
    consistency_rows = []
    models = []
    for record in info.endpoints:
        mine = table[table["endpoint_name"] == record.name]
        scored = mine[mine["status"] == SCORED]
        correct = int(scored["correct"].fillna(False).astype(bool).sum())
        low, high = wilson_interval(correct, len(scored))
        answers = [(g, lang, None if pd.isna(k) else k)
                   for g, lang, k in zip(scored["group_id"].fillna(""), scored["language"], scored["answer_key"])]
        overall = consistency(answers, reference) if reference else None
        for language in languages:
            if language == reference:
                continue
            pair = consistency([a for a in answers if a[1] in (reference, language)], reference)
            consistency_rows.append({"endpoint_name": record.name, "language": language, "agree": pair.agree,
                                     "compared": pair.compared, "share": pair.score})
        langs = by_language[(by_language["endpoint_name"] == record.name) & (by_language["scored"] > 0)]
        worst_language = worst_accuracy = None
        worst_note = ""
        if len(langs) >= 2:
            ordered = langs.sort_values(["accuracy", "ci_high"], kind="stable")
            worst = ordered.iloc[0]
            # The best language: highest accuracy; on a tie the one the set lists first (usually English).
            best = langs.loc[langs["accuracy"] == langs["accuracy"].max()].iloc[0]
            if worst["accuracy"] == best["accuracy"]:
                worst_note = "none: every language scored the same"
            else:
                worst_language, worst_accuracy = worst["language"], worst["accuracy"]
                if worst["ci_high"] < best["ci_low"]:
                    worst_note = f"clearly below {best['language']}: the 95% intervals do not overlap"
                else:
                    worst_note = (f"within noise of {best['language']}: the 95% intervals overlap, more items are "
                                  "needed to tell")
        judged = scored["language_switch"].notna()
        unpriced = int(scored["cost_usd"].isna().sum())  # scored replies whose server sent no token counts
        costs = mine["cost_usd"].dropna()
        if record.input_usd_per_mtok is None:
            cost, cost_note = None, record.price_note or "no price"
        else:
            cost = float(costs.sum())
            cost_note = record.price_note + (f"; {unpriced} {'reply' if unpriced == 1 else 'replies'} without token "
                                             "counts not counted" if unpriced > 0 else "")
        e2e = [float(v) for v in mine.loc[mine["status"] == SCORED, "e2e_ms"].dropna()]
        wall = sessions.loc[sessions["endpoint_name"] == record.name, "wall_s"] if not sessions.empty else pd.Series()
        models.append(ModelSummary(
            endpoint_name=record.name, model=record.model, model_id=record.model_id, items=len(mine),
            scored=len(scored), correct=correct, accuracy=correct / len(scored) if len(scored) else None,
            ci_low=low, ci_high=high, failed=int((mine["status"] == FAILED).sum()),
            pending=int((mine["status"] == "pending").sum()),
            consistency=overall.score if overall else None, consistency_pairs=overall.compared if overall else 0,
            all_agree_share=overall.all_agree_share if overall else None,
            groups_compared=overall.groups_compared if overall else 0,
            worst_language=worst_language, worst_language_accuracy=worst_accuracy, worst_language_note=worst_note,
            language_switches=int(scored.loc[judged, "language_switch"].astype(bool).sum()),
            language_judged=int(judged.sum()),
            no_answer_line=int(((scored["scorer"] != "regex")
                                & (scored["extraction"].fillna("none") != "answer-line")).sum()),
            cost_usd=cost, cost_note=cost_note,
            input_tokens=int(mine["input_tokens"].fillna(0).sum()),
            output_tokens=int(mine["output_tokens"].fillna(0).sum()),
            request_time_s=sum(e2e) / 1000, e2e_p50_ms=percentile(e2e, 50), e2e_p95_ms=percentile(e2e, 95),
            wall_s=float(wall.sum()) if len(wall) else None))
    return EvalSummary(info, languages, reference, models, by_language, by_category,
                       pd.DataFrame(consistency_rows,
                                    columns=["endpoint_name", "language", "agree", "compared", "share"]),
                       sessions, table)


def accuracy_matrix(summary: EvalSummary) -> pd.DataFrame:
    """Rows: endpoints; columns: languages then "all"; cells like "90% (27/30) [74–97]"."""
    def cell(correct: int, scored: int, low: float | None, high: float | None) -> str:
        if not scored:
            return "—"
        return f"{correct / scored:.0%} ({correct}/{scored}) [{low * 100:.0f}–{high * 100:.0f}]"

    rows = []
    for model in summary.models:
        row = {"endpoint": model.endpoint_name}
        for language in summary.languages:
            match = summary.by_language[(summary.by_language["endpoint_name"] == model.endpoint_name)
                                        & (summary.by_language["language"] == language)]
            r = match.iloc[0] if len(match) else None
            row[language] = ("—" if r is None
                             else cell(int(r["correct"]), int(r["scored"]), r["ci_low"], r["ci_high"]))
        row["all"] = cell(model.correct, model.scored, model.ci_low, model.ci_high)
        rows.append(row)
    return pd.DataFrame(rows)


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def to_jsonable(summary: EvalSummary, with_reasoning: bool = False) -> dict:
    columns = ["item_id", "endpoint_name", "language", "group_id", "category", "scorer", "expected", "status",
               "correct", "extracted", "extraction", "score_note", "answer", "error", "attempts", "answer_language",
               "language_switch", "e2e_ms", "input_tokens", "output_tokens", "cost_usd"]
    if with_reasoning:
        columns.append("reasoning")
    run = asdict(summary.run)
    return {
        "run": {k: _clean(v) for k, v in run.items()},
        "complete": summary.complete,
        "languages": summary.languages,
        "reference_language": summary.reference_language,
        "models": [{k: _clean(v) for k, v in asdict(m).items()} for m in summary.models],
        "by_language": _records(summary.by_language),
        "by_category": _records(summary.by_category),
        "consistency_by_language": _records(summary.consistency_by_language),
        "items": _records(summary.table[columns]),
    }


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def format_summary_text(summary: EvalSummary) -> str:
    run = summary.run
    lines = [f"Eval run {run.run_id} · set {run.set_name} ({run.item_count} items, "
             f"{len(summary.languages)} languages) · {run.status}",
             "", "Accuracy per model and language: correct/scored [Wilson 95% interval, %]"]
    matrix = accuracy_matrix(summary)
    lines.append(matrix.to_string(index=False))
    lines.append("")
    for m in summary.models:
        lines.append(f"{m.endpoint_name} ({m.model_id or m.model}):")
        consistency_text = (f"{percent_text(m.consistency)} of {m.consistency_pairs} translation pairs agree with "
                            f"{summary.reference_language}" if m.consistency_pairs
                            else "no translation pairs to compare")
        lines.append(f"  consistency: {consistency_text}; every language agrees in "
                     f"{percent_text(m.all_agree_share)} of {m.groups_compared} groups")
        if m.worst_language:
            lines.append(f"  worst language: {language_label(m.worst_language)} "
                         f"{percent_text(m.worst_language_accuracy)}, {m.worst_language_note}")
        elif m.worst_language_note:
            lines.append(f"  worst language: {m.worst_language_note}")
        lines.append(f"  language switches: {m.language_switches} of {m.language_judged} judged replies")
        if m.failed or m.pending:
            lines.append(f"  not scored: {m.failed} failed, {m.pending} never sent (resume the run to send them)")
        if m.no_answer_line > 0:
            lines.append(f"  {m.no_answer_line} scored replies had no ANSWER line (a fallback was used)")
        cost = f"${m.cost_usd:.4f}" if m.cost_usd is not None else "unknown"
        lines.append(f"  cost: {cost} ({m.cost_note}); tokens in {m.input_tokens:,} / out {m.output_tokens:,}")
        timing = (f"  time: {m.request_time_s:,.1f} s of requests" +
                  (f", p50 {m.e2e_p50_ms:,.0f} ms, p95 {m.e2e_p95_ms:,.0f} ms" if m.e2e_p50_ms is not None else "") +
                  (f", wall {m.wall_s:,.1f} s" if m.wall_s is not None else ""))
        lines.append(timing)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# For the Compare page


EVAL_ACCURACY_COLUMNS = ["model_id", "eval_accuracy", "correct", "scored", "ci_low", "ci_high", "set_name", "run_id",
                         "run_at", "endpoint_name", "languages"]


def latest_eval_accuracy(model_ids: Sequence[str], store: EvalStore | None = None,
                         set_name: str | None = None, run_ids: Collection[str] | None = None) -> pd.DataFrame:
    """Per catalog model_id, the accuracy of its most recent eval run (optionally of one set): one row per model
    that has scored results, columns EVAL_ACCURACY_COLUMNS. eval_accuracy, ci_low and ci_high are percent (0-100,
    like catalog scores); scored counts the items behind the number. Models without a run are absent."""
    if store is None:
        if not runs_file_exists(settings.runs_db_path()):  # no runs yet: do not create the database just to read it
            return pd.DataFrame(columns=EVAL_ACCURACY_COLUMNS)
        store = shared_store(settings.runs_db_path())
    results = store.results_for_models(list(model_ids))
    if results.empty:
        return pd.DataFrame(columns=EVAL_ACCURACY_COLUMNS)
    if set_name is not None:
        results = results[results["set_name"] == set_name]
    if run_ids is not None:  # only these runs (a visitor's shared view: published runs and the session's own)
        results = results[results["run_id"].isin(set(run_ids))]
    rows = []
    for model_id, mine in results.groupby("model_id"):
        latest_run = mine.sort_values("updated_at").iloc[-1]["run_id"]
        run_rows = mine[mine["run_id"] == latest_run]
        endpoint = run_rows["endpoint_name"].value_counts().index[0]
        chosen = run_rows[run_rows["endpoint_name"] == endpoint]
        correct, scored = int(chosen["correct"].astype(bool).sum()), len(chosen)
        low, high = wilson_interval(correct, scored)
        rows.append({"model_id": model_id, "eval_accuracy": 100 * correct / scored, "correct": correct,
                     "scored": scored, "ci_low": 100 * low, "ci_high": 100 * high,
                     "set_name": chosen["set_name"].iloc[0], "run_id": latest_run,
                     "run_at": chosen["updated_at"].iloc[0], "endpoint_name": endpoint,
                     "languages": ", ".join(sorted(chosen["language"].unique()))})
    return pd.DataFrame(rows, columns=EVAL_ACCURACY_COLUMNS)


def export_csv(summary: EvalSummary) -> bytes:
    """Every item x endpoint as CSV; cells that a spreadsheet would run as a formula are prefixed with '."""
    columns = ["item_id", "endpoint_name", "language", "group_id", "category", "scorer", "expected", "status",
               "correct", "extracted", "score_note", "answer", "error", "attempts", "answer_language",
               "language_switch", "e2e_ms", "input_tokens", "output_tokens", "cost_usd"]
    df = summary.table[columns].copy()
    for column in df.columns:
        df[column] = df[column].map(lambda v: "'" + v if isinstance(v, str) and _formula_like(v) else v)
    return df.to_csv(index=False).encode("utf-8")


def _formula_like(text: str) -> bool:
    """Would a spreadsheet run this cell? "=...", "@...", tab/CR first, or +/- not followed by a number."""
    if text[:1] in ("=", "@", "\t", "\r"):
        return True
    return text[:1] in ("+", "-") and not re.match(r"[+-]\.?\d", text)


def export_json(summary: EvalSummary) -> bytes:
    return json.dumps(to_jsonable(summary, with_reasoning=True), indent=2, ensure_ascii=False).encode("utf-8")


def default_store() -> EvalStore:
    return shared_store(settings.runs_db_path())


def runs_db_path() -> Path:
    return settings.runs_db_path()
