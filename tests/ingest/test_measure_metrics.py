"""Every metric of a measurement run, on a scripted clock: the per-request numbers come from the shared RequestTimer,
the run's from modelmatch.chat.timing.summarize, and each is checked against a hand computation of `vllm bench serve`'s
definitions (TTFT, TPOT, ITL, E2E, p50/p95/p99 by linear interpolation, throughput over the wall time, failures
counted and never averaged in)."""

from __future__ import annotations

import numpy
import pytest

from modelmatch.chat.types import StreamEvent, Usage
from modelmatch.chat.timing import Distribution, RequestMetrics, RequestTimer, percentile, summarize


def run_request(start: float, first: float, gap: float, tokens: int, prompt: int = 100, tail: float = 0.0,
                fail_after: int | None = None, usage: bool = True, reasoning: int = 0) -> RequestMetrics:
    """A request on a scripted clock: first text `first` s after `start`, then one token every `gap` s."""
    timer = RequestTimer(start, count_tokens=lambda text: len(text.split()))
    at = start + first
    for i in range(tokens):
        if fail_after is not None and i == fail_after:
            timer.observe(StreamEvent("error", at, "the connection broke mid-response"))
            return timer.result()
        kind = "reasoning" if i < reasoning else "content"
        timer.observe(StreamEvent(kind, at, " tok"))
        at += gap
    at = at - gap + tail
    if usage:
        timer.observe(StreamEvent("usage", at, usage=Usage(prompt, tokens, reasoning or None)))
    timer.observe(StreamEvent("done", at))
    return timer.result()


def test_one_request_ttft_tpot_itl_e2e():
    m = run_request(start=10.0, first=0.2, gap=0.05, tokens=5, tail=0.01)
    assert m.ok and m.token_source == "server-usage"
    assert m.ttft_ms == pytest.approx(200)
    assert m.itl_ms == pytest.approx([50, 50, 50, 50])
    assert m.e2e_ms == pytest.approx(200 + 4 * 50 + 10)
    assert m.tpot_ms == pytest.approx((410 - 200) / (5 - 1))  # (latency - ttft) / (tokens - 1)


def test_time_to_first_answer_token_is_separate_for_reasoning_models():
    m = run_request(start=0.0, first=0.1, gap=0.02, tokens=10, reasoning=4)
    assert m.ttft_ms == pytest.approx(100)  # reasoning counts as the first token
    assert m.ttfat_ms == pytest.approx(100 + 4 * 20)
    assert m.reasoning_tokens == 4


def test_mark_sent_times_from_the_send_and_keeps_the_connect_time():
    timer = RequestTimer(5.0)
    timer.mark_sent(5.003)
    timer.observe(StreamEvent("content", 5.103, "a"))
    timer.observe(StreamEvent("content", 5.153, "b"))
    timer.observe(StreamEvent("usage", 5.153, usage=Usage(3, 2)))
    timer.observe(StreamEvent("done", 5.2))
    m = timer.result()
    assert m.connect_ms == pytest.approx(3.0)
    assert m.ttft_ms == pytest.approx(100.0) and m.e2e_ms == pytest.approx(197.0)
    assert m.started_at_s == 5.003


def test_percentiles_are_linear_interpolation_like_numpy_and_duckdb():
    values = [12.0, 3.5, 7.25, 100.0, 41.0, 8.0, 9.5]
    for q in (0, 10, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(numpy.percentile(values, q))
    d = Distribution.of([*values, None])
    assert d.count == 7 and d.mean == pytest.approx(numpy.mean(values))
    assert (d.p50, d.p95, d.p99) == pytest.approx(tuple(numpy.percentile(values, [50, 95, 99])))
    assert Distribution.of([]) == Distribution(0, None, None, None, None)


def test_summary_of_a_run_matches_a_hand_computation():
    results = [
        run_request(0.00, 0.10, 0.02, 11, prompt=50),
        run_request(0.05, 0.30, 0.04, 21, prompt=60),
        run_request(0.10, 0.20, 0.03, 6, prompt=70),
        run_request(0.12, 0.15, 0.01, 31, prompt=80),
    ]
    wall_s = 1.6
    s = summarize(results, wall_s)
    assert (s.requests_ok, s.requests_failed) == (4, 0)
    ttfts = [100, 300, 200, 150]
    tpots = [20, 40, 30, 10]
    assert (s.ttft_ms.p50, s.ttft_ms.p95, s.ttft_ms.p99) == pytest.approx(tuple(numpy.percentile(ttfts, [50, 95, 99])))
    assert (s.tpot_ms.p50, s.tpot_ms.p99) == pytest.approx(tuple(numpy.percentile(tpots, [50, 99])))
    gaps = [20] * 10 + [40] * 20 + [30] * 5 + [10] * 30  # every gap of every request, pooled
    assert (s.itl_ms.p50, s.itl_ms.p95, s.itl_ms.p99) == pytest.approx(tuple(numpy.percentile(gaps, [50, 95, 99])))
    e2es = [100 + 200, 300 + 800, 200 + 150, 150 + 300]
    assert s.e2e_ms.p50 == pytest.approx(numpy.percentile(e2es, 50))
    assert s.output_tokens == 69 and s.input_tokens == 260
    assert s.output_tokens_per_s == pytest.approx(69 / wall_s)  # sum of tokens over the benchmark's wall time
    assert s.total_tokens_per_s == pytest.approx((69 + 260) / wall_s)
    assert s.token_source == "server-usage"


def test_failed_requests_are_counted_and_never_averaged_in():
    good = [run_request(0.0, 0.1, 0.01, 10) for _ in range(3)]
    # A failure that got a slow first token and then broke: if it were averaged in, TTFT p99 would be near 5000 ms.
    broken = run_request(0.0, 5.0, 0.01, 10, fail_after=3)
    refused = RequestTimer(0.0)
    refused.observe(StreamEvent("error", 0.001, "test: HTTP 503 (the server is overloaded or starting)"))
    s = summarize([*good, broken, refused.result()], 2.0)
    assert (s.requests_ok, s.requests_failed) == (3, 2)
    assert s.ttft_ms.count == 3 and s.ttft_ms.p99 == pytest.approx(100)
    assert s.itl_ms.count == 27  # the broken request's gaps are not pooled either
    assert s.output_tokens == 30 and s.output_tokens_per_s == pytest.approx(15)


def test_token_source_tokenizer_fallback_and_unknown_counts_leave_throughput_empty():
    counted = run_request(0.0, 0.1, 0.01, 5, usage=False)  # tokenizer fallback (the timer has a counter)
    assert counted.token_source == "tokenizer" and counted.output_tokens == 5
    s = summarize([counted, run_request(0.0, 0.1, 0.01, 5)], 1.0)
    assert s.token_source == "mixed"
    blind = RequestTimer(0.0)  # no usage and no tokenizer
    blind.observe(StreamEvent("content", 0.1, "some text"))
    blind.observe(StreamEvent("content", 0.2, "more"))
    blind.observe(StreamEvent("done", 0.3))
    m = blind.result()
    assert m.ok and m.output_tokens is None and m.tpot_ms is None
    s = summarize([m, run_request(0.0, 0.1, 0.01, 5)], 1.0)
    assert s.output_tokens is None and s.output_tokens_per_s is None and s.requests_without_output_tokens == 1
    assert s.ttft_ms.count == 2  # latencies are still known


def test_single_token_reply_has_no_tpot():
    m = run_request(0.0, 0.1, 0.01, 1)
    assert m.ok and m.tpot_ms is None and m.itl_ms == []
    assert summarize([m], 0.2).tpot_ms.count == 0
