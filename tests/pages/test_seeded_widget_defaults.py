"""Regression (seen twice in CI's browser test of the decision flow): the wizard opened from a link, the visitor gave
one input, then chose "Self-host", and the page came back with context 1, the first GPU in the list and "commercial
use" unchecked, which the link then carried on to the planner and the summary.

A value a page seeds from its link through st.session_state reaches the browser only with the run that seeded it.
When the browser first draws the widget in a later run (the visitor's input interrupted the seeding run before the
widget was drawn; reproduced under CPU load), it starts the widget from the default the page gave, and sends that
back with the visitor's next input, replacing the seeded value. So every keyed widget on a page that seeds from its
link must be given its current value as its default, in every run: then the browser's first drawing of it is right.

Checked on each such page, opened from a link whose values differ from the widgets' minimums and first options,
in the run after the seeding run (the one in which the browser drew the wrong defaults)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.pages.test_app_decide_pages import app_env, open_page  # noqa: F401 - app_env is a fixture

WIZARD_LINK = {"use_case": "general-chat", "lang": "th,vi", "deploy": "self-host", "gpu": "test-gpu", "gpus": "2",
               "context": "4096", "concurrency": "3", "in_mtok": "50", "out_mtok": "10", "cached": "0.25",
               "thinking": "1.5", "min_tps": "12", "usd_h": "2.5", "budget": "900", "commercial": "1", "mau_100m": "1",
               "attribution": "1"}


def default_shown_by_browser(widget):
    """The value a browser that first draws this widget starts it from (the element's default), in the terms of
    AppTest's reading of the widget's current value."""
    proto = widget.proto
    kind = type(proto).__name__
    if kind == "NumberInput":
        return proto.default if proto.HasField("default") else None
    if kind in ("Checkbox", "TextInput"):
        return proto.default
    if kind in ("Selectbox", "Radio"):
        return proto.default if proto.HasField("default") else None
    if kind == "MultiSelect":
        return list(proto.default)
    if kind == "Slider":
        return list(proto.default)
    if kind == "DateInput":
        return [dt.date.fromisoformat(d.replace("/", "-")) for d in proto.default]
    raise AssertionError(f"no reading of a {kind}'s default")


def current_value(widget):
    kind = type(widget.proto).__name__
    if kind in ("Selectbox", "Radio"):
        return widget.index
    if kind == "MultiSelect":
        return list(widget.indices)
    if kind == "Slider":
        value = widget.value
        return list(value) if isinstance(value, (tuple, list)) else [value]
    if kind == "DateInput":
        value = widget.value
        return [] if value is None else list(value) if isinstance(value, (tuple, list)) else [value]
    return widget.value


def keyed_widgets(at, prefix: str):
    kinds = ("number_input", "checkbox", "toggle", "text_input", "selectbox", "radio", "multiselect", "slider",
             "date_input")
    return [w for kind in kinds for w in at.get(kind) if (w.key or "").startswith(prefix)]


def mismatches(at, prefix: str) -> dict[str, tuple]:
    widgets = keyed_widgets(at, prefix)
    assert len(widgets) >= 4, f"expected the page's {prefix}* widgets, found {[w.key for w in widgets]}"
    return {w.key: (default_shown_by_browser(w), current_value(w)) for w in widgets
            if default_shown_by_browser(w) != current_value(w)}


@pytest.mark.parametrize(("page", "link", "prefix"), [
    ("pages/wizard.py", WIZARD_LINK, "wiz_"),
    ("pages/planner.py", {**WIZARD_LINK, "model": "test-org/Beta-MoE"}, "plan_"),
    ("pages/compare.py", {"models": "test-org/Beta-MoE,test-org/Alpha-7B-Instruct", "category": "instruction",
                          "mode": "thinking", "price_date": "2025-03-01"}, "cmp_"),
    ("pages/overview.py", {"category": "instruction", "vendor": "DeepSeek", "open": "1", "commercial": "1",
                           "total_min": "3", "total_max": "500", "min_context": "131072", "from": "2024-01-01"}, "ov_"),
])
def test_a_seeded_widget_drawn_first_after_its_seeding_run_shows_the_seeded_value_regression(app_env, page, link,
                                                                                             prefix):
    at = open_page(page, link)
    at.run()  # the run after the seeding run: nothing is seeded in it
    assert not at.exception, [e.message for e in at.exception]
    assert mismatches(at, prefix) == {}


def test_overview_opened_again_after_another_page_shows_what_its_link_says_regression(app_env):
    """Streamlit drops the values of widgets not drawn in a run; back on the Overview from the sidebar (a bare
    link), the filters came back at the widgets' minimums ("total params <= 0 B") with the product's question view
    (Qwen against DeepSeek) gone. The bare link is seeded again."""
    at = open_page("pages/overview.py", {})
    at.session_state["ov_filters"] = True  # the filters opened (on the question view they start closed)
    at.run()
    assert at.multiselect(key="ov_vendor").value == ["Alibaba", "DeepSeek"]
    at.switch_page("pages/models.py")
    at.run()
    at.switch_page("pages/overview.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["ov_vendor"] == ["Alibaba", "DeepSeek"]
    at.session_state["ov_filters"] = True
    at.run()
    assert at.multiselect(key="ov_vendor").value == ["Alibaba", "DeepSeek"]
    assert at.number_input(key="ov_total_max").value is None
