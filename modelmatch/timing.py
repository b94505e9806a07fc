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

from modelmatch.chat_types import StreamEvent, Usage


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
