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
import random
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterator

from modelmatch.chat.types import ChatMessage, ChatRequest, StreamEvent
from modelmatch.chat.endpoints import Endpoint, header_secrets, redact
from modelmatch.evals.run_setup import Price, RunConfig, request_text, todo_items, upper_input_tokens
from modelmatch.evals.scoring import answer_part, language_switch, score_reply
from modelmatch.evals.sets import EvalItem
from modelmatch.evals.store import FAILED, SCORED, EvalStore, ResultRecord, utcnow
from modelmatch.chat.limits import DAILY_SPEND, DailySpend, SlidingWindowLimiter, eval_share_key, eval_share_limit
from modelmatch.chat.openai_client import astream_chat
from modelmatch.chat.sdk_stream import pooled_clients
from modelmatch.chat.reasoning import ThinkSplitter
from modelmatch.chat.timing import RequestMetrics, RequestTimer

Clock = Callable[[], float]
LocalStream = Callable[[Endpoint, ChatRequest, threading.Event, Clock], Iterator[StreamEvent]]
MAX_BACKOFF_S = 60.0


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
            asyncio.run(self._main_pooled())
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

    async def _main_pooled(self) -> None:
        # One kept-alive connection pool per endpoint for the whole run, closed when the run ends.
        async with pooled_clients():
            await self._main()

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
        text = request_text(item, self._sent[item.item_id])
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
        errors: list[str] = []
        parts = {"content": answer, "reasoning": reasoning, "error": errors}

        def take(event: StreamEvent) -> None:
            timer.observe(event)
            if event.kind in parts:
                parts[event.kind].append(event.text)

        if endpoint.kind == "openai":
            async for event in astream_chat(endpoint, self._keys.get(endpoint.name), request, self._clock,
                                            secrets=self._secrets):
                take(event)
        else:
            for event in await asyncio.to_thread(self._collect_local, endpoint, request):
                take(event)
        error = errors[-1] if errors else ""  # the last error event wins
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
