"""The openai SDK's import starts in the background on the pages that stream through it (Playground, Your evals,
with an openai-kind endpoint), once per process, and nowhere else. Each case runs in a fresh Python process: the
test process itself has imported the SDK long before."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

# One fresh process: open a page under AppTest, then wait for a warm-up it started and report what was imported.
WORKER = """
import json, sys
from streamlit.testing.v1 import AppTest
from modelmatch.chat import sdk_stream

page = sys.argv[1]
at = AppTest.from_file(sys.argv[2], default_timeout=120)
at.run()
if page != "pages/models.py":
    at.switch_page(page)
    at.run()
assert not at.exception, [e.message for e in at.exception]
thread = sdk_stream._warm_thread
name = thread.name if thread is not None else None
sdk_stream.wait_for_warm_up()
print(json.dumps({"warm_thread": name, "openai": "openai" in sys.modules, "httpx2": "httpx2" in sys.modules}))
"""


def open_in_fresh_process(page: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", WORKER, page, str(REPO_ROOT / "app.py")], cwd=REPO_ROOT,
                         env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def page_env(monkeypatch, live_catalog, fixture_data_dir, tmp_path) -> dict[str, str]:
    import os

    endpoints = tmp_path / "endpoints.toml"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MODELMATCH_DATA_DIR": str(fixture_data_dir),
           "MODELMATCH_CATALOG": str(live_catalog), "MODELMATCH_ENDPOINTS": str(endpoints),
           "MODELMATCH_RUNS_DB": str(tmp_path / "runs.sqlite")}
    # A server that is never contacted: the warm-up builds no client and opens no connection.
    endpoints.write_text('[[endpoint]]\nname = "Remote"\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                         'model = "remote"\n')
    return env


@pytest.mark.parametrize("page", ["pages/playground.py", "pages/evals.py"])
def test_streaming_pages_import_the_sdk_in_the_background(page_env, page):
    seen = open_in_fresh_process(page, page_env)
    assert seen == {"warm_thread": "openai-sdk-import", "openai": True, "httpx2": True}


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/models.py", "pages/compare.py", "pages/planner.py"])
def test_other_pages_never_import_the_sdk(page_env, page):
    seen = open_in_fresh_process(page, page_env)
    assert seen == {"warm_thread": None, "openai": False, "httpx2": False}


def test_playground_without_an_openai_endpoint_does_not_import_the_sdk(page_env, tmp_path):
    (tmp_path / "endpoints.toml").unlink()  # only the two local models are offered
    seen = open_in_fresh_process("pages/playground.py", page_env)
    assert seen == {"warm_thread": None, "openai": False, "httpx2": False}
