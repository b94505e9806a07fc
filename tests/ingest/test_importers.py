"""Importers against a real loopback HTTP server serving recorded responses: the happy path, unit normalization,
and every failure (timeout, 500, changed schema, truncated body, redirect, oversize, bad mapping) writing nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ingest.build import build
from ingest.importers import FetchError, MappingError, run_fetch
from ingest.importers.hf_config import parse_config
from ingest.importers.units import NotAListPrice, UnitError, fmt, per_token_to_per_mtok, to_decimal, to_int
from ingest.validate import validate
from modelmatch.catalog import prices
from modelmatch.catalog.reader import CatalogReader
from tests.conftest import REPO_ROOT
from tests.http_fixtures.importer_env import (COMMIT, DAY1, DAY2, clock, data_dir, loopback, net,  # noqa: F401
                                              read_csv, serve_hf, serve_litellm, serve_openrouter, snapshot)
from tests.http_fixtures.server import FIXTURES

# -- units ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ("0.0000025", Decimal("2.5")), (2.5e-06, Decimal("2.5")), ("2.8e-07", Decimal("0.28")), (0, Decimal(0)),
    ("0", Decimal(0)), (" 0.00000014 ", Decimal("0.14")), (1e-08, Decimal("0.01")), (1, Decimal(1_000_000)),
])
def test_per_token_prices_become_exact_per_million(raw, expected):
    assert per_token_to_per_mtok(raw, "x") == expected


def test_exact_decimals_avoid_float_noise():
    assert 0.00000219 * 1_000_000 != 2.19  # the float way: 2.1900000000000004
    assert fmt(per_token_to_per_mtok("0.00000219", "x")) == "2.19"
    assert fmt(per_token_to_per_mtok(2.9e-06, "x")) == "2.9"
    assert fmt(per_token_to_per_mtok("0.00000042", "x")) == "0.42"
    assert fmt(Decimal("131072")) == "131072" and fmt(Decimal("2.50000")) == "2.5" and fmt(Decimal("0E-7")) == "0"


@pytest.mark.parametrize("raw", [None, ""])
def test_missing_values_are_unknown_not_zero(raw):
    assert per_token_to_per_mtok(raw, "x") is None and to_int(raw, "x") is None


@pytest.mark.parametrize(("raw", "message"), [
    ("free", "expected a number, got the text 'free'"), (True, "boolean"), ({"usd": 1}, "got dict"),
    (float("nan"), "finite"), ("1,5", "expected a number"),
])
def test_non_numbers_are_errors_that_say_where(raw, message):
    with pytest.raises(UnitError) as err:
        to_decimal(raw, "models[3].pricing.prompt")
    assert "models[3].pricing.prompt" in str(err.value) and message in str(err.value)


def test_negative_price_is_not_a_list_price_and_context_must_be_whole():
    with pytest.raises(NotAListPrice, match="variable or unknown"):
        per_token_to_per_mtok("-1", "openrouter/auto pricing.prompt")
    assert to_int("128000", "x") == 128000 and to_int(131072.0, "x") == 131072
    with pytest.raises(UnitError, match="whole number"):
        to_int(1.5, "x")


# -- OpenRouter -------------------------------------------------------------------------------------------------
def test_openrouter_happy_path_writes_a_review_batch(net, data_dir):
    serve_openrouter(net)
    before_curated = snapshot(data_dir / "prices")
    outcome = run_fetch("openrouter", data_dir, clock=clock(DAY1))
    plan = outcome.plan
    assert (plan.count("new"), plan.count("changed"), plan.count("held")) == (3, 0, 0)
    assert plan.missing == ["test-org/retired-model"]
    # Only the mapped models' endpoint lists were requested.
    assert sorted(net.paths_requested()) == ["/api/v1/models", "/api/v1/models/test-org/alpha-7b-instruct/endpoints",
                                             "/api/v1/models/test-org/beta-moe/endpoints"]
    folder = data_dir / "imports" / "openrouter"
    rows = {r["tier"]: r for r in read_csv(folder / "prices.csv")}
    testcloud = rows["via TestCloud (fp8)"]
    assert testcloud["provider"] == "OpenRouter" and testcloud["provider_model"] == "test-org/beta-moe"
    assert testcloud["model_id"] == "test-org/Beta-MoE"
    assert (testcloud["input_usd_per_mtok"], testcloud["cached_input_usd_per_mtok"],
            testcloud["output_usd_per_mtok"], testcloud["context_length"]) == ("0.28", "0.028", "0.42", "131072")
    assert testcloud["source_url"] == net.url("/api/v1/models/test-org/beta-moe/endpoints")
    assert testcloud["retrieved_at"] == "2026-01-10T12:00:00Z"
    assert testcloud["effective_from"] == testcloud["as_of"] == "2026-01-10"
    assert testcloud["review"] == ""
    assert "pricing.prompt" in testcloud["source_location"] and "x 1,000,000" in testcloud["source_location"]
    assert rows["via Acme Inference (bf16)"]["cached_input_usd_per_mtok"] == ""  # not stated: unknown, not 0
    assert rows["via Acme Inference"]["input_usd_per_mtok"] == "0.05"  # quantization 'unknown' is left out
    unmapped = {r["external_id"]: r for r in read_csv(folder / "unmapped.csv")}
    assert set(unmapped) == {"test-org/beta-moe:free", "openrouter/auto", "other-lab/unrelated-13b"}
    assert unmapped["test-org/beta-moe:free"]["suggested_model_id"] == "test-org/Beta-MoE"
    assert unmapped["test-org/beta-moe:free"]["mapping_line"] == "test-org/beta-moe:free,test-org/Beta-MoE,"
    assert unmapped["other-lab/unrelated-13b"]["suggested_model_id"] == ""
    report = (folder / "last_fetch.md").read_text()
    assert "3 new, 0 changed, 0 unchanged, 0 held for review, 3 unmapped (1 with a suggested catalog model)" in report
    assert "test-org/retired-model" in report and "input modalities image;text" in report
    summary = json.loads((folder / "last_fetch.json").read_text())
    assert summary["retrieved_at"] == "2026-01-10T12:00:00Z" and summary["counts"]["new"] == 3
    assert snapshot(data_dir / "prices") == before_curated  # hand-typed files untouched
    # The batch is part of the prices table from the next build on.
    assert validate(data_dir).ok
    db = data_dir / "catalog.duckdb"
    build(data_dir, db)
    in_force = prices.prices_in_force(CatalogReader(db), dt.date(2026, 1, 10), ["test-org/Beta-MoE"])
    assert set(in_force["tier"].dropna()) == {"via TestCloud (fp8)", "via Acme Inference (bf16)"}
    assert prices.prices_in_force(CatalogReader(db), dt.date(2026, 1, 9), ["test-org/Alpha-7B-Instruct"]).empty


def test_refetch_of_unchanged_prices_only_reconfirms_them(net, data_dir):
    serve_openrouter(net)
    run_fetch("openrouter", data_dir, clock=clock(DAY1))
    path = data_dir / "imports" / "openrouter" / "prices.csv"
    first = read_csv(path)
    plan = run_fetch("openrouter", data_dir, clock=clock(DAY2)).plan
    assert (plan.count("new"), plan.count("changed"), plan.count("unchanged")) == (0, 0, 3)
    second = read_csv(path)
    assert len(second) == len(first) == 3
    for old, new in zip(first, second):
        assert new["effective_from"] == old["effective_from"] == "2026-01-10"  # the price still began then
        assert new["as_of"] == "2026-02-03" and new["retrieved_at"] == "2026-02-03T09:30:00Z"  # checked again
        assert {k: v for k, v in new.items() if k not in ("as_of", "retrieved_at")} == \
               {k: v for k, v in old.items() if k not in ("as_of", "retrieved_at")}


def test_price_change_appends_a_dated_row_and_keeps_the_old(net, data_dir):
    serve_openrouter(net)
    run_fetch("openrouter", data_dir, clock=clock(DAY1))
    serve_openrouter(net, beta="openrouter/endpoints/test-org/beta-moe.after-change.json")
    plan = run_fetch("openrouter", data_dir, clock=clock(DAY2)).plan
    assert plan.count("changed") == 1 and plan.count("held") == 1
    rows = read_csv(data_dir / "imports" / "openrouter" / "prices.csv")
    testcloud = [r for r in rows if r["tier"] == "via TestCloud (fp8)"]
    assert [(r["effective_from"], r["input_usd_per_mtok"]) for r in testcloud] == \
           [("2026-01-10", "0.28"), ("2026-02-03", "0.14")]
    changed = next(c for c in plan.changes if c.change == "changed")
    assert changed.before.startswith("in 0.28") and changed.after.startswith("in 0.14")
    assert changed.file_line == "data/imports/openrouter/prices.csv:5"


def test_dry_run_writes_nothing(net, data_dir):
    serve_openrouter(net)
    before = snapshot(data_dir)
    outcome = run_fetch("openrouter", data_dir, dry_run=True, clock=clock(DAY1))
    assert outcome.dry_run and outcome.plan.count("new") == 3 and outcome.written == []
    assert snapshot(data_dir) == before


# -- LiteLLM ------------------------------------------------------------------------------------------------------
def test_litellm_continues_the_hand_typed_price_history(net, data_dir):
    serve_litellm(net)
    plan = run_fetch("litellm", data_dir, clock=clock(DAY1)).plan
    rows = {r["provider_model"]: r for r in read_csv(data_dir / "imports" / "litellm" / "prices.csv")}
    beta = rows["beta-chat"]
    assert (beta["provider"], beta["model_id"], beta["tier"]) == ("TestCloud", "test-org/Beta-MoE", "")
    assert (beta["input_usd_per_mtok"], beta["cached_input_usd_per_mtok"], beta["output_usd_per_mtok"],
            beta["context_length"]) == ("0.28", "0.028", "0.42", "131072")
    change = next(c for c in plan.changes if c.offering == "TestCloud beta-chat")
    assert change.change == "changed"  # the fixture's row in force had no cached price
    gamma = rows["gamma-api"]
    assert (gamma["input_usd_per_mtok"], gamma["output_usd_per_mtok"]) == ("5", "15")
    assert "above 200k_tokens" in gamma["notes"] and "community-maintained" in gamma["notes"]
    unmapped = {r["external_id"]: r for r in read_csv(data_dir / "imports" / "litellm" / "unmapped.csv")}
    assert unmapped["beta-chat"]["mapping_line"] == "beta-chat,test-org/Beta-MoE,TestCloud,beta-chat,,"
    assert "mode=embedding" in unmapped["other-lab/embedding-small"]["detail"]
    db = data_dir / "catalog.duckdb"
    build(data_dir, db)
    history = prices.price_history(CatalogReader(db), "test-org/Beta-MoE")
    assert [f"{d:%Y-%m-%d}" for d in history["effective_from"]] == ["2025-01-20", "2025-09-05", "2026-01-10"]
    assert f"{history['effective_until'].iloc[1]:%Y-%m-%d}" == "2026-01-10"


# -- Hugging Face config.json -------------------------------------------------------------------------------------
def test_hf_config_adds_missing_architecture_and_reports_differences(net, data_dir):
    serve_hf(net)
    curated = (data_dir / "architectures" / "fixture.csv").read_bytes()
    plan = run_fetch("hf-config", data_dir, model_ids=["test-org/Beta-MoE", "test-org/Alpha-7B-Instruct"],
                     clock=clock(DAY1)).plan
    rows = read_csv(data_dir / "imports" / "hf-config" / "architectures.csv")
    assert [r["model_id"] for r in rows] == ["test-org/Beta-MoE"]
    beta = rows[0]
    assert (beta["num_layers"], beta["hidden_size"], beta["num_attention_heads"], beta["n_routed_experts"],
            beta["n_shared_experts"], beta["experts_per_token"], beta["moe_intermediate_size"],
            beta["first_k_dense"], beta["kv_lora_rank"], beta["qk_rope_head_dim"], beta["v_head_dim"],
            beta["q_lora_rank"], beta["head_dim"], beta["tie_word_embeddings"]) == \
           ("27", "2048", "16", "64", "2", "6", "1408", "1", "512", "64", "128", "", "", "false")
    assert beta["source_url"] == f"{net.base}/test-org/Beta-MoE/blob/{COMMIT}/config.json"
    assert beta["provenance"] == "official"  # the vendor's own repository at a pinned commit
    assert beta["retrieved_at"] == "2026-01-10T12:00:00Z" and beta["source_location"] == "config.json"
    # The hand-typed Alpha row is never overwritten; differences and fillable blanks are listed.
    assert (data_dir / "architectures" / "fixture.csv").read_bytes() == curated
    fact = next(f for f in plan.facts if f.startswith("test-org/Alpha-7B-Instruct"))
    assert "vocab_size 152064 -> 151936" in fact and "max_position_embeddings=32768" in fact
    assert "sliding_window" not in fact  # use_sliding_window is false
    assert not (data_dir / "imports" / "hf-config" / "unmapped.csv").exists()
    assert validate(data_dir).ok


def test_hf_config_missing_fetches_only_models_without_architecture(net, data_dir):
    serve_hf(net)
    run_fetch("hf-config", data_dir, missing=True, clock=clock(DAY1))
    assert net.paths_requested() == ["/test-org/Beta-MoE/resolve/main/config.json"]  # Alpha has a row; Gamma is API
    outcome = run_fetch("hf-config", data_dir, missing=True, clock=clock(DAY2))
    assert outcome.plan is None  # every open-weights model has a row now


def test_hf_config_refuses_unknown_or_api_only_models_before_any_request(net, data_dir):
    with pytest.raises(MappingError) as err:
        run_fetch("hf-config", data_dir, model_ids=["test-org/beta-moe", "test-vendor/gamma-api"])
    text = str(err.value)
    assert "did you mean test-org/Beta-MoE" in text and "API-only" in text
    assert net.requests == []


def test_parse_config_nested_text_config_and_derived_fields():
    nested = parse_config(json.loads((FIXTURES / "huggingface/test-org/Vision-Nested/config.json").read_text()), "u")
    assert nested.nested and nested.values["num_layers"] == 34 and nested.values["head_dim"] == 256
    assert nested.values["hidden_size"] == 2560  # text_config wins over the vision tower's fields
    assert nested.values["sliding_window"] == 1024 and nested.values["torch_dtype"] == "bfloat16"
    mixtral_like = parse_config({"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
                                 "num_key_value_heads": 8, "intermediate_size": 14336, "num_local_experts": 8,
                                 "num_experts_per_tok": 2}, "u")
    assert mixtral_like.values["n_routed_experts"] == 8 and mixtral_like.values["moe_intermediate_size"] == 14336
    assert mixtral_like.values["head_dim"] == 128 and any("derived" in n for n in mixtral_like.notes)
    mha = parse_config({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4}, "u")
    assert mha.values["num_kv_heads"] == 4


def test_parse_config_hybrid_gated_attention_and_shared_expert():
    # Key shapes of the Qwen3-Next and Qwen3.5 MoE configs (values are test inputs).
    next_like = parse_config({"model_type": "qwen3_next", "num_hidden_layers": 8, "hidden_size": 64,
                              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "num_experts": 8,
                              "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                              "shared_expert_intermediate_size": 48, "full_attention_interval": 4}, "u")
    assert next_like.values["attn_output_gate"] is True  # Qwen3-Next's config has no key: always gated
    assert next_like.values["n_shared_experts"] == 1 and next_like.values["shared_expert_intermediate_size"] == 48
    qwen35_like = parse_config({"model_type": "qwen3_5_moe", "text_config": {
        "model_type": "qwen3_5_moe_text", "num_hidden_layers": 8, "hidden_size": 64, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "attn_output_gate": False, "full_attention_interval": 4}}, "u")
    assert qwen35_like.values["attn_output_gate"] is False  # the config's own key wins
    plain = parse_config({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4}, "u")
    assert "attn_output_gate" not in plain.values and "n_shared_experts" not in plain.values


def test_hf_token_is_sent_as_a_header_and_never_printed(net, data_dir, monkeypatch):
    monkeypatch.setenv("MODELMATCH_HF_TOKEN", "hf_secret_token_value")
    net.serve("/test-org/Beta-MoE/resolve/main/config.json", body=b'{"error": "gated"}', status=403)
    with pytest.raises(FetchError) as err:
        run_fetch("hf-config", data_dir, model_ids=["test-org/Beta-MoE"])
    assert net.requests[0][1]["authorization"] == "Bearer hf_secret_token_value"
    assert "hf_secret_token_value" not in str(err.value) and "HTTP 403" in str(err.value)


# -- every failure writes nothing -----------------------------------------------------------------------------------
def _break(server, source: str, failure: str) -> None:
    paths = {"openrouter": ("/api/v1/models", "openrouter/models.json", "openrouter/models.changed-schema.json"),
             "openrouter-endpoints": ("/api/v1/models/test-org/beta-moe/endpoints",
                                      "openrouter/endpoints/test-org/beta-moe.json",
                                      "openrouter/models.json"),
             "litellm": ("/litellm/model_prices_and_context_window.json",
                         "litellm/model_prices_and_context_window.json", "litellm/changed-schema.json"),
             "hf-config": ("/test-org/Beta-MoE/resolve/main/config.json", "huggingface/test-org/Beta-MoE/config.json",
                           "huggingface/changed-schema/config.json")}
    path, good, changed = paths[source]
    body = (FIXTURES / good).read_bytes()
    if failure == "timeout":
        server.serve(path, good, delay_s=3)
    elif failure == "500":
        server.serve(path, body=b"<html><body>upstream error</body></html>", status=500,
                     headers={"Content-Type": "text/html"})
    elif failure == "changed schema":
        server.serve(path, changed)
    elif failure == "truncated":
        server.serve(path, good, truncate_to=len(body) // 2)


EXPECTED = {"timeout": "timed out after 0.5 s", "500": "HTTP 500", "changed schema": "changed shape",
            "truncated": "truncated"}


@pytest.mark.parametrize("failure", list(EXPECTED))
@pytest.mark.parametrize("source", ["openrouter", "openrouter-endpoints", "litellm", "hf-config"])
def test_failure_gives_a_clear_error_and_changes_nothing(net, data_dir, monkeypatch, source, failure):
    fetch_source = "openrouter" if source.startswith("openrouter") else source
    kwargs = {"model_ids": ["test-org/Beta-MoE"]} if fetch_source == "hf-config" else {}
    {"openrouter": serve_openrouter, "litellm": serve_litellm, "hf-config": serve_hf}[fetch_source](net)
    run_fetch(fetch_source, data_dir, clock=clock(DAY1), **kwargs)  # an earlier batch a failure must not touch
    build(data_dir, data_dir / "catalog.duckdb")
    before = snapshot(data_dir)
    _break(net, source, failure)
    monkeypatch.setenv("MODELMATCH_FETCH_TIMEOUT_S", "0.5")
    with pytest.raises(FetchError) as err:
        run_fetch(fetch_source, data_dir, clock=clock(DAY2), **kwargs)
    message = str(err.value)
    assert EXPECTED[failure] in message, message
    assert "nothing was written" in message
    assert "127.0.0.1" in message  # says which URL
    assert snapshot(data_dir) == before


def test_schema_error_names_the_field(net, data_dir):
    body = json.loads((FIXTURES / "openrouter/endpoints/test-org/beta-moe.json").read_text())
    body["data"]["endpoints"][1]["pricing"]["prompt"] = {"usd": "0.3"}
    serve_openrouter(net)
    net.serve("/api/v1/models/test-org/beta-moe/endpoints", body=json.dumps(body).encode())
    before = snapshot(data_dir)
    with pytest.raises(FetchError, match=r"data\.endpoints\[1\] \(Acme Inference\) pricing\.prompt: expected a "
                                         r"number or numeric string, got dict"):
        run_fetch("openrouter", data_dir)
    assert snapshot(data_dir) == before


def test_redirect_to_another_host_is_refused(net, data_dir):
    port = net.base.rsplit(":", 1)[1]
    net.serve("/api/v1/models", status=302, location=f"http://localhost:{port}/elsewhere/models")
    net.serve("/elsewhere/models", "openrouter/models.json")
    before = snapshot(data_dir)
    with pytest.raises(FetchError, match="redirected \\(HTTP 302\\) to another host"):
        run_fetch("openrouter", data_dir)
    assert "/elsewhere/models" not in net.paths_requested()
    assert snapshot(data_dir) == before


def test_redirect_within_the_same_host_is_followed(net, data_dir):
    net.serve("/test-org/Beta-MoE/resolve/main/config.json", status=307,
              location="/api/resolve-cache/models/test-org/Beta-MoE/abc/config.json")
    net.serve("/api/resolve-cache/models/test-org/Beta-MoE/abc/config.json",
              "huggingface/test-org/Beta-MoE/config.json", headers={"X-Repo-Commit": COMMIT})
    plan = run_fetch("hf-config", data_dir, model_ids=["test-org/Beta-MoE"], clock=clock(DAY1)).plan
    assert plan.count("new") == 1


def test_oversize_response_is_refused(net, data_dir, monkeypatch):
    serve_litellm(net)
    monkeypatch.setenv("MODELMATCH_FETCH_MAX_BYTES", "1000")
    before = snapshot(data_dir)
    with pytest.raises(FetchError, match="more than the 1,000-byte limit"):
        run_fetch("litellm", data_dir)
    assert snapshot(data_dir) == before


def test_plain_http_to_a_real_host_is_refused_before_any_request(net, data_dir, monkeypatch):
    monkeypatch.setenv("MODELMATCH_OPENROUTER_BASE_URL", "http://openrouter.ai/api/v1")
    with pytest.raises(FetchError, match="plain http to a non-loopback host"):
        run_fetch("openrouter", data_dir)
    assert net.requests == []


def test_mapping_problems_stop_the_fetch_before_any_request(net, data_dir):
    (data_dir / "mappings" / "openrouter.csv").write_text(
        "external_id,model_id,price\n", encoding="utf-8")
    with pytest.raises(MappingError) as err:
        run_fetch("openrouter", data_dir)
    assert [(p.file, p.line, p.column) for p in err.value.problems] == [("data/mappings/openrouter.csv", 1, "price")]
    (data_dir / "mappings" / "openrouter.csv").write_text(
        "external_id,model_id,notes\nx/a,test-org/Nope,\nx/b,test-org/Beta-MoE,\nx/b,test-org/Beta-MoE,\n",
        encoding="utf-8")
    before = snapshot(data_dir)
    with pytest.raises(MappingError) as err:
        run_fetch("openrouter", data_dir)
    where = {(p.line, p.column): p.reason for p in err.value.problems}
    assert "'test-org/Nope' is not in data/models" in where[(2, "model_id")]
    assert "mapped twice; first at data/mappings/openrouter.csv:3" in where[(4, "external_id")]
    assert net.requests == [] and snapshot(data_dir) == before


# -- command line -------------------------------------------------------------------------------------------------
def _cli(data_dir: Path, net, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MODELMATCH_OPENROUTER_BASE_URL": net.url("/api/v1"),
           "MODELMATCH_LITELLM_PRICE_MAP_URL": net.url("/litellm/model_prices_and_context_window.json"),
           "MODELMATCH_HUGGINGFACE_BASE_URL": net.base, "MODELMATCH_FETCH_TIMEOUT_S": "5"}
    return subprocess.run([sys.executable, "-m", "ingest", "--data", str(data_dir), *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_fetch_reports_what_is_new_changed_and_unmapped(net, data_dir):
    serve_openrouter(net)
    proc = _cli(data_dir, net, "fetch", "openrouter")
    assert proc.returncode == 0, proc.stderr
    assert "openrouter: 3 new, 0 changed, 0 unchanged, 0 held for review, 3 unmapped" in proc.stdout
    assert "test-org/beta-moe:free,test-org/Beta-MoE," in proc.stdout  # a mapping line to paste
    assert "missing    test-org/retired-model" in proc.stdout
    assert "wrote data/imports/openrouter/prices.csv" in proc.stdout
    assert "[1/2] GET " in proc.stderr  # progress


def test_cli_fetch_failure_exits_nonzero_without_traceback(net, data_dir):
    net.serve("/litellm/model_prices_and_context_window.json", body=b"oops", status=500)
    before = snapshot(data_dir)
    proc = _cli(data_dir, net, "fetch", "litellm")
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "HTTP 500" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(data_dir) == before


def test_cli_hf_config_needs_models_or_missing(net, data_dir):
    proc = _cli(data_dir, net, "fetch", "hf-config")
    assert proc.returncode == 2 and "--missing" in proc.stderr


def test_a_broken_import_file_is_a_clear_error_not_a_crash(net, data_dir):
    serve_openrouter(net)
    folder = data_dir / "imports" / "openrouter"
    folder.mkdir(parents=True)
    (folder / "prices.csv").write_text('provider,model_id\n"OpenRouter,test-org/Beta-MoE\n', encoding="utf-8")
    before = snapshot(data_dir)
    with pytest.raises(FetchError, match=r"prices\.csv cannot be parsed as CSV .*fix or delete it; nothing was "
                                         r"written"):
        run_fetch("openrouter", data_dir)
    assert snapshot(data_dir) == before


def test_same_day_refetch_corrects_in_place_but_never_replaces_an_applied_row_with_a_held_one(net, data_dir):
    serve_openrouter(net)
    run_fetch("openrouter", data_dir, clock=clock(DAY1))
    path = data_dir / "imports" / "openrouter" / "prices.csv"
    serve_openrouter(net, beta="openrouter/endpoints/test-org/beta-moe.after-change.json")
    later_that_day = DAY1 + dt.timedelta(hours=6)
    plan = run_fetch("openrouter", data_dir, clock=clock(later_that_day)).plan
    rows = {r["tier"]: r for r in read_csv(path)}
    assert len(read_csv(path)) == 3  # one row per offering and day
    assert rows["via TestCloud (fp8)"]["input_usd_per_mtok"] == "0.14"  # a clean change: corrected in place
    acme = rows["via Acme Inference (bf16)"]
    assert (acme["output_usd_per_mtok"], acme["review"]) == ("1.2", "")  # the applied row stays as it was
    assert plan.count("held") == 0
    assert any("already records today's price" in s and "fell-to-zero" in s for s in plan.skipped)
    assert validate(data_dir).ok


def test_hf_config_update_of_an_imported_row_and_a_held_one_that_never_replaces_it(net, data_dir):
    serve_hf(net)
    run_fetch("hf-config", data_dir, model_ids=["test-org/Beta-MoE"], clock=clock(DAY1))
    path = data_dir / "imports" / "hf-config" / "architectures.csv"
    config = json.loads((FIXTURES / "huggingface/test-org/Beta-MoE/config.json").read_text())
    net.serve("/test-org/Beta-MoE/resolve/main/config.json", body=json.dumps({**config, "vocab_size": 102401}).encode(),
              headers={"X-Repo-Commit": "f" * 40})
    plan = run_fetch("hf-config", data_dir, model_ids=["test-org/Beta-MoE"], clock=clock(DAY2)).plan
    [row] = read_csv(path)
    assert plan.count("changed") == 1 and row["vocab_size"] == "102401" and row["review"] == ""
    assert row["source_url"].endswith("/blob/" + "f" * 40 + "/config.json") and row["as_of"] == "2026-02-03"
    net.serve("/test-org/Beta-MoE/resolve/main/config.json",
              body=json.dumps({**config, "max_position_embeddings": 4096}).encode())
    plan = run_fetch("hf-config", data_dir, model_ids=["test-org/Beta-MoE"], clock=clock(DAY2)).plan
    [row] = read_csv(path)
    assert row["max_position_embeddings"] == "163840" and row["vocab_size"] == "102401"  # kept
    assert any("context-shrank" in s and "keeps the values in use" in s for s in plan.skipped)


def test_validation_reads_import_tables_and_still_reports_stray_csvs(data_dir):
    folder = data_dir / "imports" / "openrouter"
    folder.mkdir(parents=True)
    (folder / "unmapped.csv").write_text("external_id\nx\n")  # an importer report: not a table, not a stray
    (folder / "price.csv").write_text("provider\nx\n")  # a typo'd table name is a stray, never silently ignored
    (data_dir / "imports" / "stray.csv").write_text("a\n1\n")
    problems = validate(data_dir).problems
    assert sorted(p.file for p in problems) == ["data/imports/openrouter/price.csv", "data/imports/stray.csv"]
    assert all("outside every table folder" in p.reason for p in problems)
