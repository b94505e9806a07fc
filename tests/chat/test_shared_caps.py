"""The per-visitor cap and the daily spend cap counted in the runs database (they held per process, so N replicas
allowed N times the cap), and the spend cap reserving each request's worst case before it is sent (requests in
flight together passed it)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from modelmatch.chat.limits import DailySpend
from modelmatch.chat.shared_limits import SharedDailySpend, SharedSlidingWindowLimiter
from tests.conftest import REPO_ROOT

TWO_PROCESSES = """
import sys, time
from pathlib import Path
from modelmatch.chat.shared_limits import SharedDailySpend, SharedSlidingWindowLimiter
path, what, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
limiter, spend = SharedSlidingWindowLimiter(path, window_s=600), SharedDailySpend(path, today=lambda: "2026-01-01")
while not go.exists():
    time.sleep(0.005)
allowed = 0
for _ in range(20):
    if what == "visitor":
        allowed += limiter.try_acquire("ip:203.0.113.9", 10, "Your session").allowed
    else:  # each request may cost up to $1 and costs $0.5: settled at once
        decision, hold = spend.reserve("Paid", 10.0, 1.0, "Paid")
        allowed += decision.allowed
        spend.settle(hold, 0.5)
print(allowed)
"""


def run_two_processes(tmp_path: Path, what: str) -> list[int]:
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", TWO_PROCESSES, str(tmp_path / "runs.sqlite"), what, str(go)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    return [int(out) for out, _ in outputs]


def test_per_visitor_cap_counted_per_process_holds_across_processes_now(tmp_path):
    """Two replicas sharing the runs file: one visitor gets 10 requests in total, not 10 from each."""
    assert sum(run_two_processes(tmp_path, "visitor")) == 10
    assert not SharedSlidingWindowLimiter(tmp_path / "runs.sqlite", window_s=600).would_allow("ip:203.0.113.9", 10)
    assert SharedSlidingWindowLimiter(tmp_path / "runs.sqlite", window_s=600).would_allow("ip:198.51.100.1", 10)


def test_daily_spend_cap_counted_per_process_holds_across_processes_now(tmp_path):
    """$10 a day with requests of at most $1 (each really $0.5): both processes together spend at most $10."""
    allowed = run_two_processes(tmp_path, "spend")
    spend = SharedDailySpend(tmp_path / "runs.sqlite", today=lambda: "2026-01-01")
    assert spend.spent("Paid") <= 10.0 and spend.spent("Paid") == pytest.approx(0.5 * sum(allowed))
    assert sum(allowed) == 19  # $9.5 spent: the 20th request's worst case ($1) would pass $10


def test_visitor_keys_are_stored_only_as_hashes(tmp_path):
    limiter = SharedSlidingWindowLimiter(tmp_path / "runs.sqlite", window_s=600)
    limiter.try_acquire("ip:203.0.113.77", 5, "Your session")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("runs.sqlite*"))
    assert b"203.0.113.77" not in raw


def test_sliding_window_in_the_runs_database_with_a_scripted_clock(tmp_path):
    now = [1000.0]
    limiter = SharedSlidingWindowLimiter(tmp_path / "runs.sqlite", window_s=60, clock=lambda: now[0])
    assert [limiter.try_acquire("ep", 2, "ep").allowed for _ in range(3)] == [True, True, False]
    refused = limiter.try_acquire("ep", 2, "Endpoint X")
    assert "2 requests per 60 s reached" in refused.reason and refused.retry_after_s == 60
    now[0] = 1059.9
    assert not limiter.try_acquire("ep", 2, "ep").allowed
    now[0] = 1060.0
    assert limiter.try_acquire("ep", 2, "ep").allowed
    assert limiter.try_acquire("other", 2, "other").allowed


@pytest.mark.parametrize("where", ["process", "runs database"])
def test_spend_cap_overshot_by_requests_in_flight_no_more(tmp_path, where):
    """Twenty requests start at once against a $5 cap, each able to cost up to $1: only five may be in flight
    together (checking what was already spent let all twenty through). When they end, each settles to its actual
    cost ($0.25), which frees room for more."""
    spend = (DailySpend(today=lambda: "2026-01-01") if where == "process"
             else SharedDailySpend(tmp_path / "runs.sqlite", today=lambda: "2026-01-01"))
    start = threading.Barrier(20)
    holds, refusals = [], []
    lock = threading.Lock()

    def request() -> None:
        start.wait()
        decision, hold = spend.reserve("Paid", 5.0, 1.0, "Paid")
        with lock:
            (holds if decision.allowed else refusals).append(hold if decision.allowed else decision.reason)

    threads = [threading.Thread(target=request) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(holds) == 5 and len(refusals) == 15
    assert "would be passed" in refusals[0] and "held by requests in flight" in refusals[0]
    for hold in holds:
        spend.settle(hold, 0.25)
        spend.settle(hold, 0.25)  # settled once, however often it is asked
    assert spend.spent("Paid") == pytest.approx(1.25)
    assert spend.reserve("Paid", 5.0, 1.0, "Paid")[0].allowed


@pytest.mark.parametrize("where", ["process", "runs database"])
def test_a_stopped_or_failed_request_releases_its_hold(tmp_path, where):
    spend = (DailySpend(today=lambda: "2026-01-01") if where == "process"
             else SharedDailySpend(tmp_path / "runs.sqlite", today=lambda: "2026-01-01"))
    decision, hold = spend.reserve("Paid", 1.0, 1.0, "Paid")
    assert decision.allowed and not spend.reserve("Paid", 1.0, 0.5, "Paid")[0].allowed
    spend.settle(hold, 0.0)
    assert spend.spent("Paid") == 0 and spend.reserve("Paid", 1.0, 1.0, "Paid")[0].allowed


def test_no_cap_reserves_nothing(tmp_path):
    spend = SharedDailySpend(tmp_path / "runs.sqlite", today=lambda: "2026-01-01")
    decision, hold = spend.reserve("Free", None, 1e9, "Free")
    assert decision.allowed and hold is None


MANY_AT_ONCE = """
import sys, time
from pathlib import Path
from modelmatch.chat.shared_limits import SharedSlidingWindowLimiter
path, go = Path(sys.argv[1]), Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
limiter = SharedSlidingWindowLimiter(path, window_s=600)
allowed = limiter.try_acquire("ip:203.0.113.9", 100, "Your session").allowed
print(int(allowed), repr(limiter.problem))
"""


def test_replicas_starting_together_on_a_new_runs_file_all_count_in_it(tmp_path):
    """Several processes opening one new runs file at the same instant (replicas starting together): each switches
    it to WAL, counts in the shared file, and none fails or falls back to counting alone. Before the fix one process
    in a CI run stopped with "in use by another process" at the journal-mode pragma, which did not wait for the
    busy timeout."""
    for round_ in range(4):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        go = folder / "go"
        procs = [subprocess.Popen([sys.executable, "-c", MANY_AT_ONCE, str(folder / "runs.sqlite"), str(go)],
                                  cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(5)]
        time.sleep(0.5)  # every process waiting on the go file
        go.touch()
        outputs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
        assert sorted(out.strip() for out, _ in outputs) == ["1 ''"] * 5
        assert not SharedSlidingWindowLimiter(folder / "runs.sqlite", window_s=600).would_allow("ip:203.0.113.9", 5)
