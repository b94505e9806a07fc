"""Streamlit glue for the Try pages (Playground, Your evals): the configured endpoints, the runs store, and
the request caps counted across the processes that share the runs database.

Apart from pages/common.py so that the pages a visit starts on (Models, Overview) do not import the chat modules
and SQLite for nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from modelmatch import settings
from modelmatch.chat.endpoints import Endpoint, EndpointsFileError, load_endpoints
from modelmatch.chat.limits import DAILY_SPEND, SlidingWindowLimiter
from modelmatch.chat.runs_db import RunsUnavailable
from modelmatch.chat.runs_store import RunsStore
from modelmatch.chat.shared_limits import SharedDailySpend, SharedSlidingWindowLimiter


@st.cache_resource
def _endpoints(path: str, mtime_ns: int) -> tuple[tuple[Endpoint, ...], str, str]:
    try:
        found, origin = load_endpoints(Path(path))
        return found, origin, ""
    except EndpointsFileError as exc:
        return (), "", str(exc)


def endpoints() -> tuple[tuple[Endpoint, ...], str, str]:
    """(endpoints, where they came from, error). Reloaded when the operator edits the file."""
    path = settings.endpoints_path()
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return _endpoints(str(path), mtime)


@st.cache_resource
def runs_store(path: str) -> RunsStore:
    return RunsStore(Path(path))


def _shared_or_local(make_shared: Callable, make_local: Callable):
    """A cap counted in the runs database (so it holds across replicas), or per process when that database cannot
    be used (the playground says so where it saves runs; chatting goes on)."""
    try:
        return make_shared()
    except RunsUnavailable:
        return make_local()


@st.cache_resource
def _visitor_limiter(runs_path: str):
    return _shared_or_local(lambda: SharedSlidingWindowLimiter(Path(runs_path), window_s=600),
                            lambda: SlidingWindowLimiter(window_s=600))


def visitor_limiter():
    """Requests per visitor in any 10 minutes, counted for every process sharing the runs database. It lived in
    the session, so reloading the page (a new session) reset it; then in the process, so each replica had its own."""
    return _visitor_limiter(str(settings.runs_db_path()))


def visitor_key() -> str:
    """Who the per-visitor cap counts: the client's address (it survives a reload), else this session."""
    ip = getattr(st.context, "ip_address", None)
    if ip:
        return f"ip:{ip}"
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return f"session:{ctx.session_id if ctx else 'unknown'}"


@st.cache_resource
def _endpoint_limiter(runs_path: str):
    return _shared_or_local(lambda: SharedSlidingWindowLimiter(Path(runs_path), window_s=60),
                            lambda: SlidingWindowLimiter(window_s=60))


def endpoint_limiter():
    """Requests per minute per endpoint, counted for every process sharing the runs database (eval runs take at
    most their half of it: modelmatch.chat.limits.EVAL_SHARE)."""
    return _endpoint_limiter(str(settings.runs_db_path()))


@st.cache_resource
def _daily_spend(runs_path: str):
    return _shared_or_local(lambda: SharedDailySpend(Path(runs_path)), lambda: DAILY_SPEND)


def daily_spend():
    """The operator's max_usd_per_day per endpoint, with each request's worst case reserved before it is sent,
    counted for every process sharing the runs database."""
    return _daily_spend(str(settings.runs_db_path()))

