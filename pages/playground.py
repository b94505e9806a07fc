"""Playground: one prompt to 1-4 models side by side, streaming, reasoning apart, live speed and cost, saved runs."""

import datetime as dt
import time
from functools import partial
from pathlib import Path
from typing import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import RerunException

from modelmatch.chat import local_loading
from modelmatch.chat import playground as pg
from modelmatch.chat import runs_store as rs
from modelmatch.chat import sdk_stream
from modelmatch.chat.types import ChatMessage
from modelmatch.chat.endpoints import ApiKeyError, Endpoint, header_secret_snapshot, resolve_api_key, resolve_headers
from modelmatch.chat.render import md_text, safe_markdown
from modelmatch import settings
from pages import common, try_support

MAX_COLUMNS = 4
POLL_S = 0.1
# A reply can be megabytes (up to the endpoint's max_response_bytes); the page re-sends what it shows on every poll,
# so it shows the start of a long reply and says so. The saved run and its exports keep the whole text.
MAX_SHOWN_CHARS = 50_000

st.title("Playground")
st.caption("Send one prompt to several models at once. Answers stream side by side with their reasoning kept "
           "apart, time to first token, tokens per second and cost. Every run is saved and can be shared by link.")

found, origin, problem = try_support.endpoints()
if problem:
    st.error(f"The endpoints file has a problem, so the playground is off until it is fixed: {md_text(problem)}")
    st.stop()
by_name: dict[str, Endpoint] = {e.name: e for e in found}
try:
    store: rs.RunsStore | None = try_support.runs_store(str(settings.runs_db_path()))
except rs.RunsUnavailable as unavailable:  # chatting goes on; only saving and links to saved runs are off
    store = None
    st.warning(f"{md_text(unavailable)}. Chatting still works.", icon=":material/database_off:")
reader = None
try:
    common.require_catalog()
    reader = common.catalog_reader()
except Exception:  # the playground still works without prices
    reader = None


def metrics_line(snap: pg.Snapshot, endpoint: Endpoint) -> str:
    m = snap.metrics
    parts = []
    ttft = m.ttft_ms if m else snap.live.ttft_ms
    ttfat = m.ttfat_ms if m else snap.live.ttfat_ms
    if ttft is not None:
        parts.append(f"TTFT {ttft:,.0f} ms")
    else:
        parts.append("no text arrived" if m else "waiting for the first token")
    if ttfat is not None and ttft is not None and ttfat != ttft:
        parts.append(f"first answer token {ttfat:,.0f} ms")
    if m and m.output_tokens_per_s:
        parts.append(f"{m.output_tokens_per_s:,.1f} tok/s")
    elif snap.live.chunks_per_s:
        parts.append(f"{snap.live.chunks_per_s:,.1f} chunks/s (tokens/s once usage arrives)")
    if m:
        if m.output_tokens is not None:
            reasoning = f", {m.reasoning_tokens:,} reasoning" if m.reasoning_tokens else ""
            source = "server usage" if m.token_source == "server-usage" else "tokenizer count"
            parts.append(f"tokens in {m.input_tokens if m.input_tokens is not None else '?'} / out "
                         f"{m.output_tokens:,}{reasoning} ({source})")
        else:
            parts.append("token counts not reported")
        cost = pg.estimate_cost(reader, endpoint, m, dt.date.today())
        parts.append(cost.note if cost.lower_bound or cost.usd is None else f"cost ${cost.usd:.6f}")
    if snap.invalid_utf8_events:
        parts.append(f"{snap.invalid_utf8_events} event(s) had bytes that are not UTF-8, shown as \ufffd")
    return " · ".join(parts)


def show_text(text: str, empty: str) -> None:
    """Model output as safe markdown, at most MAX_SHOWN_CHARS of it (cut before rendering, so a huge reply costs
    neither the server's regexes nor the browser's markdown renderer)."""
    if not text:
        st.markdown(empty)
        return
    st.markdown(safe_markdown(text[:MAX_SHOWN_CHARS]))
    if len(text) > MAX_SHOWN_CHARS:
        st.caption(f"Showing the first {MAX_SHOWN_CHARS:,} of {len(text):,} characters; the saved run's Markdown "
                   "and JSON exports have all of it.")


def show_reply(reasoning: str, answer: str, error: str, expanded: bool = False) -> None:
    if reasoning:
        with st.expander("Reasoning", expanded=expanded, icon=":material/psychology:"):
            show_text(reasoning, "")
    show_text(answer, "_(no answer)_")
    if error:
        st.error(md_text(error), icon=":material/error:")  # may quote the server's own error text: plain text


def export_bytes(build: Callable[[rs.RunRecord], str], run: rs.RunRecord) -> bytes:
    """A run's export, built when its download button is clicked."""
    return build(run).encode()


def load_run(run_id: str) -> rs.RunRecord | None:
    if store is None:
        return None
    try:
        return store.load(run_id)
    except rs.RunsUnavailable as unavailable:
        st.warning(md_text(unavailable), icon=":material/database_off:")
        return None


def save_run(run: rs.RunRecord) -> str | None:
    """The run's id, or None when it could not be saved (the reason is shown after the rerun; chatting goes on)."""
    if store is None:
        return None
    try:
        return store.save(run, settings.runs_retention_days())
    except rs.RunsUnavailable as unavailable:
        ss.pg_save_problem = str(unavailable)
        return None


def show_saved_run(run: rs.RunRecord) -> None:
    st.subheader(f"Saved run {run.run_id}")
    st.caption(f"{run.created_at:%Y-%m-%d %H:%M} UTC")
    columns = st.columns(len(run.columns))
    for column, record in zip(columns, run.columns):
        with column:
            st.markdown(f"**{md_text(record.endpoint_name)}**")
            # A follow-up's link shows the whole conversation, not only its last question.
            for turn in record.history:
                with st.chat_message("user" if turn.get("role") == "user" else "assistant"):
                    st.markdown(safe_markdown(str(turn.get("content", ""))[:MAX_SHOWN_CHARS]))
            with st.chat_message("user"):
                st.markdown(safe_markdown(run.prompt))
            show_reply(record.reasoning, record.answer, record.error)
            lower_bound = bool(record.cost_note and record.cost_note.startswith("at least"))
            st.caption(f"TTFT {record.ttft_ms or 0:,.0f} ms · {record.output_tokens_per_s or 0:,.1f} tok/s · "
                       f"out {md_text(record.output_tokens if record.output_tokens is not None else '?')} tokens · "
                       + (f"${record.cost_usd:.6f}" if record.cost_usd is not None and not lower_bound
                          else md_text(record.cost_note)))
    left, right, _ = st.columns([1, 1, 4])
    # Built on click only: a saved run holds up to max_response_bytes per column, and every rerun of the page would
    # otherwise rebuild both exports on the script thread.
    left.download_button("Markdown", partial(export_bytes, rs.to_markdown, run), f"modelmatch-run-{run.run_id}.md",
                         "text/markdown", key=f"md_{run.run_id}", on_click="ignore", icon=":material/download:")
    right.download_button("JSON", partial(export_bytes, rs.to_json, run), f"modelmatch-run-{run.run_id}.json",
                          "application/json", key=f"json_{run.run_id}", on_click="ignore", icon=":material/download:")


requested_run = st.query_params.get("run")
if requested_run:
    saved = load_run(requested_run)
    if saved is None:
        st.warning("No saved run matches the link's run id; showing the playground instead.")
    else:
        show_saved_run(saved)
        st.page_link("pages/playground.py", label="Back to the playground", icon=":material/arrow_back:",
                     query_params={})
        st.stop()

ss = st.session_state
ss.setdefault("pg_histories", {})
ss.setdefault("pg_active", None)

if ss.get("pg_stop") and ss.pg_active:
    for _, run, _ in ss.pg_active["runs"]:
        run.cancel()

missing_local = local_loading.missing_local_packages() if any(e.embedded_default for e in found) else ()
if missing_local:
    st.warning(f"The local models need {md_text(', '.join(missing_local))}, which this installation lacks (a lean server "
               f"install). To add them, {local_loading.LOCAL_EXTRA_HINT}. Or name an OpenAI-compatible server "
               "in endpoints.toml (see endpoints.example.toml).", icon=":material/download:")
if all(e.embedded_default for e in found):
    st.caption("No endpoints file yet, so two small local models are offered: they run on this machine (GPU if "
               "there is one) and download on first use where the machine is online. An operator adds servers "
               "(vLLM, SGLang, DeepSeek API, Alibaba Model Studio, OpenRouter...) in endpoints.toml; see "
               "endpoints.example.toml.")
else:
    st.caption(f"Endpoints from the operator's {md_text(Path(origin).name)}.")
count = st.segmented_control("Columns", list(range(1, MAX_COLUMNS + 1)), default=min(2, max(1, len(found))),
                             key="pg_columns")
count = count or 1
columns = st.columns(count)
column_settings: list[pg.ColumnSettings] = []
slots = []
for i, column in enumerate(columns):
    with column:
        names = list(by_name)
        name = st.selectbox("Endpoint", names, index=min(i, len(names) - 1), key=f"pg_endpoint_{i}")
        endpoint = by_name[name]
        with st.expander("Settings", icon=":material/tune:"):
            system = st.text_area("System prompt", key=f"pg_system_{i}", height=80)
            temperature = st.slider("Temperature", 0.0, 2.0, 0.7, 0.05, key=f"pg_temperature_{i}")
            top_p = st.slider("Top p", 0.05, 1.0, 0.95, 0.05, key=f"pg_top_p_{i}")
            max_tokens = st.number_input("Max tokens", 16, endpoint.max_tokens_cap,
                                         min(512, endpoint.max_tokens_cap), key=f"pg_max_tokens_{i}")
            thinking = None
            if pg.supports_thinking_switch(endpoint):
                thinking = st.toggle("Thinking", value=True, key=f"pg_thinking_{i}",
                                     help="Let the model reason before answering (shown apart, collapsed).")
            elif endpoint.thinking == "always":
                st.caption("This model always reasons before answering.")
        column_settings.append(pg.ColumnSettings(name, system, temperature, top_p, int(max_tokens), thinking))
        for turn in ss.pg_histories.get(i, []):
            with st.chat_message("user"):
                st.markdown(safe_markdown(turn["prompt"]))
            with st.chat_message("assistant"):
                show_reply(turn["reasoning"], turn["answer"], turn["error"])
                st.caption(turn["metrics"])
        slots.append(st.empty())

controls = st.columns([1, 1, 1, 3])
regenerate = controls[0].button("Regenerate", icon=":material/refresh:", disabled=not ss.pg_histories,
                                help="Send the last prompt again to every column.")
if controls[1].button("Clear conversation", icon=":material/delete_sweep:", disabled=bool(ss.pg_active)):
    ss.pg_histories = {}
    st.rerun()
prompt = st.chat_input("Ask every column…", disabled=bool(ss.pg_active), max_chars=settings.max_prompt_chars())
if regenerate and ss.get("pg_last_prompt"):
    prompt = ss.pg_last_prompt
    for history in ss.pg_histories.values():
        if history:
            history.pop()


def start_runs(text: str) -> None:
    runs, reservations = [], {}
    for i, cs in enumerate(column_settings):
        endpoint = by_name[cs.endpoint_name]
        history = [m for turn in ss.pg_histories.get(i, []) for m in (
            ChatMessage("user", turn["prompt"]), ChatMessage("assistant", turn["answer"]))]
        request = pg.build_request(cs, history, text)
        # Each column is one request against the visitor's cap and against the endpoint's shared caps; the spend
        # cap holds the request's worst case from before it is sent until its reply ends (requests in flight
        # together passed the cap when only what was already spent was checked).
        limit = try_support.visitor_limiter().try_acquire(try_support.visitor_key(),
                                                         settings.session_requests_per_10_min(), "Your session")
        if limit.allowed:
            limit = try_support.endpoint_limiter().try_acquire(endpoint.name, endpoint.requests_per_minute,
                                                              endpoint.name)
        if limit.allowed:
            worst = (pg.worst_case_usd(reader, endpoint, request, dt.date.today())
                     if endpoint.max_usd_per_day is not None else None)
            limit, reservations[i] = try_support.daily_spend().reserve(endpoint.name, endpoint.max_usd_per_day,
                                                                      worst, endpoint.name)
        try:
            key, key_error = (resolve_api_key(endpoint, st.secrets) if endpoint.has_key else None), ""
            resolve_headers(endpoint, st.secrets)  # a header secret that is missing is said before sending
        except ApiKeyError as bad:
            key, key_error = None, f"{endpoint.name}: {bad}"
        if not limit.allowed:
            runs.append((cs, None, limit.reason))
        elif key_error:
            runs.append((cs, None, key_error))
        elif endpoint.has_key and key is None:
            runs.append((cs, None, f"{endpoint.name} needs an API key: the operator sets the environment variable "
                                   f"{endpoint.api_key_env or endpoint.api_key_secret} (or the secret of that name)"))
        else:
            runs.append((cs, pg.ColumnRun(endpoint, key, request,
                                          secrets=header_secret_snapshot([endpoint], st.secrets)).start(), ""))
        if runs[-1][1] is None:  # not sent: nothing to hold
            try_support.daily_spend().settle(reservations.pop(i, None), 0.0)
    ss.pg_active = {"prompt": text, "runs": runs, "reservations": reservations}
    ss.pg_last_prompt = text


def show_live(slots: list, active: dict) -> None:
    """Redraw every column from its run's snapshot until all have finished."""
    while True:
        done = True
        for slot, (cs, run, _) in zip(slots, active["runs"]):
            if run is None:
                continue
            snap = run.snapshot()
            done = done and snap.finished
            with slot.container():
                with st.chat_message("user"):
                    st.markdown(safe_markdown(active["prompt"]))
                with st.chat_message("assistant"):
                    if snap.queue_position:
                        st.info(f"Waiting for the local model: {snap.queue_position} request(s) ahead of this one.")
                    if snap.reasoning and not snap.finished:
                        st.caption("Reasoning (live)")
                        with st.container(height=140):
                            show_text(snap.reasoning, "")
                    if snap.finished:
                        show_reply(snap.reasoning, snap.answer, snap.error)
                    else:
                        show_text(snap.answer, "…")
                    st.caption(metrics_line(snap, run.endpoint))
        if done:
            return
        time.sleep(POLL_S)


if prompt and len(prompt) > settings.max_prompt_chars():  # the box's max_chars is checked in the browser only
    st.error(f"The prompt has {len(prompt):,} characters; the limit is {settings.max_prompt_chars():,} "
             "(MODELMATCH_MAX_PROMPT_CHARS). Nothing was sent.")
elif prompt and not ss.pg_active:
    start_runs(prompt)

if ss.pg_active:
    st.button("Stop", key="pg_stop", icon=":material/stop_circle:", type="primary",
              help="Stop every column; what arrived is kept.")
    active = ss.pg_active
    for slot, (cs, run, refusal) in zip(slots, active["runs"]):
        if run is None:
            with slot.container():
                st.error(md_text(refusal))
    try:
        show_live(slots, active)
    except RerunException:
        raise  # a click here (Stop, a setting) or on another page: the runs go on and this page picks them up again
    except BaseException:
        # The session ended (the visitor left and did not come back within server.disconnectedSessionTTL) or the
        # page failed: nobody will see the rest of these replies, so stop generating (and paying for) them.
        for _, run, _ in active["runs"]:
            if run is not None:
                run.cancel()
        for reservation in active.get("reservations", {}).values():  # stopped: the hold is released
            try_support.daily_spend().settle(reservation, 0.0)
        raise

    try:
        records = []
        for i, (cs, run, refusal) in enumerate(active["runs"]):
            history = ss.pg_histories.setdefault(i, [])
            endpoint = by_name.get(cs.endpoint_name)
            if run is None:
                history.append({"prompt": active["prompt"], "reasoning": "", "answer": "", "error": refusal,
                                "metrics": ""})
                records.append(rs.ColumnRecord(i, cs.endpoint_name, endpoint.model_id if endpoint else None,
                                               cs.as_dict(), [], "", "", error=refusal))
                continue
            run.join(5)
            snap = run.snapshot()
            m = snap.metrics
            cost = pg.estimate_cost(reader, run.endpoint, m, dt.date.today())
            # The hold becomes what the reply cost (released where the server reported no usage).
            try_support.daily_spend().settle(active.get("reservations", {}).pop(i, None), cost.usd)
            earlier = [{"role": r, "content": t[k]}
                       for t in history for r, k in (("user", "prompt"), ("assistant", "answer"))]
            history.append({"prompt": active["prompt"], "reasoning": snap.reasoning, "answer": snap.answer,
                            "error": snap.error, "metrics": metrics_line(snap, run.endpoint)})
            records.append(rs.ColumnRecord(
                i, cs.endpoint_name, run.endpoint.model_id, cs.as_dict(), earlier, snap.reasoning, snap.answer,
                snap.error, m.ttft_ms, m.ttfat_ms, m.e2e_ms, m.tpot_ms, m.output_tokens_per_s, m.input_tokens,
                m.output_tokens, m.reasoning_tokens, m.token_source, cost.usd, cost.note))
        ss.pg_last_run_id = save_run(rs.RunRecord(prompt=active["prompt"], columns=records))
    finally:
        # Whatever one reply held, the prompt box comes back: an exception here used to leave the session with an
        # active run for good (every rerun raised, the prompt box stayed disabled).
        for reservation in active.get("reservations", {}).values():  # a column that failed before settling
            try_support.daily_spend().settle(reservation, 0.0)
        ss.pg_active = None
    st.rerun()

if ss.get("pg_save_problem"):
    st.warning(f"{md_text(ss.pop('pg_save_problem'))}. The answers above are kept in this session.",
               icon=":material/database_off:")
if ss.get("pg_last_run_id"):
    last = load_run(ss.pg_last_run_id)
    if last is not None:
        with st.container(border=True):
            st.markdown(f"Saved as run `{last.run_id}`.")
            st.page_link("pages/playground.py", label="Link to this run", icon=":material/link:",
                         query_params={"run": last.run_id})
            left, right, _ = st.columns([1, 1, 4])
            left.download_button("Markdown", partial(export_bytes, rs.to_markdown, last),
                                 f"modelmatch-run-{last.run_id}.md", "text/markdown", key="pg_md", on_click="ignore",
                                 icon=":material/download:")
            right.download_button("JSON", partial(export_bytes, rs.to_json, last), f"modelmatch-run-{last.run_id}.json",
                                  "application/json", key="pg_json", on_click="ignore", icon=":material/download:")

# Last, once the page is drawn: the SDK's import (about half a second) runs on a background thread while the user
# writes a prompt, so the first reply does not pay it, and the render does not share the interpreter with it.
sdk_stream.start_warm_up(found)
