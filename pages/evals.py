"""Your evals: run your own prompt set (or the built-in starter set) across 1-6 endpoints; accuracy per language with
confidence intervals, cross-language consistency, language switches, cost and time; every reply side by side."""

import datetime as dt
import json
import math
from functools import partial

import pandas as pd
import streamlit as st

from modelmatch.evals import visibility as eval_visibility

from modelmatch.evals import results_view
from modelmatch.evals import summary as evals

from modelmatch import settings
from modelmatch.chat.endpoints import ApiKeyError, Endpoint, header_secret_snapshot, resolve_api_key, resolve_headers
from modelmatch.evals.run_setup import MAX_ENDPOINTS, RunConfig, create_run
from modelmatch.evals.runner import EvalRunner, RunAlreadyActive, is_active
from modelmatch.evals.scoring import SCORERS
from modelmatch.evals.sets import COLUMNS, EXAMPLE_CSV, STARTER_SET, load_builtin, parse_eval_set
from modelmatch.evals.store import RunsUnavailable, shared_store, valid_run_id
from modelmatch.evals import upload_limit
from modelmatch.chat import sdk_stream
from modelmatch.chat.playground import supports_thinking_switch
from modelmatch.chat.render import md_code, md_text, safe_markdown
from pages import common, try_support

POLL_S = 0.5
FILTERS = {"all": "All questions", "wrong": "Wrong somewhere", "disagree": "Answers differ",
           "failed": "Failed or not sent"}

st.title("Your evals")
st.caption("English leaderboards do not tell you how a model does on your task in Thai. Run your own questions with "
           "expected answers across models and languages, and let the numbers on your task decide.")

ss = st.session_state
found, origin, problem = try_support.endpoints()
if problem:
    st.error(f"The endpoints file has a problem, so evals are off until it is fixed: {md_text(problem)}")
    st.stop()
by_name: dict[str, Endpoint] = {e.name: e for e in found}
try:
    store = shared_store(settings.runs_db_path())
except RunsUnavailable as unavailable:  # busy, corrupt, read-only, a directory: the reason, not a traceback
    st.error(f"Evals are off: {md_text(unavailable)}")
    st.stop()
reader = None
try:
    common.require_catalog()
    reader = common.catalog_reader()
except Exception:  # evals still run without the catalog; costs are then unknown
    reader = None


def language_name(code: str) -> str:
    return evals.language_label(code)


# ---------------------------------------------------------------------------------------------------------------
# Live run: a fragment polls the runner (which works in its own thread) while the rest of the page stays usable.


@st.fragment(run_every=POLL_S)
def live_progress() -> None:
    runner: EvalRunner | None = ss.get("ev_runner")
    if runner is None:
        return
    st.subheader("Running")
    if st.button("Cancel the run", key="ev_cancel", icon=":material/stop_circle:", type="primary",
                 help="Stop sending. Finished items are kept; the run can be resumed later."):
        runner.cancel()
    progress = runner.progress()
    st.progress(progress.fraction, text=f"{progress.fraction:.0%} of this session's requests · "
                                        f"${progress.spent_usd:.4f} counted"
                                        + (f" against the ${progress.cost_cap_usd:g} cap"
                                           if progress.cost_cap_usd is not None else "")
                                        + " (replies without token counts count at their worst case)")
    for p in progress.endpoints:
        done = p.finished_now / p.to_send if p.to_send else 1.0
        extra = f", {p.failed} failed" if p.failed else ""
        extra += f", {p.not_sent} not sent" if p.not_sent else ""
        extra += f", {p.retries} retries" if p.retries else ""
        st.progress(done, text=f"**{md_text(p.name)}**: {p.complete}/{p.total} scored ({p.correct} right this "
                               f"session{extra}) · {p.in_flight} in flight · {p.state}")
    if not progress.running:
        ss.ev_runner = None
        ss.ev_run_message = progress.message
        st.rerun()  # the whole page: the results below now show the finished run


if ss.get("ev_runner") is not None:  # the fragment polls only while this session has a run going
    live_progress()
if ss.get("ev_run_message"):
    st.error(md_text(ss.ev_run_message))

# ---------------------------------------------------------------------------------------------------------------
# 1. The eval set

st.subheader("1. Eval set")
source = st.radio("Eval set", ["Built-in starter set", "Upload a CSV or TSV file"], key="ev_source", horizontal=True,
                  label_visibility="collapsed")
eval_set = None
if source.startswith("Built-in"):
    eval_set = load_builtin(STARTER_SET)
    st.caption(f"{len(eval_set.items)} items written for ModelMatch: grade-school math word problems, short factual "
               "questions and instruction-following checks, each in English, Chinese, Thai, Vietnamese and "
               "Indonesian. The translations were written by the AI model that wrote this code and have not been "
               "reviewed by native speakers; see data/evals/README.md.")
else:
    with st.expander("File format", icon=":material/description:"):
        st.markdown("One row per item; UTF-8; a header row with these columns (order free):")
        st.dataframe([{"column": c.name, "required": "yes" if c.required else "", "meaning": c.help}
                      for c in COLUMNS], hide_index=True, width="stretch")
        st.markdown(f"Scorers: {', '.join(f'`{s}`' for s in SCORERS)}. Each prompt gets, in its language, a request "
                    "to end with a line `ANSWER: ...` (not for `regex` items, whose pattern checks the whole reply).")
        st.download_button("Example CSV", EXAMPLE_CSV.encode(), "example_eval_set.csv", "text/csv",
                           key="ev_example", on_click="ignore", icon=":material/download:")
    # The smaller of our limit and the server's: the browser then refuses a bigger file with its own clear message,
    # instead of the server answering a generic error. The page checks the size again itself (a crafted request
    # skips the browser), and parse_eval_set once more before parsing.
    server_mb = common.server_upload_limit_mb()
    shown_mb = min(upload_limit.eval_limit_mb(), server_mb)
    disagreement = common.upload_limit_disagreement()
    if disagreement:
        st.warning(md_text(disagreement), icon=":material/warning:")
    upload = st.file_uploader("CSV or TSV file", type=["csv", "tsv", "txt"], key="ev_upload",
                              max_upload_size=max(1, math.ceil(shown_mb)),
                              help=f"UTF-8, at most {upload_limit.mb_text(shown_mb)} (MODELMATCH_EVAL_MAX_FILE_MB).")
    refusal = upload_limit.size_refusal(upload.size) if upload is not None else None
    if refusal:
        st.error(md_text(refusal), icon=":material/error:")
    elif upload is not None:
        loaded = parse_eval_set(upload.getvalue(), upload.name, f"upload {upload.name}")
        if loaded.problems:
            st.error(f"{len(loaded.problems)} problem(s) in {md_text(upload.name)}; nothing will be sent until they "
                     "are fixed.",
                     icon=":material/error:")
            st.dataframe([{"line": p.line or "", "column": p.column, "problem": p.message}
                          for p in loaded.problems[:500]], hide_index=True, width="stretch")
            if len(loaded.problems) > 500:
                st.caption(f"… and {len(loaded.problems) - 500} more.")
        else:
            eval_set = loaded.eval_set

if eval_set is not None:
    left, middle, right = st.columns([2, 2, 1])
    languages = left.multiselect("Languages", eval_set.languages, default=eval_set.languages, key="ev_languages",
                                 format_func=language_name)
    categories = middle.multiselect("Categories", eval_set.categories, default=eval_set.categories,
                                    key="ev_categories") if eval_set.categories else []
    max_groups = right.number_input("Questions (0 = all)", 0, 100_000, 0, key="ev_max_groups",
                                    help="Keep only the first N questions, each with all its translations.")
    eval_set = eval_set.subset(languages or None, categories or None, int(max_groups) or None)
    groups = len({i.group_id or i.item_id for i in eval_set.items})
    st.caption(f"{len(eval_set.items)} items ({groups} questions) in {len(eval_set.languages)} languages will be "
               "sent to each endpoint.")
    if not eval_set.items:
        eval_set = None

# ---------------------------------------------------------------------------------------------------------------
# 2. Endpoints and settings

st.subheader("2. Endpoints")
if all(e.embedded_default for e in found):
    st.caption("No endpoints file yet, so only the two small local models are offered (they run on this machine). "
               "An operator adds servers in endpoints.toml; see endpoints.example.toml.")
names = list(by_name)
chosen = st.multiselect(f"Endpoints (1 to {MAX_ENDPOINTS})", names, default=names[:1], key="ev_endpoints",
                        max_selections=MAX_ENDPOINTS)
endpoints = [by_name[n] for n in chosen]
cap_max = settings.value("eval_cost_cap_max_usd")
with st.expander("Settings", icon=":material/tune:"):
    a, b, c = st.columns(3)
    token_cap = min((e.max_tokens_cap for e in endpoints), default=2048)
    temperature = a.slider("Temperature", 0.0, 2.0, 0.0, 0.05, key="ev_temperature",
                           help="0 makes replies as repeatable as the server allows.")
    max_tokens = b.number_input("Max tokens per reply", 16, token_cap, min(1024, token_cap), key="ev_max_tokens",
                                help="Reasoning models think before answering: give them room, or their reply "
                                     "ends inside the thinking and scores as no answer.")
    concurrency = c.number_input("Requests at once per endpoint", 1, settings.value("eval_max_concurrency"),
                                 min(settings.value("eval_concurrency"), settings.value("eval_max_concurrency")),
                                 key="ev_concurrency")
    a, b, c = st.columns(3)
    cost_cap = a.number_input("Cost cap, US$", 0.0, cap_max, min(settings.value("eval_cost_cap_usd"), cap_max),
                              0.5, key="ev_cost_cap", help=f"The run stops sending before it could cost more "
                                                           f"(at catalog list prices). At most ${cap_max:g} "
                                                           "(MODELMATCH_EVAL_COST_CAP_MAX_USD).")
    assumed = b.number_input("Assumed reply length (tokens)", 1, 100_000, 300, key="ev_assumed_tokens",
                             help="Only for the typical cost estimate; the cap uses the worst case.")
    instruction = c.toggle("Ask for a final ANSWER line", value=True, key="ev_instruction",
                           help="Appends, in the prompt's language, a request to end with 'ANSWER: ...'.")
    thinking = None
    if any(supports_thinking_switch(e) for e in endpoints):
        thinking = st.toggle("Thinking (where the endpoint can switch it)", value=True, key="ev_thinking")

config = RunConfig(temperature=float(temperature), max_tokens=int(max_tokens), thinking=thinking,
                   concurrency=int(concurrency), retries=settings.value("eval_retries"),
                   retry_base_s=settings.value("eval_retry_base_s"),
                   breaker_failures=settings.value("eval_breaker_failures"), cost_cap_usd=float(cost_cap),
                   add_answer_instruction=bool(instruction))

# ---------------------------------------------------------------------------------------------------------------
# 3. Estimate and start


def estimate_table(plan: evals.RunPlan) -> list[dict]:
    def usd(value: float | None) -> str:
        return "unknown" if value is None else f"${value:,.4f}"

    return [{"endpoint": r.endpoint_name, "requests": r.requests, "input tokens (est.)": r.input_tokens,
             "typical cost": usd(r.usd_typical), "at most": usd(r.usd_upper), "price": r.price_note}
            for r in plan.estimate.endpoints]


def keys_for(chosen_endpoints: list[Endpoint]) -> tuple[dict[str, str | None], list[str]]:
    keys, missing = {}, []
    for endpoint in chosen_endpoints:
        try:
            key = resolve_api_key(endpoint, st.secrets) if endpoint.has_key else None
        except ApiKeyError as bad:
            missing.append(f"{endpoint.name}: {bad}")
            continue
        if endpoint.has_key and key is None:
            missing.append(f"{endpoint.name} needs an API key: the operator sets the environment variable "
                           f"{endpoint.api_key_env or endpoint.api_key_secret} (or the secret of that name)")
        try:
            resolve_headers(endpoint, st.secrets)
        except ApiKeyError as bad:
            missing.append(str(bad))
        keys[endpoint.name] = key
    return keys, missing


def start(run_id: str, plan: evals.RunPlan, run_config: RunConfig, keys: dict[str, str | None]) -> None:
    try:
        ss.ev_runner = EvalRunner(store, run_id, plan.endpoints, keys, run_config, plan.prices,
                                  limiter=try_support.endpoint_limiter(), daily_spend=try_support.daily_spend(),
                                  secrets=header_secret_snapshot(plan.endpoints, st.secrets)).start()
    except RunAlreadyActive as active:
        st.error(md_text(active))
        return
    ss.ev_run_id = run_id
    # Private to this session until its author publishes it (see "Share on Compare" under the results).
    ss.setdefault("ev_my_runs", set()).add(run_id)
    st.query_params["run"] = run_id
    st.rerun()


st.subheader("3. Estimate and start")
busy = ss.get("ev_runner") is not None
if eval_set is None or not endpoints:
    st.info("Choose an eval set with at least one item and 1 to 6 endpoints.")
else:
    plan = evals.plan_new_run(eval_set, endpoints, config, reader, dt.date.today(), int(assumed),
                              settings.value("eval_max_requests_per_run"))
    st.dataframe(estimate_table(plan), hide_index=True, width="stretch")
    st.caption(f"Typical: replies of about {int(assumed)} tokens and a rough token count of each prompt. At most: "
               f"every reply uses all {int(max_tokens):,} tokens. Token counts from the servers replace the estimates "
               "as replies arrive.")
    for warning in plan.warnings:
        st.warning(md_text(warning), icon=":material/warning:")
    for refusal in plan.problems:
        st.error(md_text(refusal))
    keys, missing = keys_for(endpoints)
    for message in missing:
        st.error(md_text(message))
    label = f"Start: {plan.estimate.requests:,} requests"
    if st.button(label, key="ev_start", type="primary", icon=":material/play_arrow:",
                 disabled=busy or bool(plan.problems) or bool(missing)):
        run_id = create_run(store, eval_set, plan.endpoints, config, plan.prices, plan.price_notes,
                            {"languages": languages, "categories": categories, "max_groups": int(max_groups) or None,
                             "source": "page"})
        start(run_id, plan, config, keys)

# The run can be started from here on: the SDK's import (about half a second) starts on a background thread, after
# the part of the page that sets a run up is drawn (the results below may stop the script early).
sdk_stream.start_warm_up(found)

# ---------------------------------------------------------------------------------------------------------------
# 4. Results

st.subheader("4. Results")
recent = store.recent_runs(200)
if not settings.eval_runs_public():
    # Another visitor's runs are not listed: this session's own and published ones are (a run's link opens it
    # anyway). MODELMATCH_EVAL_RUNS_PUBLIC=1 lists every run.
    recent = recent[recent["run_id"].isin(common.visible_eval_runs())]
recent = recent.head(30)
if recent.empty and not st.query_params.get("run"):
    st.info("No eval runs of yours yet. Runs are private to the session that started them until their author "
            "publishes them; a run's link opens it for anyone who has the link.")
    st.stop()
# No status in the label: a keyed selectbox may keep showing an option's old text while a run finishes.
labels = {row.run_id: f"{row.created_at:%Y-%m-%d %H:%M} · {row.set_name} · "
                      f"{', '.join(e['name'] for e in json.loads(row.endpoints_json))} · {row.run_id}"
          for row in recent.itertuples()}
wanted = st.query_params.get("run")
if wanted and valid_run_id(wanted) and wanted not in labels and store.run_info(wanted) is not None:
    labels = {wanted: f"run {wanted}", **labels}
elif wanted and wanted not in labels:
    st.warning("No eval run matches the link's run id; showing the latest run.")
    wanted = None
if not labels:
    st.info("No eval runs of yours yet.")
    st.stop()
default = wanted or ss.get("ev_run_id") or next(iter(labels))
run_id = st.selectbox("Run", list(labels), index=list(labels).index(default) if default in labels else 0,
                      format_func=labels.get, key="ev_run_pick")
summary = evals.summarize(store, run_id)
info = summary.run
if ss.get("ev_runner") is not None and run_id == ss.get("ev_run_id"):
    st.caption("This run is in progress: its results below are as of this page load and refresh when it ends.")
status_text = info.status
if info.status == "running" and not is_active(info.run_id):
    status_text = "interrupted (or running in another process)"
st.caption(f"Run `{info.run_id}` · set **{md_text(info.set_name)}** ({md_text(info.set_source)}, sha256 "
           f"{md_text(info.set_sha256[:12])}) · {info.item_count:d} items · temperature "
           f"{md_text(info.settings.get('temperature'))} · max tokens "
           f"{md_text(info.settings.get('max_tokens'))} · ANSWER line requested: "
           f"{'yes' if info.settings.get('add_answer_instruction', True) else 'no'} · status **{status_text}**")
st.page_link("pages/evals.py", label="Link to this run", icon=":material/link:", query_params={"run": info.run_id})
if eval_visibility.is_published(store, info.run_id):
    st.caption("Published: this run's accuracy shows on every visitor's Compare page.")
    if info.run_id in ss.get("ev_my_runs", set()) and st.button("Unpublish", key="ev_unpublish"):
        eval_visibility.unpublish(store, info.run_id)
        st.rerun()
elif info.run_id in ss.get("ev_my_runs", set()):
    with st.expander("Share on Compare (private until you publish)", icon=":material/public:"):
        real = st.checkbox("This is not a test run: the endpoints were set up as for real use", key="ev_not_test")
        if st.button("Publish to every visitor's Compare page", key="ev_publish", disabled=not real):
            try:
                eval_visibility.publish(store, info.run_id, not_a_test=real)
                st.rerun()
            except eval_visibility.PublishRefused as refused:
                st.error(md_text(refused))
else:
    st.caption("Private: only this link and the session that ran it show this run; Compare does not.")

if not summary.complete and ss.get("ev_runner") is None and is_active(info.run_id):
    st.info("This run is being sent from another session right now; its results here refresh when you reload.",
            icon=":material/sync:")
elif not summary.complete and ss.get("ev_runner") is None:
    st.warning(f"{summary.incomplete_requests} request(s) failed or were never sent. They are not counted as wrong; "
               "resume to send exactly those.", icon=":material/replay:")
    left, right = st.columns([1, 3])
    resume_cap = left.number_input("Cost cap for the whole run, US$", 0.0, cap_max,
                                   min(float(info.settings.get("cost_cap_usd") or cap_max), cap_max), 0.5,
                                   key="ev_resume_cap")
    resume_config = evals.config_for_resume(info, float(resume_cap))
    resume_plan = evals.plan_resume(store, info.run_id, found, resume_config,
                                    max_requests=settings.value("eval_max_requests_per_run"))
    resume_keys, resume_missing = keys_for(resume_plan.endpoints)
    for message in resume_plan.warnings + resume_missing:
        right.warning(md_text(message))
    if right.button(f"Resume: send {resume_plan.estimate.requests:,} request(s)", key="ev_resume",
                    icon=":material/replay:", disabled=bool(resume_plan.problems) or bool(resume_missing)):
        start(info.run_id, resume_plan, resume_config, resume_keys)

st.markdown("**Accuracy per model and language** — correct/scored [Wilson 95% interval]")
st.dataframe(evals.accuracy_matrix(summary).rename(columns={c: language_name(c) for c in summary.languages}),
             hide_index=True, width="stretch")
if not summary.by_language.empty and summary.by_language["scored"].sum():
    chart = results_view.accuracy_chart(summary)
    st.altair_chart(chart, width="stretch")
st.markdown("**Per model**")
st.dataframe(results_view.model_table(summary), hide_index=True, width="stretch",
             column_config={"accuracy": st.column_config.NumberColumn("accuracy %", format="%.1f"),
                            "consistency": st.column_config.NumberColumn(
                                "consistency %", format="%.1f",
                                help=f"Share of translation pairs ({summary.reference_language} vs each other "
                                     "language) where the model gives the same answer, right or wrong."),
                            "all languages agree": st.column_config.NumberColumn("all agree %", format="%.1f"),
                            "cost (US$)": st.column_config.NumberColumn(format="$%.4f"),
                            "request time (s)": st.column_config.NumberColumn(format="%.1f"),
                            "wall time (s)": st.column_config.NumberColumn(format="%.1f")})
with st.expander("How these numbers are made", icon=":material/help:"):
    st.markdown(
        "- **Accuracy** = correct ÷ scored. Failed requests and items never sent are not counted as wrong.\n"
        "- **95% interval**: Wilson score interval. With a few dozen items per language it is wide: two languages "
        "whose intervals overlap may not really differ.\n"
        "- **Consistency**: for each question, the answer in each language is compared with the answer in "
        f"{md_text(summary.reference_language or 'the first language')} "
        "(numbers by value, options by letter; free-text "
        "answers by whether both are right).\n"
        "- **Language switch**: the reply (not the thinking) is mostly in another language than the question. A "
        "script-based guess for English, Chinese, Thai, Vietnamese and Indonesian; short or number-only replies "
        "are not judged.\n"
        "- **Answers** are read from the last `ANSWER:` line; a reasoning model's thinking is never read.")
if not summary.consistency_by_language.empty:
    with st.expander("Consistency by language", icon=":material/translate:"):
        df = summary.consistency_by_language.copy()
        df["language"] = df["language"].map(language_name)
        df["share"] = df["share"].map(lambda v: None if v is None else 100 * v)
        st.dataframe(df, hide_index=True, width="stretch",
                     column_config={"share": st.column_config.NumberColumn("agree %", format="%.1f")})
if len(summary.by_category) and (summary.by_category["category"] != "(none)").any():
    with st.expander("By category", icon=":material/category:"):
        df = summary.by_category.copy()
        df["accuracy"] = df["accuracy"].map(lambda v: None if v is None else 100 * v)
        st.dataframe(df[["endpoint_name", "category", "correct", "scored", "accuracy", "failed", "pending"]],
                     hide_index=True, width="stretch",
                     column_config={"accuracy": st.column_config.NumberColumn("accuracy %", format="%.1f")})

left, right, _ = st.columns([1, 1, 4])
# Built on click only (partial binds this run's summary).
left.download_button("Results CSV", partial(evals.export_csv, summary), f"modelmatch-eval-{info.run_id}.csv",
                     "text/csv", key="ev_csv", on_click="ignore", icon=":material/download:")
right.download_button("Results JSON", partial(evals.export_json, summary), f"modelmatch-eval-{info.run_id}.json",
                      "application/json", key="ev_json", on_click="ignore", icon=":material/download:")

st.markdown("**Replies side by side**")
which = st.segmented_control("Show", list(FILTERS), format_func=FILTERS.get, default="all", key="ev_filter")
keys_shown = results_view.question_filter(summary, which or "all")
if not keys_shown:
    st.caption("No question matches this filter.")
    st.stop()
question = st.selectbox(f"Question ({len(keys_shown)})", keys_shown, key="ev_question")
rows = results_view.side_by_side(summary, question)
run_endpoints = [e.name for e in info.endpoints]
for language, by_language in rows.groupby("language", sort=False):
    first = by_language.iloc[0]
    with st.container(border=True):
        # The item id and expected answer come from an uploaded file: neutralised like model output.
        st.markdown(f"**{md_text(language_name(language))}** · {md_text(first['item_id'])} · "
                    f"{md_text(first['scorer'])} · expected {md_code(first['expected'])}")
        st.markdown(safe_markdown(first["prompt"]))
        columns = st.columns(len(run_endpoints))
        for column, name in zip(columns, run_endpoints):
            match = by_language[by_language["endpoint_name"] == name]
            with column:
                st.markdown(f"**{md_text(name)}**")
                if match.empty:
                    continue
                r = match.iloc[0]
                if r["status"] == "pending":
                    st.caption("never sent (resume the run)")
                    continue
                if r["status"] == "failed":
                    st.error(f"failed, not scored: {md_text(r['error'])}", icon=":material/cloud_off:")
                else:
                    verdict = "right" if bool(r["correct"]) else "wrong"
                    extracted = r["extracted"] if isinstance(r["extracted"], str) else "no answer found"
                    (st.success if verdict == "right" else st.warning)(
                        f"{verdict}: read {md_code(extracted, 200)}"
                        + (f" ({md_text(r['score_note'])})" if r["score_note"] else ""))
                    if not pd.isna(r["language_switch"]) and bool(r["language_switch"]):
                        looks_like = md_text(language_name(str(r["answer_language"])))
                        st.caption(f"language switch: reply looks like {looks_like}")
                if isinstance(r["reasoning"], str) and r["reasoning"]:
                    with st.expander("Reasoning", icon=":material/psychology:"):
                        st.markdown(safe_markdown(r["reasoning"]))
                st.markdown(safe_markdown(r["answer"]) if isinstance(r["answer"], str) and r["answer"]
                            else "_(no reply text)_")
                st.caption(("" if pd.isna(r["e2e_ms"]) else f"{r['e2e_ms']:,.0f} ms · ")
                           + f"{0 if pd.isna(r['attempts']) else int(r['attempts'])} attempt(s)"
                           + ("" if pd.isna(r["cost_usd"]) else f" · ${r['cost_usd']:.6f}"))
