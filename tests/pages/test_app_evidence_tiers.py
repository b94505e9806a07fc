"""The planner, the wizard and the Compare cards say how sure each result is: the weakest provenance tier among the
numbers it rests on (fixture catalog under AppTest)."""

from __future__ import annotations

import copy

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT
from tests.pages.test_app_decide_pages import open_wizard_cards
from tests.fixture_data import FIXTURE_ROWS, write_fixture_data

ALPHA = "test-org/Alpha-7B-Instruct"


@pytest.fixture
def tiered_env(monkeypatch, tmp_path):
    """The fixture catalog with tiers: the model row official, the architecture official with head_dim derived,
    the GPU secondary (two sources), the licenses official."""
    rows = copy.deepcopy(FIXTURE_ROWS)
    for table in ("models", "licenses"):
        for row in rows[table]:
            row["provenance"] = "official"
    rows["architectures"][0].update(provenance="official", formula="head_dim = hidden_size / num_attention_heads")
    rows["gpus"][0].update(provenance="secondary", second_source_url="https://second.example.net/datasheet")
    data_dir = write_fixture_data(tmp_path / "data", rows)
    monkeypatch.setenv("MODELMATCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MODELMATCH_CATALOG", str(data_dir / "catalog.duckdb"))
    return data_dir


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def how_sure(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("How sure:")]


def test_planner_shows_the_weakest_tier_of_memory_fit_speed_and_license(tiered_env):
    at = open_page("pages/planner.py")
    at.selectbox(key="plan_gpu").set_value("test-gpu").run()
    (line,) = how_sure(at)
    # head_dim is derived (weaker than official); the GPU is secondary (weaker still): memory fit rests on both.
    assert "memory fit: secondary" in line and "speed roofline: secondary" in line and "license: official" in line


def test_wizard_candidates_say_how_sure(tiered_env):
    at = open_wizard_cards(open_page("pages/wizard.py"))
    lines = how_sure(at)
    assert lines, "no 'How sure' line in the wizard's shortlist"
    assert any("license: official" in line for line in lines)


def test_compare_card_without_a_gpu_rests_on_the_model_and_architecture(tiered_env):
    at = open_page("pages/compare.py", {"models": f"{ALPHA},test-org/Beta-MoE"})
    lines = how_sure(at)
    assert "memory fit: derived" in lines[0]  # official parameters, head_dim from the formula
    assert "memory fit: missing" in lines[1]  # Beta-MoE has no architecture row


def test_compare_official_only_hides_other_vendors_reports(tiered_env):
    at = open_page("pages/compare.py", {"models": f"{ALPHA},test-org/Beta-MoE"})

    def score_rows():
        return next(d.value for d in at.dataframe if "charted" in d.value.columns and "freshness" in d.value.columns)

    assert "third-party" in set(score_rows()["provenance"])
    at.toggle(key="cmp_official_only").set_value(True).run()
    assert not at.exception
    assert set(score_rows()["provenance"]) == {"official"}
    assert len(score_rows()) == 2
