"""Request caps that protect paid APIs and the GPU: per endpoint for everyone, and per visitor session."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0
    reason: str = ""


class SlidingWindowLimiter:
    """At most `limit` requests per key in any `window_s` seconds. Thread-safe; the clock is injectable."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def try_acquire(self, key: str, limit: int, label: str) -> Decision:
        now = self._clock()
        with self._lock:
            hits = self._hits[key]
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= limit:
                retry = self.window_s - (now - hits[0])
                return Decision(False, retry, f"{label}: {limit} requests per {self.window_s:g} s reached; "
                                              f"try again in {retry:.0f} s")
            hits.append(now)
            return Decision(True)
