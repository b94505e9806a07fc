"""A small, clearly fictional catalog written by code, for tests that need exact control over the rows.

Model ids live under `test-org/` and URLs under example.org so nobody mistakes them for real data.
"""

from __future__ import annotations

import csv
from pathlib import Path

from modelmatch.catalog.schema import TABLES

SRC = "https://example.org/report"

FIXTURE_ROWS: dict[str, list[dict[str, str]]] = {
    "licenses": [
        {"license_id": "apache-2.0", "name": "Apache License 2.0", "url": "https://example.org/apache",
         "commercial_use": "yes", "attribution_required": "true", "summary": "permissive",
         "source_url": SRC, "as_of": "2025-01-01"},
        {"license_id": "test-community", "name": "Test Community License", "url": "https://example.org/tcl",
         "commercial_use": "conditional", "conditions": "over 100M monthly active users need a separate license",
         "attribution_required": "false", "source_url": SRC, "as_of": "2025-01-01"},
    ],
    "models": [
        {"model_id": "test-org/Alpha-7B-Instruct", "display_name": "Alpha 7B Instruct", "family": "Alpha",
         "vendor": "Alibaba", "variant": "instruct", "reasoning": "no", "release_date": "2024-09-19",
         "open_weights": "true", "params_total_b": "7.6", "params_active_b": "7.6", "architecture": "dense",
         "attention": "gqa", "context_length": "131072", "license_id": "apache-2.0", "modalities": "text",
         "source_url": SRC, "source_location": "Table 1", "as_of": "2024-09-19"},
        {"model_id": "test-org/Beta-MoE", "display_name": "Beta MoE", "family": "Beta", "vendor": "DeepSeek",
         "variant": "reasoning", "reasoning": "yes", "release_date": "2025-01-20", "open_weights": "true",
         "params_total_b": "671", "params_active_b": "37", "architecture": "moe", "attention": "mla",
         "context_length": "131072", "license_id": "test-community", "modalities": "text",
         "source_url": SRC, "source_location": "Table 2", "as_of": "2025-01-20"},
        {"model_id": "test-vendor/gamma-api", "display_name": "Gamma (API)", "family": "Gamma", "vendor": "OpenAI",
         "variant": "instruct", "reasoning": "no", "open_weights": "false", "context_length": "8192",
         "license_id": "test-community", "source_url": SRC, "source_location": "models page",
         "as_of": "2024-05-13"},
    ],
    "architectures": [
        {"model_id": "test-org/Alpha-7B-Instruct", "num_layers": "28", "hidden_size": "3584",
         "num_attention_heads": "28", "num_kv_heads": "4", "head_dim": "128", "intermediate_size": "18944",
         "vocab_size": "152064", "tie_word_embeddings": "false", "source_url": SRC,
         "source_location": "config.json", "as_of": "2024-09-19"},
    ],
    "benchmarks": [
        {"benchmark_id": "mmlu", "name": "MMLU", "category": "knowledge", "metric": "accuracy", "unit": "percent",
         "higher_is_better": "true", "description": "multiple-choice knowledge", "url": "https://example.org/mmlu"},
        {"benchmark_id": "mt-bench", "name": "MT-Bench", "category": "instruction", "metric": "judge score",
         "unit": "score", "higher_is_better": "true"},
    ],
    "scores": [
        {"model_id": "test-org/Alpha-7B-Instruct", "benchmark_id": "mmlu", "value": "74.2", "setting": "5-shot",
         "provenance": "official", "source_url": SRC, "source_location": "Table 3", "as_of": "2024-09-19"},
        {"model_id": "test-org/Beta-MoE", "benchmark_id": "mmlu", "value": "90.8", "setting": "0-shot",
         "provenance": "official", "source_url": SRC, "source_location": "Table 4", "as_of": "2025-01-20"},
        {"model_id": "test-org/Alpha-7B-Instruct", "benchmark_id": "mmlu", "value": "73.9", "setting": "5-shot",
         "provenance": "third-party", "source_url": "https://example.org/other", "source_location": "Table 9",
         "as_of": "2024-12-26"},
    ],
    "prices": [
        {"provider": "TestCloud", "model_id": "test-org/Beta-MoE", "provider_model": "beta-chat",
         "input_usd_per_mtok": "0.55", "cached_input_usd_per_mtok": "0.14", "output_usd_per_mtok": "2.19",
         "effective_from": "2025-01-20", "source_url": SRC, "source_location": "pricing table",
         "as_of": "2025-01-20"},
        {"provider": "TestCloud", "model_id": "test-org/Beta-MoE", "provider_model": "beta-chat",
         "input_usd_per_mtok": "0.28", "output_usd_per_mtok": "0.42", "effective_from": "2025-09-05",
         "source_url": SRC, "source_location": "pricing table", "as_of": "2025-09-05"},
    ],
    "gpus": [
        {"gpu_id": "test-gpu", "name": "Test GPU 80GB", "vendor": "TestCorp", "memory_gb": "80",
         "memory_bandwidth_gbps": "3350", "bf16_tflops_dense": "989", "source_url": SRC,
         "source_location": "datasheet", "as_of": "2024-01-01"},
    ],
    "measurements": [],
    "measurement_requests": [],
    "use_case_weights": [
        {"use_case": "general-chat", "label": "General chat assistant", "category": "knowledge", "weight": "0.5",
         "rationale": "fixture weight"},
        {"use_case": "general-chat", "label": "General chat assistant", "category": "instruction", "weight": "0.2",
         "rationale": "fixture weight"},
        {"use_case": "general-chat", "label": "General chat assistant", "category": "cost", "weight": "0.2",
         "rationale": "fixture weight"},
        {"use_case": "general-chat", "label": "General chat assistant", "category": "speed", "weight": "0.1",
         "rationale": "fixture weight"},
        {"use_case": "math-science-reasoning", "label": "Advanced math and science reasoning", "category": "math",
         "weight": "0.6", "rationale": "fixture weight"},
        {"use_case": "math-science-reasoning", "label": "Advanced math and science reasoning",
         "category": "knowledge", "weight": "0.3", "rationale": "fixture weight"},
        {"use_case": "math-science-reasoning", "label": "Advanced math and science reasoning", "category": "cost",
         "weight": "0.1", "rationale": "fixture weight"},
    ],
}


def write_table(data_dir: Path, table_name: str, rows: list[dict[str, str]], filename: str = "fixture.csv",
                columns: list[str] | None = None) -> Path:
    table = next(t for t in TABLES if t.name == table_name)
    folder = data_dir / table_name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    header = columns or table.column_names
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def write_fixture_data(data_dir: Path, overrides: dict[str, list[dict[str, str]]] | None = None) -> Path:
    """Write the fixture catalog's CSVs into data_dir (one file per table) and return data_dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    rows = {**FIXTURE_ROWS, **(overrides or {})}
    for table in TABLES:
        write_table(data_dir, table.name, rows.get(table.name, []))
    return data_dir
