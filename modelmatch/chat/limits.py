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

    def would_allow(self, key: str, limit: int) -> bool:
        """Whether try_acquire would allow a request now (records nothing)."""
        now = self._clock()
        with self._lock:
            hits = self._hits[key]
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            return len(hits) < limit


class DailySpend:
    """US$ spent per endpoint per UTC day by every visitor of this process (playground and eval runs), against the
    operator's max_usd_per_day. Each process counts its own requests: with N replicas the cap holds per replica."""

    def __init__(self, today: Callable[[], str] | None = None):
        import datetime as dt

        self._today = today or (lambda: dt.datetime.now(dt.timezone.utc).date().isoformat())
        self._spent: dict[tuple[str, str], float] = defaultdict(float)
        self._lock = threading.Lock()

    def check(self, endpoint_name: str, cap_usd: float | None, label: str) -> Decision:
        if cap_usd is None:
            return Decision(True)
        with self._lock:
            spent = self._spent[(endpoint_name, self._today())]
        if spent >= cap_usd:
            return Decision(False, 0.0, f"{label}: the operator's daily spend cap (${cap_usd:g} per day) is "
                                        f"reached (${spent:.4f} spent today, UTC); try again tomorrow")
        return Decision(True)

    def add(self, endpoint_name: str, usd: float | None) -> None:
        if usd is not None and usd > 0 and usd == usd and usd != float("inf"):
            with self._lock:
                self._spent[(endpoint_name, self._today())] += usd

    def spent(self, endpoint_name: str) -> float:
        with self._lock:
            return self._spent[(endpoint_name, self._today())]


DAILY_SPEND = DailySpend()  # one per process


# Eval runs together may use at most this share of an endpoint's requests_per_minute: one visitor's eval run took
# the whole shared limit and refused everyone else's playground requests for the length of the run.
EVAL_SHARE = 0.5


def eval_share_key(endpoint_name: str) -> str:
    return f"evals:{endpoint_name}"


def eval_share_limit(requests_per_minute: int) -> int:
    return max(1, int(requests_per_minute * EVAL_SHARE))
