"""Request timing shared by the playground and the measurement harness (definitions follow `vllm bench serve`).

Everything is computed from the clock readings the backends stamp on StreamEvents, so a scripted clock tests it
exactly. TTFT: request sent -> first chunk carrying text (reasoning counts); TTFAT: to the first answer text.
ITL: gaps between text chunks. TPOT: (latency - TTFT) / (output tokens - 1). Token counts come from the
server's usage; without it, from a tokenizer when one is given, and the result says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from modelmatch.chat.types import StreamEvent, Usage


@dataclass
class RequestMetrics:
    ok: bool
    error: str = ""
    started_at_s: float = 0.0
    ttft_ms: float | None = None
    ttfat_ms: float | None = None
    e2e_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    token_source: str | None = None  # server-usage | tokenizer | None (unknown)
    text_chunks: int = 0
    # Measurement runs time from the moment the request was sent (mark_sent); this is how long before that the
    # request was started (connection setup, TLS, the client's own scheduling). None when not marked.
    connect_ms: float | None = None

    @property
    def tpot_ms(self) -> float | None:
        if self.e2e_ms is None or self.ttft_ms is None or not self.output_tokens or self.output_tokens < 2:
            return None
        return (self.e2e_ms - self.ttft_ms) / (self.output_tokens - 1)

    @property
    def output_tokens_per_s(self) -> float | None:
        """Decode speed of this request: tokens after the first over the time after the first."""
        if self.e2e_ms is None or self.ttft_ms is None or not self.output_tokens or self.output_tokens < 2:
            return None
        decode_s = (self.e2e_ms - self.ttft_ms) / 1000
        return (self.output_tokens - 1) / decode_s if decode_s > 0 else None


@dataclass(frozen=True)
class LiveStats:
    elapsed_ms: float
    ttft_ms: float | None
    ttfat_ms: float | None
    text_chunks: int
    chunks_per_s: float | None  # a stand-in for tokens/s until the server reports usage


class RequestTimer:
    """Feed it a request's events; read live stats while streaming and the final metrics at the end."""

    def __init__(self, started_at_s: float, count_tokens: Callable[[str], int] | None = None):
        self.started_at_s = started_at_s
        self._count_tokens = count_tokens
        self._requested_at_s: float | None = None
        self._first_text_s: float | None = None
        self._first_answer_s: float | None = None
        self._last_text_s: float | None = None
        self._end_s: float | None = None
        self._itl_ms: list[float] = []
        self._chunks = 0
        self._usage: Usage | None = None
        self._error = ""
        self._answer: list[str] = []
        self._reasoning: list[str] = []

    def mark_sent(self, at_s: float) -> None:
        """Time from `at_s` (the request handed to the kernel) instead of the start given to the constructor; the
        difference is kept as connect_ms. Call before any event arrives."""
        self._requested_at_s = self.started_at_s
        self.started_at_s = at_s

    def observe(self, event: StreamEvent) -> None:
        if event.kind in ("reasoning", "content") and event.text:
            if self._first_text_s is None:
                self._first_text_s = event.at_s
            elif self._last_text_s is not None:
                self._itl_ms.append((event.at_s - self._last_text_s) * 1000)
            if event.kind == "content" and self._first_answer_s is None:
                self._first_answer_s = event.at_s
            self._last_text_s = event.at_s
            self._chunks += 1
            (self._answer if event.kind == "content" else self._reasoning).append(event.text)
        elif event.kind == "usage" and event.usage is not None:
            self._usage = event.usage
        elif event.kind == "error":
            self._error = event.text
            self._end_s = event.at_s
        elif event.kind == "done":
            self._end_s = event.at_s

    def _ms(self, at_s: float | None) -> float | None:
        return None if at_s is None else (at_s - self.started_at_s) * 1000

    def live(self, now_s: float) -> LiveStats:
        rate = None
        if self._first_text_s is not None and self._last_text_s is not None and self._chunks > 1:
            span = self._last_text_s - self._first_text_s
            rate = (self._chunks - 1) / span if span > 0 else None
        return LiveStats(self._ms(now_s) or 0.0, self._ms(self._first_text_s), self._ms(self._first_answer_s),
                         self._chunks, rate)

    @property
    def answer_text(self) -> str:
        return "".join(self._answer)

    @property
    def reasoning_text(self) -> str:
        return "".join(self._reasoning)

    def result(self) -> RequestMetrics:
        usage = self._usage
        input_tokens = output_tokens = reasoning_tokens = None
        source = None
        if usage is not None and usage.output_tokens is not None:
            input_tokens, output_tokens, reasoning_tokens = usage.input_tokens, usage.output_tokens, usage.reasoning_tokens
            source = usage.source
        elif self._count_tokens is not None and self._chunks:
            reasoning_count = self._count_tokens(self.reasoning_text) if self._reasoning else 0
            output_tokens = self._count_tokens(self.answer_text) + reasoning_count
            reasoning_tokens = reasoning_count or None
            source = "tokenizer"
        ok = not self._error and self._end_s is not None
        return RequestMetrics(
            ok=ok, error=self._error, started_at_s=self.started_at_s, ttft_ms=self._ms(self._first_text_s),
            ttfat_ms=self._ms(self._first_answer_s), e2e_ms=self._ms(self._end_s), itl_ms=list(self._itl_ms),
            input_tokens=input_tokens, output_tokens=output_tokens, reasoning_tokens=reasoning_tokens,
            token_source=source, text_chunks=self._chunks,
            connect_ms=None if self._requested_at_s is None else (self.started_at_s - self._requested_at_s) * 1000,
        )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as numpy.percentile and DuckDB quantile_cont (q in 0..100)."""
    clean = sorted(v for v in values if v is not None and not math.isnan(v))
    if not clean:
        return None
    rank = (len(clean) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(clean) - 1)
    return clean[low] + (clean[high] - clean[low]) * (rank - low)


# ---------------------------------------------------------------------------------------------------------------
# A run of many requests (the measurement harness): the same definitions as `vllm bench serve`.

SUMMARY_PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Distribution:
    """Percentiles (linear interpolation) and mean of one metric over the successful requests, in ms."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None

    @classmethod
    def of(cls, values: Sequence[float | None]) -> "Distribution":
        clean = [v for v in values if v is not None and not math.isnan(v)]
        mean = sum(clean) / len(clean) if clean else None
        return cls(len(clean), mean, *(percentile(clean, q) for q in SUMMARY_PERCENTILES))


@dataclass(frozen=True)
class RunSummary:
    """What one measured configuration adds up to. Failed requests are counted and nothing else: their latencies
    and tokens never enter a percentile or a throughput."""

    requests_ok: int
    requests_failed: int
    duration_s: float  # benchmark wall time: first request sent -> last request finished
    ttft_ms: Distribution
    ttfat_ms: Distribution
    tpot_ms: Distribution
    itl_ms: Distribution  # every gap of every successful request, pooled
    e2e_ms: Distribution
    input_tokens: int | None  # sums over successful requests; None when any of them has no count
    output_tokens: int | None
    output_tokens_per_s: float | None
    total_tokens_per_s: float | None
    token_source: str | None  # server-usage | tokenizer | mixed | None
    requests_without_output_tokens: int  # successful requests whose output length is unknown


def summarize(results: Sequence[RequestMetrics], duration_s: float) -> RunSummary:
    """Aggregate per-request metrics. Throughput = tokens of the successful requests / benchmark wall time, and is
    left empty (never guessed) when a successful request has no token count."""
    ok = [r for r in results if r.ok]
    failed = len(results) - len(ok)
    no_output = sum(1 for r in ok if r.output_tokens is None)
    output = sum(r.output_tokens for r in ok) if ok and not no_output else None
    no_input = any(r.input_tokens is None for r in ok)
    input_ = sum(r.input_tokens for r in ok) if ok and not no_input else None
    rate = (lambda tokens: tokens / duration_s if tokens is not None and duration_s > 0 else None)
    sources = {r.token_source for r in ok if r.output_tokens is not None}
    source = (sources.pop() if len(sources) == 1 else "mixed") if sources else None
    return RunSummary(
        requests_ok=len(ok), requests_failed=failed, duration_s=duration_s,
        ttft_ms=Distribution.of([r.ttft_ms for r in ok]), ttfat_ms=Distribution.of([r.ttfat_ms for r in ok]),
        tpot_ms=Distribution.of([r.tpot_ms for r in ok]),
        itl_ms=Distribution.of([gap for r in ok for gap in r.itl_ms]),
        e2e_ms=Distribution.of([r.e2e_ms for r in ok]),
        input_tokens=input_, output_tokens=output, output_tokens_per_s=rate(output),
        total_tokens_per_s=rate(input_ + output if input_ is not None and output is not None else None),
        token_source=source, requests_without_output_tokens=no_output,
    )
