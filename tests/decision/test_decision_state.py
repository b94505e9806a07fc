"""The shared decision in the URL: round trip, defaults, ISO language codes, hostile values dropped with a notice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from modelmatch.catalog import languages
from modelmatch.decision.state import (
    DECISION_KEYS, DecisionChoices, DecisionState, decision_params, has_decision, page_params, parse_decision,
)

CHOICES = DecisionChoices(use_cases=frozenset({"customer-support", "general-chat"}),
                          gpu_ids=frozenset({"h100-sxm", "h200-sxm"}),
                          model_ids=frozenset({"Qwen/Qwen3-32B", "deepseek-ai/DeepSeek-V3", "org/m"}))


def as_params(flat: dict[str, str]) -> dict[str, list[str]]:
    return {k: [v] for k, v in flat.items()}


def test_the_issue_scenario_round_trips_exactly():
    state = DecisionState(use_cases=("customer-support",), languages=("Thai", "Vietnamese"), deployment="self-host",
                          gpu="h100-sxm", gpu_count=1, context_tokens=8192, input_mtok=50, output_mtok=10,
                          gpu_usd_per_hour=2.5, budget_usd_per_month=3000, commercial_use=True,
                          cached_share=0.25, thinking_ratio=1.5, min_tokens_per_s=20,
                          models=("Qwen/Qwen3-32B", "deepseek-ai/DeepSeek-V3"), plan_model="Qwen/Qwen3-32B")
    parsed, notices = parse_decision(as_params(decision_params(state)), CHOICES)
    assert parsed == state and notices == []


def test_an_empty_link_is_the_shared_default_one_h100():
    parsed, notices = parse_decision({}, CHOICES)
    assert parsed == DecisionState() and parsed.gpu == "h100-sxm" and parsed.gpu_count == 1 and notices == []


def test_iso_codes_and_names_in_the_link_mean_the_same_language():
    parsed, notices = parse_decision(as_params({"lang": "th,VI,thai"}), CHOICES)
    assert parsed.languages == ("Thai", "Vietnamese") and notices == []


@pytest.mark.parametrize("text,name", [("th", "Thai"), ("vi", "Vietnamese"), ("Thai", "Thai"), ("thai", "Thai"),
                                       ("VIETNAMESE", "Vietnamese"), ("Swiss German", "Swiss German")])
def test_language_names_and_codes(text, name):
    assert languages.canonical(text) == name


@pytest.mark.parametrize("text", ["42", "xq", "<script>", "th;vi"])
def test_not_a_language_is_refused_with_the_value(text):
    with pytest.raises(ValueError, match="not"):
        languages.canonical(text)


def test_false_flags_survive_the_link():
    state = DecisionState(commercial_use=False, attribution_ok=False, over_100m_users=True)
    parsed, _ = parse_decision(as_params(decision_params(state)), CHOICES)
    assert (parsed.commercial_use, parsed.attribution_ok, parsed.over_100m_users) == (False, False, True)


def test_hostile_values_are_dropped_with_a_notice_and_the_rest_kept():
    parsed, notices = parse_decision(as_params({
        "use_case": "customer-support,[x](http://evil)", "gpu": "h999", "gpus": "2.5", "in_mtok": "-3",
        "deploy": "moon", "commercial": "maybe", "models": "org/m,nobody/none", "lang": "th,42"}), CHOICES)
    assert parsed.use_cases == ("customer-support",) and parsed.gpu == "h100-sxm" and parsed.gpu_count == 1
    assert parsed.input_mtok == 50 and parsed.deployment == "either" and parsed.commercial_use is True
    assert parsed.models == ("org/m",) and parsed.languages == ("Thai",)
    joined = " ".join(notices)
    for bad in ("h999", "2.5", "-3", "moon", "maybe", "nobody/none", "42"):
        assert bad in joined
    assert "](http" not in joined  # markdown escaped: a crafted value cannot become a link


def test_page_keys_are_left_to_the_page():
    url = as_params({"category": "math", "use_case": "general-chat", "models": "org/m"})
    assert page_params(url) == {"category": ["math"]} and has_decision(url)
    assert not has_decision(as_params({"models": "org/m", "category": "math"}))
    assert "category" not in DECISION_KEYS


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(DECISION_KEYS) + ["x"]),
                       st.lists(st.text(max_size=300), max_size=3), max_size=8))
def test_any_link_parses_without_raising_and_round_trips(raw):
    parsed, notices = parse_decision(raw, CHOICES)
    again, more = parse_decision(as_params(decision_params(parsed)), CHOICES)
    assert again == parsed and more == []
    assert all(isinstance(n, str) for n in notices)


def test_a_language_note_names_a_language_by_name_or_code():
    llama = "English; German; French; Italian; Portuguese; Hindi; Spanish; Thai (8 officially supported languages)"
    qwen3 = "119 languages and dialects (Qwen3 blog \"Multilingual Support\"; Technical Report Sec. 3.1)"
    assert languages.note_names(llama, "Thai") is True and languages.note_names("en, th, vi", "Vietnamese") is True
    assert languages.note_names(qwen3, "Thai") is False and languages.note_names(llama, "Vietnamese") is False
    assert languages.note_names(None, "Thai") is None and languages.note_names("", "Thai") is None
