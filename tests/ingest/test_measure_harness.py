"""`python -m ingest measure` end to end against real loopback servers: rows written, validated and built into the
catalog, then read back through the Compare page's query; failures counted not averaged; warm-ups excluded; the
time limit; a Poisson rate; an interrupted run (a real SIGINT to a real process) keeps what completed and says so;
a local transformers model through the same harness."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from ingest.__main__ import main as ingest_main
from ingest.build import build
from ingest.measure.runner import LevelRun, run_level
from modelmatch.catalog.reader import CatalogReader
from modelmatch.chat.types import ChatMessage, ChatRequest, StreamEvent
from tests.conftest import REPO_ROOT
from tests.openai_server import DONE, Script, ScriptedServer, answer_script, delta

MODEL = "test-org/Alpha-7B-Instruct"
RECORDING = ["--engine", "test-server", "--engine-version", "1.0", "--hardware", "loopback test server",
             "--gpu-count", "0", "--dtype", "bf16"]


def endpoints_file(tmp_path: Path, server: ScriptedServer, name: str = "scripted") -> Path:
    path = tmp_path / "endpoints.toml"
    path.write_text(f'[[endpoint]]\nname = "{name}"\nkind = "openai"\nmodel = "m"\nbase_url = "{server.base_url}"\n'
                    f'model_id = "{MODEL}"\nfirst_byte_timeout_s = 5\nstall_timeout_s = 5\n', encoding="utf-8")
    return path


def measure(data_dir: Path, eps: Path, *extra: str) -> int:
    return ingest_main(["--data", str(data_dir), "measure", "--endpoint", "scripted", "--endpoints-file", str(eps),
                        "--no-progress", *RECORDING, *extra])


def read_rows(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("measure-*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


class Counter:
    """A script chooser that numbers the requests the server receives (warm-ups first)."""

    def __init__(self, choose):
        self.choose, self.count, self.lock = choose, itertools.count(), threading.Lock()

    def __call__(self, body: dict) -> Script:
        with self.lock:
            n = next(self.count)
        return self.choose(n, body)


def test_loopback_run_enters_the_catalog(fixture_data_dir, tmp_path, capsys):
    words = [f" w{i}" for i in range(8)]
    with ScriptedServer(answer_script(words, gap_s=0.01, first_s=0.03, prompt_tokens=40)) as server:
        rc = measure(fixture_data_dir, endpoints_file(tmp_path, server), "--concurrency", "1,4", "--num-requests",
                     "8", "--input-len", "40", "--output-len", "8", "--warmup", "1")
        bodies = [r.body for r in server.received]
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "concurrency 1: 8 ok, 0 failed" in err and "concurrency 4: 8 ok, 0 failed" in err
    assert "python -m ingest build" in err
    # every request asked for an exact output length, with distinct prompts (no prefix-cache help)
    assert all(b["max_tokens"] == 8 and b["ignore_eos"] is True and b["min_tokens"] == 8 for b in bodies)
    prompts = [b["messages"][-1]["content"] for b in bodies]
    assert len(set(prompts)) == len(prompts) == 17

    db = tmp_path / "catalog.duckdb"
    build(fixture_data_dir, db)  # the written files validate, or this raises
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT concurrency, requests_ok, requests_failed, ttft_ms_p50, tpot_ms_p50, itl_ms_p50, "
                       "output_tokens_per_s, token_source, status, warmup_requests, engine, weights, path, "
                       "input_len_method, output_tokens_mean, hardware FROM measurements WHERE model_id = ? "
                       "ORDER BY concurrency", [MODEL]).fetchall()
    per_request = con.execute("SELECT count(*), count(DISTINCT run_id), min(connect_ms) >= 0 "
                              "FROM measurement_requests").fetchone()
    con.close()
    assert [r[0] for r in rows] == [1, 4]
    for (conc, ok, failed, ttft, tpot, itl, tps, source, status, warm, engine, weights, path, method, out_mean,
         hw) in rows:
        assert (ok, failed, source, status, warm) == (8, 0, "server-usage", "complete", 1)
        assert 25 <= ttft < 1000 and 5 <= tpot < 500 and 5 <= itl < 500
        assert tps > 0 and out_mean == 8
        assert (engine, weights, path, hw) == ("test-server", "official", "openai-stream", "loopback test server")
        assert method.startswith("approximated without a tokenizer")
    assert per_request == (16, 2, True)
    # the Compare page's own query sees the rows
    from modelmatch.explore.compare import compare_data

    data = compare_data(CatalogReader(db), (MODEL,), dt.date.today())
    assert len(data.measured) == 2 and set(data.measured["concurrency"]) == {1, 4}


def test_measurements_go_through_the_timing_client_not_the_sdk(fixture_data_dir, tmp_path, capsys, monkeypatch):
    """The playground and the evals moved to the openai SDK; `ingest measure` keeps the client that stamps each read
    as it arrives. With the SDK path broken, a measurement still runs, and its request carries no SDK header."""
    from modelmatch.chat import sdk_stream

    def refuse(*args, **kwargs):
        raise AssertionError("ingest measure streamed through the SDK")

    monkeypatch.setattr(sdk_stream, "post_stream", refuse)
    with ScriptedServer(answer_script(["a", "b"], first_s=0.01)) as server:
        rc = measure(fixture_data_dir, endpoints_file(tmp_path, server), "--concurrency", "1", "--num-requests", "2",
                     "--warmup", "0")
        headers = [r.headers for r in server.received]
    assert rc == 0, capsys.readouterr().err
    assert len(headers) == 2 and not any(k.lower().startswith("x-stainless") for h in headers for k in h)


def test_failures_are_counted_not_averaged_and_warmups_excluded(fixture_data_dir, tmp_path, capsys):
    def choose(n: int, body: dict) -> Script:
        if n < 2:  # the two warm-ups: very slow, so any leak into the results shows in TTFT
            return answer_script(["a", "b", "c"], first_s=0.6)
        index = n - 2
        if index % 4 == 1:
            return Script(status=500, headers={"Content-Type": "application/json"},
                          steps=[(0, b'{"error": {"message": "boom"}}')])
        if index % 4 == 3:  # a slow first token, then the connection breaks: must not enter TTFT
            return Script(steps=[(0.5, delta(content="x")), (0, delta(content="y"))], end_abruptly=True)
        return answer_script(["a", "b", "c", "d"], first_s=0.02, gap_s=0.005, prompt_tokens=30)

    with ScriptedServer(Counter(choose)) as server:
        rc = measure(fixture_data_dir, endpoints_file(tmp_path, server), "--concurrency", "1", "--num-requests",
                     "8", "--output-len", "4", "--warmup", "2")
        received = len(server.received)
    assert rc == 0, capsys.readouterr().err
    assert received == 10  # 2 warm-ups + 8 measured
    summary, = read_rows(fixture_data_dir / "measurements")
    requests = read_rows(fixture_data_dir / "measurement_requests")
    assert (summary["requests_ok"], summary["requests_failed"]) == ("4", "4")
    assert len(requests) == 8  # the warm-ups are nowhere
    assert float(summary["ttft_ms_p99"]) < 400  # neither the warm-ups' 600 ms nor the broken ones' 500 ms
    failed = [r for r in requests if r["ok"] == "false"]
    assert len(failed) == 4
    assert any("HTTP 500" in r["error"] and "boom" in r["error"] for r in failed)
    assert any("without [DONE]" in r["error"] or "broke" in r["error"] for r in failed)
    ok_tokens = sum(int(r["output_tokens"]) for r in requests if r["ok"] == "true")
    assert ok_tokens == 16
    assert float(summary["output_tokens_per_s"]) == pytest.approx(16 / float(summary["duration_s"]), rel=1e-3)


def test_every_warmup_failing_stops_before_measuring(fixture_data_dir, tmp_path, capsys):
    script = Script(status=401, headers={"Content-Type": "application/json"},
                    steps=[(0, b'{"error": {"message": "bad key"}}')])
    with ScriptedServer(script) as server:
        rc = measure(fixture_data_dir, endpoints_file(tmp_path, server), "--num-requests", "5")
    err = capsys.readouterr().err
    assert rc == 1 and "every warm-up request failed" in err and "HTTP 401" in err
    assert read_rows(fixture_data_dir / "measurements") == []


def test_time_limit_stops_early_and_says_so(fixture_data_dir, tmp_path, capsys):
    # The limit counts from the start of measuring, preparation included (a full garbage collection before the
    # level, in this large test process, took over 0.6 s on a loaded machine): 40 requests of 0.25 s each need 10 s,
    # and 2.5 s leave room for preparation and for some of them.
    with ScriptedServer(answer_script(["a", "b"], first_s=0.25)) as server:
        rc = measure(fixture_data_dir, endpoints_file(tmp_path, server), "--concurrency", "1,2", "--num-requests",
                     "40", "--warmup", "0", "--time-limit-s", "2.5")
    err = capsys.readouterr().err
    assert rc == 0, err
    summary, = read_rows(fixture_data_dir / "measurements")
    assert summary["status"] == "time-limit" and 1 <= int(summary["requests_ok"]) < 40
    assert summary["requests_failed"] == "0"  # requests cut by the limit are dropped, not failed
    assert "time limit" in summary["notes"] and "not measured: concurrency 2" in err


def test_poisson_rate_run(fixture_data_dir, tmp_path, capsys):
    with ScriptedServer(answer_script(["a", "b", "c"], first_s=0.01)) as server:
        rc = measure(fixture_data_dir, endpoints_file(tmp_path, server), "--request-rate", "40",
                     "--max-concurrency", "4", "--num-requests", "12", "--warmup", "0")
    assert rc == 0, capsys.readouterr().err
    summary, = read_rows(fixture_data_dir / "measurements")
    assert summary["request_rate_per_s"] == "40.0" and summary["concurrency"] == "4"
    assert summary["run_id"].endswith("-rate40") and summary["requests_ok"] == "12"
    starts = sorted(float(r["started_at_s"]) for r in read_rows(fixture_data_dir / "measurement_requests"))
    assert starts[0] < 0.05 and starts[-1] > 0.05  # arrivals spread over time, not all at once


@pytest.mark.parametrize("args, message", [
    (["--concurrency", "1,x"], "--concurrency must be whole numbers"),
    (["--concurrency", "2", "--request-rate", "3"], "not both"),
    (["--model-id", "nobody/Nothing"], "is not in the catalog's models"),
    (["--output-len", "999999"], "above the endpoint's max_tokens_cap"),
])
def test_bad_input_is_refused_with_a_reason(fixture_data_dir, tmp_path, capsys, args, message):
    with ScriptedServer() as server:
        rc = measure(fixture_data_dir, endpoints_file(tmp_path, server), *args)
        assert server.received == []
    assert rc == 2 and message in capsys.readouterr().err


def test_server_details_are_required_and_unknown_endpoints_named(fixture_data_dir, tmp_path, capsys):
    with ScriptedServer() as server:
        eps = endpoints_file(tmp_path, server)
        rc = ingest_main(["--data", str(fixture_data_dir), "measure", "--endpoint", "scripted", "--endpoints-file",
                          str(eps)])
        assert rc == 2 and "--engine, --engine-version, --hardware, --dtype" in capsys.readouterr().err
        rc = ingest_main(["--data", str(fixture_data_dir), "measure", "--endpoint", "nope", "--endpoints-file",
                          str(eps), *RECORDING])
        err = capsys.readouterr().err
        assert rc == 2 and "no endpoint named 'nope'" in err and "'scripted'" in err


def test_the_key_never_reaches_the_files(fixture_data_dir, tmp_path, capsys, monkeypatch):
    key = "sk-canary-measure-0123456789"
    monkeypatch.setenv("MM_TEST_KEY", key)
    script = Script(status=403, headers={"Content-Type": "application/json"},
                    steps=[(0, ('{"error": {"message": "key ' + key + ' is not allowed"}}').encode())])

    def choose(n, body):
        return answer_script(["ok"]) if n == 0 else script

    with ScriptedServer(Counter(choose)) as server:
        eps = endpoints_file(tmp_path, server)
        eps.write_text(eps.read_text() + 'api_key_env = "MM_TEST_KEY"\n')
        rc = measure(fixture_data_dir, eps, "--num-requests", "2", "--warmup", "1")
        assert server.received[0].headers.get("Authorization") == f"Bearer {key}"
    assert rc == 0
    out = capsys.readouterr()
    assert key not in out.err + out.out
    for folder in ("measurements", "measurement_requests"):
        for path in (fixture_data_dir / folder).glob("*.csv"):
            assert key not in path.read_text(encoding="utf-8")


def test_cancelling_a_level_keeps_completed_requests_and_drops_in_flight_ones():
    """What Ctrl-C does inside asyncio.run: the main task is cancelled; the level keeps what finished."""

    async def send(request, on_sent=None):
        delay = float(request.messages[0].content)
        if on_sent:
            on_sent(time.perf_counter())
        await asyncio.sleep(delay)
        yield StreamEvent("content", time.perf_counter(), "x")
        yield StreamEvent("done", time.perf_counter())

    requests = [ChatRequest(messages=(ChatMessage("user", d),)) for d in ("0.01", "0.02", "5", "5", "5")]
    level = LevelRun(concurrency=3, rate_per_s=None, planned=5)

    async def main():
        task = asyncio.create_task(run_level(level, send, requests))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert level.status == "interrupted"
    assert sorted(c.index for c in level.completed) == [0, 1]
    assert level.dropped == 3 and level.not_started == 0
    assert all(c.metrics.ok for c in level.completed)


def test_ctrl_c_keeps_completed_rows_and_says_so(fixture_data_dir, tmp_path):
    """A real SIGINT to a real `python -m ingest measure` process mid-run."""
    with ScriptedServer(answer_script(["a", "b", "c"], first_s=0.05, gap_s=0.02)) as server:
        eps = endpoints_file(tmp_path, server)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--data", str(fixture_data_dir), "measure", "--endpoint", "scripted",
             "--endpoints-file", str(eps), "--no-progress", *RECORDING, "--concurrency", "1,2", "--num-requests",
             "30", "--warmup", "0"],
            cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while not any(line.startswith("concurrency 1:") for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # into the second level: some of it done, some in flight
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
        reader.join(timeout=5)
    err = "".join(lines)
    assert rc == 130, err
    assert "interrupted: kept" in err and "status=interrupted" in err and "Traceback" not in err
    summaries = read_rows(fixture_data_dir / "measurements")
    by_conc = {r["concurrency"]: r for r in summaries}
    assert by_conc["1"]["status"] == "complete" and by_conc["1"]["requests_ok"] == "30"
    partial = by_conc["2"]
    assert partial["status"] == "interrupted" and 1 <= int(partial["requests_ok"]) < 30
    assert partial["requests_failed"] == "0"  # the requests cut off by Ctrl-C are dropped, never failed
    assert "interrupted (Ctrl-C)" in partial["notes"]
    requests = read_rows(fixture_data_dir / "measurement_requests")
    assert len(requests) == 30 + int(partial["requests_ok"])
    build(fixture_data_dir, tmp_path / "after-interrupt.duckdb")  # what was kept is a valid catalog
    assert not list((fixture_data_dir / "measurements").glob(".*tmp*"))  # nothing half-written left behind


def test_local_transformers_model_through_the_same_harness(fixture_data_dir, tmp_path, capsys):
    from tests.tiny_model import build_tiny_chat_model

    folder = build_tiny_chat_model(tmp_path / "tiny")
    rc = ingest_main(["--data", str(fixture_data_dir), "measure", "--local-model", str(folder), "--model-id", MODEL,
                      "--weights", "random-init", "--input-len", "40", "--output-len", "6", "--num-requests", "3",
                      "--concurrency", "1,2", "--warmup", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    summaries = read_rows(fixture_data_dir / "measurements")
    requests = read_rows(fixture_data_dir / "measurement_requests")
    assert {r["concurrency"] for r in summaries} == {"1", "2"}
    for row in summaries:
        assert (row["engine"], row["hardware"], row["gpu_count"], row["weights"]) == \
            ("transformers", "CPU", "0", "random-init")
        assert row["requests_ok"] == "3" and row["token_source"] == "tokenizer"
        assert row["input_len_method"].startswith("exact: 40 tokens")
    # the tokenizer made prompts of exactly 40 tokens as the model's chat template counts them, and ignore_eos
    # (min_new_tokens) made every reply exactly 6 tokens
    assert {r["input_tokens"] for r in requests} == {"40"} and {r["output_tokens"] for r in requests} == {"6"}
    build(fixture_data_dir, tmp_path / "local.duckdb")


def test_tokenizer_gives_exact_prompts_and_counts_when_the_server_sends_no_usage(fixture_data_dir, tmp_path, capsys):
    from transformers import AutoTokenizer

    from tests.tiny_model import build_tiny_chat_model

    folder = build_tiny_chat_model(tmp_path / "tiny")
    no_usage = Script(steps=[(0.01, delta(content=" answer")), (0.005, delta(content=" tokens")), (0, DONE)])
    with ScriptedServer(no_usage) as server:
        rc = measure(fixture_data_dir, endpoints_file(tmp_path, server), "--tokenizer", str(folder),
                     "--input-len", "48", "--num-requests", "4", "--warmup", "0", "--output-len", "2")
        prompts = [r.body["messages"][-1]["content"] for r in server.received]
    assert rc == 0, capsys.readouterr().err
    summary, = read_rows(fixture_data_dir / "measurements")
    assert summary["input_len_method"].startswith("exact: 48 tokens by the tokenizer")
    assert summary["token_source"] == "tokenizer"
    tok = AutoTokenizer.from_pretrained(folder)
    for prompt in prompts:  # exactly 48 tokens once the model's chat template wraps it
        rendered = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                           tokenize=False)
        assert len(tok(rendered, add_special_tokens=False)["input_ids"]) == 48
    requests = read_rows(fixture_data_dir / "measurement_requests")
    assert {r["token_source"] for r in requests} == {"tokenizer"}
    assert {r["output_tokens"] for r in requests} == {str(len(tok(" answer tokens", add_special_tokens=False)
                                                              ["input_ids"]))}


def test_every_measured_request_carries_the_endpoints_headers_query_and_extra_body(fixture_data_dir, tmp_path,
                                                                                     capsys, monkeypatch):
    monkeypatch.setenv("MM_MEASURE_GATEWAY_KEY", "gw-measure-secret-0001")
    with ScriptedServer(answer_script(["a", "b"], prompt_tokens=16)) as server:
        eps = endpoints_file(tmp_path, server)
        eps.write_text(eps.read_text(encoding="utf-8") + 'query = { "api-version" = "2024-10-21" }\n'
                       'extra_body = { top_k = 20 }\n[endpoint.headers]\n"X-Title" = "ModelMatch measure"\n'
                       '"X-Gateway-Key" = { env = "MM_MEASURE_GATEWAY_KEY" }\n', encoding="utf-8")
        rc = measure(fixture_data_dir, eps, "--concurrency", "1", "--num-requests", "2", "--input-len", "16",
                     "--output-len", "2", "--warmup", "1")
        received = list(server.received)
    assert rc == 0, capsys.readouterr().err
    assert len(received) == 3  # the warm-up too
    for got in received:
        headers = {k.lower(): v for k, v in got.headers.items()}
        assert got.path == "/v1/chat/completions?api-version=2024-10-21"
        assert headers["x-title"] == "ModelMatch measure" and headers["x-gateway-key"] == "gw-measure-secret-0001"
        assert got.body["top_k"] == 20 and got.body["max_tokens"] == 2


def test_measure_refuses_to_start_when_a_header_secret_is_not_set(fixture_data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MM_MEASURE_GATEWAY_KEY", raising=False)
    with ScriptedServer() as server:
        eps = endpoints_file(tmp_path, server)
        eps.write_text(eps.read_text(encoding="utf-8") + '[endpoint.headers]\n'
                       '"X-Gateway-Key" = { env = "MM_MEASURE_GATEWAY_KEY" }\n', encoding="utf-8")
        rc = measure(fixture_data_dir, eps, "--concurrency", "1", "--num-requests", "1")
        assert server.received == []
    err = capsys.readouterr().err
    assert rc != 0 and "MM_MEASURE_GATEWAY_KEY" in err and "X-Gateway-Key" in err
