"""`python -m ingest measure-local` on this CPU with tiny architectures (seconds): models built from catalog rows with
random weights, every code path timed, the KV cache measured against the planner's formula, rows that build into
the catalog, incomplete rows skipped with the missing fields named, truncated proofs kept out of the data folder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ingest.__main__ import main as ingest_main
from ingest.build import build
from ingest.measure.arch_config import build_spec
from ingest.measure.local_gpu import Device, build_model, weights_read_per_step
from tests.fixture_data import SRC, write_table

BASE = {"vendor": "Alibaba", "variant": "instruct", "open_weights": "true", "license_id": "apache-2.0",
        "source_url": SRC, "as_of": "2025-01-01"}
TINY_MODELS = [
    {**BASE, "model_id": "test-org/Tiny-Qwen2", "display_name": "Tiny Qwen2", "family": "Qwen2.5",
     "architecture": "dense", "attention": "gqa", "params_total_b": "0.01", "params_active_b": "0.01"},
    {**BASE, "model_id": "test-org/Tiny-MLA-MoE", "display_name": "Tiny MLA MoE", "family": "DeepSeek-V2",
     "vendor": "DeepSeek", "architecture": "moe", "attention": "mla", "params_total_b": "0.01",
     "params_active_b": "0.01"},
    {**BASE, "model_id": "test-org/Tiny-Incomplete", "display_name": "Tiny incomplete", "family": "Qwen2.5",
     "architecture": "dense", "attention": "gqa"},
    {**BASE, "model_id": "test-org/Tiny-Hybrid-MoE", "display_name": "Tiny hybrid MoE", "family": "Qwen3-Next",
     "architecture": "moe", "params_total_b": "0.01", "params_active_b": "0.01"},
    {**BASE, "model_id": "test-org/Tiny-Gemma2", "display_name": "Tiny Gemma 2", "family": "Gemma 2",
     "architecture": "dense", "attention": "gqa", "params_total_b": "0.01", "params_active_b": "0.01"},
]
TINY_ARCHS = [
    {"model_id": "test-org/Tiny-Qwen2", "num_layers": "2", "hidden_size": "64", "num_attention_heads": "4",
     "num_kv_heads": "2", "head_dim": "16", "intermediate_size": "128", "vocab_size": "512",
     "tie_word_embeddings": "true", "source_url": SRC, "as_of": "2025-01-01"},
    {"model_id": "test-org/Tiny-MLA-MoE", "num_layers": "3", "hidden_size": "64", "num_attention_heads": "4",
     "head_dim": "16", "intermediate_size": "128", "vocab_size": "512", "n_routed_experts": "8",
     "n_shared_experts": "1", "experts_per_token": "2", "moe_intermediate_size": "32", "first_k_dense": "1",
     "kv_lora_rank": "32", "qk_rope_head_dim": "8", "qk_nope_head_dim": "16", "v_head_dim": "16",
     "source_url": SRC, "as_of": "2025-01-01"},
    {"model_id": "test-org/Tiny-Incomplete", "num_layers": "2", "num_attention_heads": "4", "num_kv_heads": "2",
     "source_url": SRC, "as_of": "2025-01-01"},
    # Gated DeltaNet layers with full attention every 2nd layer (Qwen3-Next's layout, 4 layers instead of 48).
    {"model_id": "test-org/Tiny-Hybrid-MoE", "num_layers": "4", "hidden_size": "64", "num_attention_heads": "4",
     "num_kv_heads": "2", "head_dim": "16", "vocab_size": "512", "tie_word_embeddings": "false",
     "n_routed_experts": "8", "n_shared_experts": "1", "experts_per_token": "2", "moe_intermediate_size": "32",
     "shared_expert_intermediate_size": "32", "full_attention_interval": "2", "linear_num_key_heads": "2",
     "linear_num_value_heads": "4", "linear_key_head_dim": "16", "linear_value_head_dim": "16",
     "linear_conv_kernel_dim": "4", "attn_output_gate": "true", "source_url": SRC, "as_of": "2025-01-01"},
    # Gemma 2's layout: sliding-window and global layers alternate (2 of 4 layers keep an 8-token window).
    {"model_id": "test-org/Tiny-Gemma2", "num_layers": "4", "hidden_size": "64", "num_attention_heads": "4",
     "num_kv_heads": "2", "head_dim": "16", "intermediate_size": "128", "vocab_size": "512",
     "tie_word_embeddings": "true", "sliding_window": "8", "sliding_window_layers": "2", "source_url": SRC,
     "as_of": "2025-01-01"},
]
SMALL = ["--device", "cpu", "--batch-sizes", "1,2", "--prompt-len", "12", "--decode-steps", "3", "--repeats", "2",
         "--kv-tokens", "16"]


@pytest.fixture
def tiny_data(fixture_data_dir: Path) -> Path:
    write_table(fixture_data_dir, "models", TINY_MODELS, filename="tiny.csv")
    write_table(fixture_data_dir, "architectures", TINY_ARCHS, filename="tiny.csv")
    return fixture_data_dir


def rows(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("measure-local-*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            out.extend(csv.DictReader(handle))
    return out


def test_tiny_architectures_measured_on_cpu_into_the_catalog(tiny_data, tmp_path, capsys):
    rc = ingest_main(["--data", str(tiny_data), "measure-local", *SMALL, "--paths", "eager,static-cache",
                      "--model", "test-org/Tiny-Qwen2", "--model", "test-org/Tiny-MLA-MoE",
                      "--model", "test-org/Tiny-Incomplete", "--model", "test-org/Alpha-7B-Instruct",
                      "--memory-bandwidth-gbps", "50", "--out", str(tiny_data)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert ("skip test-org/Tiny-Incomplete: the catalog's architecture row has no hidden_size, head_dim, "
            "intermediate_size, vocab_size") in err
    assert "skip test-org/Alpha-7B-Instruct: no transformers model class is known for family 'Alpha'" in err
    summary = rows(tiny_data / "measurements")
    assert len(summary) == 2 * 2 * 2  # 2 models x 2 batch sizes x 2 paths
    for row in summary:
        assert (row["engine"], row["weights"], row["hardware"], row["gpu_count"], row["dtype"]) == \
            ("transformers", "random-init", "CPU", "0", "bf16")
        assert row["path"] in ("eager", "static-cache") and row["token_source"] == "fixed-length"
        assert (row["input_len"], row["output_len"], row["requests_ok"]) == ("12", "4", "2")
        assert float(row["prefill_tokens_per_s"]) > 0 and float(row["output_tokens_per_s"]) > 0
        # GQA: 2 x 2 layers x 2 KV heads x 16 x 2 bytes; MLA: 3 layers x (32 + 8) x 2 bytes; both exact
        expected = 256 if row["model_id"] == "test-org/Tiny-Qwen2" else 240
        assert float(row["kv_cache_formula_bytes_per_token"]) == expected
        assert float(row["kv_cache_bytes_per_token"]) == expected
        assert float(row["kv_cache_measured_to_formula"]) == 1.0
        assert float(row["memory_bandwidth_gbps"]) == 50 and float(row["roofline_fraction"]) > 0
        assert "50 GB/s" in row["notes"]
        assert "CPU:" in row["notes"] and "peak memory not measured" in row["notes"]
        assert row["peak_memory_gb"] == ""  # no CUDA allocator: never invented
    assert len(rows(tiny_data / "measurement_requests")) == 8 * 2
    build(tiny_data, tiny_data / "catalog.duckdb")  # CPU rows, clearly labelled, are valid catalog rows


def test_cpu_run_without_out_writes_nothing_and_truncated_models_stay_out_of_data(tiny_data, capsys):
    rc = ingest_main(["--data", str(tiny_data), "measure-local", *SMALL, "--model", "test-org/Tiny-Qwen2"])
    err = capsys.readouterr().err
    assert rc == 0 and "measured on a CPU and not written" in err
    assert rows(tiny_data / "measurements") == []
    rc = ingest_main(["--data", str(tiny_data), "measure-local", *SMALL, "--model", "test-org/Tiny-MLA-MoE",
                      "--max-layers", "2", "--out", str(tiny_data)])
    assert rc == 2 and "never go into the data folder" in capsys.readouterr().err


def test_truncated_proof_compares_the_kv_cache_like_with_like(tiny_data, tmp_path, capsys):
    out = tmp_path / "proof"
    rc = ingest_main(["--data", str(tiny_data), "measure-local", *SMALL, "--batch-sizes", "1",
                      "--model", "test-org/Tiny-MLA-MoE", "--max-layers", "2", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    row, = rows(out / "measurements")
    assert "TRUNCATED: 2 of 3 layers" in row["notes"]
    assert float(row["kv_cache_formula_bytes_per_token"]) == 2 * (32 + 8) * 2  # the layers actually built
    assert float(row["kv_cache_measured_to_formula"]) == 1.0


def test_bad_input_is_refused(tiny_data, capsys):
    assert ingest_main(["--data", str(tiny_data), "measure-local", "--device", "cpu", "--batch-sizes", "0"]) == 2
    assert "--batch-sizes" in capsys.readouterr().err
    assert ingest_main(["--data", str(tiny_data), "measure-local", "--device", "cpu", "--paths", "turbo",
                        "--model", "test-org/Tiny-Qwen2"]) == 2
    assert "unknown path(s) turbo" in capsys.readouterr().err
    assert ingest_main(["--data", str(tiny_data), "measure-local", "--device", "cpu", "--model", "no/such"]) == 2
    assert "not in the catalog's models: no/such" in capsys.readouterr().err


def test_roofline_reads_the_routed_experts_a_batch_touches():
    model = {"model_id": "x/moe", "family": "DeepSeek-V2", "architecture": "moe"}
    arch = {k: (int(v) if v.isdigit() else v) for k, v in TINY_ARCHS[1].items()}
    built = build_model(build_spec(model, arch, 64), Device("cpu"), seed=0)
    # Bytes as stored: transformers keeps the router's gate in float32 next to bf16 weights.
    def size(p):
        return p.numel() * p.element_size()
    routed = sum(size(p) for n, p in built.model.named_parameters() if ".experts." in n and "shared" not in n)
    embed = sum(size(p) for n, p in built.model.named_parameters() if "embed_tokens" in n)
    everything = sum(size(p) for p in built.model.parameters())
    one, _ = weights_read_per_step(built, 1)
    eight, _ = weights_read_per_step(built, 8)
    assert one == pytest.approx(everything - embed - routed + routed * 2 / 8)  # k/E of the experts
    assert eight == pytest.approx(everything - embed - routed + routed * (1 - (1 - 2 / 8) ** 8))


@pytest.mark.parametrize("smi_name, gpu_id", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"),
    ("NVIDIA H200", "h200-sxm"),
    ("NVIDIA H100 NVL", "h100-nvl"),
    ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA A100-SXM4-80GB", "a100-sxm-80gb"),
    ("NVIDIA A100-PCIE-40GB", "a100-pcie-40gb"),
    ("NVIDIA L4", "l4"),
    ("NVIDIA GeForce RTX 4090", None),
])
def test_nvidia_smi_names_find_their_catalog_gpu(smi_name, gpu_id):
    from ingest.measure.hardware import match_catalog_gpu
    from ingest.validate import validate
    from tests.conftest import REPO_ROOT

    gpus = [r.values for r in validate(REPO_ROOT / "data").tables["gpus"]]
    row = match_catalog_gpu(smi_name, gpus)
    assert (row["gpu_id"] if row else None) == gpu_id


def test_small_figures_are_not_written_as_zero():
    """Regression: measurement cells were rounded to 4 decimal places, so a CPU run's roofline fraction (6e-5)
    reached the catalog as 0.0."""
    from ingest.measure.records import _cell

    assert float(_cell(0.0000612345678)) == pytest.approx(0.0000612346, rel=1e-6)
    assert float(_cell(123456.789)) == pytest.approx(123457)
    assert _cell(0.0) == "0.0"


def test_hybrid_linear_attention_is_built_measured_and_its_growing_cache_matches_the_formula(tiny_data, tmp_path,
                                                                                             capsys):
    out = tmp_path / "hybrid"
    rc = ingest_main(["--data", str(tiny_data), "measure-local", *SMALL, "--batch-sizes", "1",
                      "--model", "test-org/Tiny-Hybrid-MoE", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    row, = rows(out / "measurements")
    # Only the 2 full-attention layers grow with the context: 2 (K, V) x 2 layers x 2 KV heads x 16 x 2 bytes; the
    # Gated DeltaNet state is the same size at every length.
    assert float(row["kv_cache_formula_bytes_per_token"]) == 256
    assert float(row["kv_cache_measured_to_formula"]) == 1.0
    assert "hybrid: Gated DeltaNet" in row["notes"]


@pytest.mark.parametrize("model_id", ["Qwen/Qwen3-Next-80B-A3B-Instruct", "Qwen/Qwen3.5-35B-A3B"])
def test_the_hybrid_transformers_builds_has_the_parameters_the_catalog_counts(model_id):
    """The real rows, built on the meta device: transformers' model and the catalog's parameter counter agree to
    0.001 % (the counter leaves out per-head q/k norms, the shared-expert gate and the Gated DeltaNet's A_log,
    dt_bias and norm: about 1e5 parameters of 8e10)."""
    import torch
    from transformers import AutoModelForCausalLM

    from ingest.measure.local_gpu import read_catalog
    from ingest.measure.arch_config import make_config
    from modelmatch.planning.param_count import count_params
    from tests.conftest import REPO_ROOT

    catalog = read_catalog(REPO_ROOT / "data")
    spec = build_spec(catalog.models[model_id], catalog.architectures[model_id], 4096)
    assert spec.ok, spec.problem
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(make_config(spec), dtype=torch.bfloat16)
    built = sum(p.numel() for p in model.parameters())
    counted = count_params(catalog.architectures[model_id], catalog.models[model_id]).total
    assert built == pytest.approx(counted, rel=1e-5)


def test_a_row_that_says_the_attention_output_is_not_gated_is_not_built_as_a_gated_model():
    model = next(m for m in TINY_MODELS if m["model_id"] == "test-org/Tiny-Hybrid-MoE")
    spec = build_spec(model, {**TINY_ARCHS[3], "attn_output_gate": "false"}, 64)
    assert not spec.ok and "always gates the attention output" in spec.problem


def test_long_prompt_copy_bandwidth_and_its_roofline_are_recorded(tiny_data, tmp_path, capsys):
    out = tmp_path / "long"
    rc = ingest_main(["--data", str(tiny_data), "measure-local", *SMALL, "--batch-sizes", "1,2",
                      "--long-prompt-len", "40", "--copy-mib", "8", "--model", "test-org/Tiny-Qwen2",
                      "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "copy bandwidth: device-to-device copy of 8 MiB" in err
    summary = rows(out / "measurements")
    assert sorted((r["concurrency"], r["input_len"]) for r in summary) == [("1", "12"), ("1", "40"), ("2", "12")]
    long, = [r for r in summary if r["input_len"] == "40"]
    assert long["run_id"].endswith("-b1-p40-eager") and float(long["ttft_ms_p50"]) > 0
    assert len({r["run_id"] for r in summary}) == 3
    for row in summary:
        assert float(row["copy_bandwidth_gbps"]) > 0
        ceiling = float(row["copy_roofline_tokens_per_s"])
        assert float(row["copy_roofline_fraction"]) == pytest.approx(float(row["output_tokens_per_s"]) / ceiling,
                                                                      rel=1e-4)
        assert "measured bandwidth: device-to-device copy" in row["notes"]
        assert row["memory_bandwidth_gbps"] == "" and row["gpu_driver"] == ""  # no datasheet, no driver on a CPU
    build(tiny_data, tmp_path / "catalog.duckdb")  # the new columns are valid catalog columns


def test_nvidia_smi_lines_give_name_memory_and_driver():
    from ingest.measure.hardware import parse_nvidia_smi

    gpus = parse_nvidia_smi("NVIDIA H100 80GB HBM3, 81559, 580.159.04\nNVIDIA H200, 143771, 580.159.03\n\n")
    assert [(g.name, g.memory_mib, g.driver) for g in gpus] == [
        ("NVIDIA H100 80GB HBM3", 81559, "580.159.04"), ("NVIDIA H200", 143771, "580.159.03")]
    one, = parse_nvidia_smi("Some GPU, [N/A]")
    assert (one.name, one.memory_mib, one.driver) == ("Some GPU", None, None)


def test_the_prepared_gpu_script_runs_end_to_end_and_its_rows_build(tiny_data, tmp_path):
    """scripts/measure-gpu on this CPU with a tiny model (same options as on the GPU, shorter decode): rows for
    batch 1/8/32 at the 1,024-token prompt and batch 1 at 8,192, validated by a real build, and the table."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    out = tmp_path / "gpu-run"
    env = {**os.environ, "MEASURE_DEVICE": "cpu", "MODELMATCH_DATA_DIR": str(tiny_data),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "measure-gpu"), str(out), "--model",
                           "test-org/Tiny-Qwen2", "--decode-steps", "2", "--repeats", "1", "--kv-tokens", "16",
                           "--copy-mib", "4"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the new rows build into the catalog" in done.stderr
    summary = rows(out / "measurements")
    assert sorted((int(r["concurrency"]), int(r["input_len"])) for r in summary) == [
        (1, 1024), (1, 8192), (8, 1024), (32, 1024)]
    assert {r["path"] for r in summary} == {"eager"}
    table = (out / "table.md").read_text()
    assert table.count("| test-org/Tiny-Qwen2 | eager |") == 4 and "weights=random-init" in table


def test_a_truncated_sliding_window_model_is_compared_with_the_layers_built(tiny_data, tmp_path, capsys):
    """Regression: a Gemma 2 proof truncated to 2 of 42 layers kept the row's 21 sliding layers, so the planner's
    formula went negative (-155,648 bytes per token) and the row could not be written."""
    out = tmp_path / "gemma"
    rc = ingest_main(["--data", str(tiny_data), "measure-local", *SMALL, "--batch-sizes", "1",
                      "--model", "test-org/Tiny-Gemma2", "--max-layers", "2", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    row, = rows(out / "measurements")
    # 2 layers built: 1 sliding (its 8-token window is full at 16 and 32 tokens) and 1 global that grows:
    # 2 (K, V) x 1 layer x 2 KV heads x 16 x 2 bytes.
    assert float(row["kv_cache_formula_bytes_per_token"]) == 128
    assert float(row["kv_cache_measured_to_formula"]) == 1.0


def test_a_window_not_yet_full_is_compared_with_the_planners_growth_over_the_same_tokens(tiny_data, tmp_path,
                                                                                          capsys):
    """Regression: Gemma 2's 4,096-token window is larger than the cache sizes measured (256 and 512 tokens), so
    every layer grew, and the row read measured/formula 2.0 against the long-context figure (global layers only)."""
    out = tmp_path / "window"
    rc = ingest_main(["--data", str(tiny_data), "measure-local", *SMALL, "--batch-sizes", "1", "--kv-tokens", "6",
                      "--model", "test-org/Tiny-Gemma2", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    row, = rows(out / "measurements")
    # 3 -> 6 cached tokens, all under the 8-token window: all 4 layers grow, 2 x 4 x 2 KV heads x 16 x 2 bytes.
    assert float(row["kv_cache_formula_bytes_per_token"]) == 512
    assert float(row["kv_cache_measured_to_formula"]) == 1.0
    assert "between 3 and 6 cached tokens the planner's cache grows by 512 bytes per token" in row["notes"]
