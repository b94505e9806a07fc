"""The request caps counted in the runs database, so they hold for every process that shares it (app replicas, the
eval CLI) instead of once per process: the per-visitor cap, the endpoints' requests per minute and the operator's
daily spend cap (max_usd_per_day) with its reservations.

Each decision is one SQLite write transaction (BEGIN IMMEDIATE), so two processes cannot both take the last request
or the last dollar. Times are wall-clock seconds (time.time), the one clock processes share. Visitor keys (client
addresses) are stored only as hashes. If the runs database fails after start, each cap falls back to counting in
this process (the caps still hold per process, and chatting goes on); `problem` says why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from typing import Callable

from modelmatch.chat.limits import (DailySpend, Decision, Reservation, SlidingWindowLimiter, spend_refusal,
                                    usable_usd)
from modelmatch.chat.runs_db import RunsUnavailable, resolve_runs_file, runs_database

SCHEMA_STEPS = ("""
CREATE TABLE IF NOT EXISTS limit_hits (limit_key TEXT, window_s REAL, at_s REAL);
CREATE INDEX IF NOT EXISTS limit_hits_by_key ON limit_hits (limit_key, at_s);
CREATE TABLE IF NOT EXISTS daily_spend (endpoint_name TEXT, day TEXT, spent_usd REAL, PRIMARY KEY (endpoint_name, day));
CREATE TABLE IF NOT EXISTS spend_holds (reservation_id TEXT PRIMARY KEY, endpoint_name TEXT, day TEXT, usd REAL,
    expires_at_s REAL);
""",)
# A hold whose process died before settling (killed mid-reply) stops counting after this long; every request ends
# well before it (max_duration_s is at most an hour).
HOLD_TTL_S = 2 * 3600.0


def _limits_db(path):
    db = runs_database(resolve_runs_file(path).sqlite_path)
    db.ensure_schema("limits", SCHEMA_STEPS)
    return db


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


class SharedSlidingWindowLimiter:
    """SlidingWindowLimiter's contract, counted in the runs database for every process that shares it."""

    def __init__(self, path, window_s: float, clock: Callable[[], float] = time.time):
        self.window_s = window_s
        self._clock = clock
        self._db = _limits_db(path)
        self._local = SlidingWindowLimiter(window_s, clock)
        self.problem = ""

    def _key(self, key: str) -> str:
        return _hashed(f"{self.window_s:g}\0{key}")

    def try_acquire(self, key: str, limit: int, label: str) -> Decision:
        now, stored = self._clock(), self._key(key)
        try:
            with self._db.write() as cur:
                cur.execute("DELETE FROM limit_hits WHERE at_s <= ? - window_s", [now])  # every key's old hits
                count, oldest = cur.execute("SELECT count(*), min(at_s) FROM limit_hits WHERE limit_key = ?",
                                            [stored]).fetchone()
                if count >= limit:
                    retry = self.window_s - (now - oldest)
                    return Decision(False, retry, f"{label}: {limit} requests per {self.window_s:g} s reached; "
                                                  f"try again in {retry:.0f} s")
                cur.execute("INSERT INTO limit_hits VALUES (?, ?, ?)", [stored, self.window_s, now])
            return Decision(True)
        except RunsUnavailable as exc:
            self.problem = str(exc)
            return self._local.try_acquire(key, limit, label)

    def would_allow(self, key: str, limit: int) -> bool:
        now = self._clock()
        try:
            with self._db.read() as cur:
                count = cur.execute("SELECT count(*) FROM limit_hits WHERE limit_key = ? AND at_s > ?",
                                    [self._key(key), now - self.window_s]).fetchone()[0]
            return count < limit
        except RunsUnavailable as exc:
            self.problem = str(exc)
            return self._local.would_allow(key, limit)


class SharedDailySpend:
    """DailySpend's contract (reserve, settle, check, add, spent), counted in the runs database."""

    def __init__(self, path, today: Callable[[], str] | None = None, clock: Callable[[], float] = time.time):
        self._today = today or (lambda: dt.datetime.now(dt.timezone.utc).date().isoformat())
        self._clock = clock
        self._db = _limits_db(path)
        self._local = DailySpend(self._today)
        self.problem = ""

    @staticmethod
    def _totals(cur, endpoint_name: str, day: str, now: float) -> tuple[float, float]:
        cur.execute("DELETE FROM spend_holds WHERE expires_at_s < ?", [now])
        spent = cur.execute("SELECT spent_usd FROM daily_spend WHERE endpoint_name = ? AND day = ?",
                            [endpoint_name, day]).fetchone()
        held = cur.execute("SELECT coalesce(sum(usd), 0) FROM spend_holds WHERE endpoint_name = ? AND day = ?",
                           [endpoint_name, day]).fetchone()[0]
        return (spent[0] if spent else 0.0), held

    def reserve(self, endpoint_name: str, cap_usd: float | None, worst_usd: float | None,
                label: str) -> tuple[Decision, Reservation | None]:
        if cap_usd is None:
            return Decision(True), None
        worst, day, now = usable_usd(worst_usd), self._today(), self._clock()
        try:
            with self._db.write() as cur:
                spent, held = self._totals(cur, endpoint_name, day, now)
                if spent >= cap_usd or spent + held + worst > cap_usd:
                    return spend_refusal(label, cap_usd, spent, held, worst), None
                reservation = Reservation(endpoint_name, day, worst, uuid.uuid4().hex)
                cur.execute("INSERT INTO spend_holds VALUES (?, ?, ?, ?, ?)",
                            [reservation.reservation_id, endpoint_name, day, worst, now + HOLD_TTL_S])
            return Decision(True), reservation
        except RunsUnavailable as exc:
            self.problem = str(exc)
            return self._local.reserve(endpoint_name, cap_usd, worst_usd, label)

    def settle(self, reservation: Reservation | None, actual_usd: float | None) -> None:
        if reservation is None:
            return
        try:
            with self._db.write() as cur:
                held = cur.execute("DELETE FROM spend_holds WHERE reservation_id = ?", [reservation.reservation_id])
                if held.rowcount:  # settled once, even if asked twice
                    self._add(cur, reservation.endpoint_name, reservation.day, usable_usd(actual_usd))
                    return
        except RunsUnavailable as exc:
            self.problem = str(exc)
        self._local.settle(reservation, actual_usd)  # a hold made while the database was failing

    @staticmethod
    def _add(cur, endpoint_name: str, day: str, usd: float) -> None:
        if usd:
            cur.execute("INSERT INTO daily_spend VALUES (?, ?, ?) ON CONFLICT (endpoint_name, day) "
                        "DO UPDATE SET spent_usd = spent_usd + excluded.spent_usd", [endpoint_name, day, usd])

    def check(self, endpoint_name: str, cap_usd: float | None, label: str) -> Decision:
        if cap_usd is None:
            return Decision(True)
        spent = self.spent(endpoint_name)
        return spend_refusal(label, cap_usd, spent, 0.0, 0.0) if spent >= cap_usd else Decision(True)

    def add(self, endpoint_name: str, usd: float | None) -> None:
        try:
            with self._db.write() as cur:
                self._add(cur, endpoint_name, self._today(), usable_usd(usd))
        except RunsUnavailable as exc:
            self.problem = str(exc)
            self._local.add(endpoint_name, usd)

    def spent(self, endpoint_name: str) -> float:
        try:
            with self._db.read() as cur:
                row = cur.execute("SELECT spent_usd FROM daily_spend WHERE endpoint_name = ? AND day = ?",
                                  [endpoint_name, self._today()]).fetchone()
            return (row[0] if row else 0.0) + self._local.spent(endpoint_name)
        except RunsUnavailable as exc:
            self.problem = str(exc)
            return self._local.spent(endpoint_name)
