"""Property-based: whatever a link's query string holds, parsing never raises and only known values survive."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modelmatch.explore.view_state import (
    MAX_COMPARE_MODELS, Choices, CompareState, OverviewState, compare_params, overview_params, parse_compare,
    parse_overview,
)

CHOICES = Choices(model_ids=frozenset({"Qwen/Qwen2.5-72B-Instruct", "deepseek-ai/DeepSeek-V3", "a/b"}),
                  benchmark_ids=frozenset({"mmlu", "gsm8k"}), categories=frozenset({"math", "coding"}),
                  vendors=frozenset({"Alibaba", "DeepSeek"}), families=frozenset({"Qwen2.5"}))
KEYS = ["models", "category", "price_date", "benchmark", "vendor", "family", "open", "commercial", "arch",
        "min_context", "reasoning", "total_min", "total_max", "active_min", "active_max", "from", "to"]
hostile_text = st.one_of(st.text(max_size=300), st.sampled_from([
    "'; DROP TABLE models; --", "<script>alert(1)</script>", "![x](http://127.0.0.1:9/p.png)", "nan", "inf",
    "-1e309", "1" * 400, "Qwen/Qwen2.5-72B-Instruct," * 20, "\x00\x1b[31m", "2024-02-30", "../../etc/passwd"]))
params = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=20)), st.lists(hostile_text, max_size=4),
                         max_size=10)


@settings(max_examples=300, deadline=None)
@given(params)
def test_overview_parsing_never_raises_and_keeps_only_known_values(query):
    state, notices = parse_overview(query, CHOICES)
    assert isinstance(state, OverviewState) and all(isinstance(n, str) for n in notices)
    assert state.benchmark_id in (None, *CHOICES.benchmark_ids) and state.category in (None, *CHOICES.categories)
    assert set(state.vendors) <= CHOICES.vendors and set(state.families) <= CHOICES.families
    assert set(state.architectures) <= {"dense", "moe"}
    assert parse_overview({k: [v] for k, v in overview_params(state).items()}, CHOICES) == (state, [])


@settings(max_examples=300, deadline=None)
@given(params)
def test_compare_parsing_never_raises_and_keeps_at_most_six_known_models(query):
    state, notices = parse_compare(query, CHOICES)
    assert isinstance(state, CompareState)
    assert set(state.model_ids) <= CHOICES.model_ids and len(state.model_ids) <= MAX_COMPARE_MODELS
    assert len(set(state.model_ids)) == len(state.model_ids)
    assert parse_compare({k: [v] for k, v in compare_params(state).items()}, CHOICES) == (state, [])
    assert all("<script>" not in n and "![" not in n for n in notices)  # notices render as markdown
