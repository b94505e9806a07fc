"""The decision flow under AppTest on the fixture catalog: the wizard's answer links to the planner, Compare and the
summary with the whole decision in the link, and each page opens from that link with nothing to retype."""

from __future__ import annotations

from urllib.parse import parse_qs

from tests.pages.test_app_decide_pages import app_env, open_page, texts  # noqa: F401 - app_env is a fixture

A, B = "test-org/Alpha-7B-Instruct", "test-org/Beta-MoE"
SCENARIO = {"use_case": "general-chat", "lang": "th,vi", "deploy": "either", "gpu": "test-gpu", "gpus": "2",
            "context": "4096", "in_mtok": "50", "out_mtok": "10", "cached": "0.25", "usd_h": "2.5",
            "commercial": "1"}


def link_params(at, starts_with: str) -> dict[str, str]:
    link = next(p for p in at.page_link if p.value.startswith(starts_with))
    return {k: v[0] for k, v in parse_qs(link.proto.query_string).items()}


def test_wizard_opens_from_its_link_and_understands_iso_language_codes(app_env):
    at = open_page("pages/wizard.py", SCENARIO)
    assert at.text_input(key="wiz_languages").value == "Thai, Vietnamese"
    assert at.number_input(key="wiz_gpus").value == 2 and at.number_input(key="wiz_context").value == 4096
    assert at.radio(key="wiz_deployment").value == "either"
    assert not any("not a language name" in e for e in texts(at.error))
    # The address bar now carries the decision with canonical language names.
    assert at.query_params["lang"] == "Thai,Vietnamese" and at.query_params["gpus"] == "2"


def test_wizard_says_plainly_there_is_no_thai_evidence(app_env):
    at = open_page("pages/wizard.py", SCENARIO)
    assert any(w.startswith("No evidence for Thai") for w in texts(at.warning))


def test_wizard_links_each_shortlisted_model_to_plan_compare_and_summary(app_env):
    at = open_page("pages/wizard.py", SCENARIO)
    top = at.dataframe[0].value["model_id"].iloc[0]
    plan = link_params(at, "Plan ")
    assert plan["model"] == top and plan["gpu"] == "test-gpu" and plan["gpus"] == "2"
    assert plan["lang"] == "Thai,Vietnamese" and plan["use_case"] == "general-chat"
    compare = link_params(at, "Compare ")
    assert compare["models"].split(",")[0] == top and len(compare["models"].split(",")) == 2
    summary = link_params(at, "Decision summary choosing")
    assert summary["models"] == compare["models"]


def test_planner_opens_on_the_wizards_hardware_and_volume(app_env):
    wizard = open_page("pages/wizard.py", SCENARIO)
    at = open_page("pages/planner.py", link_params(wizard, "Plan "))
    assert at.selectbox(key="plan_gpu").value == "test-gpu"
    assert at.number_input(key="plan_gpus").value == 2
    assert at.number_input(key="plan_context").value == 4096
    assert at.number_input(key="plan_input_mtok").value == 50 and at.number_input(key="plan_usd_hour").value == 2.5
    assert at.slider(key="plan_cached_share").value == 0.25
    assert not at.warning  # nothing in the link was ignored
    # The planner passes on what it does not show (use case, languages) in its own link to the summary.
    onward = link_params(at, "4 · One-page decision summary")
    assert onward["use_case"] == "general-chat" and onward["lang"] == "Thai,Vietnamese"


def test_compare_keeps_the_decision_and_links_on(app_env):
    wizard = open_page("pages/wizard.py", SCENARIO)
    at = open_page("pages/compare.py", link_params(wizard, "Compare "))
    assert len(at.multiselect(key="cmp_models").value) == 2
    assert not at.warning
    onward = link_params(at, "4 · One-page decision summary")
    assert onward["gpus"] == "2" and onward["models"] == ",".join(at.multiselect(key="cmp_models").value)


def test_compare_without_a_decision_writes_only_its_own_parameters(app_env):
    at = open_page("pages/compare.py", {"models": f"{A},{B}"})
    assert set(at.query_params) == {"models"}


def test_summary_opens_from_its_link_with_every_section_and_exports(app_env):
    at = open_page("pages/summary.py", {**SCENARIO, "models": f"{B},{A}"})
    assert not at.error
    assert any("Choice: Beta MoE" in s for s in texts(at.success))
    headings = [h.value for h in at.subheader]
    assert headings[:3] == ["Your question", "Choice", "Runner-up"] and "Sources and their tiers" in headings
    assert {"Memory fit", "Monthly cost", "Why", "What would change the answer"} <= set(headings)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Summary as Markdown", "Summary as PDF"]
    assert any("No evidence for Thai" in w for w in texts(at.warning))


def test_summary_without_a_use_case_points_to_the_wizard(app_env):
    at = open_page("pages/summary.py")
    assert any("Describe the job in the wizard first" in i for i in texts(at.info))


def open_filters(at):
    """Open Overview's Filters expander, as a click does (it reruns the page and draws the filters)."""
    at.session_state["ov_filters"] = True
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_overview_bare_link_opens_on_qwen_vs_deepseek(app_env):
    at = open_page("pages/overview.py")
    assert not at.multiselect  # the filters are closed: the chart comes first
    assert at.session_state["ov_vendor"] == ["Alibaba", "DeepSeek"]
    assert any(i.startswith("**Qwen vs DeepSeek.**") for i in texts(at.info))
    assert at.query_params["vendor"] == "Alibaba,DeepSeek"
    assert open_filters(at).multiselect(key="ov_vendor").value == ["Alibaba", "DeepSeek"]
    assert any(i.startswith("**Qwen vs DeepSeek.**") for i in texts(at.info))


def test_overview_link_with_its_own_filters_is_not_overridden(app_env):
    at = open_page("pages/overview.py", {"benchmark": "mmlu"})
    assert at.session_state["ov_vendor"] == []
    assert not any("Qwen vs DeepSeek" in i for i in texts(at.info))
    assert open_filters(at).multiselect(key="ov_vendor").value == []


def test_overview_link_that_filters_opens_with_the_filters_shown(app_env):
    at = open_page("pages/overview.py", {"benchmark": "mmlu", "vendor": "DeepSeek"})
    assert at.multiselect(key="ov_vendor").value == ["DeepSeek"]


def test_overview_filters_closed_again_keep_their_values(app_env):
    """The filters' widgets are drawn only while open, and Streamlit drops a widget's value after a run that did
    not draw it: the values are kept and given back, so closing the filters changes nothing shown."""
    at = open_filters(open_page("pages/overview.py", {"benchmark": "mmlu"}))
    at.multiselect(key="ov_vendor").set_value(["DeepSeek"]).run()
    at.toggle(key="ov_open").set_value(True).run()
    shown = at.markdown[0].value if at.markdown else None
    at.session_state["ov_filters"] = False
    at.run()
    at.run()  # the run after the one that closed them: their widget values are gone by now
    assert not at.exception, [e.message for e in at.exception]
    assert not at.multiselect
    assert at.session_state["ov_vendor"] == ["DeepSeek"] and at.session_state["ov_open"] is True
    assert at.query_params["vendor"] == "DeepSeek" and at.query_params["open"] == "1"
    assert (at.markdown[0].value if at.markdown else None) == shown
    assert open_filters(at).multiselect(key="ov_vendor").value == ["DeepSeek"]
    assert at.toggle(key="ov_open").value is True


def test_tables_show_a_dash_not_none_for_missing_values(app_env):
    for page, query in (("pages/compare.py", {"models": f"{A},{B}"}), ("pages/wizard.py", SCENARIO),
                        ("pages/overview.py", None), ("pages/planner.py", {"model": B})):
        at = open_page(page, query)
        if page == "pages/overview.py":  # its table is opened on demand
            at.session_state["ov_numbers"] = True
            at.run()
        assert at.dataframe, page
        assert {df.proto.placeholder for df in at.dataframe} == {"—"}, page


def test_models_language_filter_takes_iso_codes_and_says_when_there_is_no_evidence(app_env):
    at = open_page("pages/models.py")
    at.text_input(key="models_language").set_value("th").run()
    assert any(w.startswith("No evidence for Thai") and "3 have no language note" in w for w in texts(at.warning))
    at.text_input(key="models_language").set_value("42").run()
    assert any("Language filter: '42' is not a language name" in e for e in texts(at.error))


def test_decision_and_explore_tables_show_every_row():
    """Every table on the pages of the flow is drawn at its content's height (no 10-row scroll box hides license,
    price or benchmark rows) with the dash placeholder: st.dataframe gets common.WHOLE_TABLE."""
    import ast

    from pages.common import WHOLE_TABLE
    from tests.conftest import REPO_ROOT

    assert WHOLE_TABLE == {"height": "content", "placeholder": "—"}
    for name in ("compare", "wizard", "overview", "planner"):
        tree = ast.parse((REPO_ROOT / "pages" / f"{name}.py").read_text(encoding="utf-8"))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "dataframe"]
        assert calls, name
        for call in calls:
            spread = [k.value for k in call.keywords if k.arg is None]
            assert any(ast.unparse(v) == "common.WHOLE_TABLE" for v in spread), (name, call.lineno)
