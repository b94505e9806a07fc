"""`python -m modelmatch` pauses the cyclic garbage collector while it imports and loads the catalog, and no longer:
the command's own work, an eval run above all (minutes, many replies), runs with it on. Imported (a test, the
console script), the module leaves the collector alone."""

from __future__ import annotations

import json
import os
import subprocess
import time
import sys

import pytest

from tests.conftest import REPO_ROOT

# Runs the command as `python -m modelmatch` does (run_name "__main__"), noting the collector's state while the
# catalog is read and while the eval subcommand runs, and after the command.
AS_SCRIPT = """
import gc, json, runpy, sys
import ingest.build
import modelmatch.planning.records as records
import modelmatch.evals.cli as eval_cli
seen = {}
load, run_eval, check = records.load_decision_catalog, eval_cli.run, ingest.build.ensure_current
def loading(*args, **kwargs):
    seen["enabled_while_loading"] = gc.isenabled()
    return load(*args, **kwargs)
def evaluating(args):
    seen["enabled_while_eval_runs"] = gc.isenabled()
    return run_eval(args)
def checking(*args, **kwargs):
    seen["enabled_while_data_is_checked"] = gc.isenabled()
    return check(*args, **kwargs)
records.load_decision_catalog, eval_cli.run, ingest.build.ensure_current = loading, evaluating, checking
sys.argv = ["modelmatch", *sys.argv[1:]]
try:
    runpy.run_module("modelmatch", run_name="__main__", alter_sys=True)
except SystemExit as done:
    seen["status"] = done.code
seen["enabled_after"] = gc.isenabled()
seen["frozen"] = gc.get_freeze_count()
print(json.dumps(seen), file=sys.stderr)
"""

AS_MODULE = """
import gc, json, sys
from modelmatch.__main__ import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "enabled_after": gc.isenabled(), "frozen": gc.get_freeze_count()}),
      file=sys.stderr)
"""


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120, env=None if env is None else {**os.environ, **env})
    return json.loads(out.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [
    ["plan", "--model", "test-org/Alpha-7B-Instruct", "--gpu", "test-gpu", "--json"],
    ["recommend", "--use-case", "general-chat", "--gpu", "test-gpu", "--json"],
])
def test_plan_and_recommend_load_the_catalog_paused_then_resume(live_catalog, args):
    seen = _run(AS_SCRIPT, *args, "--db", str(live_catalog))
    assert seen["status"] == 0
    assert seen["enabled_while_loading"] is False
    # Resumed once the catalog was in, with what was alive then frozen out of later passes.
    assert seen["enabled_after"] is True
    assert seen["frozen"] > 0


def test_bad_input_exits_with_the_collector_resumed_or_never_paused(live_catalog):
    seen = _run(AS_SCRIPT, "plan", "--model", "no-such-model", "--db", str(live_catalog))
    assert seen["status"] == 2
    assert seen["enabled_after"] is True


def test_eval_runs_with_the_collector_on(tmp_path):
    """An eval run is long and makes garbage by the reply: it must not run paused."""
    seen = _run(AS_SCRIPT, "eval", "--list", "--runs-db", str(tmp_path / "runs.sqlite"))
    assert seen["enabled_while_eval_runs"] is True
    assert seen["enabled_after"] is True


def test_imported_main_leaves_the_collector_alone(live_catalog):
    seen = _run(AS_MODULE, "recommend", "--use-case", "general-chat", "--gpu", "test-gpu", "--json",
                "--db", str(live_catalog))
    assert seen == {"status": 0, "enabled_after": True, "frozen": 0}


def test_without_db_a_build_runs_with_the_collector_on_and_unchanged_data_loads_paused(fixture_data_dir):
    """Without --db the command checks data/ first: a build (stats differ, here no catalog yet) runs with the
    collector on; when the stats match the last check's, nothing is hashed and the catalog loads paused, as with
    --db."""
    an_hour_ago_ns = time.time_ns() - 3600 * 10**9
    for path in fixture_data_dir.rglob("*.csv"):  # older than the window in which stats are not trusted
        os.utime(path, ns=(an_hour_ago_ns, an_hour_ago_ns))
    env = {"MODELMATCH_CATALOG": str(fixture_data_dir / "catalog.duckdb"), "MODELMATCH_DATA_DIR": str(fixture_data_dir)}
    args = ["recommend", "--use-case", "general-chat", "--gpu", "test-gpu", "--json"]
    built = _run(AS_SCRIPT, *args, env=env)
    assert built["status"] == 0 and built["enabled_while_data_is_checked"] is True
    hashed = _run(AS_SCRIPT, *args, env=env)  # the first check's stats were taken before its build: hashed again
    assert hashed["status"] == 0 and hashed["enabled_while_data_is_checked"] is True
    unchanged = _run(AS_SCRIPT, *args, env=env)
    assert unchanged["status"] == 0 and "enabled_while_data_is_checked" not in unchanged
    assert unchanged["enabled_while_loading"] is False
    assert unchanged["enabled_after"] is True
