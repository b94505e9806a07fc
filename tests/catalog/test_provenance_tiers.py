"""Provenance tiers: a tier that lacks what makes it true is refused with file, line and reason; a derived cell is
recomputed from its formula; a parameter-count mismatch is a warning with both numbers; a copied architecture that
does not add up is held back; the report lists coverage by tier and the models the planner cannot size."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ingest.build import BuildFailed, build
from ingest.tier_coverage import coverage_matrix, format_tier_report, tier_report
from ingest.validate import validate
from modelmatch.catalog.reader import CatalogReader
from modelmatch.catalog.tiers import model_evidence, score_rank
from tests.conftest import file_sha256
from tests.fixture_data import FIXTURE_ROWS, write_table

MODEL = "test-org/Alpha-7B-Instruct"
ARCH_FILE = "data/architectures/fixture.csv"


def rows_of(table: str) -> list[dict[str, str]]:
    return copy.deepcopy(FIXTURE_ROWS[table])


def refused(data_dir: Path, db_path: Path):
    before = file_sha256(db_path)
    with pytest.raises(BuildFailed) as failed:
        build(data_dir, db_path)
    assert file_sha256(db_path) == before, "a refused build changed the live catalog"
    return failed.value.problems


def write_arch(data_dir: Path, **changes: str) -> None:
    rows = rows_of("architectures")
    rows[0].update(changes)
    write_table(data_dir, "architectures", rows)


@pytest.mark.parametrize(("changes", "column", "words"), [
    ({"provenance": "official-copy"}, "copy_url", "needs copy_url"),
    ({"provenance": "official-copy", "copy_url": "https://example.org/report"}, "copy_url", "same as source_url"),
    ({"provenance": "derived"}, "formula", "needs a formula"),
    ({"provenance": "secondary"}, "second_source_url", "second_source_url is empty"),
    ({"provenance": "secondary", "second_source_url": "https://example.org/other-page"}, "second_source_url",
     "not an independent second source"),
    ({"provenance": "official", "copy_url": "https://web.archive.org/x"}, "copy_url", "only for provenance"),
])
def test_tier_without_what_it_needs_is_refused(fixture_data_dir, live_catalog, changes, column, words):
    write_arch(fixture_data_dir, **changes)
    problems = refused(fixture_data_dir, live_catalog)
    assert [(p.file, p.line, p.column) for p in problems] == [(ARCH_FILE, 2, column)], problems
    assert words in problems[0].reason


def test_secondary_with_two_independent_sources_builds(fixture_data_dir, tmp_path):
    write_arch(fixture_data_dir, provenance="secondary", second_source_url="https://another.example.net/registry")
    build(fixture_data_dir, tmp_path / "c.duckdb")


def test_derived_cell_that_disagrees_with_its_formula_is_refused_with_both_numbers(fixture_data_dir, live_catalog):
    write_arch(fixture_data_dir, provenance="derived", head_dim="96",
               formula="head_dim = hidden_size / num_attention_heads")
    problem, = refused(fixture_data_dir, live_catalog)
    assert (problem.file, problem.line, problem.column) == (ARCH_FILE, 2, "head_dim")
    assert "is 96" in problem.reason and "gives 128" in problem.reason


@pytest.mark.parametrize(("formula", "words"), [
    ("head_dim = hidden_size / colour", "'colour' in"),
    ("head_dim = __import__('os')", "only numbers, column names"),
    ("head_dim", "is not 'column = expression'"),
    ("source_url = hidden_size", "not a numeric column"),
])
def test_unreadable_formula_is_refused(fixture_data_dir, live_catalog, formula, words):
    write_arch(fixture_data_dir, provenance="derived", formula=formula)
    problem, = refused(fixture_data_dir, live_catalog)
    assert (problem.line, problem.column) == (2, "formula") and words in problem.reason


def test_formula_cell_is_tier_derived_and_the_rest_keep_the_row_tier(fixture_data_dir, tmp_path):
    write_arch(fixture_data_dir, provenance="official", formula="head_dim = hidden_size / num_attention_heads")
    db = tmp_path / "c.duckdb"
    build(fixture_data_dir, db)
    report = tier_report(CatalogReader(db))
    tiers = report.per_model[report.per_model.model_id == MODEL].set_index("field")["tier"]
    assert tiers["head_dim"] == "derived" and tiers["num_layers"] == "official"
    assert report.cells_by_tier["derived"] == 1
    memory = model_evidence(CatalogReader(db), MODEL, "test-gpu")[0]
    assert memory.result == "memory fit" and memory.tier == "no tier"  # the models row has no tier yet
    assert ("architecture head_dim", "derived") in memory.parts


def test_row_without_tier_is_a_warning_not_a_refusal(fixture_data_dir):
    result = validate(fixture_data_dir)
    assert result.ok
    assert any(w.column == "provenance" and w.file == "data/models/fixture.csv" for w in result.warnings)


def test_parameter_mismatch_is_a_warning_with_both_numbers(fixture_data_dir, tmp_path):
    rows = rows_of("models")
    rows[0]["params_total_b"] = rows[0]["params_active_b"] = "9.9"
    write_table(fixture_data_dir, "models", rows)
    result = validate(fixture_data_dir)
    assert result.ok, result.problems
    warning, = [w for w in result.warnings if "parameter count" in w.reason]
    assert (warning.file, warning.line) == (ARCH_FILE, 2)
    assert "computed 7.62B vs stated 9.9B" in warning.reason


def test_copied_architecture_that_does_not_add_up_is_held_back(fixture_data_dir, live_catalog):
    rows = rows_of("models")
    rows[0]["params_total_b"] = rows[0]["params_active_b"] = "7.5"  # the fixture architecture counts 7.62B
    write_table(fixture_data_dir, "models", rows)
    write_arch(fixture_data_dir, provenance="official-copy", copy_url="https://copies.example.net/config.json")
    problem, = refused(fixture_data_dir, live_catalog)
    assert (problem.file, problem.column) == (ARCH_FILE, "provenance")
    assert "held back" in problem.reason and "7.62B vs official 7.5B" in problem.reason


def test_copied_architecture_that_reproduces_the_count_builds(fixture_data_dir, tmp_path):
    rows = rows_of("models")
    rows[0]["params_total_b"] = rows[0]["params_active_b"] = "7.62"
    write_table(fixture_data_dir, "models", rows)
    write_arch(fixture_data_dir, provenance="official-copy", copy_url="https://copies.example.net/config.json")
    build(fixture_data_dir, tmp_path / "c.duckdb")


def test_report_lists_models_the_planner_cannot_size_and_tiers(live_catalog):
    report = tier_report(CatalogReader(live_catalog))
    assert report.cannot_size == {"test-org/Beta-MoE": ["architecture row"]}
    text = format_tier_report(report)
    assert "test-org/Beta-MoE: lacks architecture row" in text
    assert "parameter-count check: verified 1" in text
    matrix = coverage_matrix(report)
    assert matrix.loc["test-org/Beta-MoE", "kv_lora_rank"] == "missing"
    assert matrix.loc["test-org/Beta-MoE", "head_dim"] == ""  # MLA: no KV heads, not a hole
    assert matrix.loc[MODEL, "num_layers"] == "no tier"


def test_another_vendors_report_ranks_after_the_vendors_own():
    assert score_rank("official") < score_rank("official", "DeepSeek") == score_rank("third-party")
    assert score_rank("official", "DeepSeek") < score_rank("secondary") < score_rank("measured")
    assert score_rank("local-run") == score_rank("measured")


def test_two_organisations_on_one_code_host_are_independent_sources(fixture_data_dir, tmp_path):
    write_arch(fixture_data_dir, provenance="secondary", source_url="https://github.com/org-one/registry/blob/abc/x.py",
               second_source_url="https://github.com/org-two/other/blob/def/y.sh")
    build(fixture_data_dir, tmp_path / "c.duckdb")
    write_arch(fixture_data_dir, provenance="secondary", source_url="https://github.com/org-one/registry/blob/abc/x.py",
               second_source_url="https://github.com/Org-One/mirror/blob/def/y.sh")
    with pytest.raises(BuildFailed) as failed:
        build(fixture_data_dir, tmp_path / "d.duckdb")
    assert "not an independent second source" in failed.value.problems[0].reason


def test_official_only_keeps_the_vendors_own_numbers(live_catalog):
    from modelmatch.catalog.scores import official_only, scores_for
    rows = scores_for(CatalogReader(live_catalog), [MODEL])
    assert len(rows) == 2  # the vendor's 74.2 and another report's 73.9 (legacy third-party)
    kept = official_only(rows)
    assert list(kept["value"]) == [74.2]


def test_evidence_export_names_each_number_and_its_tier(fixture_data_dir, tmp_path):
    from modelmatch.catalog.tiers import evidence_jsonable
    write_arch(fixture_data_dir, provenance="official", formula="head_dim = hidden_size / num_attention_heads")
    db = tmp_path / "c.duckdb"
    build(fixture_data_dir, db)
    memory, speed, licence = evidence_jsonable(CatalogReader(db), MODEL, "test-gpu")
    assert memory["result"] == "memory fit" and memory["rests_on"]["architecture head_dim"] == "derived"
    assert memory["rests_on"]["architecture num_layers"] == "official"
    assert speed["rests_on"]["GPU bandwidth"] == "no tier" and speed["tier"] == "no tier"
    assert licence == {"result": "license", "tier": "no tier",
                       "rests_on": {"license named for the model": "no tier", "license terms": "no tier"}}


def write_model(data_dir: Path, **changes: str) -> None:
    rows = rows_of("models")
    rows[0].update(changes)
    write_table(data_dir, "models", rows)


PARAMS_SECONDARY = dict(provenance="official", params_provenance="secondary",
                        params_source_url="https://github.com/engine-a/recipes/blob/abc/model.yaml",
                        params_source_location="parameter_count", params_as_of="2026-08-20",
                        params_second_source_url="https://github.com/vendor-b/engine/blob/def/README.md")


CONTEXT_COPY = dict(provenance="official", context_length="262144", context_provenance="official-copy",
                    context_source_url="https://huggingface.co/vendor/model/blob/main/config.json",
                    context_source_location="config.json, max_position_embeddings",
                    context_as_of="2026-03-02",
                    context_copy_url="https://github.com/engine-a/cache/blob/abc/vendor/model/config.json")


PARAMS_COPY = dict(provenance="official", params_provenance="official-copy",
                   params_source_url="https://huggingface.co/vendor/model",
                   params_source_location="README, How to Run Locally: same structure as model-base",
                   params_as_of="2026-02-25",
                   params_copy_url="https://github.com/someone/docs/blob/abc/tests/model_card.md")


LICENSE_SECONDARY = dict(provenance="official", license_provenance="secondary",
                         license_source_url="https://huggingface.co/blog/some-org/update",
                         license_source_location="'now also comes with an Apache license'", license_as_of="2025-03-26",
                         license_second_source_url="https://provider.example/models/test-org/Alpha-7B-Instruct")


def built_tiers(data_dir: Path, db: Path, row: dict[str, str]):
    """The fixture's model row with `row` written over it, built: each of its fields' tier."""
    write_model(data_dir, **row)
    build(data_dir, db)
    report = tier_report(CatalogReader(db))
    return report.per_model[report.per_model.model_id == MODEL].set_index("field")["tier"]


def test_parameter_counts_with_their_own_source_have_their_own_tier(fixture_data_dir, tmp_path):
    """Issue 15: DeepSeek-V4's model rows come from the pricing page, its counts from two engines' pages."""
    tiers = built_tiers(fixture_data_dir, tmp_path / "c.duckdb", PARAMS_SECONDARY)
    assert tiers["params_total_b"] == "secondary" and tiers["context_length"] == "official"
    memory = model_evidence(CatalogReader(tmp_path / "c.duckdb"), MODEL, "test-gpu")[0]
    assert ("parameters", "secondary") in memory.parts


def test_a_context_length_read_in_a_config_copy_has_the_copys_tier(fixture_data_dir, tmp_path):
    """Issue 15: a model row read in the README (official) whose context only the config states, read in a
    verbatim copy: the context cell is official-copy, the rest of the row stays official (it showed one tier too
    high when the context was written on the row as it was)."""
    tiers = built_tiers(fixture_data_dir, tmp_path / "c.duckdb", CONTEXT_COPY)
    assert tiers["context_length"] == "official-copy" and tiers["params_total_b"] == "official"


def test_parameter_counts_read_in_a_copy_of_the_card_have_the_copys_tier(fixture_data_dir, tmp_path):
    """DeepSeek-V3.2-Speciale: its count is official, applied by a sentence of the V3.2 card read only in a copy; the
    counts carry the copy's tier and the rest of the row stays official."""
    tiers = built_tiers(fixture_data_dir, tmp_path / "c.duckdb", PARAMS_COPY)
    assert tiers["params_total_b"] == "official-copy" and tiers["context_length"] == "official"


def test_a_license_named_by_two_registries_has_their_tier_not_the_rows(fixture_data_dir, tmp_path):
    """DeepSeek-V3-0324: a row read on the official card, whose license only two independent third parties name. The
    license_id cell showed the row's official tier; it carries its own, and the license result rests on it."""
    tiers = built_tiers(fixture_data_dir, tmp_path / "c.duckdb", LICENSE_SECONDARY)
    assert tiers["license_id"] == "secondary" and tiers["params_total_b"] == "official"
    licence = model_evidence(CatalogReader(tmp_path / "c.duckdb"), MODEL)[2]
    assert licence.result == "license" and ("license named for the model", "secondary") in licence.parts


@pytest.mark.parametrize(("row", "changes", "column", "words"), [
    (PARAMS_SECONDARY, {"params_second_source_url": ""}, "params_second_source_url",
     "params_second_source_url is empty"),
    (PARAMS_SECONDARY, {"params_second_source_url": "https://github.com/engine-a/other/blob/x/y.md"},
     "params_second_source_url", "not an independent second source"),
    (PARAMS_SECONDARY, {"params_as_of": ""}, "params_as_of", "needs params_as_of"),
    (PARAMS_SECONDARY, {"params_provenance": ""}, "params_source_url", "need params_provenance"),
    (PARAMS_COPY, {"params_copy_url": ""}, "params_copy_url", "official-copy needs params_copy_url"),
    (PARAMS_COPY, {"params_copy_url": "https://huggingface.co/vendor/model"}, "params_copy_url",
     "the same as params_source_url"),
    (CONTEXT_COPY, {"context_copy_url": ""}, "context_copy_url", "official-copy needs context_copy_url"),
    (LICENSE_SECONDARY, {"license_second_source_url": ""}, "license_second_source_url",
     "license_second_source_url is empty"),
    (LICENSE_SECONDARY, {"license_id": ""}, "license_provenance", "license_provenance is set but license_id is empty"),
    (LICENSE_SECONDARY, {"license_provenance": ""}, "license_source_url", "(the license's tier)"),
    (CONTEXT_COPY, {"context_provenance": "secondary", "context_copy_url": ""}, "context_second_source_url",
     "context_second_source_url is empty"),
    (CONTEXT_COPY, {"context_length": ""}, "context_provenance",
     "context_length, context_length_extended and max_output_tokens are empty"),
    (CONTEXT_COPY, {"context_provenance": ""}, "context_source_url", "need context_provenance"),
])
def test_cells_with_their_own_tier_but_not_what_it_needs_are_refused(fixture_data_dir, live_catalog, row, changes,
                                                                     column, words):
    write_model(fixture_data_dir, **{**row, **changes})
    problems = refused(fixture_data_dir, live_catalog)
    assert (column, True) in [(p.column, words in p.reason) for p in problems], problems
    assert all(p.file == "data/models/fixture.csv" for p in problems)


def test_score_tiers_counted_in_duckdb_are_the_per_cell_counts(real_catalog, fixture_data_dir, tmp_path):
    """The scores are counted by provenance in DuckDB (900,000 rows one by one took most of the Data page's first
    half-minute on a 5,000-model catalog): the same row and cell counts as the per-cell path, on the real catalog
    and on a fixture score row whose formula derives its value."""
    from collections import Counter

    from ingest.tier_coverage import _count_cells, _count_in_sql, _rows
    from modelmatch.catalog.schema import TABLE_BY_NAME

    scores = rows_of("scores")
    scores[0].update(formula="value = 742 / 10")  # 74.2, derived from two stated numbers
    write_table(fixture_data_dir, "scores", scores)
    build(fixture_data_dir, tmp_path / "f.duckdb")
    for db in (real_catalog, tmp_path / "f.duckdb"):
        reader = CatalogReader(db)
        by_sql, cells_sql, by_rows, cells_rows = Counter(), Counter(), Counter(), Counter()
        _count_in_sql(reader, TABLE_BY_NAME["scores"], by_sql, cells_sql)
        _count_cells(_rows(reader, "scores"), TABLE_BY_NAME["scores"], by_rows, cells_rows)
        assert (by_sql, cells_sql) == (by_rows, cells_rows)
        assert sum(by_sql.values()) == len(_rows(reader, "scores"))
    assert cells_sql["derived"] == 1  # the fixture's formula row
