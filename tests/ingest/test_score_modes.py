"""The mode every score row gets in the catalog: each branch of the stated rule, through both doors of the build
(rows Python read cell by cell, and a file DuckDB read), with the rows still in file and line order."""

from __future__ import annotations

import pytest

import ingest.staging
from ingest.build import build
from modelmatch.catalog.reader import CatalogReader
from tests.fixture_data import FIXTURE_ROWS, write_table

# (variant, reasoning) of each test model, and what a score of it that states no mode and whose setting says
# nothing about thinking gets, as MODE_RULE words it.
MODELS = {
    "test-org/Base-1B": ("base", "no", "base"),
    "test-org/Thinker-1B": ("instruct", "yes", "thinking"),
    "test-org/Hybrid-1B": ("instruct", "hybrid", "n.a."),
    "test-org/Plain-1B": ("instruct", "no", "non-thinking"),
}
# setting -> the mode it decides (None: the model row decides).
SETTINGS = {
    "5-shot": None,
    "": None,
    "non-thinking, 0-shot": "non-thinking",
    "Non Reasoning": "non-thinking",
    "Thinking mode": "thinking",
    "deepseek-reasoner": "thinking",
    "reasoning mode on": "thinking",
}


def _data_with_mode_cases(data_dir):
    template = FIXTURE_ROWS["models"][0]
    models = [dict(r) for r in FIXTURE_ROWS["models"]]
    models += [{**template, "model_id": model_id, "display_name": model_id.split("/")[1], "variant": variant,
                "reasoning": reasoning} for model_id, (variant, reasoning, _) in MODELS.items()]
    write_table(data_dir, "models", models)
    template = FIXTURE_ROWS["scores"][0]
    rows, expected = [], []
    for model_id, (_, _, model_mode) in MODELS.items():
        for number, (setting, setting_mode) in enumerate(SETTINGS.items()):
            rows.append({**template, "model_id": model_id, "setting": setting, "value": str(10 + number),
                         "source_location": f"row {len(rows)}"})
            expected.append((model_id, setting_mode or model_mode, "derived"))
        # A stated mode is kept whatever the setting and the model say.
        rows.append({**template, "model_id": model_id, "setting": "Thinking mode", "mode": "non-thinking",
                     "value": "99", "source_location": f"row {len(rows)}"})
        expected.append((model_id, "non-thinking", "stated"))
    write_table(data_dir, "scores", rows, filename="modes.csv")
    return expected


@pytest.mark.parametrize("door", ["careful", "fast"])
def test_every_score_gets_the_mode_the_rule_states_in_file_order(fixture_data_dir, tmp_path, monkeypatch, door):
    expected = _data_with_mode_cases(fixture_data_dir)
    if door == "fast":
        monkeypatch.setattr(ingest.staging, "FAST_DOOR_MIN_BYTES", 0)
    build(fixture_data_dir, tmp_path / "c.duckdb")
    con = CatalogReader(tmp_path / "c.duckdb").connection()
    got = con.execute("SELECT model_id, mode, mode_source FROM scores WHERE model_id IN (SELECT unnest(?))",
                      [list(MODELS)]).fetchall()
    assert [tuple(r) for r in got] == expected


def test_scores_keep_file_and_line_order_when_the_mode_join_spans_row_groups_regression(fixture_data_dir, tmp_path):
    """The modes are filled by joining each score to its model while the scores are copied. DuckDB's hash join,
    run on more than one thread, returns rows out of order once its input spans several row groups (122,880 rows
    each), so the copy must put them back in file and line order. Without its ORDER BY this failed 3 times in 3 on
    a 2-core machine; with 130,000 or 250,000 rows it happened to pass."""
    _data_with_mode_cases(fixture_data_dir)
    template = FIXTURE_ROWS["scores"][0]
    models = list(MODELS)
    rows = [{**template, "model_id": models[number % len(models)], "value": str(number % 100),
             "source_location": f"bulk {number}"} for number in range(400_000)]
    path = write_table(fixture_data_dir, "scores", rows, filename="zz-many.csv")
    assert path.stat().st_size >= ingest.staging.FAST_DOOR_MIN_BYTES  # DuckDB reads it, as the big files are read
    build(fixture_data_dir, tmp_path / "c.duckdb")
    con = CatalogReader(tmp_path / "c.duckdb").connection()
    got = con.execute("SELECT source_location, model_id, mode FROM scores WHERE source_location LIKE 'bulk %'"
                      ).fetchall()
    assert [tuple(r) for r in got] == [(f"bulk {number}", models[number % len(models)],
                                        MODELS[models[number % len(models)]][2]) for number in range(400_000)]
