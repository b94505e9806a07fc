"""Score rows come in one documented order on every run: rows that tie on category, benchmark, model, charted and
date are ordered by the rest of the scores key (they came in the order DuckDB's threads produced them, so Compare's
score table could reorder between two visits)."""

from __future__ import annotations

from modelmatch.catalog.reader import CatalogReader
from modelmatch.catalog.scores import scores_for


def _order_key(row) -> tuple:
    # NULLS FIRST for setting and source_location, as the query states; as_of newest first, charted first.
    return (row.category, row.benchmark_id, row.model_id, not row.charted, -row.as_of.toordinal(), row.mode,
            row.source_url, (row.setting is not None, row.setting or ""),
            (row.source_location is not None, row.source_location or ""))


def test_score_rows_that_tie_on_the_shown_order_come_in_the_keys_order(real_catalog):
    reader = CatalogReader(real_catalog)
    ids = [m for (m,) in reader.rows("SELECT model_id FROM models")]
    frame = scores_for(reader, ids)
    rows = list(frame.itertuples(index=False))
    keys = [_order_key(r) for r in rows]
    # The real catalog has such ties (else this would check nothing): several rows of one model and benchmark with
    # the same charted flag and date.
    assert len({k[:5] for k in keys}) < len(keys)
    assert keys == sorted(keys)
