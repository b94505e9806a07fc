"""Start the real app on loopback and drive Debian's chromium through Playwright (no browser download). The load
bench (bench/load_sessions.py) uses the same helpers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.conftest import REPO_ROOT

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    for candidate in (os.environ.get("MODELMATCH_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("Debian's chromium is needed for the browser tests: apt-get install chromium "
                       "(or set MODELMATCH_CHROMIUM to a chromium binary)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(data_dir: Path, work_dir: Path, **extra: str) -> dict[str, str]:
    """The app's environment in a test: the catalog built from data_dir, the endpoints file and runs database in
    work_dir, and any extra variables."""
    return {"MODELMATCH_DATA_DIR": str(data_dir), "MODELMATCH_CATALOG": str(data_dir / "catalog.duckdb"),
            "MODELMATCH_ENDPOINTS": str(work_dir / "endpoints.toml"),
            "MODELMATCH_RUNS_DB": str(work_dir / "runs.sqlite"), **extra}


@contextmanager
def app_process(env_overrides: dict[str, str], timeout_s: float = 90, extra_args: tuple[str, ...] = (),
                log_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """The real app (`streamlit run app.py`) on a free loopback port: yields (base URL, process) once it is healthy.
    Its output goes to a file (log_path, or a temporary one), not a pipe, so a chatty app under load can never
    block on a full pipe."""
    port = free_port()
    env = {**os.environ, **env_overrides}
    with (open(log_path, "w+b") if log_path else tempfile.TemporaryFile()) as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             *extra_args],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
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
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"streamlit exited: {log.read().decode(errors='replace')[-4000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError("streamlit did not become healthy")
                time.sleep(0.25)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def running_app(env_overrides: dict[str, str], timeout_s: float = 90) -> Iterator[str]:
    with app_process(env_overrides, timeout_s) as (url, _):
        yield url
