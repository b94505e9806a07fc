"""Regression tests for the README/CLI disagreements a newcomer hit (issue: from question to decision in one
sitting). Each fails on the code and README before the fix."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib

from tests.conftest import REPO_ROOT
from tests.openai_server import ScriptedServer
from tests.planning.test_cli import run_cli
from tests.evals.test_eval_cli import run_cli as run_eval_cli
from tests.evals.test_eval_cli import write_endpoints

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_plan_model_accepts_the_name_without_the_organisation(real_catalog):
    proc = run_cli("plan", "--model", "DeepSeek-V3", "--weights", "fp8", "--gpu", "h200-sxm", "--gpus", "8",
                   "--json", db=real_catalog)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"]["model_id"] == "deepseek-ai/DeepSeek-V3"


def test_plan_model_name_matching_several_models_is_refused_with_each_id(real_catalog):
    proc = run_cli("plan", "--model", "no-such-model-name", "--gpu", "h200-sxm", db=real_catalog)
    assert proc.returncode == 2 and "unknown model 'no-such-model-name'" in proc.stderr


def test_readme_says_what_the_cli_does_with_a_bare_h200(real_catalog):
    proc = run_cli("plan", "--model", "deepseek-ai/DeepSeek-V3", "--weights", "fp8", "--gpu", "H200", "--gpus", "8",
                   "--json", db=real_catalog)
    assert proc.returncode == 0 and json.loads(proc.stdout)["gpu"]["gpu_id"] == "h200-sxm"
    flat = " ".join(README.split())
    assert "`H200` picks `h200-sxm`" in flat and "so it is refused" not in flat


def readme_eval_commands() -> list[list[str]]:
    commands = []
    for line in README.splitlines():
        line = line.split("  #")[0].strip().strip("`")
        if line.startswith("python -m modelmatch eval") and "--endpoints" in line:
            commands.append(shlex.split(line))
    return commands


def test_readme_eval_examples_name_endpoints_the_example_file_has():
    names = {e["name"] for e in tomllib.loads((REPO_ROOT / "endpoints.example.toml").read_text())["endpoint"]}
    commands = readme_eval_commands()
    assert len(commands) >= 3
    for args in commands:
        wanted = args[args.index("--endpoints") + 1].split(",")
        assert set(wanted) <= names, (wanted, names)


def test_readme_dry_run_example_runs_against_the_example_file_without_a_key(tmp_path, live_catalog):
    args = next(a for a in readme_eval_commands() if "--dry-run" in a)
    env = {k: v for k, v in os.environ.items() if k != "DEEPSEEK_API_KEY"}
    proc = subprocess.run([sys.executable, *args[1:], "--endpoints-file", str(REPO_ROOT / "endpoints.example.toml"),
                           "--runs-db", str(tmp_path / "runs.sqlite"), "--db", str(live_catalog)],
                          cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "dry run: nothing was sent" in proc.stderr
    assert "a real run needs DeepSeek (official API)'s API key in DEEPSEEK_API_KEY" in proc.stderr
    assert not (tmp_path / "runs.sqlite").exists()


def test_eval_dry_run_needs_no_api_key_and_sends_nothing(tmp_path, live_catalog, monkeypatch):
    monkeypatch.delenv("MM_EVAL_CLI_KEY", raising=False)
    server = ScriptedServer()
    with server:
        write_endpoints(tmp_path, {"A": server}, keyed="A")
        proc = run_eval_cli(tmp_path, "starter", "--endpoints", "A", "--dry-run", "--db", str(live_catalog))
        assert server.received == []
    assert proc.returncode == 0, proc.stderr
    assert "a real run needs A's API key in MM_EVAL_CLI_KEY" in proc.stderr
    assert "dry run: nothing was sent" in proc.stderr
