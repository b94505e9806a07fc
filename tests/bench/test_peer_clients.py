"""bench.peer_clients without the peers: the commands it runs, the results it reads, the truth server's answers
the peers need, and the local tokenizer they sample prompts with. The race itself needs the peers installed (see
`python -m bench.peer_clients --help`) and is run by hand."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench import peer_clients
from bench.client_accuracy import fetch_truth, start_server


def test_vllm_result_json_is_read_in_milliseconds(tmp_path: Path) -> None:
    out = tmp_path / "vllm.json"
    out.write_text(json.dumps({"ttfts": [0.05, 0.06, 0.0], "itls": [[0.02, 0.02, 0.03], [0.01], []]}))
    got = peer_clients.read_peer_result(out)
    assert got["ttft"] == pytest.approx([50.0, 60.0])  # a failed request's 0 is left out
    assert got["itl"] == pytest.approx([20.0, 20.0, 30.0, 10.0])
    assert got["tpot"] == pytest.approx([70.0 / 3, 10.0])


def test_sglang_result_is_the_last_line_of_its_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "sglang.jsonl"
    older = json.dumps({"ttfts": [9.0], "itls": [[9.0]]})
    newest = json.dumps({"ttfts": [0.051], "itls": [[0.02, 0.021]]})
    out.write_text(older + "\n" + newest + "\n")
    got = peer_clients.read_peer_result(out)
    assert got["ttft"] == pytest.approx([51.0])
    assert got["itl"] == pytest.approx([20.0, 21.0])


def test_peer_commands_need_no_hub_dataset(tmp_path: Path) -> None:
    sglang = peer_clients.peer_command("sglang", tmp_path / "s", 1234, "/tok", 100, 200, tmp_path / "sglang.jsonl")
    vllm = peer_clients.peer_command("vllm", tmp_path / "v", 1234, "/tok", 100, 200, tmp_path / "vllm.json")
    # SGLang's `random` samples ShareGPT text from the Hub; `random-ids` draws token ids, as vLLM's `random` does
    assert sglang[sglang.index("--dataset-name") + 1] == "random-ids"
    assert vllm[vllm.index("--dataset-name") + 1] == "random"
    for command in (sglang, vllm):
        assert "http://127.0.0.1:1234" in command
        assert command[command.index("--tokenizer") + 1] == "/tok"
        assert command[command.index("--max-concurrency") + 1] == "100"
        assert command[command.index("--num-prompts") + 1] == "200"
    env = peer_clients.peer_env()
    assert env["HF_HUB_OFFLINE"] == "1"


def test_install_refuses_a_folder_inside_the_repository() -> None:
    with pytest.raises(SystemExit, match="outside the repository"):
        peer_clients.install_peer("vllm", peer_clients.REPO_ROOT / "peer-venv")


def test_truth_server_answers_the_peers_side_requests() -> None:
    proc, port = start_server(5.0, 1.0)
    try:
        models = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10).read())
        assert models["data"][0]["id"] == "truth"
        with pytest.raises(urllib.error.HTTPError) as answer:  # SGLang's client asks it after a run
            urllib.request.urlopen(f"http://127.0.0.1:{port}/get_server_info", timeout=10)
        assert answer.value.code == 404
        assert fetch_truth(port) == {}  # and the server still serves
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tiny_tokenizer_folder_loads_with_no_weights(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from tests.tiny_model import build_tiny_tokenizer

    build_tiny_tokenizer(tmp_path)
    assert not list(tmp_path.glob("*.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    ids = tokenizer.encode("The quick brown fox")
    assert ids and tokenizer.decode(ids) == "The quick brown fox"


def _row(c: int, client: str, errors: tuple, zero: float | None = 0.0) -> peer_clients.RaceRow:
    return peer_clients.RaceRow(c, client, 40, errors, zero)


def test_race_row_is_client_percentile_minus_truth_percentile() -> None:
    got = {"ttft": [51.0, 52.0, 53.0], "itl": [20.0, 0.2, 21.0], "tpot": [20.5]}
    true = {"ttft": [50.0, 50.0, 50.0], "itl": [20.0, 20.0, 20.0], "tpot": [20.0]}
    r = peer_clients.race_row(100, "timing", got, true)
    assert r.errors_ms[0] == pytest.approx(2.0)  # TTFT p50: 52 - 50
    assert r.errors_ms[2] == pytest.approx(0.0)  # ITL p50: 20 - 20
    assert r.errors_ms[4] == pytest.approx(0.5)
    assert r.zero_gap_share == pytest.approx(1 / 3)  # one gap of three reported under 1 ms
    assert peer_clients.race_row(1, "x", {"ttft": [], "itl": [], "tpot": []}, true).errors_ms[0] is None


def test_rounds_end_with_each_cells_median_and_the_smallest_error_marked() -> None:
    rows = [_row(1, "vllm", (3.0, 9.0, 0.0, 5.0, 0.1, 0.2), 0.1),
            _row(1, "timing", (0.5, 40.0, 0.0, 1.0, None, 0.3), 0.0),
            _row(1, "vllm", (1.0, 7.0, 0.0, 6.0, 0.1, 0.2), 0.3),
            _row(1, "timing", (0.3, 2.0, 0.0, 2.0, 0.2, 0.5), 0.0),
            _row(1, "vllm", (2.0, 8.0, 0.0, 4.0, 0.1, 0.2), 0.2)]
    medians = {r.client: r for r in peer_clients.median_rows(rows)}
    assert medians["vllm"].errors_ms == pytest.approx((2.0, 8.0, 0.0, 5.0, 0.1, 0.2))
    # timing ran two rounds; its TPOT p50 is known in one of them only
    assert medians["timing"].errors_ms == pytest.approx((0.4, 21.0, 0.0, 1.5, 0.2, 0.4))
    assert medians["vllm"].zero_gap_share == pytest.approx(0.2)
    marks = peer_clients.cell_winners(list(medians.values()))
    assert marks[1, "timing"] == ("*", "", "*", "*", "", "")
    assert marks[1, "vllm"] == ("", "*", "*", "", "*", "*")  # ITL p50: a tie marks both
    lines = peer_clients.summary_lines(rows, 3)
    assert lines[-1] == "cells where each client has the smallest error, of 6: vllm 4, timing 3"


def test_smallest_error_is_by_size_as_printed_and_per_concurrency() -> None:
    rows = [_row(1, "sdk", (-0.30, None, 0.001, 1.0, 0.0, 0.0)), _row(1, "timing", (0.31, None, -0.004, 2.0, 0.0, 0.0)),
            _row(100, "sdk", (9.0, 9.0, 9.0, 9.0, 9.0, 9.0)), _row(100, "timing", (-8.0, 8.0, 8.0, 8.0, 8.0, 8.0))]
    marks = peer_clients.cell_winners(rows)
    assert marks[1, "sdk"][0] == "*" and marks[1, "timing"][0] == ""  # |-0.30| < 0.31: a negative error is no better
    assert marks[1, "sdk"][1] == marks[1, "timing"][1] == ""  # no value anywhere: no mark
    assert marks[1, "sdk"][2] == marks[1, "timing"][2] == "*"  # both print as 0.00
    assert marks[100, "timing"] == ("*",) * 6 and marks[100, "sdk"] == ("",) * 6


def test_a_marked_row_prints_its_marks_beside_the_cells() -> None:
    line = peer_clients.format_row(_row(500, "timing", (1.0, None, 0.0, 2.0, 0.5, 0.7), 0.25),
                                   ("*", "", "", "*", "", ""))
    assert "+1.00*" in line and "n/a" in line and "+2.00*" in line and "25.0%" in line
    assert "+0.50*" not in line


def test_each_round_starts_with_another_client() -> None:
    clients = ["vllm", "sglang", "timing"]
    firsts = [peer_clients.round_order(clients, r)[0] for r in range(3)]
    assert firsts == ["vllm", "sglang", "timing"]
    assert sorted(peer_clients.round_order(clients, 4)) == sorted(clients)
