"""The wizard's representative score per model and benchmark, taken in one pass over the score rows, is the one the
rule names: the most official source, then the best value, the first such row on a tie, with the count of rows not
used; only rows in the model's ranked mode (or stating none) count. Checked against the rule written plainly
(group every row, then take each group's minimum) on the repository's catalog in every score mode, and on rows made
to tie, to come from an unknown model, an unknown benchmark and the other mode."""

from __future__ import annotations

import dataclasses

import pytest

from modelmatch.catalog.reader import CatalogReader
from modelmatch.catalog.score_preference import score_rank
from modelmatch.planning.records import ScoreRow, load_decision_catalog
from modelmatch.planning.wizard.modes import WIZARD_MODES, model_mode
from modelmatch.planning.wizard.quality import representative_scores


def rule_as_written(scores, catalog, chosen_mode=""):
    grouped: dict[tuple[str, str], list[ScoreRow]] = {}
    for row in scores:
        model = catalog.models.get(row.model_id)
        if model is not None and row.mode not in (None, "n.a.", model_mode(model, chosen_mode)):
            continue
        if row.benchmark_id in catalog.benchmarks:
            grouped.setdefault((row.model_id, row.benchmark_id), []).append(row)
    out = {}
    for key, rows in grouped.items():
        higher = catalog.benchmarks[key[1]].higher_is_better
        best = min(rows, key=lambda r: (score_rank(r.provenance, r.measured_by), -r.value if higher else r.value))
        out[key] = (best, len(rows) - 1)
    return out


@pytest.mark.parametrize("chosen_mode", WIZARD_MODES)
def test_the_representative_scores_of_the_repositorys_catalog_follow_the_rule(real_catalog, chosen_mode):
    catalog = load_decision_catalog(CatalogReader(real_catalog))
    got = representative_scores(catalog.scores, catalog, chosen_mode)
    expected = rule_as_written(catalog.scores, catalog, chosen_mode)
    assert len(got) > 500
    assert list(got.items()) == list(expected.items())  # the same rows, counts and order
    assert any(others for _, others in got.values())  # the catalog has groups of several rows


def test_ties_unknown_models_and_benchmarks_and_the_other_mode(real_catalog):
    catalog = load_decision_catalog(CatalogReader(real_catalog))
    hybrid = next(m for m in catalog.models.values() if m.reasoning == "hybrid" and m.variant != "base")
    lower = next(b for b in catalog.benchmarks.values() if not b.higher_is_better)
    higher = next(b for b in catalog.benchmarks.values() if b.higher_is_better)
    row = ScoreRow(hybrid.model_id, higher.benchmark_id, 50.0, None, "official", "https://a", "t1")
    rows = (
        row,
        dataclasses.replace(row, source_url="https://tie"),  # the same rank and value: the first row stays
        dataclasses.replace(row, value=60.0, provenance="secondary"),  # better value, less official: not chosen
        dataclasses.replace(row, value=70.0, mode="non-thinking"),  # the other mode (ranked thinking): not counted
        dataclasses.replace(row, value=40.0, mode="n.a."),  # states no mode: counted
        dataclasses.replace(row, benchmark_id=lower.benchmark_id, value=5.0),
        dataclasses.replace(row, benchmark_id=lower.benchmark_id, value=3.0, measured_by="Other vendor"),
        dataclasses.replace(row, benchmark_id=lower.benchmark_id, value=4.0),  # lower is better: this one
        dataclasses.replace(row, benchmark_id="no-such-benchmark"),
        dataclasses.replace(row, model_id="no-such/model", mode="thinking"),  # kept whatever its mode
        dataclasses.replace(row, model_id="no-such/model", mode="base", value=80.0),
    )
    for chosen in WIZARD_MODES:
        got = representative_scores(rows, catalog, chosen)
        assert list(got.items()) == list(rule_as_written(rows, catalog, chosen).items())
    got = representative_scores(rows, catalog, "thinking")
    assert got[(hybrid.model_id, higher.benchmark_id)] == (rows[0], 3)
    assert got[(hybrid.model_id, lower.benchmark_id)] == (rows[7], 2)
    assert got[("no-such/model", higher.benchmark_id)] == (rows[10], 1)
    assert (hybrid.model_id, "no-such-benchmark") not in got
    non_thinking = representative_scores(rows, catalog, "non-thinking")
    assert non_thinking[(hybrid.model_id, higher.benchmark_id)] == (rows[3], 4)  # now the non-thinking row counts
