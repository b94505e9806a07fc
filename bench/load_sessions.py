"""Many real browser sessions against one app process, while the catalog is rebuilt underneath it.

Starts, all on 127.0.0.1: the ground-truth streaming server (bench.truth_server: a first token after --ttft-ms, then
one token every --gap-ms), the real app (streamlit run app.py) on a copy of the catalog CSVs, and a loop that
rebuilds that catalog every --rebuild-every-s seconds in its own process (the real build: validate, write beside,
atomic replace). Then, for each level in --sessions, that many headless chromium sessions (one browser context
each: their own cookies and websocket) run --rounds rounds of:

    Overview (fresh page load)  ->  Compare with two models (fresh page load)  ->  Playground: one prompt, streamed

and are then closed. Reported per level:

* page load: navigation start until the page's main element is visible (Overview and Compare: the chart;
  Playground: the chat box), p50/p95/max, and every failed load with its reason (timeout, exception box, error
  box). Loads during rebuilds count like any other.
* streaming, per session: tokens/s as the visitor saw them (a MutationObserver in the page stamps every change of
  the answer's token count), tokens/s the app measured (its saved run), and the rate the server really sent
  (its own stamps); TTFT as the visitor saw it (Enter pressed until the first token on screen).
* the app process: RSS and threads before, peak during, right after the sessions closed, and once Streamlit's
  disconnected-session TTL (server.disconnectedSessionTTL, 120 s by default) has passed.

    python -m bench.load_sessions --sessions 5,20,50 --rounds 2

The client (chromium) runs on the same machine as the app: on a small machine the browsers take most of the CPU,
so the figures describe the whole machine under that load, and the bench prints the machine's core count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from modelmatch.chat.timing import percentile  # noqa: E402
from tests.browser import CHROMIUM_ARGS, app_process, chromium_path  # noqa: E402  (the tests' own launchers)
COMPARE_MODELS = "Qwen/Qwen2.5-72B-Instruct,deepseek-ai/DeepSeek-V3"
CHART = '[data-testid="stVegaLiteChart"]'
CHAT_BOX = '[data-testid="stChatInputTextArea"]'
FAILURE_BOXES = '[data-testid="stException"], [data-testid="stAlertContentError"]'
STREAM_TIMEOUT_MS = 300_000
ENDPOINT_NAME = "Drip (loopback)"

# Stamps every change in the number of answer tokens (" x" each) in the assistant's message.
TOKEN_WATCH_JS = """
window.__mmTokenStamps = [];
window.__mmWatch = () => {
  let last = -1;
  const count = () => {
    const messages = document.querySelectorAll('[data-testid="stChatMessageContent"]');
    if (messages.length < 2) return 0;
    const text = messages[messages.length - 1].textContent || '';
    const found = text.match(/(^|\\s)x(?=\\s|$)/g);
    return found ? found.length : 0;
  };
  new MutationObserver(() => {
    const n = count();
    if (n !== last) { last = n; window.__mmTokenStamps.push([performance.now(), n]); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
};
"""


@dataclass
class PageLoad:
    level: int
    session: int
    page: str
    ms: float | None
    failure: str = ""
    started: float = 0.0  # perf_counter at navigation start
    during_rebuild: bool = False


@dataclass
class StreamResult:
    level: int
    session: int
    rid: int
    visible_ttft_ms: float | None = None
    visible_tokens_per_s: float | None = None
    visible_tokens: int = 0
    failure: str = ""


@dataclass
class ProcessSample:
    t_s: float
    rss_mb: float
    threads: int
    cpu_s: float  # the app process's user + system CPU seconds so far
    machine_busy_s: float  # every core's non-idle seconds so far, summed (from /proc/stat)


@dataclass
class Level:
    sessions: int
    loads: list[PageLoad] = field(default_factory=list)
    streams: list[StreamResult] = field(default_factory=list)
    wall_s: float = 0.0
    before: ProcessSample | None = None
    peak_rss_mb: float = 0.0
    peak_threads: int = 0
    ended: ProcessSample | None = None  # when the last session closed
    closed: ProcessSample | None = None
    after_ttl: ProcessSample | None = None


def sample_process(pid: int, started: float) -> ProcessSample:
    """RSS and threads from /proc/<pid>/status, CPU seconds (user+system) from /proc/<pid>/stat."""
    rss_kb, threads = 0, 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks
    machine = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = machine[3] + machine[4]  # idle + iowait
    return ProcessSample(time.perf_counter() - started, rss_kb / 1024, threads, cpu_s, (sum(machine[:8]) - idle) / ticks)


class Sampler(threading.Thread):
    def __init__(self, pid: int, every_s: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every_s = pid, every_s
        self.started = time.perf_counter()
        self.samples: list[ProcessSample] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.every_s):
            try:
                self.samples.append(sample_process(self.pid, self.started))
            except (FileNotFoundError, ProcessLookupError):
                return

    def now(self) -> ProcessSample:
        return sample_process(self.pid, self.started)

    def peak_since(self, t_s: float) -> tuple[float, int]:
        window = [s for s in self.samples if s.t_s >= t_s] or [self.now()]
        return max(s.rss_mb for s in window), max(s.threads for s in window)

    def stop(self) -> None:
        self._stop_event.set()


def stop_child(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def child_process(command: list[str]) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        stop_child(proc)


# ------------------------------------------------------------------------------------------- the rebuild loop

def rebuild_loop(data_dir: Path, db_path: Path, every_s: float, stamps: Path) -> None:
    """Runs in its own process: rebuild, note start and end (perf_counter, same clock machine-wide), sleep."""
    from ingest.build import build

    with stamps.open("a") as out:
        while True:
            started = time.perf_counter()
            try:
                report = build(data_dir, db_path)
                out.write(json.dumps({"start": started, "end": time.perf_counter(), "build_id": report.build_id})
                          + "\n")
            except Exception as exc:  # a failed rebuild is a finding: record it and go on
                out.write(json.dumps({"start": started, "end": time.perf_counter(), "error": repr(exc)}) + "\n")
            out.flush()
            time.sleep(every_s)


def read_rebuilds(stamps: Path) -> list[dict]:
    if not stamps.exists():
        return []
    return [json.loads(line) for line in stamps.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------ one session

async def timed_load(page, url: str, selector: str, level: int, session: int, name: str,
                     timeout_ms: int) -> PageLoad:
    started = time.perf_counter()
    try:
        await page.goto(url, wait_until="commit", timeout=timeout_ms)
        await page.wait_for_selector(selector, state="visible", timeout=timeout_ms)
    except Exception as exc:  # playwright's TimeoutError and navigation errors: a failed load
        return PageLoad(level, session, name, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}",
                        started)
    ms = (time.perf_counter() - started) * 1000
    load = PageLoad(level, session, name, ms, started=started)
    if await page.locator(FAILURE_BOXES).count():
        text = (await page.locator(FAILURE_BOXES).first.inner_text())[:160]
        load.failure = f"error shown: {text}"
    return load


async def stream_once(page, base: str, level: int, session: int, rid: int,
                      timeout_ms: int) -> tuple[PageLoad, StreamResult]:
    load = await timed_load(page, f"{base}/playground", CHAT_BOX, level, session, "playground", timeout_ms)
    result = StreamResult(level, session, rid)
    if load.failure:
        result.failure = "playground did not load"
        return load, result
    try:
        await page.evaluate("window.__mmWatch()")
        box = page.locator(CHAT_BOX)
        await box.fill(f"rid:{rid} please answer")
        sent_at = await page.evaluate("performance.now()")
        await box.press("Enter")
        await page.get_by_text("Saved as run", exact=False).wait_for(state="visible", timeout=STREAM_TIMEOUT_MS)
        stamps = await page.evaluate("window.__mmTokenStamps")
    except Exception as exc:
        result.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        return load, result
    shown = [(t, n) for t, n in stamps if n > 0]
    if not shown:
        result.failure = "no token was ever shown"
        return load, result
    first_t, first_n = shown[0]
    final_n = max(n for _, n in shown)
    final_t = next(t for t, n in shown if n == final_n)
    result.visible_ttft_ms = first_t - sent_at
    result.visible_tokens = final_n
    if final_t > first_t:
        result.visible_tokens_per_s = (final_n - first_n) / ((final_t - first_t) / 1000)
    return load, result


async def one_session(browser, base: str, level: Level, session: int, rounds: int, next_rid,
                      start_after_s: float, timeout_ms: int) -> None:
    await asyncio.sleep(start_after_s)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_init_script(TOKEN_WATCH_JS)
    page = await context.new_page()
    try:
        for _ in range(rounds):
            level.loads.append(await timed_load(page, f"{base}/overview", CHART, level.sessions, session,
                                                "overview", timeout_ms))
            level.loads.append(await timed_load(page, f"{base}/compare?models={COMPARE_MODELS}", CHART,
                                                level.sessions, session, "compare", timeout_ms))
            load, stream = await stream_once(page, base, level.sessions, session, next_rid(), timeout_ms)
            level.loads.append(load)
            level.streams.append(stream)
    finally:
        await context.close()


async def run_level(base: str, level: Level, rounds: int, next_rid, ramp_s: float = 0.0,
                    timeout_ms: int = 300_000) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_path(),
            args=[*CHROMIUM_ARGS, "--disable-dev-shm-usage"])
        try:
            started = time.perf_counter()
            await asyncio.gather(*(one_session(browser, base, level, i, rounds, next_rid,
                                               ramp_s * i / level.sessions, timeout_ms)
                                   for i in range(level.sessions)))
            level.wall_s = time.perf_counter() - started
        finally:
            await browser.close()


# --------------------------------------------------------------------------------------------------- reporting

def summarize_ms(values: list[float]) -> str:
    if not values:
        return "no successful loads"
    return (f"p50 {statistics.median(values):7.0f} ms  p95 {percentile(values, 95):7.0f} ms  "
            f"max {max(values):7.0f} ms  (n={len(values)})")


def mark_rebuild_overlap(level: Level, rebuilds: list[dict], timeout_ms: int) -> None:
    windows = [(r["start"], r["end"]) for r in rebuilds]
    for load in level.loads:
        ended = load.started + (load.ms or timeout_ms) / 1000
        load.during_rebuild = any(s < ended and e > load.started for s, e in windows)


def server_truth(truth_url: str) -> dict[int, dict]:
    with urllib.request.urlopen(f"{truth_url}/truth", timeout=10) as response:
        return {int(k): v for k, v in json.loads(response.read()).items()}


def saved_runs(runs_db: Path) -> dict[int, dict]:
    """The app's own measurements, by the rid tag in each prompt (read after the app has stopped)."""
    import re

    import sqlite3

    if not runs_db.exists():
        return {}
    con = sqlite3.connect(f"{runs_db.as_uri()}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT r.prompt, c.ttft_ms, c.output_tokens_per_s, c.output_tokens, c.error "
                           "FROM runs r JOIN run_columns c USING (run_id)").fetchall()
    finally:
        con.close()
    found = {}
    for prompt, ttft_ms, tok_s, tokens, error in rows:
        match = re.search(r"rid:(\d+)", prompt or "")
        if match:
            found[int(match.group(1))] = {"ttft_ms": ttft_ms, "tokens_per_s": tok_s, "tokens": tokens,
                                          "error": error}
    return found


def report(levels: list[Level], truth: dict[int, dict], app_runs: dict[int, dict], rebuilds: list[dict],
           args: argparse.Namespace, baseline: ProcessSample) -> None:
    nominal = 1000 / args.gap_ms
    failed_builds = [r for r in rebuilds if "error" in r]
    build_s = [r["end"] - r["start"] for r in rebuilds if "error" not in r]
    print(f"\nmachine: {os.cpu_count()} cores; chromium and the app share it")
    print(f"server: first token after {args.ttft_ms:g} ms, then one token every {args.gap_ms:g} ms "
          f"(nominal {nominal:.1f} tok/s), {args.tokens} tokens per answer")
    print(f"catalog rebuilds during the run: {len(rebuilds)} ({len(failed_builds)} failed), every "
          f"{args.rebuild_every_s:g} s + build time (median {statistics.median(build_s) if build_s else 0:.2f} s)")
    print(f"app process at start (after one warm-up visit): RSS {baseline.rss_mb:.0f} MB, {baseline.threads} threads")
    for level in levels:
        loads_ok = [x for x in level.loads if not x.failure]
        failures = [x for x in level.loads if x.failure]
        during = [x for x in level.loads if x.during_rebuild]
        print(f"\n=== {level.sessions} concurrent sessions x {args.rounds} rounds, started over {args.ramp_s:g} s "
              f"({len(level.loads)} page loads, wall {level.wall_s:.0f} s)")
        for name in ("overview", "compare", "playground"):
            print(f"  load {name:10s} {summarize_ms([x.ms for x in loads_ok if x.page == name])}")
        print(f"  failed page loads: {len(failures)} of {len(level.loads)} "
              f"({len(during)} loads overlapped a rebuild, {sum(1 for x in during if x.failure)} of them failed)")
        for x in failures[:10]:
            print(f"    session {x.session} {x.page}: {x.failure}")
        streams = [s for s in level.streams if not s.failure]
        stream_failures = [s for s in level.streams if s.failure]
        visible = [s.visible_tokens_per_s for s in streams if s.visible_tokens_per_s]
        ttft = [s.visible_ttft_ms for s in streams if s.visible_ttft_ms is not None]
        server_rates, app_rates = [], []
        for s in streams:
            t = truth.get(s.rid)
            if t and t.get("last", 0) > t.get("first", 0):
                server_rates.append((t["tokens"] - 1) / (t["last"] - t["first"]))
            a = app_runs.get(s.rid)
            if a and a["tokens_per_s"]:
                app_rates.append(a["tokens_per_s"])
        print(f"  streams: {len(streams)} complete, {len(stream_failures)} failed"
              + "".join(f"\n    session {s.session}: {s.failure}" for s in stream_failures[:10]))
        if visible:
            print(f"  tokens/s seen by the visitor   p50 {statistics.median(visible):6.1f}  "
                  f"min {min(visible):6.1f}  max {max(visible):6.1f}")
        if app_rates:
            print(f"  tokens/s measured by the app   p50 {statistics.median(app_rates):6.1f}  "
                  f"min {min(app_rates):6.1f}  max {max(app_rates):6.1f}")
        if server_rates:
            print(f"  tokens/s the server sent       p50 {statistics.median(server_rates):6.1f}  "
                  f"min {min(server_rates):6.1f}  max {max(server_rates):6.1f}  (nominal {nominal:.1f})")
        if ttft:
            print(f"  TTFT seen by the visitor       {summarize_ms(ttft)}  (server's own: {args.ttft_ms:g} ms)")
        if level.before and level.ended:
            wall = level.ended.t_s - level.before.t_s
            app_cpu = level.ended.cpu_s - level.before.cpu_s
            busy = level.ended.machine_busy_s - level.before.machine_busy_s
            print(f"  CPU: machine {busy / wall:.2f} of {os.cpu_count()} cores busy; the app process "
                  f"{app_cpu / wall:.2f} cores ({100 * app_cpu / busy if busy else 0:.0f}% of the busy time), "
                  f"the rest chromium, the servers and the rebuilds); app CPU per page load (streaming included) "
                  f"{1000 * app_cpu / max(1, len(level.loads)):.0f} ms")
        if level.before and level.closed and level.after_ttl:
            print(f"  app RSS MB   before {level.before.rss_mb:6.0f}  peak {level.peak_rss_mb:6.0f}  "
                  f"closed+{args.settle_s:g}s {level.closed.rss_mb:6.0f}  after TTL {level.after_ttl.rss_mb:6.0f}")
            print(f"  app threads  before {level.before.threads:6d}  peak {level.peak_threads:6d}  "
                  f"closed+{args.settle_s:g}s {level.closed.threads:6d}  after TTL {level.after_ttl.threads:6d}")


# ------------------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_sessions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="5,20,50", help="concurrent sessions per level, comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="Overview -> Compare -> Playground rounds per session")
    parser.add_argument("--ttft-ms", type=float, default=300.0, help="server: delay before the first token")
    parser.add_argument("--gap-ms", type=float, default=50.0, help="server: delay between tokens")
    parser.add_argument("--tokens", type=int, default=60, help="tokens per answer (the endpoint's max_tokens cap)")
    parser.add_argument("--rebuild-every-s", type=float, default=3.0, help="pause between catalog rebuilds; 0: none")
    parser.add_argument("--ramp-s", type=float, default=10.0,
                        help="sessions start evenly spread over this many seconds (0: all at once)")
    parser.add_argument("--page-timeout-s", type=float, default=300.0,
                        help="a page not shown within this long counts as a failed load")
    parser.add_argument("--settle-s", type=float, default=10.0, help="wait after closing sessions before sampling")
    parser.add_argument("--ttl-s", type=float, default=120.0,
                        help="the app's server.disconnectedSessionTTL (sampled again after it passes)")
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "data", help="CSV folder to copy and serve")
    parser.add_argument("--rebuild-loop", nargs=4, metavar=("DATA", "DB", "EVERY_S", "STAMPS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rebuild_loop:
        data, db, every, stamps = args.rebuild_loop
        rebuild_loop(Path(data), Path(db), float(every), Path(stamps))
        return 0
    timeout_ms = int(args.page_timeout_s * 1000)
    levels_wanted = [int(x) for x in args.sessions.split(",") if x.strip()]
    if not levels_wanted or min(levels_wanted) < 1:
        parser.error("--sessions: give positive counts, e.g. 5,20,50")
    if args.tokens < 2 or args.tokens > 4096:
        parser.error("--tokens: between 2 and 4096")

    from ingest.build import build

    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelmatch-load-")))
        data_dir = work / "data"
        shutil.copytree(args.data, data_dir, ignore=shutil.ignore_patterns("*.duckdb", "*.duckdb.*", "*.wal"))
        catalog = work / "catalog.duckdb"
        print(f"building the catalog from a copy of {args.data} ...", flush=True)
        build(data_dir, catalog)

        truth_port_file = work / "truth.port"
        stack.enter_context(child_process(
            [sys.executable, "-m", "bench.truth_server", "--ttft-ms", str(args.ttft_ms), "--gap-ms",
             str(args.gap_ms), "--ready-file", str(truth_port_file)]))
        deadline = time.monotonic() + 30
        while not truth_port_file.exists() or not truth_port_file.read_text().strip():
            if time.monotonic() > deadline:
                raise SystemExit("the truth server did not start")
            time.sleep(0.1)
        truth_url = f"http://127.0.0.1:{truth_port_file.read_text().strip()}"
        endpoints = work / "endpoints.toml"
        endpoints.write_text(
            f'[[endpoint]]\nname = "{ENDPOINT_NAME}"\nkind = "openai"\nbase_url = "{truth_url}/v1"\n'
            f'model = "drip"\nmax_tokens_cap = {args.tokens}\nrequests_per_minute = 100000\n')

        app_log = work / "app.log"
        env = {"MODELMATCH_DATA_DIR": str(data_dir), "MODELMATCH_CATALOG": str(catalog),
               "MODELMATCH_ENDPOINTS": str(endpoints), "MODELMATCH_RUNS_DB": str(work / "runs.sqlite"),
               "MODELMATCH_SESSION_REQUESTS_PER_10_MIN": "100000"}
        base, app = stack.enter_context(app_process(
            env, timeout_s=120, extra_args=("--server.disconnectedSessionTTL", str(int(args.ttl_s))),
            log_path=app_log))
        print(f"app on {base} (pid {app.pid}), truth server on {truth_url}", flush=True)

        rid_counter = iter(range(1, 10**9))
        next_rid = lambda: next(rid_counter)  # noqa: E731
        warm = Level(sessions=1)
        asyncio.run(run_level(base, warm, 1, next_rid))  # imports and caches warm, as on a server in use
        sampler = Sampler(app.pid)
        sampler.start()
        time.sleep(args.settle_s)
        baseline = sampler.now()

        stamps = work / "rebuilds.jsonl"
        rebuilder = None
        if args.rebuild_every_s > 0:
            rebuilder = stack.enter_context(child_process(
                [sys.executable, "-m", "bench.load_sessions", "--rebuild-loop", str(data_dir), str(catalog),
                 str(args.rebuild_every_s), str(stamps)]))

        levels = []
        for count in levels_wanted:
            level = Level(sessions=count, before=sampler.now())
            print(f"{count} sessions ...", flush=True)
            started = level.before.t_s
            asyncio.run(run_level(base, level, args.rounds, next_rid, args.ramp_s, timeout_ms))
            level.ended = sampler.now()
            level.peak_rss_mb, level.peak_threads = sampler.peak_since(started)
            time.sleep(args.settle_s)
            level.closed = sampler.now()
            time.sleep(max(0.0, args.ttl_s + 5 - args.settle_s))
            level.after_ttl = sampler.now()
            levels.append(level)
            fails = sum(1 for x in level.loads if x.failure) + sum(1 for s in level.streams if s.failure)
            print(f"  done in {level.wall_s:.0f} s, {fails} failures", flush=True)

        if rebuilder is not None:
            stop_child(rebuilder)
        rebuilds = read_rebuilds(stamps)
        for level in levels:
            mark_rebuild_overlap(level, rebuilds, timeout_ms)
        truth = server_truth(truth_url)
        sampler.stop()
        stop_child(app)  # the runs database is read once the app has let go of it
        report(levels, truth, saved_runs(work / "runs.sqlite"), rebuilds, args, baseline)
        problems = [line for line in app_log.read_text(errors="replace").splitlines()
                    if "Traceback" in line or "Error" in line]
        print(f"\napp log: {len(problems)} lines mentioning a traceback or error" +
              "".join(f"\n  {line[:200]}" for line in problems[:10]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
