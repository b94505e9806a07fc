"""The planner and wizard pages under Streamlit's AppTest against the fixture catalog: they render the same
results as modelmatch.planning.planner / modelmatch.planning.wizard, and bad input gets a clear message on the page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


@pytest.fixture
def app_env(monkeypatch, fixture_data_dir):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(fixture_data_dir / "catalog.duckdb"))
    return fixture_data_dir


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def open_wizard_cards(at: AppTest) -> AppTest:
    """Open every shortlisted model's card as clicks would (a card runs only while it is open)."""
    for model_id in at.dataframe[0].value["model_id"]:
        at.session_state[f"wiz_card_{model_id}"] = True
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


# ---------------------------------------------------------------------------------------------------------------
# Planner


def test_planner_shows_fit_formulas_and_speed(app_env):
    at = open_page("pages/planner.py")
    assert at.selectbox(key="plan_model").value == "test-org/Alpha-7B-Instruct"
    assert at.number_input(key="plan_gpus").value == 1
    # Alpha 7B (fixture architecture: 28 layers, 4 KV heads, head_dim 128) in FP8 at the shared decision defaults
    # (the wizard's): 8,192 tokens x 1 sequence.
    kv_gb = 2 * 28 * 4 * 128 * 2 * 8192 * 1 / 1e9
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["KV cache per GPU"] == f"{kv_gb:,.2f} GB"
    assert texts(at.success) and texts(at.success)[0].startswith("Fits:")
    assert any(m.value.startswith("- KV cache per token: `2 (K and V) × 28 layers × 4 KV heads × 128 head_dim × 2 "
                                  "bytes (bf16) = 57,344 bytes per token`") for m in at.markdown)
    assert "tokens/s" in metrics["Roofline, one sequence"]  # the fixture GPU has a bandwidth
    assert any("no measurement yet for Alpha 7B Instruct" in m.value for m in at.markdown)
    assert "python -m modelmatch plan --model test-org/Alpha-7B-Instruct" in at.code[0].value


def test_planner_does_not_fit_is_red_and_says_by_how_much(app_env):
    at = open_page("pages/planner.py")
    at.selectbox(key="plan_model").set_value("test-org/Beta-MoE").run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("Does not fit:") and "more than the 80 GB" in error.value


def test_planner_impossible_tensor_parallel_is_explained(app_env):
    at = open_page("pages/planner.py")
    at.number_input(key="plan_gpus").set_value(3).run()
    assert not at.exception
    assert any("impossible combination: 28 attention heads cannot be split evenly over 3 GPUs" in e
               for e in texts(at.error))
    assert not at.metric  # nothing half-computed is shown


def test_planner_context_longer_than_the_model_is_explained(app_env):
    at = open_page("pages/planner.py")
    at.number_input(key="plan_context").set_value(200_000).run()
    assert any("longer than Alpha 7B Instruct's official 131,072-token window" in e for e in texts(at.error))


def test_planner_unknown_model_in_link_is_explained(app_env):
    at = open_page("pages/planner.py", {"model": "no-org/no-model"})
    assert any("'no-org/no-model'" in w and "not an open-weights model" in w for w in texts(at.warning))
    assert at.selectbox(key="plan_model").value == "test-org/Alpha-7B-Instruct"


def test_planner_self_hosting_cost_needs_the_users_price(app_env):
    at = open_page("pages/planner.py")
    assert any("enter your GPU rental price" in m.value for m in at.markdown)
    at.number_input(key="plan_usd_hour").set_value(2.0).run()
    assert any("replica(s) × 1 GPUs × $2/h × 730 h" in m.value for m in at.markdown)


def test_planner_api_prices_carry_their_date(app_env):
    at = open_page("pages/planner.py")
    at.selectbox(key="plan_model").set_value("test-org/Beta-MoE").run()
    prices = next(df.value for df in at.dataframe if "effective_from" in df.value.columns)
    assert list(prices["effective_from"]) == ["2025-09-05"]
    # the shared default volume: 50 M input at $0.28 + 10 M output at $0.42, no thinking tokens set
    assert prices["usd_per_month"].iloc[0] == pytest.approx(50 * 0.28 + 10 * 0.42)


# ---------------------------------------------------------------------------------------------------------------
# Wizard


def test_wizard_ranks_explains_and_excludes(app_env):
    at = open_page("pages/wizard.py")
    shortlist = at.dataframe[0].value
    assert list(shortlist["rank"]) == list(range(1, len(shortlist) + 1))
    assert list(shortlist["score"]) == sorted(shortlist["score"], reverse=True)
    assert set(shortlist["model_id"]) == {"test-org/Alpha-7B-Instruct", "test-org/Beta-MoE"}
    why_not = next(df.value for df in at.dataframe if "why not" in df.value.columns).set_index("model_id")
    assert "API-only" in why_not.loc["test-vendor/gamma-api", "why not"]
    open_wizard_cards(at)
    assert any("left out, not zero" in h for df in at.dataframe if "how" in df.value.columns
               for h in df.value["how"])
    assert "python -m modelmatch recommend --use-case general-chat" in at.code[0].value


def test_wizard_cards_run_only_while_open(app_env):
    """Every shortlisted model's card (its terms, evidence, "How sure" line and links) was drawn on every rerun, most
    of the wizard's warm rerun: a card's contents run only once it is opened, and each card opens on its own."""
    at = open_page("pages/wizard.py")
    shortlist = list(at.dataframe[0].value["model_id"])
    assert len(at.expander) >= len(shortlist) and len(shortlist) == 2
    assert not [df for df in at.dataframe if "how" in df.value.columns]
    assert not [c for c in at.caption if c.value.startswith("How sure:")]
    at.session_state[f"wiz_card_{shortlist[1]}"] = True
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len([df for df in at.dataframe if "how" in df.value.columns]) == 1
    (card,) = [e for e in at.expander if e.label.startswith("2. ")]
    assert any(c.value.startswith("How sure:") for c in card.caption)
    assert [p.value for p in card.get("page_link")]  # plan / compare / summary links of that model
    open_wizard_cards(at)
    assert len([df for df in at.dataframe if "how" in df.value.columns]) == 2


def test_wizard_api_only_excludes_models_without_a_price(app_env):
    at = open_page("pages/wizard.py")
    at.radio(key="wiz_deployment").set_value("api").run()
    assert not at.exception
    assert list(at.dataframe[0].value["model_id"]) == ["test-org/Beta-MoE"]
    why_not = next(df.value for df in at.dataframe if "why not" in df.value.columns).set_index("model_id")
    assert "no API price" in why_not.loc["test-org/Alpha-7B-Instruct", "why not"]


def test_wizard_no_model_left_is_said(app_env):
    at = open_page("pages/wizard.py")
    at.number_input(key="wiz_context").set_value(1_000_000).run()
    assert any("No model meets every hard requirement" in e for e in texts(at.error))
    why_not = next(df.value for df in at.dataframe if "why not" in df.value.columns)
    assert all("shorter than the 1,000,000" in r or "API-only" in r for r in why_not["why not"])


def test_wizard_bad_language_is_explained(app_env):
    at = open_page("pages/wizard.py")
    at.text_input(key="wiz_languages").set_value("Thai, 42").run()
    assert any("'42' is not a language name" in e for e in texts(at.error))


def test_wizard_needs_a_use_case(app_env):
    at = open_page("pages/wizard.py")
    at.multiselect(key="wiz_use_cases").set_value([]).run()
    assert any("Choose at least one use case" in i for i in texts(at.info))


def test_wizard_mode_choice_reaches_the_command_and_states_its_rule(app_env):
    at = open_page("pages/wizard.py")
    assert at.radio(key="wiz_score_mode").value == ""
    assert any("Thinking tokens are billed exactly for models ranked in thinking mode" in c.value for c in at.caption)
    at.radio(key="wiz_score_mode").set_value("non-thinking").run()
    assert not at.exception
    assert "--score-mode non-thinking" in at.code[0].value


@pytest.fixture
def real_app_env(monkeypatch, real_catalog):
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(REPO_ROOT / "data"))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(real_catalog))
    return real_catalog


def test_planner_engine_choice_shows_peak_and_published_comparison(real_app_env):
    at = open_page("pages/planner.py", {"model": "Qwen/Qwen2.5-7B-Instruct"})
    at.selectbox(key="plan_engine").set_value("transformers").run()
    at.selectbox(key="plan_weights").set_value("bf16").run()
    at.selectbox(key="plan_gpu").set_value("a100-sxm-80gb").run()
    assert not at.exception, [e.message for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert "Predicted peak per GPU (transformers)" in metrics
    # The Qwen team's published A100 transformers points for this model are on the page, with their source.
    assert any(m.value.startswith("nearest published point:") for m in at.markdown)
    frames = [df.value for df in at.dataframe if "published GB" in df.value.columns]
    assert frames and len(frames[0]) == 4 and set(frames[0]["input tokens"]) == {1, 6144, 14336, 30720}


def test_planner_hybrid_model_shows_the_flat_linear_state(real_app_env):
    at = open_page("pages/planner.py", {"model": "Qwen/Qwen3.5-27B"})
    assert not at.exception, [e.message for e in at.exception]
    # KV on every 4th layer only, plus the Gated DeltaNet state that does not grow with the context.
    shown = " ".join(e.value for e in [*at.error, *at.warning, *at.markdown, *at.caption, *at.code])
    assert "16 full-attention layers (every 4th of 64)" in shown, shown[:2000]
    assert "whatever the context" in shown
