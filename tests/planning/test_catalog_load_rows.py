"""The score rows of a catalog load are built without the dataclass constructor when the columns have the catalog's
types: they must be the rows the constructor builds, as frozen, in field order."""

from __future__ import annotations

import dataclasses

import pytest

from modelmatch.catalog.reader import CatalogReader
from modelmatch.planning.records import _SCORE_TYPES, _SQL, ScoreRow, _opt_str, _score_rows, load_decision_catalog


def _constructed(rows) -> tuple[ScoreRow, ...]:
    return tuple(ScoreRow(m, b, float(v), _opt_str(s), str(p), _opt_str(u), _opt_str(loc), _opt_str(by), _opt_str(mode))
                 for m, b, v, s, p, by, u, loc, mode in rows if v is not None and v == v)


def test_fast_score_rows_are_the_constructed_rows(real_catalog):
    cursor = CatalogReader(real_catalog).connection()
    result = cursor.execute(_SQL["scores"])
    assert tuple(str(d[1]) for d in result.description) == _SCORE_TYPES  # the real catalog takes the fast path
    rows = result.fetchall()
    loaded = load_decision_catalog(CatalogReader(real_catalog)).scores
    assert len(loaded) > 1000
    assert loaded == _constructed(rows)
    assert hash(loaded) == hash(_constructed(rows))
    names = [f.name for f in dataclasses.fields(ScoreRow)]
    assert all(list(vars(row)) == names for row in loaded)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded[0].value = 0.0


def test_score_rows_skip_null_and_nan_values_and_fall_back_on_other_types(real_catalog):
    cursor = CatalogReader(real_catalog).connection()
    row = "('m', '{bench}', {value}, NULL::VARCHAR, 'official', NULL::VARCHAR, 'u', 'l', 'n.a.')"
    values = (("b", "1.5::DOUBLE"), ("b2", "NULL::DOUBLE"), ("b3", "'NaN'::DOUBLE"))
    sql = "SELECT * FROM (VALUES {})".format(", ".join(row.format(bench=b, value=v) for b, v in values))
    result = cursor.execute(sql)
    assert tuple(str(d[1]) for d in result.description) == _SCORE_TYPES  # the fast path
    expected = (ScoreRow("m", "b", 1.5, None, "official", "u", "l", None, "n.a."),)
    assert _score_rows(result) == expected
    # A value column of another type (DECIMAL) takes the constructor path: float() of each value.
    decimal_sql = sql.replace("::DOUBLE", "::DECIMAL(4,1)").replace("'NaN'::DECIMAL(4,1)", "NULL::DECIMAL(4,1)")
    fallback = _score_rows(cursor.execute(decimal_sql))
    assert fallback == expected and type(fallback[0].value) is float


def test_the_shared_catalogs_memo_of_derived_values_stays_bounded(live_catalog, monkeypatch):
    """The app now shares one DecisionCatalog between visitors (no copy per rerun): its memo of derived values must
    not grow with every request, and a value dropped from it is computed again, the same. It starts over where a
    request starts, once past its bound."""
    from modelmatch.planning import records

    monkeypatch.setattr(records, "MAX_DERIVED_VALUES", 50)
    catalog = load_decision_catalog(CatalogReader(live_catalog))
    calls = []
    for request in range(50):
        catalog.start_request()
        assert len(catalog._derived) < 50
        for i in range(request * 10, request * 10 + 10):
            assert catalog.derived(("value", i), lambda i=i: calls.append(i) or i * 2) == i * 2
        assert len(catalog._derived) < 60  # the bound, and what one request added
    assert catalog.derived(("value", 499), lambda: calls.append("again") or -1) == 998  # still kept: not recomputed
    assert catalog.derived(("value", 0), lambda: calls.append("again") or 0) == 0  # dropped: computed again
    assert calls.count("again") == 1


def test_a_recommendation_needing_more_values_than_the_memo_keeps_computes_each_once_regression(real_catalog,
                                                                                                 monkeypatch):
    """On a catalog of 5,000 models one recommendation needs some 50,000 derived values (layouts, quality terms per
    model, for the answer and its what-ifs), more than the memo keeps. Starting the memo over in the middle of the
    recommendation made it compute them again and again, the representative scores of the whole catalog among them:
    86 s instead of 12 s. The memo now starts over only where a recommendation or a plan starts."""
    from modelmatch.planning import records
    from modelmatch.planning.planner import plan
    from modelmatch.planning.request import PlanRequest
    from modelmatch.planning.wizard import quality
    from modelmatch.planning.wizard.recommend import recommend
    from modelmatch.planning.wizard.request import WizardRequest

    monkeypatch.setattr(records, "MAX_DERIVED_VALUES", 50)  # far fewer than one recommendation needs
    computed: list[str] = []
    real = quality.representative_scores
    monkeypatch.setattr(quality, "representative_scores", lambda *a: computed.append("rep") or real(*a))
    from modelmatch.planning.wizard import ranking
    monkeypatch.setattr(ranking, "representative_scores", quality.representative_scores)
    catalog = load_decision_catalog(CatalogReader(real_catalog))
    request = WizardRequest(("customer-support",), deployment="self-host", gpu="h100-sxm", gpu_count=1)
    first = recommend(request, catalog)
    assert len(first.sensitivity) >= 5  # the answer and its what-ifs: one recommendation ranks many times
    assert computed == ["rep"]  # once for the answer and all its what-ifs
    assert len(catalog._derived) > 50  # the whole recommendation's values were kept while it ran
    again = recommend(request, catalog)  # starts over (the memo is past its bound), computes each value once more
    assert again == first and computed == ["rep", "rep"]
    plan(PlanRequest("deepseek-ai/DeepSeek-V3", "fp8", "bf16", 32768, 8, "h200-sxm", 8), catalog)
    assert len(catalog._derived) <= 50  # a plan starts over too, and needs only a few values
