"""Fill the mode of score rows that do not state one, by a fixed, stated rule (the build runs it once).

A thinking and a non-thinking result of the same weights are different numbers, not a disagreement between sources,
so every score row gets a mode. Rows that state one keep it (mode_source = stated); the rest are derived from what
the source's `setting` says, then from the model row (mode_source = derived).
"""

from __future__ import annotations

import duckdb

MODE_RULE = ("Mode of a score that states none: 'non-thinking' / 'non-reasoning' in its setting -> non-thinking; "
             "'thinking' / 'reasoning mode' / 'reasoner' in its setting -> thinking; a base checkpoint -> base; a "
             "model that always thinks -> thinking; a model without a thinking mode -> non-thinking; a hybrid model "
             "whose source states no mode -> n.a.")

# (table, column) pairs the build writes: a round trip CSV -> catalog compares them separately.
BUILD_FILLED = frozenset({("scores", "mode"), ("scores", "mode_source")})

FILL_MODES_SQL = """
UPDATE scores AS s SET
    mode_source = CASE WHEN s.mode IS NULL THEN 'derived' ELSE 'stated' END,
    mode = coalesce(s.mode, CASE
        WHEN regexp_matches(lower(coalesce(s.setting, '')), 'non[- ]?thinking|non[- ]?reasoning') THEN 'non-thinking'
        WHEN regexp_matches(lower(coalesce(s.setting, '')), 'thinking|reasoning mode|reasoner') THEN 'thinking'
        WHEN m.variant = 'base' THEN 'base'
        WHEN m.reasoning = 'yes' THEN 'thinking'
        WHEN m.reasoning = 'hybrid' THEN 'n.a.'
        ELSE 'non-thinking' END)
FROM models m
WHERE m.model_id = s.model_id
"""


def fill_score_modes(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(FILL_MODES_SQL)
