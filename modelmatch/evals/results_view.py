"""What the Evals page shows of a run's summary, as it renders it: the model table, the accuracy chart with its
intervals, the question filter and every endpoint's replies to one question side by side. The numbers themselves are
computed in modelmatch.evals.summary.
"""

from __future__ import annotations

import pandas as pd

from modelmatch.evals.store import SCORED
from modelmatch.evals.summary import EvalSummary, language_label, percent_text


def _interval(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{low * 100:.0f}–{high * 100:.0f}%"


def model_table(summary: EvalSummary) -> pd.DataFrame:
    rows = []
    for m in summary.models:
        rows.append({
            "endpoint": m.endpoint_name, "model": m.model_id or m.model,
            "accuracy": None if m.accuracy is None else 100 * m.accuracy,
            "95% interval": _interval(m.ci_low, m.ci_high), "scored": f"{m.correct}/{m.scored}",
            "consistency": None if m.consistency is None else 100 * m.consistency,
            "pairs compared": m.consistency_pairs,
            "all languages agree": None if m.all_agree_share is None else 100 * m.all_agree_share,
            "worst language": (f"{language_label(m.worst_language)}: {percent_text(m.worst_language_accuracy)}, "
                               f"{m.worst_language_note}") if m.worst_language else (m.worst_language_note or "—"),
            "language switches": f"{m.language_switches}/{m.language_judged}",
            "failed / never sent": f"{m.failed} / {m.pending}",
            "no ANSWER line": m.no_answer_line,
            "cost (US$)": m.cost_usd,
            "tokens in / out": f"{m.input_tokens:,} / {m.output_tokens:,}",
            "request time (s)": m.request_time_s,
            "p50 / p95 latency (ms)": ("—" if m.e2e_p50_ms is None else f"{m.e2e_p50_ms:,.0f} / {m.e2e_p95_ms:,.0f}"),
            "wall time (s)": m.wall_s,
        })
    return pd.DataFrame(rows)


def accuracy_chart(summary: EvalSummary):
    """Accuracy per language for each endpoint, with Wilson 95% intervals as error bars."""
    import altair as alt

    df = summary.by_language[summary.by_language["scored"] > 0].copy()
    df["accuracy_pct"] = 100 * df["accuracy"].astype(float)
    df["low_pct"] = 100 * df["ci_low"].astype(float)
    df["high_pct"] = 100 * df["ci_high"].astype(float)
    df["language_name"] = df["language"].map(language_label)
    order = [language_label(code) for code in summary.languages]
    base = alt.Chart(df).encode(
        x=alt.X("language_name:N", title=None, sort=order),
        xOffset=alt.XOffset("endpoint_name:N", sort=[m.endpoint_name for m in summary.models]),
        color=alt.Color("endpoint_name:N", title="Endpoint"))
    bars = base.mark_bar().encode(
        y=alt.Y("accuracy_pct:Q", title="Accuracy, % (Wilson 95% interval)", scale=alt.Scale(domain=[0, 100])),
        tooltip=[alt.Tooltip("endpoint_name:N", title="Endpoint"), alt.Tooltip("language_name:N", title="Language"),
                 alt.Tooltip("accuracy_pct:Q", title="Accuracy %", format=".1f"),
                 alt.Tooltip("correct:Q", title="Correct"), alt.Tooltip("scored:Q", title="Scored"),
                 alt.Tooltip("low_pct:Q", title="95% low", format=".1f"),
                 alt.Tooltip("high_pct:Q", title="95% high", format=".1f")])
    errors = base.mark_rule(color="black").encode(y="low_pct:Q", y2="high_pct:Q")
    return (bars + errors).properties(height=320)


def question_filter(summary: EvalSummary, which: str) -> list[str]:
    """Question keys (groups or ungrouped items) matching a filter: all | wrong | disagree | failed."""
    table = summary.table.assign(key=summary.table["group_id"].fillna("").where(
        summary.table["group_id"].fillna("") != "", summary.table["item_id"]))
    keys = question_keys(summary)
    if which == "all":
        return keys
    picked = set()
    for key, group in table.groupby("key"):
        scored = group[group["status"] == SCORED]
        if which == "wrong" and (~scored["correct"].fillna(False).astype(bool)).any():
            picked.add(key)
        elif which == "failed" and (group["status"] != SCORED).any():
            picked.add(key)
        elif which == "disagree":
            answers = scored["answer_key"].map(lambda v: None if pd.isna(v) else v)
            if answers.nunique(dropna=False) > 1:
                picked.add(key)
    return [k for k in keys if k in picked]


def side_by_side(summary: EvalSummary, group_or_item: str) -> pd.DataFrame:
    """Every endpoint's reply to one question in each of its languages (a group, or a single item)."""
    table = summary.table
    mask = (table["group_id"] == group_or_item) | (table["item_id"] == group_or_item)
    return table[mask]


def question_keys(summary: EvalSummary) -> list[str]:
    """Groups (or ungrouped item ids) in set order."""
    keys = []
    for group, item in zip(summary.table["group_id"].fillna(""), summary.table["item_id"]):
        key = group or item
        if key not in keys:
            keys.append(key)
    return keys
