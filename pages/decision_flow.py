"""Streamlit glue for the decision flow: the shared DecisionState in session and URL, and the links that carry it
from the wizard to the planner, Compare and the summary (so nobody retypes between pages)."""

from __future__ import annotations

import streamlit as st

from modelmatch.planning.wizard.request import use_cases

from modelmatch import settings
from modelmatch.decision.state import DecisionChoices, DecisionState, decision_params, with_models
from pages import common, decide_support

WIZARD, PLANNER, COMPARE, SUMMARY = "pages/wizard.py", "pages/planner.py", "pages/compare.py", "pages/summary.py"


@st.cache_data(ttl=settings.query_cache_ttl_s(), max_entries=8, show_spinner=False)
def choices(build_id: str) -> DecisionChoices:
    catalog = decide_support.decision_catalog(build_id)
    return DecisionChoices(use_cases=frozenset(use_cases(catalog)), gpu_ids=frozenset(catalog.gpus),
                           model_ids=frozenset(catalog.models))


def params(state: DecisionState, **page_params: str) -> dict[str, str]:
    return {**decision_params(state), **page_params}


def links(state: DecisionState, here: str, names: dict[str, str]) -> None:
    """One row of links to the other steps of the flow, each carrying this exact decision."""
    choice = state.plan_model or state.choice
    steps = [(WIZARD, "1 · Wizard: your requirements", ":material/assistant:", state)]
    if choice:
        steps.append((PLANNER, f"2 · Plan {names.get(choice, choice)}", ":material/memory:",
                      _with_plan_model(state, choice)))
    if len(state.models) >= 2:
        steps.append((COMPARE, "3 · Compare " + " vs ".join(names.get(m, m) for m in state.models[:3]),
                      ":material/compare:", state))
    if state.use_cases:
        steps.append((SUMMARY, "4 · One-page decision summary", ":material/summarize:", state))
    columns = st.columns(len(steps))
    for column, (page, label, icon, step_state) in zip(columns, steps):
        if page == here:
            column.markdown(f"**{label}** (this page)")
        else:
            column.page_link(page, label=label, icon=icon, query_params=params(step_state))


def _with_plan_model(state: DecisionState, model_id: str) -> DecisionState:
    from dataclasses import replace

    return replace(state, plan_model=model_id)


def model_links(state: DecisionState, model_id: str, runner_up: str | None, names: dict[str, str]) -> None:
    """Plan / compare / summarise one shortlisted model, with the rest of the decision unchanged."""
    picked = with_models(state, [model_id] + ([runner_up] if runner_up else []))
    name = names.get(model_id, model_id)
    c1, c2, c3 = st.columns(3)
    c1.page_link(PLANNER, label=f"Plan {name} on your hardware", icon=":material/memory:",
                 query_params=params(_with_plan_model(picked, model_id)))
    if runner_up:
        c2.page_link(COMPARE, label=f"Compare {name} with {names.get(runner_up, runner_up)}",
                     icon=":material/compare:", query_params=params(picked))
    c3.page_link(SUMMARY, label=f"Decision summary choosing {name}", icon=":material/summarize:",
                 query_params=params(picked))
