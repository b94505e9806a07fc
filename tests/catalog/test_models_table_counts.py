"""The Models table's per-model counts (score rows, price rows, an architecture row) are exact for every model,
filtered or not, including models with none: they are counted by a join now, not a subquery per model."""

from __future__ import annotations

import pytest

from modelmatch.catalog.models import ModelFilter, models_table
from modelmatch.catalog.reader import CatalogReader


def counted_one_model_at_a_time(reader: CatalogReader, model_id: str) -> tuple[int, int, bool]:
    con = reader.connection()
    try:
        scores = con.execute("SELECT count(*) FROM scores WHERE model_id = ?", [model_id]).fetchone()[0]
        prices = con.execute("SELECT count(*) FROM prices WHERE model_id = ?", [model_id]).fetchone()[0]
        architecture = con.execute("SELECT count(*) FROM architectures WHERE model_id = ?", [model_id]).fetchone()[0]
    finally:
        con.close()
    return scores, prices, architecture == 1


@pytest.mark.parametrize("flt", [ModelFilter(), ModelFilter(vendors=("Alibaba",)),
                                 ModelFilter(vendors=("DeepSeek", "Google"), open_weights_only=True)],
                         ids=["all", "one vendor", "two vendors, open weights"])
def test_every_models_counts_match_a_count_of_its_own_rows(real_catalog, flt):
    reader = CatalogReader(real_catalog)
    table = models_table(reader, flt)
    assert len(table) > 0
    got = {r.model_id: (int(r.score_count), int(r.price_count), bool(r.has_architecture))
           for r in table.itertuples()}
    expected = {model_id: counted_one_model_at_a_time(reader, model_id) for model_id in got}
    assert got == expected
    # The comparison covers both sides of each count, not only models that have everything.
    if flt == ModelFilter():
        assert any(scores == 0 for scores, _, _ in got.values()) and any(scores > 0 for scores, _, _ in got.values())
        assert any(prices == 0 for _, prices, _ in got.values()) and any(prices > 0 for _, prices, _ in got.values())
        assert any(not arch for _, _, arch in got.values()) and any(arch for _, _, arch in got.values())
