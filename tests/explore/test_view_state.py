"""URL query parameters <-> page selections: round-trips, and hostile or unknown values are ignored with a notice."""

from __future__ import annotations

import datetime as dt

from modelmatch.explore.view_state import (
    MAX_COMPARE_MODELS, Choices, CompareState, OverviewState, compare_params, overview_params, parse_compare,
    parse_overview,
)

CHOICES = Choices(
    model_ids=frozenset({f"org/model-{i}" for i in range(8)} | {"Qwen/Qwen2.5-72B-Instruct"}),
    benchmark_ids=frozenset({"mmlu", "math", "humaneval"}),
    categories=frozenset({"knowledge", "math", "coding"}),
    vendors=frozenset({"Alibaba", "DeepSeek"}),
    families=frozenset({"Qwen2.5", "DeepSeek-V3"}),
)


def as_params(flat: dict[str, str]) -> dict[str, list[str]]:
    return {k: [v] for k, v in flat.items()}


def test_overview_round_trip():
    state = OverviewState(category="coding", vendors=("Alibaba", "DeepSeek"), open_weights_only=True,
                          commercial_only=True, architectures=("moe",), min_context_tokens=131072,
                          reasoning_only=True, params_total_b=(7.0, 80.0), params_active_b=(None, 40.0),
                          released_from=dt.date(2024, 1, 1), released_to=dt.date(2025, 6, 30),
                          price_date=dt.date(2025, 3, 1))
    parsed, notices = parse_overview(as_params(overview_params(state)), CHOICES)
    assert parsed == state and notices == []


def test_compare_round_trip_keeps_order():
    state = CompareState(model_ids=("org/model-3", "Qwen/Qwen2.5-72B-Instruct", "org/model-1"), category="math")
    parsed, notices = parse_compare(as_params(compare_params(state)), CHOICES)
    assert parsed == state and notices == []


def test_unknown_and_malicious_values_are_ignored_with_notices():
    params = {
        "models": ["org/model-1,'; DROP TABLE models; --,<script>alert(1)</script>,org/model-2"],
        "category": ["../../etc/passwd"],
        "utm_source": ["x"],
    }
    state, notices = parse_compare(params, CHOICES)
    assert state.model_ids == ("org/model-1", "org/model-2")
    assert state.category is None
    joined = " ".join(notices)
    assert "DROP TABLE" in joined  # the user is told what was dropped...
    assert "<script>" not in joined  # ...without markup that a page could interpret
    assert "unknown parameter 'utm\\_source'" in joined
    assert len(notices) == 4


def test_too_many_models_keeps_the_first_six():
    ids = ",".join(f"org/model-{i}" for i in range(8))
    state, notices = parse_compare({"models": [ids]}, CHOICES)
    assert state.model_ids == tuple(f"org/model-{i}" for i in range(MAX_COMPARE_MODELS))
    assert any("at most 6" in n for n in notices)


def test_duplicates_are_dropped_silently_and_order_kept():
    state, notices = parse_compare({"models": ["org/model-2,org/model-1,org/model-2"]}, CHOICES)
    assert state.model_ids == ("org/model-2", "org/model-1") and notices == []


def test_bad_numbers_dates_flags_and_ranges():
    params = as_params({"min_context": "lots", "total_min": "80", "total_max": "7", "active_max": "nan",
                        "from": "2024-02-30", "open": "maybe", "price_date": "tomorrow"})
    state, notices = parse_overview(params, CHOICES)
    assert state == OverviewState()
    assert len(notices) == 6


def test_over_long_value_is_ignored():
    state, notices = parse_overview({"vendor": ["A" * 5000]}, CHOICES)
    assert state.vendors == () and "over-long" in notices[0]


def test_benchmark_wins_over_category():
    state, notices = parse_overview(as_params({"benchmark": "mmlu", "category": "math"}), CHOICES)
    assert (state.benchmark_id, state.category) == ("mmlu", None)
    assert "both a benchmark and a category" in notices[0]


def test_repeated_keys_are_merged_for_lists():
    state, notices = parse_overview({"vendor": ["Alibaba", "DeepSeek"]}, CHOICES)
    assert state.vendors == ("Alibaba", "DeepSeek") and notices == []
