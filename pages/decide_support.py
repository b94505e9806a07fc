"""Streamlit glue for the Decide pages (planner and wizard): the catalog snapshot they read and their results,
cached per catalog build. Only pure results are cached (no connections, no keys)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from modelmatch.explore import charts
from modelmatch.planning import planner
from modelmatch.planning.records import DecisionCatalog, load_decision_catalog
from modelmatch.planning.request import PlanRequest

from modelmatch.planning.wizard.recommend import recommend
from modelmatch.planning.wizard.request import WizardRequest
from modelmatch.planning.wizard.results import RecommendResult

from modelmatch import settings
from pages import common

MAX_CACHED_PLANS = 64


# Shared, not copied per call (cache_resource): st.cache_data unpickled the whole catalog, scores included, on every
# call, several times per rerun of the wizard (a third of its warm rerun). Nothing changes it after loading except
# its own bounded memo of derived values (DecisionCatalog.derived), which is the same for every visitor.
@st.cache_resource(ttl=settings.query_cache_ttl_s(), max_entries=4, show_spinner=False)
def decision_catalog(build_id: str) -> DecisionCatalog:
    """Models, architectures, licenses, GPUs, prices, measurements, scores and use-case weights of one build. The
    scores are read when the wizard or the summary first looks at them: the planner never does, and on a catalog of
    5,000 models they were most of the load."""
    return load_decision_catalog(common.catalog_reader(), scores_on_first_use=True)


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_PLANS, show_spinner=False)
def plan(build_id: str, request: PlanRequest) -> planner.PlanResult:
    return planner.plan(request, decision_catalog(build_id))


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_PLANS, show_spinner=False)
def kv_curve_spec(build_id: str, request: PlanRequest) -> dict:
    """The KV-cache-against-context chart of that plan, as drawn: built and validated once per request (it was about
    a third of a warm rerun of the planner)."""
    curve = pd.DataFrame([vars(p) for p in plan(build_id, request).kv_curve])
    return charts.vega_lite_spec(charts.kv_cache_vs_context(curve, request.kv_dtype))


# Shared, not copied per call (cache_resource), like the catalog: a result is frozen all the way down (tuples of
# frozen dataclasses), and st.cache_data unpickled it on every rerun. The summary ranks every eligible model (up to
# 1,000 of them, with their texts): on the 5,000-model catalog that copy was most of its warm rerun.
@st.cache_resource(ttl=settings.query_cache_ttl_s(), max_entries=MAX_CACHED_PLANS, show_spinner="Ranking models…")
def recommendation(build_id: str, request: WizardRequest) -> RecommendResult:
    return recommend(request, decision_catalog(build_id))
