"""`python -m modelmatch plan|recommend` in a real subprocess: the JSON equals what the page renders (the same
function on the same catalog), and bad input exits non-zero with a one-line reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.plan_text import to_jsonable
from modelmatch.planning.planner import plan
from modelmatch.planning.records import load_decision_catalog
from modelmatch.planning.request import PlanRequest, UsageProfile
from modelmatch.planning.wizard.recommend import recommend
from modelmatch.planning.wizard.request import LicenseNeeds, WizardRequest
from tests.conftest import REPO_ROOT

AS_OF = "2026-01-01"


def run_cli(*args: str, db=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "modelmatch", *args]
    if db is not None:
        command += ["--db", str(db)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_plan_json_is_the_page_result(real_catalog):
    proc = run_cli("plan", "--model", "deepseek-ai/DeepSeek-V3", "--weights", "fp8", "--context", "32768",
                   "--batch", "8", "--gpu", "h200-sxm", "--gpus", "8", "--input-mtok", "100", "--output-mtok", "20",
                   "--gpu-usd-per-hour", "3", "--prices-as-of", AS_OF, "--utilization", "0.9", "--reserve-gb", "2",
                   "--json", db=real_catalog)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    catalog = load_decision_catalog(CatalogReader(real_catalog))
    expected = plan(PlanRequest("deepseek-ai/DeepSeek-V3", "fp8", "bf16", 32768, 8, "h200-sxm", 8,
                                gpu_usd_per_hour=3.0, gpu_memory_utilization=0.9, runtime_reserve_gb=2.0,
                                usage=UsageProfile(100, 20), prices_as_of=AS_OF), catalog)
    assert printed == json.loads(json.dumps(to_jsonable(expected)))
    assert printed["memory"]["verdict"] == "fits"
    assert printed["memory"]["kv"]["bytes_per_token"] == 61 * (512 + 64) * 2


def test_recommend_json_is_the_page_result(real_catalog):
    proc = run_cli("recommend", "--use-case", "customer-support", "--language", "Thai", "--language", "Vietnamese",
                   "--deployment", "self-host", "--gpu", "h100-sxm", "--gpus", "1", "--context", "8192",
                   "--input-mtok", "50", "--output-mtok", "10", "--prices-as-of", AS_OF, "--utilization", "0.9",
                   "--reserve-gb", "2", "--json", db=real_catalog)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    catalog = load_decision_catalog(CatalogReader(real_catalog))
    expected = recommend(WizardRequest(("customer-support",), ("Thai", "Vietnamese"), "self-host", gpu="h100-sxm",
                                       gpu_count=1, context_tokens=8192, usage=UsageProfile(50, 10),
                                       license=LicenseNeeds(), prices_as_of=AS_OF, gpu_memory_utilization=0.9,
                                       runtime_reserve_gb=2.0), catalog)
    assert printed == json.loads(json.dumps(to_jsonable(expected)))
    assert printed["shortlist"] and printed["excluded"] and printed["sensitivity"]


def test_plan_text_output(real_catalog):
    proc = run_cli("plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "l4", "--context", "4096",
                   db=real_catalog)
    assert proc.returncode == 0, proc.stderr
    assert "Llama 3.1 8B Instruct" in proc.stdout and "2 (K and V) × 32 layers × 8 KV heads" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["plan", "--model", "deepseek-ai/DeepSeek-V3", "--gpu", "h200-sxm", "--context", "-5"], "at least 1"),
    (["plan", "--model", "deepseek-ai/DeepSeek-V3", "--gpu", "h200-sxm", "--gpus", "0"],
     "GPU count must be at least 1"),
    (["plan", "--model", "no-org/no-model", "--gpu", "h200-sxm"], "unknown model 'no-org/no-model'"),
    (["plan", "--model", "deepseek-ai/DeepSeek-V3", "--gpu", "h200-sxm", "--gpus", "3"], "impossible combination"),
    (["plan", "--model", "deepseek-ai/DeepSeek-V3", "--gpu", "h200-sxm", "--context", "500000"],
     "impossible combination"),
    (["plan", "--model", "deepseek-ai/DeepSeek-V3", "--gpu", "A100"], "matches 4 GPUs"),
    (["plan", "--model", "deepseek-ai/DeepSeek-V3", "--gpu", "h200-sxm", "--weights", "int2"],
     "unknown weight precision"),
    (["recommend", "--use-case", "astrology"], "unknown use case"),
    (["recommend", "--use-case", "general-chat", "--deployment", "self-host"], "self-hosting needs GPUs"),
    (["recommend", "--use-case", "general-chat", "--budget-usd", "-1"], "budget must be a positive number"),
])
def test_bad_input_exits_non_zero_with_a_message(real_catalog, args, message):
    proc = run_cli(*args, "--json", db=real_catalog)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: ") and message in proc.stderr


def test_the_issues_example_with_a_bare_gpu_name_plans_on_the_sxm_part(real_catalog):
    proc = run_cli("plan", "--model", "deepseek-ai/DeepSeek-V3", "--weights", "fp8", "--context", "32768", "--batch",
                   "8", "--gpu", "H200", "--gpus", "8", "--json", db=real_catalog)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["gpu"]["gpu_id"] == "h200-sxm"  # h200-nvl also matches "H200"; the SXM part is the bare name
    assert result["memory"]["kv"]["bytes_per_token"] == 61 * (512 + 64) * 2


def test_argument_errors_exit_non_zero(real_catalog):
    proc = run_cli("plan", "--model", "deepseek-ai/DeepSeek-V3", "--context", "lots", db=real_catalog)
    assert proc.returncode == 2 and "invalid int value" in proc.stderr


def test_missing_catalog_is_explained(tmp_path):
    proc = run_cli("plan", "--model", "x", "--gpu", "y", db=tmp_path / "none.duckdb")
    assert proc.returncode == 2 and "no catalog" in proc.stderr
