"""The asynchronous measurement loop: many streamed requests at a fixed concurrency or a Poisson request rate, each
timed by the shared RequestTimer (modelmatch.chat.timing), with warm-ups, a time limit and a clean stop on Ctrl-C.

Everything completed is kept in a LevelRun the caller owns, so an interrupted or time-limited run still has its
finished requests; requests that were in flight when it stopped are dropped, never counted as failures.
"""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Iterator, Literal

from modelmatch.chat.types import ChatRequest, StreamEvent
from modelmatch.chat.timing import RequestMetrics, RequestTimer

from ingest.measure.progress import Progress

Clock = Callable[[], float]
# send(request, on_sent) streams one request; on_sent(clock reading), where the backend can tell, marks the moment the
# request was handed to the kernel (TTFT is timed from there).
Send = Callable[[ChatRequest, Callable[[float], None] | None], AsyncIterator[StreamEvent]]
Status = Literal["complete", "interrupted", "time-limit"]


@dataclass
class Completed:
    index: int
    metrics: RequestMetrics  # started_at_s is a clock reading


@dataclass
class LevelRun:
    """One measured configuration: a concurrency level, or a request rate (with an optional concurrency cap)."""

    concurrency: int | None
    rate_per_s: float | None
    planned: int
    completed: list[Completed] = field(default_factory=list)
    started_at_s: float | None = None  # clock reading when dispatching began
    ended_at_s: float | None = None  # clock reading when the last request finished
    status: Status = "complete"
    dropped: int = 0  # in flight when the run stopped early; not counted as ok or failed
    not_started: int = 0
    workers: int = 1  # processes the level's streams were spread over (ingest.measure.workers); 1 = this one

    @property
    def label(self) -> str:
        if self.rate_per_s is not None:
            cap = f", max concurrency {self.concurrency}" if self.concurrency else ""
            return f"rate {self.rate_per_s:g}/s{cap}"
        return f"concurrency {self.concurrency}"

    @property
    def duration_s(self) -> float:
        if self.started_at_s is None or self.ended_at_s is None:
            return 0.0
        return max(0.0, self.ended_at_s - self.started_at_s)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.completed if not c.metrics.ok)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage-collector pauses while requests are timed: a full collection with many live streams takes
    milliseconds and would land inside somebody's TTFT or inter-token gap. Collected between levels instead."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


async def timed_request(send: Send, request: ChatRequest, clock: Clock,
                        count_tokens: Callable[[str], int] | None = None) -> RequestMetrics:
    timer = RequestTimer(clock(), count_tokens)
    async for event in send(request, timer.mark_sent):
        timer.observe(event)
    return timer.result()


def poisson_arrivals(n: int, rate_per_s: float, seed: int) -> list[float]:
    """Offsets (s) of n request arrivals from the start, exponential gaps (a Poisson process), the first at 0."""
    rng = random.Random(seed)
    offsets, t = [], 0.0
    for i in range(n):
        offsets.append(t)
        t += rng.expovariate(rate_per_s)
    return offsets


async def run_level(level: LevelRun, send: Send, requests: list[ChatRequest], *, clock: Clock = time.perf_counter,
                    deadline_s: float | None = None, progress: Progress | None = None,
                    count_tokens: Callable[[str], int] | None = None, seed: int = 0,
                    on_completed: Callable[[Completed], None] | None = None) -> LevelRun:
    """Send `requests` and record each completed one into `level` as it finishes.

    Concurrency mode: at most level.concurrency requests in flight, the next starting as one finishes. Rate mode:
    requests arrive as a Poisson process of level.rate_per_s per second (capped at level.concurrency if set).
    `deadline_s` is a clock reading: at it, no new request starts and those in flight are dropped (status
    time-limit). Cancellation (Ctrl-C) drops those in flight too, marks the level interrupted, and re-raises.
    `on_completed` sees each record as it is added (a worker process sends it to its parent from there).
    """
    limit = asyncio.Semaphore(level.concurrency) if level.concurrency else None
    in_flight: set[int] = set()
    started: set[int] = set()

    async def one(index: int, request: ChatRequest) -> None:
        if limit is not None:
            await limit.acquire()
        try:
            if deadline_s is not None and clock() >= deadline_s:
                return
            started.add(index)
            in_flight.add(index)
            metrics = await timed_request(send, request, clock, count_tokens)
            in_flight.discard(index)
            done = Completed(index, metrics)
            level.completed.append(done)
            if on_completed is not None:
                on_completed(done)
            end = clock() if metrics.e2e_ms is None else metrics.started_at_s + metrics.e2e_ms / 1000
            level.ended_at_s = end if level.ended_at_s is None else max(level.ended_at_s, end)
            if progress is not None:
                progress.update(metrics.ok)
        finally:
            if limit is not None:
                limit.release()

    tasks: list[asyncio.Task] = []

    async def dispatch() -> None:
        if level.rate_per_s is None:
            tasks.extend(asyncio.create_task(one(i, r)) for i, r in enumerate(requests))
            return
        offsets = poisson_arrivals(len(requests), level.rate_per_s, seed)
        start = level.started_at_s
        for i, request in enumerate(requests):
            wait = start + offsets[i] - clock()
            if deadline_s is not None and start + offsets[i] >= deadline_s:
                return
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(i, request)))

    level.started_at_s = clock()
    dispatcher = asyncio.create_task(dispatch())
    try:
        await dispatcher
        while True:
            pending = [t for t in tasks if not t.done()]
            if not pending:
                break
            timeout = None if deadline_s is None else max(0.0, deadline_s - clock())
            _, still = await asyncio.wait(pending, timeout=timeout)
            if still and deadline_s is not None and clock() >= deadline_s:
                level.status = "time-limit"
                break
        if deadline_s is not None and len(started) < len(requests) and level.status == "complete":
            level.status = "time-limit"  # the deadline passed before every request could start
    except asyncio.CancelledError:
        level.status = "interrupted"
        await _stop(dispatcher, tasks)
        level.dropped = len(in_flight)
        level.not_started = len(requests) - len(level.completed) - level.dropped
        raise
    await _stop(dispatcher, tasks)
    level.dropped = len(in_flight)
    level.not_started = len(requests) - len(level.completed) - level.dropped
    for task in tasks:  # a bug in a request task must not vanish silently
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()
    return level


async def _stop(dispatcher: asyncio.Task, tasks: list[asyncio.Task]) -> None:
    dispatcher.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(dispatcher, *tasks, return_exceptions=True)


def thread_sender(stream: Callable[[ChatRequest, threading.Event], Iterator[StreamEvent]]) -> Send:
    """Turn a blocking event iterator (the local transformers backend) into an async one: it runs in a thread and
    stamps its own clock readings, so the event loop's scheduling does not enter the timings."""

    async def send(request: ChatRequest, on_sent: Callable[[float], None] | None = None) -> AsyncIterator[StreamEvent]:
        # on_sent is not called: a local model starts on the request at once (or queues it, which counts)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()
        end = object()

        def work() -> None:
            try:
                for event in stream(request, cancel):
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, end)

        worker = threading.Thread(target=work, name="measure-local", daemon=True)
        worker.start()
        try:
            while True:
                item = await queue.get()
                if item is end:
                    break
                yield item
        finally:
            cancel.set()

    return send
