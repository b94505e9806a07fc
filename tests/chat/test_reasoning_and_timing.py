"""The <think> splitter on every way a tag can be cut, and request timing on a scripted clock."""

from __future__ import annotations

import random

import pytest

from modelmatch.chat.types import StreamEvent, Usage
from modelmatch.chat.reasoning import ThinkSplitter, split_complete
from modelmatch.chat.timing import RequestTimer, percentile

REPLY = "<think>Compute 2+2. It is 4.</think>The answer is 4."


@pytest.mark.parametrize("seed", range(25))
def test_splitting_is_the_same_however_the_stream_is_cut(seed):
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(REPLY)), rng.randint(1, 12)))
    chunks = [REPLY[a:b] for a, b in zip([0, *cuts], [*cuts, len(REPLY)])]
    splitter = ThinkSplitter()
    pieces = [p for chunk in chunks for p in splitter.feed(chunk)] + splitter.finish()
    assert "".join(t for k, t in pieces if k == "reasoning") == "Compute 2+2. It is 4."
    assert "".join(t for k, t in pieces if k == "content") == "The answer is 4."


def test_template_that_opens_think_itself():
    assert split_complete("reasoning here</think>answer", starts_in_thinking=True) == ("reasoning here", "answer")


def test_no_tags_is_all_answer_and_a_lone_lt_is_not_swallowed():
    assert split_complete("x < y and <b>bold</b>") == ("", "x < y and <b>bold</b>")
    splitter = ThinkSplitter()
    assert splitter.feed("a <thi") == [("content", "a ")]
    assert splitter.finish() == [("content", "<thi")]


def test_a_later_think_tag_in_the_answer_is_text():
    assert split_complete("<think>r</think>use <think> tags") == ("r", "use <think> tags")


def test_unclosed_thinking_stays_reasoning():
    assert split_complete("<think>still thinking") == ("still thinking", "")


def events(script):
    return [StreamEvent(kind, at, text, usage=u) for kind, at, text, u in script]


def test_timing_from_a_scripted_clock():
    timer = RequestTimer(started_at_s=100.0)
    for e in events([("reasoning", 100.25, "hm", None), ("reasoning", 100.30, "m", None),
                     ("content", 100.40, "Four", None), ("content", 100.45, ".", None),
                     ("usage", 100.46, "", Usage(12, 5, 2)), ("done", 100.50, "", None)]):
        timer.observe(e)
    m = timer.result()
    assert m.ok and m.ttft_ms == pytest.approx(250) and m.ttfat_ms == pytest.approx(400)
    assert m.e2e_ms == pytest.approx(500)
    assert m.itl_ms == pytest.approx([50, 100, 50])
    # latency - ttft == sum of gaps + the tail after the last chunk
    assert m.e2e_ms - m.ttft_ms == pytest.approx(sum(m.itl_ms) + 50)
    assert m.tpot_ms == pytest.approx((500 - 250) / (5 - 1))
    assert (m.input_tokens, m.output_tokens, m.reasoning_tokens, m.token_source) == (12, 5, 2, "server-usage")
    live = timer.live(100.45)
    assert live.text_chunks == 4 and live.chunks_per_s == pytest.approx(3 / 0.2)


def test_tokenizer_fallback_is_labelled():
    timer = RequestTimer(0.0, count_tokens=lambda text: len(text.split()))
    for e in events([("content", 0.1, "one two", None), ("content", 0.2, " three", None), ("done", 0.3, "", None)]):
        timer.observe(e)
    m = timer.result()
    assert (m.output_tokens, m.token_source) == (3, "tokenizer")


def test_failed_request_is_not_ok_and_keeps_partial_text():
    timer = RequestTimer(0.0)
    for e in events([("content", 0.1, "part", None), ("error", 0.5, "stalled", None)]):
        timer.observe(e)
    m = timer.result()
    assert not m.ok and m.error == "stalled" and timer.answer_text == "part" and m.output_tokens is None


def test_percentile_matches_numpy_linear():
    values = [10.0, 20.0, 30.0, 40.0, 100.0]
    assert percentile(values, 50) == 30.0
    assert percentile(values, 95) == pytest.approx(40 + 0.8 * 60)  # rank 3.8 between 40 and 100
    assert percentile([], 50) is None
