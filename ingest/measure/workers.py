"""One measured level spread over worker processes, each with its own event loop, when one core cannot follow all the
streams (on a 2-core machine one Python event loop falls behind somewhere past 250 concurrent streams: the gaps
between tokens it reports shrink to ~0 as reads pile up, bench/client_accuracy.py shows it).

The one clock discipline: every stamp in every process is time.perf_counter(), which on Linux is
clock_gettime(CLOCK_MONOTONIC) (time.get_clock_info says so): a system-wide clock, the same readings in every
process on the machine, never adjusted by NTP steps. So a worker's stamps, the parent's deadline and the truth
server's stamps are comparable as they are, with no offset to estimate. Each worker checks this once it has
started and imported what it needs: it asks the parent for a reading, which must fall between the worker's own
readings before asking and after the answer (within CLOCK_SLACK_S); a platform where it is not so stops the run with
a message instead of mixing clocks. (A reading sent with the job instead was behind by the whole start-up: on a
loaded machine, starting a worker took over 5 s and the check refused a clock that was the same.)

The level's N streams go round-robin to K workers (request i to worker i % K), each with concurrency (or Poisson
rate, a thinned Poisson process being Poisson again) divided as evenly as whole numbers allow, all starting at the
same clock reading. Results come back as typed records (Completed: the request's global index and its
RequestMetrics) as each request finishes, so an interrupted run keeps what completed.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from modelmatch.chat.endpoints import Endpoint
from modelmatch.chat.types import ChatRequest

from ingest.measure.progress import Progress
from ingest.measure.runner import Completed, LevelRun, gc_paused, run_level

CLOCK = time.perf_counter  # CLOCK_MONOTONIC on Linux: one clock for every process (see the module's docstring)
STREAMS_PER_WORKER = 250  # what one event loop follows on this project's 2-core reference machine
CLOCK_SLACK_S = 0.001  # one clock read in two processes: the parent's reading falls inside the worker's window
START_DELAY_S = 0.1  # from "all workers ready" to the common start, so every worker is waiting when it comes
READY_TIMEOUT_S = 120.0
INTERRUPT_WAIT_S = 3.0


class WorkerError(RuntimeError):
    """A worker could not start or broke; the message says why."""


def default_workers(concurrency: int | None, cpu_count: int | None = None) -> int:
    """One worker per STREAMS_PER_WORKER concurrent streams, at most one per CPU but one (left to the server when it
    runs here, and to everything else); 1 means in-process. Why the spare CPU: on a 2-core machine with the server
    on it, two workers only took the server's core (bench/client_accuracy.py, README)."""
    cpus = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    if not concurrency:
        return 1
    return max(1, min(math.ceil(concurrency / STREAMS_PER_WORKER), cpus - 1))


@dataclass(frozen=True)
class WorkerTarget:
    """What a worker needs to build its own sender (picklable). The key travels to the worker over its pipe, never
    in an argument list or the environment, and is left out of repr."""

    endpoint: Endpoint
    api_key: str | None = field(default=None, repr=False)
    transport: str = "timing"
    tokenizer_ref: str | None = None  # loaded by each worker from local files, for replies without usage


@dataclass
class _Job:
    target: WorkerTarget
    indices: list[int]  # global request indices, in the worker's order
    requests: list[ChatRequest]
    concurrency: int | None
    rate_per_s: float | None
    deadline_s: float | None
    seed: int


def _split(total: int | None, parts: int, part: int) -> int | None:
    if total is None:
        return None
    return total // parts + (1 if part < total % parts else 0)


def _worker_main(conn: Any) -> None:
    """A worker process: receive the job, check the clock, wait for the common start, run, send records."""
    try:
        from modelmatch.chat.openai_client import astream_chat

        job: _Job = conn.recv()
        asked_at = CLOCK()
        conn.send(("clock",))
        parent_now = conn.recv()
        answered_at = CLOCK()
        if not asked_at - CLOCK_SLACK_S <= parent_now <= answered_at + CLOCK_SLACK_S:
            off_s = parent_now - (asked_at + answered_at) / 2
            conn.send(("error", f"the parent's perf_counter is {off_s:+.3f} s from the worker's (read between the "
                                f"worker's {asked_at:.3f} and {answered_at:.3f}): this platform's perf_counter is not "
                                "one system-wide clock, so workers cannot be used here (run with --workers 1)"))
            return
        conn.send(("ready",))
        message = conn.recv()
        if message[0] != "start":
            return
        start_at = message[1]
        target = job.target

        def send(request: ChatRequest, on_sent):
            return astream_chat(target.endpoint, target.api_key, request, on_sent=on_sent,
                                transport=target.transport)  # type: ignore[arg-type]

        count_tokens = None
        if target.tokenizer_ref:
            from ingest.measure.harness import _load_tokenizer
            from ingest.measure.prompts import token_counter

            count_tokens = token_counter(_load_tokenizer(target.tokenizer_ref), None)
        level = LevelRun(concurrency=job.concurrency, rate_per_s=job.rate_per_s, planned=len(job.requests))

        def completed(done: Completed) -> None:
            conn.send(("done", Completed(job.indices[done.index], done.metrics)))

        async def go() -> None:
            wait = start_at - CLOCK()
            if wait > 0:
                await asyncio.sleep(wait)
            await run_level(level, send, job.requests, clock=CLOCK, deadline_s=job.deadline_s,
                            on_completed=completed, seed=job.seed, count_tokens=count_tokens)

        try:
            with gc_paused():
                asyncio.run(go())
        except KeyboardInterrupt:
            level.status = "interrupted"
        conn.send(("end", level.status, level.dropped, level.not_started, level.started_at_s, level.ended_at_s))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        conn.close()


async def run_level_in_workers(level: LevelRun, target: WorkerTarget, requests: list[ChatRequest], workers: int,
                               *, deadline_s: float | None = None, progress: Progress | None = None,
                               seed: int = 0) -> LevelRun:
    """run_level's contract, with the streams spread over `workers` processes; records land in `level` as the
    workers finish them. Cancellation (Ctrl-C) stops the workers; what they completed is kept."""
    workers = max(1, min(workers, len(requests) or 1))
    level.workers = workers
    context = multiprocessing.get_context("spawn")  # never fork a process that runs an event loop
    loop = asyncio.get_running_loop()
    ends: list[tuple] = []
    errors: list[str] = []
    finished = asyncio.Event()
    procs, pipes = [], []
    remaining = [workers]

    def on_message(message: tuple) -> None:
        kind = message[0]
        if kind == "done":
            done: Completed = message[1]
            level.completed.append(done)
            if progress is not None:
                progress.update(done.metrics.ok)
        elif kind == "end":
            ends.append(message)
        elif kind == "error":
            errors.append(message[1])

    def reader(conn: Any) -> None:  # one thread per worker: blocking reads, records handed to the loop
        try:
            while True:
                message = conn.recv()
                loop.call_soon_threadsafe(on_message, message)
                if message[0] in ("end", "error"):
                    break
        except (EOFError, OSError):
            pass
        finally:
            def one_less() -> None:
                remaining[0] -= 1
                if not remaining[0]:
                    finished.set()
            loop.call_soon_threadsafe(one_less)

    try:
        for k in range(workers):
            parent_end, child_end = context.Pipe()
            proc = context.Process(target=_worker_main, args=(child_end,), name=f"measure-worker-{k}", daemon=True)
            proc.start()
            child_end.close()
            procs.append(proc)
            pipes.append(parent_end)
        for k, conn in enumerate(pipes):
            indices = list(range(k, len(requests), workers))
            conn.send(_Job(target, indices, [requests[i] for i in indices], _split(level.concurrency, workers, k),
                           None if level.rate_per_s is None else level.rate_per_s / workers, deadline_s, seed + k))
        for conn in pipes:  # every worker imported its modules, asks for a clock reading, checks it, is ready
            asked = await loop.run_in_executor(None, _recv_within, conn, READY_TIMEOUT_S)
            if asked[0] == "clock":
                conn.send(CLOCK())
                asked = await loop.run_in_executor(None, _recv_within, conn, READY_TIMEOUT_S)
            if asked[0] == "error":
                raise WorkerError(asked[1])
        start_at = CLOCK() + START_DELAY_S
        level.started_at_s = start_at
        for conn in pipes:
            conn.send(("start", start_at))
        threads = [threading.Thread(target=reader, args=(conn,), daemon=True) for conn in pipes]
        for thread in threads:
            thread.start()
        await finished.wait()
    except asyncio.CancelledError:
        level.status = "interrupted"
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGINT)  # the worker's run_level drops what is in flight and reports
        try:  # their last records and counts, briefly: what completed is kept
            await asyncio.wait_for(finished.wait(), INTERRUPT_WAIT_S)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            pass
        _tally(level, ends)
        if len(ends) < len(procs):
            level.not_started = max(0, level.planned - len(level.completed) - level.dropped)
        raise
    finally:
        for proc in procs:  # a worker still waiting for its start (another failed) is not waited for
            proc.join(timeout=10 if finished.is_set() else 0.5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in pipes:
            conn.close()
    if errors:
        raise WorkerError(errors[0])
    if len(ends) < workers and level.status == "complete":
        raise WorkerError(f"{workers - len(ends)} of {workers} worker process(es) ended without reporting")
    _tally(level, ends)
    return level


def _tally(level: LevelRun, ends: list[tuple]) -> None:
    """The workers' own counts added up; the level's status is the worst of theirs."""
    order = {"complete": 0, "time-limit": 1, "interrupted": 2}
    for _, status, dropped, not_started, _started_at_s, ended_at_s in ends:
        if order[status] > order[level.status]:
            level.status = status
        level.dropped += dropped
        level.not_started += not_started
        if ended_at_s is not None:
            level.ended_at_s = ended_at_s if level.ended_at_s is None else max(level.ended_at_s, ended_at_s)


def _recv_within(conn: Any, timeout_s: float) -> tuple:
    if not conn.poll(timeout_s):
        raise WorkerError(f"a worker process did not start within {timeout_s:g} s")
    try:
        return conn.recv()
    except EOFError:
        raise WorkerError("a worker process ended while starting") from None
