"""Running an eval set against 1-6 endpoints: bounded concurrency per endpoint, retries with backoff, a cost cap,
cancel, and resume without re-sending completed items.

An item is complete for an endpoint once it is *scored* (right or wrong). A transport failure (after retries) or an
item that was never sent (cost cap, endpoint down) is *failed*: it is not counted as wrong, and a resumed run sends
exactly the items that are not complete. Results are written to the store as each reply is scored, so a crash or a
cancel keeps everything finished so far.

Worker threads and the asyncio loop never touch Streamlit; the page polls `progress()`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import re
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterator

from modelmatch.chat.types import ChatMessage, ChatRequest, StreamEvent
from modelmatch.chat.endpoints import Endpoint, header_secrets, redact
from modelmatch.evals.scoring import answer_part, language_switch, score_reply
from modelmatch.evals.sets import EvalItem, EvalSet, sent_prompt
from modelmatch.evals.store import FAILED, SCORED, EndpointRecord, EvalStore, ResultRecord, utcnow
from modelmatch.chat.limits import DAILY_SPEND, DailySpend, SlidingWindowLimiter, eval_share_key, eval_share_limit
from modelmatch.chat.openai_client import astream_chat
from modelmatch.chat.reasoning import ThinkSplitter
from modelmatch.chat.timing import RequestMetrics, RequestTimer

Clock = Callable[[], float]
LocalStream = Callable[[Endpoint, ChatRequest, threading.Event, Clock], Iterator[StreamEvent]]
MAX_ENDPOINTS = 6
MAX_BACKOFF_S = 60.0
TEMPLATE_OVERHEAD_TOKENS = 16  # chat-template tokens around each message (an estimate)


@dataclass(frozen=True)
class RunConfig:
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024
    thinking: bool | None = None
    concurrency: int = 4
    retries: int = 3
    retry_base_s: float = 2.0
    breaker_failures: int = 3  # items in a row failing after retries before the endpoint counts as down; 0 = never
    cost_cap_usd: float | None = 2.0  # None = no cap
    add_answer_instruction: bool = True

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Price:
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    note: str

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        return (input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1e6


def endpoint_price(reader, endpoint: Endpoint, today: dt.date) -> tuple[Price | None, str]:
    """The catalog list price the playground uses for this endpoint (modelmatch.chat.playground.estimate_cost)."""
    if endpoint.kind == "transformers":
        return None, "local model: no API price (runs on your hardware)"
    from modelmatch.chat.playground import estimate_cost  # the playground's choice of price row, reused as is

    try:
        estimate = estimate_cost(reader, endpoint, None, today)
    except Exception as exc:  # a catalog problem must not stop an eval; the run is then unpriced
        return None, f"price lookup failed ({type(exc).__name__}); cost not counted"
    if not estimate.price_rows:
        return None, estimate.note
    row = estimate.price_rows[0]
    pin, pout = row.get("input_usd_per_mtok"), row.get("output_usd_per_mtok")
    if pin is None or pout is None or (isinstance(pin, float) and math.isnan(pin)) or (
            isinstance(pout, float) and math.isnan(pout)):
        return None, f"the catalog price for {endpoint.model_id} lacks an input or output price"
    since = row.get("effective_from")
    since_text = since.strftime("%Y-%m-%d") if hasattr(since, "strftime") else str(since or "?")
    note = (f"{row.get('provider')} {row.get('provider_model')} list price since {since_text}: ${float(pin):g} in / "
            f"${float(pout):g} out per Mtok (no cache discount)")
    return Price(float(pin), float(pout), note), note


def endpoint_record(endpoint: Endpoint, price: Price | None, price_note: str) -> EndpointRecord:
    return EndpointRecord(endpoint.name, endpoint.kind, endpoint.model, endpoint.model_id, endpoint.provider,
                          endpoint.provider_model, price.input_usd_per_mtok if price else None,
                          price.output_usd_per_mtok if price else None, price_note)


def price_of(record: EndpointRecord) -> Price | None:
    if record.input_usd_per_mtok is None or record.output_usd_per_mtok is None:
        return None
    return Price(record.input_usd_per_mtok, record.output_usd_per_mtok, record.price_note)


# ---------------------------------------------------------------------------------------------------------------
# Estimates before anything is sent


def typical_input_tokens(text: str) -> int:
    """A rough count: ~4 characters per token in Latin script, 1 per Chinese character, 2 Thai characters per
    token (assumptions, not measurements; the server's counts replace them once replies arrive)."""
    han = sum(1 for ch in text if 0x3400 <= ord(ch) <= 0x9FFF)
    thai = sum(1 for ch in text if 0x0E00 <= ord(ch) <= 0x0E7F)
    other = len(text) - han - thai
    return math.ceil(han + thai / 2 + other / 4) + TEMPLATE_OVERHEAD_TOKENS


def upper_input_tokens(text: str) -> int:
    """An upper bound: byte-level tokenizers never use more tokens than UTF-8 bytes."""
    return len(text.encode("utf-8")) + 4 * TEMPLATE_OVERHEAD_TOKENS


def _request_text(item: EvalItem, sent: str) -> str:
    return (item.system_prompt or "") + sent


@dataclass(frozen=True)
class EndpointEstimate:
    endpoint_name: str
    requests: int
    input_tokens: int  # typical estimate
    output_tokens_assumed: int  # per reply, the user's assumption
    max_output_tokens: int  # per reply, the hard limit sent with each request
    usd_typical: float | None
    usd_upper: float | None  # every reply uses max tokens and every prompt its byte count
    price_note: str


@dataclass(frozen=True)
class RunEstimate:
    endpoints: list[EndpointEstimate]
    requests: int
    usd_typical: float
    usd_upper: float
    unpriced: list[str]  # endpoints whose cost is unknown (local models, no catalog price)


def estimate_run(todo: dict[str, list[EvalItem]], endpoints: list[Endpoint], prices: dict[str, Price | None],
                 price_notes: dict[str, str], config: RunConfig, sent: dict[str, str],
                 typical_output_tokens: int = 300) -> RunEstimate:
    rows = []
    for endpoint in endpoints:
        items = todo.get(endpoint.name, [])
        max_out = min(config.max_tokens, endpoint.max_tokens_cap)
        assumed = min(typical_output_tokens, max_out)
        typical_in = sum(typical_input_tokens(_request_text(i, sent[i.item_id])) for i in items)
        upper_in = sum(upper_input_tokens(_request_text(i, sent[i.item_id])) for i in items)
        price = prices.get(endpoint.name)
        rows.append(EndpointEstimate(
            endpoint.name, len(items), typical_in, assumed, max_out,
            price.cost(typical_in, assumed * len(items)) if price else None,
            price.cost(upper_in, max_out * len(items)) if price else None,
            price_notes.get(endpoint.name, "")))
    return RunEstimate(rows, sum(r.requests for r in rows), sum(r.usd_typical or 0 for r in rows),
                       sum(r.usd_upper or 0 for r in rows), [r.endpoint_name for r in rows if r.usd_upper is None])


# ---------------------------------------------------------------------------------------------------------------
# Creating and resuming runs


def create_run(store: EvalStore, eval_set: EvalSet, endpoints: list[Endpoint], config: RunConfig,
               prices: dict[str, Price | None], price_notes: dict[str, str], extra_settings: dict | None = None) -> str:
    if not 1 <= len(endpoints) <= MAX_ENDPOINTS:
        raise ValueError(f"an eval runs on 1 to {MAX_ENDPOINTS} endpoints, got {len(endpoints)}")
    if len({e.name for e in endpoints}) != len(endpoints):
        raise ValueError("the same endpoint is listed twice")
    sent = [sent_prompt(item, config.add_answer_instruction) for item in eval_set.items]
    records = [endpoint_record(e, prices.get(e.name), price_notes.get(e.name, "")) for e in endpoints]
    settings = {**config.as_dict(), **(extra_settings or {})}
    return store.create_run(eval_set.name, eval_set.sha256, eval_set.source, eval_set.items, sent, settings, records)


def todo_items(store: EvalStore, run_id: str, endpoint_names: list[str]) -> dict[str, list[EvalItem]]:
    """Per endpoint, the items not yet scored (never sent, failed, or not sent): what a (re)start sends."""
    items = store.items(run_id)
    return {name: [i for i in items if i.item_id not in store.completed_items(run_id, name)]
            for name in endpoint_names}


# ---------------------------------------------------------------------------------------------------------------
# The run


@dataclass
class EndpointProgress:
    name: str
    total: int  # items in the run
    done_before: int  # scored in earlier sessions
    to_send: int  # items this session had to do
    scored: int = 0
    correct: int = 0
    failed: int = 0  # transport failures after retries, this session
    not_sent: int = 0  # cost cap or endpoint down, this session
    in_flight: int = 0
    retries: int = 0
    spent_usd: float = 0.0
    state: str = "waiting"
    last_error: str = ""

    @property
    def finished_now(self) -> int:
        return self.scored + self.failed + self.not_sent

    @property
    def complete(self) -> int:
        return self.done_before + self.scored


@dataclass
class Progress:
    run_id: str
    endpoints: list[EndpointProgress]
    running: bool
    outcome: str  # running | complete | incomplete | cancelled | error
    spent_usd: float  # counted against the cap: known costs, plus the worst case of replies without token counts
    cost_cap_usd: float | None
    message: str = ""

    @property
    def fraction(self) -> float:
        total = sum(e.to_send for e in self.endpoints)
        return 1.0 if total == 0 else sum(e.finished_now for e in self.endpoints) / total


class _Budget:
    """Never lets spent + worst cases of the requests in flight exceed the cap."""

    def __init__(self, cap: float | None, spent: float):
        self.cap, self.spent, self.reserved = cap, spent, 0.0
        self._cond: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def reserve(self, amount: float) -> bool:
        if self.cap is None or amount == 0:
            return True
        cond = self._condition()
        async with cond:
            while self.spent + self.reserved + amount > self.cap + 1e-12:
                if self.reserved == 0:
                    return False
                await cond.wait()
            self.reserved += amount
            return True

    async def release(self, amount: float, actual: float) -> None:
        cond = self._condition()
        async with cond:
            self.reserved = max(0.0, self.reserved - amount)
            self.spent += actual
            cond.notify_all()


_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def classify_error(endpoint: Endpoint, message: str) -> str:
    """'retry' (429, 5xx, timeouts, broken connections), 'endpoint' (wrong key, URL or model: every item would
    fail), 'item' (this request was refused), or 'cancel'."""
    if "stopped by the user" in message:
        return "cancel"
    if endpoint.kind == "transformers":
        return "item"
    text = message.removeprefix(f"{endpoint.name}: ")
    match = _HTTP_STATUS.search(text)
    if match:
        status = int(match.group(1))
        if status in (408, 425, 429) or status >= 500:
            return "retry"
        if status in (401, 403, 404) or 300 <= status < 400:
            return "endpoint"
        return "item"
    return "retry"


class RunAlreadyActive(Exception):
    """The run is being sent by another runner in this process (another browser session, say)."""


_ACTIVE: dict[str, "EvalRunner"] = {}
_ACTIVE_LOCK = threading.Lock()


def is_active(run_id: str) -> bool:
    """Is a runner of this process sending this run right now?"""
    with _ACTIVE_LOCK:
        runner = _ACTIVE.get(run_id)
        return runner is not None and not runner.finished


class EvalRunner:
    def __init__(self, store: EvalStore, run_id: str, endpoints: list[Endpoint], api_keys: dict[str, str | None],
                 config: RunConfig, prices: dict[str, Price | None], limiter: SlidingWindowLimiter | None = None,
                 local_stream: LocalStream | None = None, clock: Clock = time.perf_counter,
                 sleep: Callable[[float], "asyncio.Future"] | None = None, daily_spend: DailySpend | None = None,
                 secrets: dict[str, str] | None = None):
        self.store, self.run_id, self.config = store, run_id, config
        self._daily_spend = daily_spend or DAILY_SPEND
        self.endpoints = list(endpoints)
        self._keys = dict(api_keys)  # memory only, for the requests; never stored or shown
        self._secrets = secrets  # header secrets from Streamlit secrets (header_secret_snapshot); memory only
        self._prices = prices
        self._limiter = limiter
        self._local_stream = local_stream
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        items = store.items(run_id)
        self._sent = store.sent_prompts(run_id)
        self._todo = todo_items(store, run_id, [e.name for e in self.endpoints])
        self._progress = {e.name: EndpointProgress(e.name, len(items), len(items) - len(self._todo[e.name]),
                                                   len(self._todo[e.name])) for e in self.endpoints}
        self._broken: dict[str, str] = {}
        self._consecutive_failures: dict[str, int] = {e.name: 0 for e in self.endpoints}
        self._budget = _Budget(config.cost_cap_usd, store.spent_usd(run_id))
        self._outcome = "running"
        self._message = ""

    # -- control --------------------------------------------------------------------------------------------------

    def _claim(self) -> None:
        with _ACTIVE_LOCK:
            other = _ACTIVE.get(self.run_id)
            if other is not None and other is not self and not other.finished:
                raise RunAlreadyActive(f"run {self.run_id} is already being sent (another session of this app)")
            _ACTIVE[self.run_id] = self

    def start(self) -> "EvalRunner":
        """Run in a worker thread; raises RunAlreadyActive if this run is already being sent."""
        self._claim()
        self._thread = threading.Thread(target=self._run_claimed, name=f"eval:{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def run(self) -> Progress:
        """Run in this thread until done; raises RunAlreadyActive if this run is already being sent."""
        self._claim()
        return self._run_claimed()

    def _run_claimed(self) -> Progress:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # a bug must end the run with a message, never a hung progress bar
            with self._lock:
                self._outcome = "error"
                self._message = f"the run stopped unexpectedly: {type(exc).__name__}: {exc}"
            try:
                self.store.set_status(self.run_id, "incomplete")
            except Exception:
                pass
        finally:
            self._done.set()
            with _ACTIVE_LOCK:
                if _ACTIVE.get(self.run_id) is self:
                    del _ACTIVE[self.run_id]
        return self.progress()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._done.wait(timeout_s)

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def progress(self) -> Progress:
        with self._lock:
            return Progress(self.run_id, [replace(p) for p in self._progress.values()], not self._done.is_set(),
                            self._outcome, self._budget.spent, self.config.cost_cap_usd, self._message)

    # -- the loop -------------------------------------------------------------------------------------------------

    async def _main(self) -> None:
        session = self.store.next_session_index(self.run_id)
        self.store.set_status(self.run_id, "running")
        started_at, t0 = utcnow(), self._clock()
        tasks = {e.name: asyncio.create_task(self._endpoint(e)) for e in self.endpoints}
        ended: dict[str, tuple[dt.datetime, float]] = {}
        for name, task in tasks.items():
            task.add_done_callback(lambda _t, n=name: ended.setdefault(n, (utcnow(), self._clock() - t0)))
        watcher = asyncio.create_task(self._watch_cancel(list(tasks.values())))
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        watcher.cancel()
        cancelled = self._cancel.is_set()
        complete = all(p.complete == p.total for p in self._progress.values())
        outcome = "cancelled" if cancelled else "complete" if complete else "incomplete"
        for endpoint in self.endpoints:
            p = self._progress[endpoint.name]
            at, wall = ended.get(endpoint.name, (utcnow(), self._clock() - t0))
            sent = p.scored + p.failed
            self.store.save_session(self.run_id, session, endpoint.name, started_at, at, wall, sent,
                                    "cancelled" if cancelled else "complete" if p.complete == p.total else "incomplete")
        self.store.set_status(self.run_id, outcome)
        with self._lock:
            self._outcome = outcome
            for p in self._progress.values():
                p.in_flight = 0
                if cancelled and p.state not in ("done",):
                    p.state = "cancelled"

    async def _watch_cancel(self, tasks: list[asyncio.Task]) -> None:
        while not self._cancel.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()

    async def _endpoint(self, endpoint: Endpoint) -> None:
        queue = list(self._todo[endpoint.name])
        workers = 1 if endpoint.kind == "transformers" else max(1, self.config.concurrency)
        self._set_state(endpoint.name, "sending" if queue else "done")

        async def worker() -> None:
            while queue:
                await self._item(endpoint, queue.pop(0))

        await asyncio.gather(*(worker() for _ in range(min(workers, len(queue)))))
        with self._lock:
            p = self._progress[endpoint.name]
            if endpoint.name in self._broken:
                p.state = "stopped: " + self._broken[endpoint.name]
            elif p.not_sent:
                p.state = "stopped at the cost cap"
            else:
                p.state = "done"

    def _set_state(self, name: str, state: str) -> None:
        with self._lock:
            self._progress[name].state = state

    def _worst_cost(self, endpoint: Endpoint, item: EvalItem) -> float:
        price = self._prices.get(endpoint.name)
        if price is None:
            return 0.0
        text = _request_text(item, self._sent[item.item_id])
        return price.cost(upper_input_tokens(text), min(self.config.max_tokens, endpoint.max_tokens_cap))

    def _not_sent(self, endpoint: Endpoint, item: EvalItem, reason: str) -> None:
        self.store.save_result(self.run_id, ResultRecord(endpoint.name, item.item_id, FAILED,
                                                         error=f"not sent: {reason}"))
        with self._lock:
            self._progress[endpoint.name].not_sent += 1

    async def _item(self, endpoint: Endpoint, item: EvalItem) -> None:
        if endpoint.name in self._broken:
            self._not_sent(endpoint, item, f"{endpoint.name} was failing ({self._broken[endpoint.name]})")
            return
        worst = self._worst_cost(endpoint, item)
        daily = self._daily_spend.check(endpoint.name, endpoint.max_usd_per_day, endpoint.name)
        if not daily.allowed:
            self._not_sent(endpoint, item, daily.reason)
            return
        if not await self._budget.reserve(worst):
            cap = self.config.cost_cap_usd or 0
            self._not_sent(endpoint, item, f"the cost cap (${cap:g}) would be exceeded; resume with a higher cap")
            return
        actual = worst
        with self._lock:
            self._progress[endpoint.name].in_flight += 1
        try:
            record = await self._send_with_retries(endpoint, item)
            actual = record.cost_usd if record.cost_usd is not None else worst
            self._daily_spend.add(endpoint.name, actual)
            self.store.save_result(self.run_id, record)
            with self._lock:
                p = self._progress[endpoint.name]
                p.spent_usd += record.cost_usd or 0.0
                if record.status == SCORED:
                    p.scored += 1
                    p.correct += int(bool(record.correct))
                else:
                    p.failed += 1
                    p.last_error = record.error
        finally:
            with self._lock:
                self._progress[endpoint.name].in_flight -= 1
            await self._budget.release(worst, actual)

    async def _send_with_retries(self, endpoint: Endpoint, item: EvalItem) -> ResultRecord:
        attempts = 0
        while True:
            attempts += 1
            await self._pace(endpoint)
            answer, reasoning, error, metrics = await self._send_once(endpoint, item)
            if not error:
                break
            kind = classify_error(endpoint, error)
            if kind == "cancel":  # stopped mid-reply: the item stays pending, to be sent again on resume
                raise asyncio.CancelledError
            if kind == "retry" and attempts <= self.config.retries and endpoint.name not in self._broken:
                with self._lock:
                    self._progress[endpoint.name].retries += 1
                delay = min(MAX_BACKOFF_S, self.config.retry_base_s * 2 ** (attempts - 1)) * (0.5 + random.random() / 2)
                await self._sleep(delay)
                continue
            break
        price = self._prices.get(endpoint.name)
        cost = None
        if price is not None and metrics.input_tokens is not None and metrics.output_tokens is not None:
            cost = price.cost(metrics.input_tokens, metrics.output_tokens)
        common = dict(reasoning=reasoning, answer=answer, attempts=attempts, ttft_ms=metrics.ttft_ms,
                      e2e_ms=metrics.e2e_ms, input_tokens=metrics.input_tokens, output_tokens=metrics.output_tokens,
                      reasoning_tokens=metrics.reasoning_tokens, token_source=metrics.token_source, cost_usd=cost)
        if error:
            self._note_failure(endpoint, error, classify_error(endpoint, error))
            return ResultRecord(endpoint.name, item.item_id, FAILED, error=error, **common)
        self._consecutive_failures[endpoint.name] = 0
        try:
            score = score_reply(answer, item.expected, item.scorer, item.tolerance)
            detected, switched = language_switch(item.language, answer_part(answer)[0])
        except Exception as exc:  # noqa: BLE001 - a reply that cannot be scored is scored wrong, with the reason
            # Raising here ended the endpoint's whole run, and the item stayed unscored, so every resume paid
            # for the same reply again. The reply is kept; the note says why it could not be scored.
            return ResultRecord(endpoint.name, item.item_id, SCORED, correct=False, extraction="none",
                                score_note=f"could not score this reply: {type(exc).__name__}: {str(exc)[:200]}",
                                **common)
        return ResultRecord(endpoint.name, item.item_id, SCORED, correct=score.correct, extracted=score.extracted,
                            extraction=score.extraction, answer_key=score.answer_key, score_note=score.note,
                            answer_language=detected, language_switch=switched, **common)

    def _note_failure(self, endpoint: Endpoint, error: str, kind: str) -> None:
        self._consecutive_failures[endpoint.name] += 1
        threshold = self.config.breaker_failures
        if kind == "endpoint" or (threshold and self._consecutive_failures[endpoint.name] >= threshold):
            if endpoint.name not in self._broken:
                reason = error if kind == "endpoint" else (
                    f"{self._consecutive_failures[endpoint.name]} items in a row failed; last: {error}")
                self._broken[endpoint.name] = reason[:300]

    async def _pace(self, endpoint: Endpoint) -> None:
        if self._limiter is None:
            return
        share_key, share = eval_share_key(endpoint.name), eval_share_limit(endpoint.requests_per_minute)
        while True:
            # Eval runs take at most their share of the endpoint's limit; the rest stays for playground visitors.
            if self._limiter.would_allow(share_key, share):
                decision = self._limiter.try_acquire(endpoint.name, endpoint.requests_per_minute, endpoint.name)
                if decision.allowed:
                    self._limiter.try_acquire(share_key, share, share_key)
                    self._set_state(endpoint.name, "sending")
                    return
            else:
                decision = self._limiter.try_acquire(share_key, share, share_key)  # refused: gives the wait
            self._set_state(endpoint.name, f"paced: evals may use {share} of the endpoint's "
                                           f"{endpoint.requests_per_minute} requests per minute")
            await asyncio.sleep(min(max(decision.retry_after_s, 0.05), 1.0))

    def _request(self, endpoint: Endpoint, item: EvalItem) -> ChatRequest:
        messages = [ChatMessage("system", item.system_prompt)] if item.system_prompt.strip() else []
        messages.append(ChatMessage("user", self._sent[item.item_id]))
        return ChatRequest(messages=tuple(messages), max_tokens=min(self.config.max_tokens, endpoint.max_tokens_cap),
                           temperature=self.config.temperature, top_p=self.config.top_p, thinking=self.config.thinking)

    async def _send_once(self, endpoint: Endpoint, item: EvalItem) -> tuple[str, str, str, RequestMetrics]:
        request = self._request(endpoint, item)
        timer = RequestTimer(self._clock())
        answer: list[str] = []
        reasoning: list[str] = []
        error = ""
        if endpoint.kind == "openai":
            async for event in astream_chat(endpoint, self._keys.get(endpoint.name), request, self._clock,
                                            secrets=self._secrets):
                timer.observe(event)
                if event.kind == "content":
                    answer.append(event.text)
                elif event.kind == "reasoning":
                    reasoning.append(event.text)
                elif event.kind == "error":
                    error = event.text
        else:
            events = await asyncio.to_thread(self._collect_local, endpoint, request)
            for event in events:
                timer.observe(event)
                if event.kind == "content":
                    answer.append(event.text)
                elif event.kind == "reasoning":
                    reasoning.append(event.text)
                elif event.kind == "error":
                    error = event.text
        # Joined first: a key split over events is redacted too; a gateway's header secret is a key too.
        keys = [self._keys.get(endpoint.name), *header_secrets(endpoint, self._secrets)]
        return (redact("".join(answer), keys), redact("".join(reasoning), keys), redact(error, keys),
                timer.result())

    def _collect_local(self, endpoint: Endpoint, request: ChatRequest) -> list[StreamEvent]:
        stream = self._local_stream
        if stream is None:
            from modelmatch.chat.local_backend import stream_local  # torch loads only when a local model is used

            stream = stream_local
        splitter = ThinkSplitter(endpoint.starts_in_thinking) if endpoint.think_tags else None
        events: list[StreamEvent] = []
        last_at = self._clock()
        try:
            for event in stream(endpoint, request, self._cancel, self._clock):
                if event.kind == "content" and splitter is not None:
                    last_at = event.at_s
                    events.extend(StreamEvent(kind, event.at_s, text) for kind, text in splitter.feed(event.text))
                    continue
                if event.kind in ("done", "error") and splitter is not None:
                    events.extend(StreamEvent(kind, last_at, text) for kind, text in splitter.finish())
                events.append(event)
        except Exception as exc:  # the local backend promises events, not exceptions; keep the run alive anyway
            events.append(StreamEvent("error", self._clock(), f"{endpoint.name}: {type(exc).__name__}: {exc}"))
        return events
