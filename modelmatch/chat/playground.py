"""The playground's engine: each column's request streams in its own worker thread; the page polls snapshots.

Worker threads never touch Streamlit. Each run can be cancelled, and a finished or cancelled run has joined its
thread, so a stop or a failure leaves nothing running.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pandas as pd

from modelmatch.catalog import prices
from modelmatch.catalog.reader import CatalogReader
from modelmatch.chat.types import ChatMessage, ChatRequest, StreamEvent
from modelmatch.chat.endpoints import Endpoint, header_secrets, redact
from modelmatch.chat.openai_client import stream_chat
from modelmatch.chat.reasoning import ThinkSplitter
from modelmatch.chat.timing import LiveStats, RequestMetrics, RequestTimer

Clock = Callable[[], float]
LocalStream = Callable[[Endpoint, ChatRequest, threading.Event, Clock], Iterator[StreamEvent]]


@dataclass(frozen=True)
class ColumnSettings:
    endpoint_name: str
    system_prompt: str = ""
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 512
    thinking: bool | None = None

    def as_dict(self) -> dict:
        return {"system_prompt": self.system_prompt, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "thinking": self.thinking}


def build_request(settings: ColumnSettings, history: list[ChatMessage], prompt: str) -> ChatRequest:
    messages = [ChatMessage("system", settings.system_prompt)] if settings.system_prompt.strip() else []
    messages += [*history, ChatMessage("user", prompt)]
    return ChatRequest(messages=tuple(messages), max_tokens=settings.max_tokens, temperature=settings.temperature,
                       top_p=settings.top_p, thinking=settings.thinking)


def supports_thinking_switch(endpoint: Endpoint) -> bool:
    return endpoint.thinking in ("qwen3-enable-thinking", "deepseek-v31-template", "deepseek-thinking")


@dataclass(frozen=True)
class Snapshot:
    reasoning: str
    answer: str
    error: str
    finished: bool
    queue_position: int | None
    live: LiveStats
    metrics: RequestMetrics | None
    invalid_utf8_events: int = 0  # events whose bytes were not UTF-8 (their text shows U+FFFD)


def _default_local_stream(endpoint: Endpoint, request: ChatRequest, cancel: threading.Event,
                          clock: Clock) -> Iterator[StreamEvent]:
    from modelmatch.chat.local_backend import stream_local  # torch loads only when a local model is used

    return stream_local(endpoint, request, cancel, clock)


class ColumnRun:
    def __init__(self, endpoint: Endpoint, api_key: str | None, request: ChatRequest, clock: Clock = time.perf_counter,
                 local_stream: LocalStream | None = None, secrets: dict[str, str] | None = None):
        self.endpoint, self.request = endpoint, request
        self._secrets = secrets  # header secrets from Streamlit secrets (header_secret_snapshot); memory only
        self._api_key = api_key  # kept only in memory for the request; never in snapshots or records
        self._clock = clock
        self._local_stream = local_stream or _default_local_stream
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._reasoning: list[str] = []
        self._answer: list[str] = []
        self._error = ""
        self._queue_position: int | None = None
        self._invalid_utf8_events = 0
        self._finished = threading.Event()
        self._timer = RequestTimer(clock())
        self._metrics: RequestMetrics | None = None
        self._thread = threading.Thread(target=self._run, name=f"column:{endpoint.name}", daemon=True)

    def start(self) -> "ColumnRun":
        self._thread.start()
        return self

    def _events(self) -> Iterator[StreamEvent]:
        if self.endpoint.kind == "openai":
            yield from stream_chat(self.endpoint, self._api_key, self.request, self._cancel, self._clock,
                                   secrets=self._secrets)
            return
        splitter = ThinkSplitter(self.endpoint.starts_in_thinking) if self.endpoint.think_tags else None
        last_at = self._clock()
        for event in self._local_stream(self.endpoint, self.request, self._cancel, self._clock):
            if event.kind == "content" and splitter is not None:
                last_at = event.at_s
                for kind, text in splitter.feed(event.text):
                    yield StreamEvent(kind, event.at_s, text)
                continue
            if event.kind in ("done", "error") and splitter is not None:
                for kind, text in splitter.finish():
                    yield StreamEvent(kind, last_at, text)
            yield event

    def _run(self) -> None:
        try:
            for event in self._events():
                with self._lock:
                    self._timer.observe(event)
                    if event.kind == "reasoning":
                        self._reasoning.append(event.text)
                    elif event.kind == "content":
                        self._answer.append(event.text)
                    elif event.kind == "queued":
                        self._queue_position = event.queue_position
                    elif event.kind == "error":
                        self._error = event.text
                    elif event.kind == "done":
                        self._invalid_utf8_events = int(event.detail.get("invalid_utf8_events", 0))
                if event.kind in ("reasoning", "content"):
                    self._queue_position = None
        except Exception as exc:  # a bug must still end the column with a message, not a hung spinner
            with self._lock:
                self._error = f"unexpected failure: {type(exc).__name__}"
                self._timer.observe(StreamEvent("error", self._clock(), self._error))
        finally:
            with self._lock:
                self._metrics = self._timer.result()
            self._finished.set()

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout_s: float | None = None) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def snapshot(self) -> Snapshot:
        # Redacted once joined: a server echoing the key (in any form, split over any number of events) shows it
        # to no page, saved run or export.
        keys = [self._api_key, *header_secrets(self.endpoint, self._secrets)]  # a gateway's header secret is a key too
        with self._lock:
            return Snapshot(redact("".join(self._reasoning), keys), redact("".join(self._answer), keys),
                            redact(self._error, keys), self._finished.is_set(),
                            self._queue_position, self._timer.live(self._clock()), self._metrics,
                            self._invalid_utf8_events)


@dataclass(frozen=True)
class CostEstimate:
    usd: float | None
    note: str
    price_rows: list[dict] = field(default_factory=list)
    lower_bound: bool = False  # usd is "at least": counted from what streamed, the rest was billed unseen


def estimate_cost(reader: CatalogReader | None, endpoint: Endpoint, metrics: RequestMetrics | None,
                  today: dt.date) -> CostEstimate:
    """Cost of one reply at the catalog's current list price for the endpoint's model (and provider, if set)."""
    if endpoint.kind == "transformers":
        return CostEstimate(None, "local model: no API price (runs on your hardware)")
    if not endpoint.model_id or reader is None:
        return CostEstimate(None, "no catalog model set for this endpoint, so no price")
    rows = prices.prices_in_force(reader, today, [endpoint.model_id])
    rows = rows[~rows["is_discount"]]
    if endpoint.provider:
        rows = rows[rows["provider"] == endpoint.provider]
    if endpoint.provider_model:
        rows = rows[rows["provider_model"] == endpoint.provider_model]
    if rows.empty:
        return CostEstimate(None, f"no price in the catalog for {endpoint.model_id}")
    row = rows.sort_values("blended_usd_per_mtok").iloc[0]
    if metrics is not None and metrics.output_tokens is None and metrics.text_chunks:
        # Stopped (or cut) before the server's usage arrived: the tokens that streamed were billed all the same.
        # Each streamed chunk carries at least one token, so the chunks give a floor; the prompt is not counted.
        usd = metrics.text_chunks * row["output_usd_per_mtok"] / 1e6
        return CostEstimate(usd, (
            f"at least ${usd:.6f}: {metrics.text_chunks:,} streamed chunks (at least one output token each) at "
            f"{row['provider']}'s ${row['output_usd_per_mtok']:g} per Mtok out; the server sent no usage after the "
            "stop, so the prompt's tokens are billed but not counted here"), [row.to_dict()], lower_bound=True)
    if metrics is None or metrics.input_tokens is None or metrics.output_tokens is None:
        return CostEstimate(None, "the server did not report token counts, so no cost", [row.to_dict()])
    usd = (metrics.input_tokens * row["input_usd_per_mtok"] + metrics.output_tokens * row["output_usd_per_mtok"]) / 1e6
    since = row["effective_from"]
    since_text = f"{since:%Y-%m-%d}" if not pd.isna(since) else "?"
    note = (f"{row['provider']} {row['provider_model']} list price since {since_text}: "
            f"${row['input_usd_per_mtok']:g} in / ${row['output_usd_per_mtok']:g} out per Mtok (no cache discount)")
    return CostEstimate(usd, note, [row.to_dict()])


TEMPLATE_OVERHEAD_TOKENS = 16  # chat-template tokens around each message (an estimate, as the eval estimate uses)


def worst_case_usd(reader: CatalogReader | None, endpoint: Endpoint, request: ChatRequest,
                   today: dt.date) -> float | None:
    """The most this request can cost at the endpoint's list price, reserved against the daily spend cap before
    it is sent: every UTF-8 byte of the messages a token (byte-level tokenizers never use more), a template's
    tokens per message, and max_tokens out. None where there is no price (then nothing is counted at all)."""
    input_upper = sum(len(m.content.encode("utf-8", "replace")) + TEMPLATE_OVERHEAD_TOKENS
                      for m in request.messages) + 4 * TEMPLATE_OVERHEAD_TOKENS
    usage = RequestMetrics(ok=True, input_tokens=input_upper, output_tokens=request.max_tokens)
    return estimate_cost(reader, endpoint, usage, today).usd
