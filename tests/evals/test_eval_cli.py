"""`python -m modelmatch eval` in a real subprocess against a loopback server: JSON results, per-row reports and
exit status 2 for bad input (nothing sent), exit status 3 and --resume after failures, --show, --list, --dry-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from modelmatch.evals.sets import load_builtin, sent_prompt
from tests.conftest import REPO_ROOT
from tests.openai_server import Script, ScriptedServer, answer_script

CANARY = "sk-canary-evalcli-0f9e8d7c6b5a4321"


@pytest.fixture
def starter_answers():
    """The right reply for every starter item, keyed by the prompt the runner sends."""
    compliant = {"inst-01": "YES", "inst-02": "1. Red\n2. Blue\n3. Green", "inst-03": '{"count": 6}',
                 "inst-04": "ModelMatch, ModelMatch, ModelMatch"}
    answers = {}
    for item in load_builtin().items:
        if item.scorer == "regex":
            text = compliant[item.group_id]
        else:
            first = item.expected.split("|")[0]
            text = f"ANSWER: {first}"
        answers[sent_prompt(item)] = (item, text)
    return answers


def run_cli(tmp_path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env_extra or {})}
    command = [sys.executable, "-m", "modelmatch", "eval", *args, "--runs-db", str(tmp_path / "runs.sqlite"),
               "--endpoints-file", str(tmp_path / "endpoints.toml")]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)


def write_endpoints(tmp_path, servers: dict[str, ScriptedServer], keyed: str | None = None) -> None:
    lines = []
    for name, server in servers.items():
        lines += ["[[endpoint]]", f'name = "{name}"', 'kind = "openai"', f'base_url = "{server.base_url}"',
                  f'model = "{name.lower()}"', "requests_per_minute = 100000", "first_byte_timeout_s = 5"]
        if name == keyed:
            lines.append('api_key_env = "MM_EVAL_CLI_KEY"')
        lines.append("")
    (tmp_path / "endpoints.toml").write_text("\n".join(lines))


def test_starter_subset_json(tmp_path, live_catalog, starter_answers):
    server = ScriptedServer(lambda body: answer_script([starter_answers[body["messages"][-1]["content"]][1]]))
    with server:
        write_endpoints(tmp_path, {"Oracle": server}, keyed="Oracle")
        proc = run_cli(tmp_path, "starter", "--endpoints", "Oracle", "--languages", "en,th", "--max-groups", "4",
                       "--json", "--db", str(live_catalog), env_extra={"MM_EVAL_CLI_KEY": CANARY})
        assert proc.returncode == 0, proc.stderr
        assert len(server.received) == 8
        assert server.received[0].headers["Authorization"] == f"Bearer {CANARY}"
    payload = json.loads(proc.stdout)
    model = payload["models"][0]
    assert (model["correct"], model["scored"], model["accuracy"]) == (8, 8, 1.0)
    assert model["consistency"] == 1.0 and payload["complete"] is True
    assert {r["language"] for r in payload["by_language"]} == {"en", "th"}
    assert len(payload["items"]) == 8 and payload["run"]["set_name"] == "starter"
    assert "Requests to send: 8" in proc.stderr
    assert CANARY not in proc.stdout + proc.stderr
    assert CANARY.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("runs.sqlite*"))


def test_the_whole_starter_set_scores_100_percent_with_right_answers(tmp_path, live_catalog, starter_answers):
    """Every starter item is answerable: the scorer accepts the expected answer written the plain way."""
    server = ScriptedServer(lambda body: answer_script([starter_answers[body["messages"][-1]["content"]][1]]))
    with server:
        write_endpoints(tmp_path, {"Oracle": server})
        proc = run_cli(tmp_path, "starter", "--endpoints", "Oracle", "--concurrency", "8", "--json", "--quiet",
                       "--db", str(live_catalog))
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["models"][0]["scored"] == len(starter_answers) == payload["models"][0]["correct"]


def test_bad_csv_is_reported_per_row_and_nothing_is_sent(tmp_path, live_catalog):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,language,prompt,expected,scorer\nx,en,hi,4,numeric\nx,en,,4,fuzzy\ny,th,hey,[,regex\n")
    server = ScriptedServer(answer_script(["ANSWER: 4"]))
    with server:
        write_endpoints(tmp_path, {"A": server})
        proc = run_cli(tmp_path, str(bad), "--endpoints", "A", "--db", str(live_catalog))
        assert server.received == []
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert any("line 3, column id: duplicate id 'x'" in ln for ln in lines)
    assert any("line 3, column prompt: empty prompt" in ln for ln in lines)
    assert any("line 3, column scorer: unknown scorer 'fuzzy'" in ln for ln in lines)
    assert any("line 4, column expected: the regex does not compile" in ln for ln in lines)
    assert lines[-1] == f"error: 4 problem(s) in {bad}; nothing was sent"


@pytest.mark.parametrize("args, message", [
    (["starter", "--endpoints", "Nope"], "unknown endpoint(s) Nope; the endpoints file names: A"),
    (["starter"], "--endpoints is required"),
    (["starter", "--endpoints", "A", "--languages", "sw"], "no items left"),
    (["no_such_file.csv", "--endpoints", "A"], "no such file"),
    (["--resume", "0123456789abcdef"], "no eval run '0123456789abcdef'"),
    (["--show", "not-a-run"], "is not a run id"),
    (["starter", "--endpoints", "A", "--concurrency", "0"], "--concurrency and --max-tokens must be at least 1"),
])
def test_bad_input_exits_2(tmp_path, args, message):
    server = ScriptedServer()
    with server:
        write_endpoints(tmp_path, {"A": server})
        proc = run_cli(tmp_path, *args)
        assert server.received == []
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


def test_missing_key_exits_2_without_sending(tmp_path, live_catalog):
    server = ScriptedServer()
    with server:
        write_endpoints(tmp_path, {"A": server}, keyed="A")
        env = {k: v for k, v in os.environ.items() if k != "MM_EVAL_CLI_KEY"}
        proc = subprocess.run([sys.executable, "-m", "modelmatch", "eval", "starter", "--endpoints", "A",
                               "--runs-db", str(tmp_path / "r.duckdb"), "--endpoints-file",
                               str(tmp_path / "endpoints.toml"), "--db", str(live_catalog)],
                              cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True,
                              text=True, timeout=120)
        assert server.received == []
    assert proc.returncode == 2 and "A needs an API key: set the environment variable MM_EVAL_CLI_KEY" in proc.stderr


def test_missing_header_secret_exits_2_without_sending(tmp_path, live_catalog):
    server = ScriptedServer()
    with server:
        write_endpoints(tmp_path, {"A": server})
        path = tmp_path / "endpoints.toml"
        path.write_text(path.read_text() + '[endpoint.headers]\n"X-Gateway-Key" = { env = "MM_EVAL_CLI_HDR" }\n')
        env = {k: v for k, v in os.environ.items() if k != "MM_EVAL_CLI_HDR"}
        proc = subprocess.run([sys.executable, "-m", "modelmatch", "eval", "starter", "--endpoints", "A",
                               "--runs-db", str(tmp_path / "r.duckdb"), "--endpoints-file", str(path),
                               "--db", str(live_catalog)],
                              cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True,
                              text=True, timeout=120)
        assert server.received == []
    assert proc.returncode == 2, proc.stderr
    assert "X-Gateway-Key" in proc.stderr and "MM_EVAL_CLI_HDR" in proc.stderr and "not set" in proc.stderr


def test_failure_exits_3_then_resume_sends_only_the_failed(tmp_path, live_catalog, starter_answers):
    healthy = threading.Event()
    failing = {"math-02-th", "fact-01-en"}

    def script(body):
        item, text = starter_answers[body["messages"][-1]["content"]]
        if item.item_id in failing and not healthy.is_set():
            return Script(status=503, headers={"Content-Type": "application/json"}, steps=[(0, b"{}")])
        return answer_script([text])

    server = ScriptedServer(script)
    with server:
        write_endpoints(tmp_path, {"A": server})
        common = ["--endpoints", "A", "--languages", "en,th", "--retries", "1", "--retry-base-s", "0",
                  "--db", str(live_catalog)]
        proc = run_cli(tmp_path, "starter", *common, "--categories", "math,facts", "--max-groups", "3", "--json")
        assert proc.returncode == 3, proc.stderr
        payload = json.loads(proc.stdout)
        run_id = payload["run"]["run_id"]
        assert payload["models"][0]["failed"] == 1 and payload["models"][0]["correct"] == 5
        assert f"--resume {run_id}" in proc.stderr
        healthy.set()
        before = len(server.received)
        proc = run_cli(tmp_path, "--resume", run_id, "--json", "--quiet")
        assert proc.returncode == 0, proc.stderr
        resent = [starter_answers[r.body["messages"][-1]["content"]][0].item_id for r in server.received[before:]]
    assert resent == ["math-02-th"]
    assert json.loads(proc.stdout)["models"][0]["correct"] == 6

    shown = run_cli(tmp_path, "--show", run_id)
    assert shown.returncode == 0 and f"Eval run {run_id}" in shown.stdout and "100% (6/6)" in shown.stdout
    listed = run_cli(tmp_path, "--list")
    assert listed.returncode == 0 and run_id in listed.stdout and "complete" in listed.stdout


def test_dry_run_estimates_and_sends_nothing(tmp_path, live_catalog):
    server = ScriptedServer()
    with server:
        write_endpoints(tmp_path, {"A": server})
        proc = run_cli(tmp_path, "starter", "--endpoints", "A", "--dry-run", "--db", str(live_catalog))
        assert server.received == []
    assert proc.returncode == 0, proc.stderr
    assert "Requests to send: 235" in proc.stderr and "dry run: nothing was sent" in proc.stderr
    assert not (tmp_path / "runs.sqlite").exists()


def test_a_runs_database_held_by_another_process_is_explained(tmp_path):
    # Something outside ModelMatch (an sqlite3 shell, say) holds the file's write lock for longer than the
    # busy timeout.
    holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], "
                       "isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('held', flush=True); "
                       "time.sleep(60)", str(tmp_path / "runs.sqlite")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        (tmp_path / "endpoints.toml").write_text('[[endpoint]]\nname = "A"\nkind = "openai"\n'
                                                 'base_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n')
        proc = run_cli(tmp_path, "--list")
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2 and "in use by another process" in proc.stderr and "--runs-db" in proc.stderr
