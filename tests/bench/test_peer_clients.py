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
