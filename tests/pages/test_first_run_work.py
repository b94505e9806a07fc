"""The first page of a new process does not pay for Streamlit's REPL check: before its first element Streamlit asked
inspect.stack() whether it runs in a Python REPL, which resolves the source file of every loaded module (150-200 ms
of a cold Overview once pandas, Altair and DuckDB are loaded). Each case runs in a fresh interpreter, since the check
happens once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# One fresh process: count the REPL checks while the script runs its first page, print the count.
COUNT_REPL_CHECKS = '''import json, sys
from streamlit import env_util
from streamlit.testing.v1 import AppTest
calls = []
real = env_util.is_repl
def counted():
    calls.append(1)
    return real()
env_util.is_repl = counted
at = AppTest.from_file(sys.argv[1], default_timeout=120)
if sys.argv[2]:
    at.switch_page(sys.argv[2])
at.run()
assert not at.exception, [e.message for e in at.exception]
print(json.dumps({"repl_checks": len(calls)}))
'''


def repl_checks(tmp_path: Path, data_dir: Path, script: Path, page: str = "") -> int:
    env = {**os.environ, "MODELMATCH_DATA_DIR": str(data_dir), "MODELMATCH_CATALOG": str(data_dir / "catalog.duckdb"),
           "PYTHONPATH": str(REPO_ROOT)}
    worker = tmp_path / "count_repl_checks.py"
    worker.write_text(COUNT_REPL_CHECKS)
    proc = subprocess.run([sys.executable, str(worker), str(script), page], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["repl_checks"]


def test_a_plain_streamlit_script_makes_the_repl_check_once(tmp_path, fixture_data_dir):
    # The premise: without the app's setting, Streamlit's first element makes the check.
    script = tmp_path / "plain.py"
    script.write_text('import streamlit as st\nst.title("Plain page")\n')
    assert repl_checks(tmp_path, fixture_data_dir, script) == 1


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/models.py"])
def test_the_first_page_of_a_process_makes_no_repl_check_regression(tmp_path, live_catalog, page):
    assert repl_checks(tmp_path, live_catalog.parent, REPO_ROOT / "app.py", page) == 0
