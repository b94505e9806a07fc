"""Critical finding of the second hardening round: one visitor froze the whole app. The markdown sanitiser's image
patterns and the eval scorer's digit scan took time quadratic in the text (a 60 KB prompt of "![" stalled every
other visitor for a minute; 32,000 digits took 16 s to score), and nothing capped the text they ran on.

These tests time adversarial texts of growing size (the shapes that were quadratic, from bench.adversarial_text)
and assert linear growth: four times the text may take at most ten times as long (quadratic code takes sixteen
times as long). The caps are checked apart: linear time on an uncapped text is what the caps rest on.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from bench.adversarial_text import SANITISER_TEXTS, SCORER_TEXTS, TEXTS
from modelmatch.evals import scoring as eval_scoring
from modelmatch.chat import render

SMALL_CHARS, LARGE_CHARS = 40_000, 160_000  # large enough that cache and allocator effects do not dominate
MOST_GROWTH = 10.0  # for 4x the text; linear code grows about 4x, quadratic 16x (room for a shared, noisy CPU)
BATCH_S = 0.05  # each timing repeats the call until a batch takes this long, so sub-millisecond calls time well


def seconds_per_call(fn: Callable[[str], object], text: str) -> float:
    """Best of five batches; each batch repeats the call until it lasts at least BATCH_S."""
    started = time.perf_counter()
    fn(text)
    once = time.perf_counter() - started
    repeats = max(1, int(BATCH_S / max(once, 1e-7)))
    best = once if repeats == 1 else float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            fn(text)
        best = min(best, (time.perf_counter() - started) / repeats)
    return best


def growth(fn: Callable[[str], object], make: Callable[[int], str]) -> tuple[float, float, float]:
    small = seconds_per_call(fn, make(SMALL_CHARS))
    large = seconds_per_call(fn, make(LARGE_CHARS))
    return large / small, small, large


def all_scorers(text: str) -> None:
    for expected, scorer in (("42", "numeric"), ("42", "exact"), ("42", "contains"), ("A", "choice")):
        eval_scoring.score_reply(text, expected, scorer)


@pytest.mark.parametrize("name", SANITISER_TEXTS)
def test_quadratic_sanitiser_image_regexes_grow_linearly(name):
    ratio, small, large = growth(render.neutralize_images, TEXTS[name][1])
    assert ratio < MOST_GROWTH, (f"{TEXTS[name][0]}: {SMALL_CHARS:,} chars {small * 1000:.2f} ms, "
                                 f"{LARGE_CHARS:,} chars {large * 1000:.2f} ms (x{ratio:.1f})")


@pytest.mark.parametrize("name", SANITISER_TEXTS)
def test_quadratic_sanitiser_md_text_grows_linearly(name):
    ratio, small, large = growth(lambda t: render.md_text(t, max_chars=10 ** 9), TEXTS[name][1])
    assert ratio < MOST_GROWTH, f"{name}: x{ratio:.1f}"


@pytest.mark.parametrize("name", SCORER_TEXTS + SANITISER_TEXTS)
def test_quadratic_eval_scorer_digit_scan_grows_linearly(name):
    ratio, small, large = growth(all_scorers, TEXTS[name][1])
    assert ratio < MOST_GROWTH, (f"{TEXTS[name][0]}: {SMALL_CHARS:,} chars {small * 1000:.2f} ms, "
                                 f"{LARGE_CHARS:,} chars {large * 1000:.2f} ms (x{ratio:.1f})")


@pytest.mark.parametrize("name", SCORER_TEXTS)
def test_quadratic_eval_scorer_language_guess_grows_linearly(name):
    ratio, _, _ = growth(eval_scoring.detect_language, TEXTS[name][1])
    assert ratio < MOST_GROWTH, f"{name}: x{ratio:.1f}"


def test_uncapped_rendered_text_is_cut_to_the_cap_before_any_work():
    huge = "![" * 500_000 + "tail-marker"
    shown = render.safe_markdown(huge)
    assert len(shown.replace("\u200b", "")) < render.MAX_RENDERED_CHARS + 100
    assert "tail-marker" not in shown and "more characters not shown" in shown and "![" not in shown
    value = render.md_text("x" * 100_000)
    assert len(value) <= render.MAX_VALUE_CHARS * 2 + 1


def test_uncapped_scorer_input_reads_only_the_end_of_a_huge_reply():
    reply = "7" * 1_000_000 + "\nANSWER: 42"
    score = eval_scoring.score_reply(reply, "42", "numeric")
    assert score.correct and "only its last" in score.note
