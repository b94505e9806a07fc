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


@dataclass(frozen=True)
class Reservation:
    """A request's worst-case cost, held against the day's cap from before it is sent until it ends."""
    endpoint_name: str
    day: str
    usd: float
    reservation_id: str


def usable_usd(usd: float | None) -> float:
    """A cost that can be counted: finite and positive, else 0 (odd token counts must not poison the total)."""
    return usd if isinstance(usd, (int, float)) and usd > 0 and usd == usd and usd != float("inf") else 0.0


def spend_refusal(label: str, cap_usd: float, spent_usd: float, held_usd: float, worst_usd: float) -> Decision:
    if worst_usd > 0 and spent_usd < cap_usd:
        return Decision(False, 0.0, f"{label}: the operator's daily spend cap (${cap_usd:g} per day) would be passed: "
                                    f"${spent_usd:.4f} spent today (UTC), ${held_usd:.4f} held by requests in "
                                    f"flight, this request may cost up to ${worst_usd:.4f}; try a shorter prompt "
                                    "or fewer max tokens, or later")
    return Decision(False, 0.0, f"{label}: the operator's daily spend cap (${cap_usd:g} per day) is "
                                f"reached (${spent_usd:.4f} spent today, UTC); try again tomorrow")


class DailySpend:
    """US$ spent per endpoint per UTC day by every visitor of this process (playground and eval runs), against the
    operator's max_usd_per_day. Each process counts its own requests; SharedDailySpend (shared_limits) counts in
    the runs database for every process that shares it.

    A request reserves its worst-case cost before it is sent and settles to what it really cost when it ends:
    checking only what was already spent let every request in flight pass the cap together."""

    def __init__(self, today: Callable[[], str] | None = None):
        import datetime as dt

        self._today = today or (lambda: dt.datetime.now(dt.timezone.utc).date().isoformat())
        self._spent: dict[tuple[str, str], float] = defaultdict(float)
        self._held: dict[str, Reservation] = {}
        self._lock = threading.Lock()
        self._next_id = 0

    def _held_usd(self, endpoint_name: str, day: str) -> float:
        return sum(r.usd for r in self._held.values() if r.endpoint_name == endpoint_name and r.day == day)

    def reserve(self, endpoint_name: str, cap_usd: float | None, worst_usd: float | None,
                label: str) -> tuple[Decision, Reservation | None]:
        """Hold worst_usd against the day's cap, or refuse if spent + held + worst_usd would pass it."""
        if cap_usd is None:
            return Decision(True), None
        worst, day = usable_usd(worst_usd), self._today()
        with self._lock:
            spent, held = self._spent[(endpoint_name, day)], self._held_usd(endpoint_name, day)
            if spent >= cap_usd or spent + held + worst > cap_usd:
                return spend_refusal(label, cap_usd, spent, held, worst), None
            self._next_id += 1
            reservation = Reservation(endpoint_name, day, worst, str(self._next_id))
            self._held[reservation.reservation_id] = reservation
        return Decision(True), reservation

    def settle(self, reservation: Reservation | None, actual_usd: float | None) -> None:
        """The request ended: its hold is replaced by what it cost (0 to just release it: an error, a stop)."""
        if reservation is None:
            return
        with self._lock:
            if self._held.pop(reservation.reservation_id, None) is not None:
                self._spent[(reservation.endpoint_name, reservation.day)] += usable_usd(actual_usd)

    def check(self, endpoint_name: str, cap_usd: float | None, label: str) -> Decision:
        if cap_usd is None:
            return Decision(True)
        with self._lock:
            spent = self._spent[(endpoint_name, self._today())]
        if spent >= cap_usd:
            return spend_refusal(label, cap_usd, spent, 0.0, 0.0)
        return Decision(True)

    def add(self, endpoint_name: str, usd: float | None) -> None:
        if usable_usd(usd):
            with self._lock:
                self._spent[(endpoint_name, self._today())] += usable_usd(usd)

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
