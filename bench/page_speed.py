"""Page render times on a catalog (use bench.synthetic_catalog for the 5,000-model one).

Prints, per page, the median and p95 of a cold first render (caches cleared, new session) and a warm rerun
(same session, nothing changed) under Streamlit's AppTest, and the first render in headless chromium (navigation
start until the page's main content is visible) on a freshly started server, then on a reload, then for a new
visitor on that running server (a new browser context: nothing cached, Streamlit's scripts fetched again), each
next to the same for a bare one-chart Streamlit page (bench.ratios' yardstick) served the same way. The new
visitor's websocket bytes (what the server sent for the page) are printed too.

    python -m bench.page_speed /tmp/synth/data --runs 15
    python -m bench.page_speed data --runs 6 --browser-runs 3 --pages overview,models,compare   # the real catalog
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from bench.ratios import BARE_PAGE  # noqa: E402
from modelmatch.chat.timing import percentile  # noqa: E402

PAGES = {
    # page file, CSS selector of the element that means "rendered" (query params: page_params)
    "overview": ("pages/overview.py", '[data-testid="stVegaLiteChart"]'),
    "compare": ("pages/compare.py", '[data-testid="stVegaLiteChart"]'),
    "models": ("pages/models.py", '[data-testid="stDataFrame"]'),
    "glossary": ("pages/glossary.py", '[data-testid="stDataFrame"]'),
}


def page_params(db_path: Path) -> dict[str, dict[str, str]]:
    """Query parameters this catalog has: Overview on the benchmark most models have a number for (each of them a
    point; on the synthetic catalog every model), Compare on the six models with the most scores."""
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        (benchmark,) = con.execute("SELECT benchmark_id FROM scores GROUP BY benchmark_id "
                                   "ORDER BY count(DISTINCT model_id) DESC, benchmark_id LIMIT 1").fetchone()
        models = [r[0] for r in con.execute("SELECT model_id FROM scores GROUP BY model_id "
                                            "ORDER BY count(*) DESC, model_id LIMIT 6").fetchall()]
    finally:
        con.close()
    return {"overview": {"benchmark": benchmark}, "compare": {"models": ",".join(models)}}


def summary(values_ms: list[float]) -> str:
    return f"median {statistics.median(values_ms):7.1f} ms  p95 {percentile(values_ms, 95):7.1f} ms  (n={len(values_ms)})"


def apptest_times(page: str, params: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    cold, warm = [], []
    for _ in range(max(3, runs // 3)):
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
        at.switch_page(page)
        for key, value in params.items():
            at.query_params[key] = value
        started = time.perf_counter()
        at.run()
        cold.append((time.perf_counter() - started) * 1000)
        assert not at.exception, [e.message for e in at.exception]
    for _ in range(runs):
        started = time.perf_counter()
        at.run()
        warm.append((time.perf_counter() - started) * 1000)
        assert not at.exception
    return cold, warm


@contextmanager
def bare_server(timeout_s: float = 90) -> Iterator[str]:
    """`streamlit run` of the bare one-chart page (bench.ratios' yardstick) on a free loopback port, once healthy."""
    from tests.browser import free_port

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare_page.py"
        script.write_text(BARE_PAGE)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false"],
                                cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the bare page's server did not become healthy")
                time.sleep(0.25)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def browser_times(page_slug: str, params: dict[str, str], selector: str, env: dict[str, str], runs: int,
                  bare: bool = False):
    """(first render on a freshly started server, reload) per run; bare: the one-chart yardstick page instead."""
    from urllib.parse import urlencode

    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, chromium_path, running_app

    first, reload_, visitor, visitor_bytes = [], [], [], []
    for _ in range(runs):
        with (bare_server() if bare else running_app(env)) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            target = url if bare else f"{url}/{page_slug}" + (f"?{urlencode(params)}" if params else "")
            started = time.perf_counter()
            page.goto(target)
            page.wait_for_selector(selector, state="visible", timeout=120_000)
            first.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            page.reload()
            page.wait_for_selector(selector, state="visible", timeout=120_000)
            reload_.append((time.perf_counter() - started) * 1000)
            # A new visitor: a browser context of its own has nothing cached, so Streamlit's scripts (and the
            # chart and table code they load on demand) are fetched and parsed again; the server is warm.
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            page = context.new_page()
            received: list[int] = []
            page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(len(payload))))
            started = time.perf_counter()
            page.goto(target)
            page.wait_for_selector(selector, state="visible", timeout=120_000)
            visitor.append((time.perf_counter() - started) * 1000)
            visitor_bytes.append(sum(received))
            context.close()
            browser.close()
    return first, reload_, visitor, visitor_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="folder with the CSV tables; catalog.duckdb built beside them")
    parser.add_argument("--runs", type=int, default=15, help="warm reruns per page (cold runs: a third)")
    parser.add_argument("--browser-runs", type=int, default=3, help="fresh servers per page for browser timing")
    parser.add_argument("--pages", default=",".join(PAGES))
    args = parser.parse_args(argv)
    env = {"MODELMATCH_DATA_DIR": str(args.data_dir), "MODELMATCH_CATALOG": str(args.data_dir / "catalog.duckdb")}
    os.environ.update(env)
    catalog_params = page_params(args.data_dir / "catalog.duckdb")
    bare_first = None
    if args.browser_runs:
        # The yardstick in the same run: Streamlit's own page load (its scripts, the websocket, one Vega chart).
        bare_first, bare_reload, bare_visitor, _ = browser_times("", {}, '[data-testid="stVegaLiteChart"]', env,
                                                                 args.browser_runs, bare=True)
        print(f"{'bare':9s} browser first render (new server) {summary(bare_first)}")
        print(f"{'bare':9s} browser reload                    {summary(bare_reload)}")
        print(f"{'bare':9s} browser new visitor (warm server) {summary(bare_visitor)}")
    for name in args.pages.split(","):
        page, selector = PAGES[name]
        params = catalog_params.get(name, {})
        cold, warm = apptest_times(page, params, args.runs)
        print(f"{name:9s} AppTest cold first render  {summary(cold)}")
        print(f"{name:9s} AppTest warm rerun         {summary(warm)}")
        if args.browser_runs:
            first, reload_, visitor, visitor_bytes = browser_times(name, params, selector, env, args.browser_runs)
            print(f"{name:9s} browser first render (new server) {summary(first)}  "
                  f"{statistics.median(first) / statistics.median(bare_first):.2f}x bare")
            print(f"{name:9s} browser reload                    {summary(reload_)}  "
                  f"{statistics.median(reload_) / statistics.median(bare_reload):.2f}x bare")
            print(f"{name:9s} browser new visitor (warm server) {summary(visitor)}  "
                  f"{statistics.median(visitor) / statistics.median(bare_visitor):.2f}x bare  "
                  f"websocket {statistics.median(visitor_bytes):,.0f} bytes")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
