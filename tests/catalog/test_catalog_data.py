"""Guards on the real catalog in data/: the models the product promises are there, and every number's source is
an official publisher's page. A maintainer who adds a row from a new official host adds the host here, in review."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from ingest.coverage import coverage
from modelmatch.catalog.provenance import _host as publisher
from modelmatch.catalog.reader import CatalogReader

REQUIRED_MODELS = [
    "Qwen/Qwen2-7B-Instruct", "Qwen/Qwen2-72B", "Qwen/Qwen2-72B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-3B-Instruct", "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-14B-Instruct", "Qwen/Qwen2.5-32B-Instruct", "Qwen/Qwen2.5-72B-Instruct",
    "Qwen/Qwen2.5-Coder-32B-Instruct", "Qwen/Qwen2.5-Math-72B-Instruct", "alibaba/qwen2.5-max", "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-235B-A22B",
    "deepseek-ai/DeepSeek-V2", "deepseek-ai/DeepSeek-V2-Chat", "deepseek-ai/DeepSeek-V2-Lite",
    "deepseek-ai/DeepSeek-Coder-V2-Instruct", "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-R1",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "deepseek-ai/deepseek-vl2",
    "meta-llama/Llama-2-70b-chat-hf", "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct",
    "mistralai/Mixtral-8x7B-Instruct-v0.1", "01-ai/Yi-1.5-34B-Chat", "google/gemma-2-2b-it", "google/gemma-2-9b-it",
    "openai/gpt-4o-2024-05-13", "openai/gpt-4o-mini-2024-07-18", "openai/o1-2024-12-17",
    "anthropic/claude-3-5-sonnet-20241022",
]

# Hosts (and, on shared hosts, owners) that publish official material for the catalog's vendors.
OFFICIAL_SOURCES = {
    "github.com": {"QwenLM", "deepseek-ai", "meta-llama", "google-deepmind", "google-gemini", "01-ai", "openai",
                   "anthropics", "mistralai", "NVIDIA", "ROCm", "mlcommons",
                   # Kimi's README: its own evaluation table, measuring DeepSeek-V3.2 and Qwen3-VL; HunyuanOCR's,
                   # STEP3-VL's and dots.ocr's READMEs: their own tables with Qwen3-VL columns
                   "MoonshotAI", "Tencent-Hunyuan", "stepfun-ai", "rednote-hilab"},
    "huggingface.co": {"Qwen", "deepseek-ai", "meta-llama", "google", "01-ai", "mistralai",
                       "zai-org"},  # GLM-5's model card: its own evaluation table, measuring DeepSeek-V3.2
    "qwenlm.github.io": None, "qwen.ai": None, "qwen.readthedocs.io": None, "modelscope.cn": None,
    "api-docs.deepseek.com": None, "cdn.deepseek.com": None, "alibabacloud.com": None, "www.alibabacloud.com": None,
    "openai.com": None, "community.openai.com": None, "platform.openai.com": None,
    "docs.anthropic.com": None, "www.anthropic.com": None, "anthropic.com": None,
    "ai.google.dev": None, "docs.nvidia.com": None, "www.nvidia.com": None, "resources.nvidia.com": None,
    "docs.mistral.ai": None, "mistral.ai": None, "arxiv.org": None, "ar5iv.labs.arxiv.org": None,
    "www.amd.com": None, "rocm.docs.amd.com": None,
    # An inference provider's own pricing page is the official source for that provider's price.
    "support.huaweicloud.com": None,
    "www.together.ai": None, "deepinfra.com": None, "docs.together.ai": None, "docs.fireworks.ai": None,
    "novita.ai": None,
}
SOURCED_TABLES = ["models", "architectures", "scores", "prices", "licenses", "gpus"]


@pytest.fixture(scope="module")
def reader(real_catalog) -> CatalogReader:
    return CatalogReader(real_catalog)


def test_required_models_are_in_the_catalog(reader):
    have = set(reader.query("SELECT model_id FROM models")["model_id"])
    assert [m for m in REQUIRED_MODELS if m not in have] == []


@pytest.mark.parametrize("table", SOURCED_TABLES)
def test_every_row_comes_from_an_official_publisher(reader, table):
    """Rows of tier official / official-copy / derived cite the vendor's URL; secondary rows are the one exception
    (no official source could be opened; two independent sources are cited instead, checked below)."""
    unofficial = []
    # A 'secondary' row (evidence tier: two independent reputable sources that agree) cites two third-party pages;
    # it must name its second source, from another publisher (another site, or another account on a code host).
    provenance = "provenance" in reader.query(f"SELECT * FROM {table} LIMIT 0").columns
    if provenance:
        secondary = reader.query(f"SELECT source_url, second_source_url FROM {table} WHERE provenance = 'secondary'")
        for first, second in zip(secondary["source_url"], secondary["second_source_url"]):
            assert isinstance(second, str) and publisher(second) != publisher(first), (first, second)
    where = " WHERE provenance IS DISTINCT FROM 'secondary'" if provenance else ""
    for url in reader.query(f"SELECT DISTINCT source_url FROM {table}{where}")["source_url"]:
        parsed = urlparse(url)
        if parsed.netloc not in OFFICIAL_SOURCES:
            unofficial.append(url)
            continue
        owners = OFFICIAL_SOURCES[parsed.netloc]
        owner = parsed.path.strip("/").split("/")[0]
        if owners is not None and owner not in owners:
            unofficial.append(url)
    assert unofficial == [], "sources outside the official publishers' sites"


@pytest.mark.parametrize("table", ["scores", "prices", "architectures"])
def test_every_numeric_row_has_source_location_and_date(reader, table):
    missing = reader.query(f"SELECT count(*) AS n FROM {table} WHERE source_url IS NULL OR as_of IS NULL")
    assert int(missing["n"].iloc[0]) == 0


def test_the_qwen_vs_deepseek_core_has_scores_on_shared_benchmarks(reader):
    shared = reader.query("""
        SELECT benchmark_id FROM scores WHERE model_id = 'Qwen/Qwen2.5-72B-Instruct'
        INTERSECT SELECT benchmark_id FROM scores WHERE model_id = 'deepseek-ai/DeepSeek-V3'""")
    assert len(shared) >= 5


def test_moe_and_mla_models_carry_their_expert_and_latent_fields(reader):
    rows = reader.query("""
        SELECT a.* FROM architectures a JOIN models m USING (model_id)
        WHERE m.attention = 'mla' AND m.open_weights""")
    assert len(rows) >= 4
    assert rows[["num_layers", "kv_lora_rank", "qk_rope_head_dim", "n_routed_experts", "experts_per_token"]] \
        .notna().all().all()


def test_coverage_report_counts_match_the_tables(reader):
    cov = coverage(reader)
    assert cov.row_counts["models"] == len(reader.query("SELECT model_id FROM models"))
    assert sum(cov.scores_by_provenance.values()) == cov.row_counts["scores"]


@pytest.mark.parametrize("table", SOURCED_TABLES)
def test_every_sourced_row_has_a_provenance_tier(reader, table):
    untiered = reader.query(f"SELECT count(*) AS n FROM {table} WHERE provenance IS NULL")
    assert int(untiered["n"].iloc[0]) == 0


@pytest.mark.parametrize("table", SOURCED_TABLES)
def test_secondary_rows_cite_two_different_publishers(reader, table):
    rows = reader.query(f"SELECT source_url, second_source_url FROM {table} WHERE provenance = 'secondary'")
    for first, second in rows.itertuples(index=False):
        assert second and urlparse(first).path != urlparse(second).path


def test_another_vendors_report_names_who_measured_it(reader):
    """Regression for the old 'third-party' tier: those rows are official reports of another vendor, measured_by
    says which, and no score keeps the legacy values."""
    legacy = reader.query("SELECT count(*) AS n FROM scores WHERE provenance IN ('third-party', 'local-run')")
    assert int(legacy["n"].iloc[0]) == 0
    by = reader.query("SELECT DISTINCT m.vendor, s.measured_by FROM scores s JOIN models m USING (model_id) "
                      "WHERE s.measured_by IS NOT NULL")
    assert set(by["measured_by"]) <= {"Alibaba", "DeepSeek", "Moonshot AI", "Zhipu AI (Z.ai)", "Tencent",
                                      "StepFun", "rednote"}
    assert not (by["vendor"] == by["measured_by"]).any(), "a vendor's own report marked as measured by itself"


def test_the_wizards_one_h100_scenario_has_a_bandwidth_and_sizes_the_qwen3_models(reader):
    """Regression: every pick of the Thai/Vietnamese support scenario on one H100 ended 'low confidence' because the
    H100 had no bandwidth and no Qwen3 row had head_dim."""
    from ingest.tier_coverage import tier_report
    h100 = reader.query("SELECT memory_bandwidth_gbps FROM gpus WHERE gpu_id = 'h100-sxm'")
    assert h100["memory_bandwidth_gbps"].iloc[0] > 0
    report = tier_report(reader)
    for model in ("Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen2.5-7B-Instruct",
                  "Qwen/Qwen2.5-72B-Instruct"):
        assert model not in report.cannot_size, report.cannot_size.get(model)
    assert not [v for v in report.verifications if v.status == "mismatch" and v.model_id.startswith("Qwen/")]


def test_the_hybrid_and_dsa_rows_are_sized_and_counted(reader):
    """The report reads the attention layout off the architecture row when the models row has none (as the planner
    does): the hybrid Qwen rows are sized, and their parameter counts verify against the vendor's names."""
    from ingest.tier_coverage import tier_report
    report = tier_report(reader)
    checks = {v.model_id: v for v in report.verifications}
    for model in ("Qwen/Qwen3-Next-80B-A3B-Instruct", "Qwen/Qwen3-Next-80B-A3B-Thinking", "Qwen/Qwen3.5-35B-A3B",
                  "Qwen/Qwen3.5-9B", "Qwen/Qwen3.5-27B", "Qwen/Qwen3.5-122B-A10B", "Qwen/Qwen3.5-397B-A17B"):
        assert model not in report.cannot_size, report.cannot_size.get(model)
        assert checks[model].status == "verified", checks[model].reason
    # DeepSeek-V3.2 has its architecture row and its layout (MLA, read off the row); at most the models row's
    # parameter count can still be missing.
    assert set(report.cannot_size.get("deepseek-ai/DeepSeek-V3.2", [])) <= {"models.params_total_b"}


def test_the_planner_can_size_deepseek_v4(reader):
    """Issue 15: the planner could not size DeepSeek-V4-Flash / -Pro. Their architecture rows are DeepSeek's
    config.json (official copies) and their counts secondary (two engines' pages); the counts verify."""
    from ingest.tier_coverage import tier_report
    from modelmatch.planning.sequence_cache import sequence_cache
    report = tier_report(reader)
    checks = {v.model_id: v for v in report.verifications}
    for model in ("deepseek-ai/DeepSeek-V4-Flash", "deepseek-ai/DeepSeek-V4-Pro"):
        assert model not in report.cannot_size, report.cannot_size.get(model)
        assert checks[model].status == "verified", checks[model].reason
        arch = reader.query("SELECT * FROM architectures WHERE model_id = ?", [model]).iloc[0].to_dict()
        assert arch["provenance"] == "official-copy"
        assert sequence_cache(arch, None, "bf16").kind == "deepseek-v4"
    tiers = report.per_model.set_index(["model_id", "field"])["tier"]
    assert tiers[("deepseek-ai/DeepSeek-V4-Pro", "params_total_b")] == "secondary"
    assert tiers[("deepseek-ai/DeepSeek-V4-Pro", "context_length")] == "official-copy"
