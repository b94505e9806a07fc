"""One event loop that every playground stream of this process runs on, so that the SDK's kept-alive connections
(bound to the loop they were opened on) serve the next request too.

A thread runs the loop only while streams are in flight and ends when the last one does; the loop, with its idle
connections, waits for the next stream (a loop may run on any thread, one at a time). At exit the pooled clients
are closed.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from typing import Awaitable, Callable

from modelmatch.chat.sdk_stream import ClientPool, using_pool


class SharedLoop:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ClientPool | None = None
        self._thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._active = 0

    def submit(self, make: Callable[[], Awaitable[None]]) -> concurrent.futures.Future:
        """Run `make()` on the shared loop (with the shared client pool); the future ends with it."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop, self._pool = asyncio.new_event_loop(), ClientPool()
                self._executor = self._new_executor()
                self._loop.set_default_executor(self._executor)
            self._active += 1
            pool = self._pool

            async def pooled() -> None:
                with using_pool(pool):
                    await make()

            future = asyncio.run_coroutine_threadsafe(pooled(), self._loop)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, args=(self._loop,), name="chat-streams",
                                                daemon=True)
                self._thread.start()
        future.add_done_callback(self._ended)
        return future

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            loop.run_forever()
            with self._lock:
                if self._active:  # a stream was submitted while stopping: keep running for it
                    continue
                self._thread = None
                # The loop's executor (name lookups) keeps its threads: hand it a fresh one and end the old one's.
                # (shutdown_default_executor would refuse every later lookup on this loop.)
                idle_executor = self._executor
                self._executor = self._new_executor()
                loop.set_default_executor(self._executor)
            idle_executor.shutdown(wait=True)
            return

    @staticmethod
    def _new_executor() -> concurrent.futures.ThreadPoolExecutor:
        return concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="chat-streams-lookup")

    def _ended(self, _future: concurrent.futures.Future) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0 and self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)

    def join_if_idle(self, timeout_s: float = 5.0) -> None:
        """Wait for the loop's thread to end when no stream is in flight (callers leave no thread behind)."""
        with self._lock:
            thread = self._thread if self._active == 0 else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def close(self) -> None:
        """Close the pooled connections and the loop, when no stream is in flight."""
        self.join_if_idle()
        with self._lock:
            loop, pool = self._loop, self._pool
            if loop is None or loop.is_closed() or self._thread is not None or pool is None:
                return
            self._loop = self._pool = None
        try:
            loop.run_until_complete(pool.aclose())
        finally:
            loop.close()
            if self._executor is not None:
                self._executor.shutdown(wait=False)


SHARED = SharedLoop()
atexit.register(SHARED.close)
