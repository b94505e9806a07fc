"""`plan` and `recommend` load neither pandas nor the eval subcommand's modules (half of their wall time before)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PROBE = """
import json, sys
from modelmatch.__main__ import main
status = main(sys.argv[1:])
heavy = sorted(m for m in ("pandas", "modelmatch.evals.cli", "modelmatch.evals.summary", "modelmatch.evals.runner")
               if m in sys.modules)
print(json.dumps({"status": status, "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.parametrize("args,status", [
    (["plan", "--model", "test-org/Alpha-7B-Instruct", "--gpu", "test-gpu", "--json"], 0),
    (["recommend", "--use-case", "general-chat", "--gpu", "test-gpu", "--json"], 0),
    (["plan", "--model", "no-such-model"], 2),  # the error path too
])
def test_plan_and_recommend_import_no_pandas_and_no_eval_modules(live_catalog, args, status):
    out = subprocess.run([sys.executable, "-c", PROBE, *args, "--db", str(live_catalog)], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    report = json.loads(out.stderr.strip().splitlines()[-1])
    assert report["heavy"] == [], report
    assert report["status"] == status, out.stderr


DEFAULT_CATALOG_PROBE = """
import json, sys
from modelmatch.__main__ import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "checked": "ingest.build" in sys.modules,
                  "heavy": sorted(m for m in ("pandas", "pyarrow") if m in sys.modules)}), file=sys.stderr)
"""


def test_without_db_the_catalog_check_imports_no_pandas_and_no_pyarrow(live_catalog):
    """The regression: without --db (the README's way) the CLI checks that the catalog is current through the build
    module, which imported pandas (for the change report) and pyarrow (for staging) at import: 0.92 s against 0.54 s
    for `recommend` on the real catalog."""
    env = {**os.environ, "MODELMATCH_DATA_DIR": str(live_catalog.parent), "MODELMATCH_CATALOG": str(live_catalog)}
    out = subprocess.run([sys.executable, "-c", DEFAULT_CATALOG_PROBE, "recommend", "--use-case", "general-chat",
                          "--gpu", "test-gpu", "--json"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    report = json.loads(out.stderr.strip().splitlines()[-1])
    assert report == {"status": 0, "checked": True, "heavy": []}, out.stderr


def test_the_probe_would_see_pandas_if_a_subcommand_loaded_it(live_catalog):
    """The check can fail: eval's help path imports its modules, and the probe reports them."""
    out = subprocess.run([sys.executable, "-c", PROBE + "\n", "eval", "--list"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert "modelmatch.evals.cli" in out.stderr


OTHER_SUBCOMMAND = """
import json, sys
from modelmatch.__main__ import main
status = main(sys.argv[1:])
loaded = sorted(m for m in ("modelmatch.planning.planner", "modelmatch.planning.published",
                            "modelmatch.planning.wizard.recommend", "modelmatch.planning.wizard.sensitivity")
                if m in sys.modules)
print(json.dumps({"status": status, "loaded": loaded}), file=sys.stderr)
"""


@pytest.mark.parametrize("args,loaded", [
    (["plan", "--model", "test-org/Alpha-7B-Instruct", "--gpu", "test-gpu", "--json"],
     ["modelmatch.planning.planner", "modelmatch.planning.published"]),
    (["recommend", "--use-case", "general-chat", "--gpu", "test-gpu", "--json"],
     ["modelmatch.planning.wizard.recommend", "modelmatch.planning.wizard.sensitivity"]),
])
def test_each_subcommand_loads_its_own_engine_and_not_the_others(live_catalog, args, loaded):
    """plan never imports the wizard and recommend never the planner: each pays only for what it runs."""
    out = subprocess.run([sys.executable, "-c", OTHER_SUBCOMMAND, *args, "--db", str(live_catalog)], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    report = json.loads(out.stderr.strip().splitlines()[-1])
    assert report == {"status": 0, "loaded": loaded}, out.stderr
