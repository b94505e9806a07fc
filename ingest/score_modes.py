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

# The mode the rule gives a row that states none, for a score row `s` and its model row `m`.
DERIVED_MODE_SQL = """CASE
        WHEN regexp_matches(lower(coalesce(s.setting, '')), 'non[- ]?thinking|non[- ]?reasoning') THEN 'non-thinking'
        WHEN regexp_matches(lower(coalesce(s.setting, '')), 'thinking|reasoning mode|reasoner') THEN 'thinking'
        WHEN m.variant = 'base' THEN 'base'
        WHEN m.reasoning = 'yes' THEN 'thinking'
        WHEN m.reasoning = 'hybrid' THEN 'n.a.'
        ELSE 'non-thinking' END"""

# A row whose model is not in the catalog keeps what it says (the build refuses such a row anyway).
MODE_SQL = f"CASE WHEN m.model_id IS NULL THEN s.mode ELSE coalesce(s.mode, {DERIVED_MODE_SQL}) END"
MODE_SOURCE_SQL = ("CASE WHEN m.model_id IS NULL THEN s.mode_source WHEN s.mode IS NULL THEN 'derived' "
                   "ELSE 'stated' END")


def scores_with_modes_sql(columns: list[str], scores: str, models: str, order_by: str) -> str:
    """SELECT the score rows from `scores` (a qualified table name from code, not data) with mode and mode_source
    filled by the rule, joined to `models`, in `order_by` order (the join alone does not promise an order)."""
    filled = {"mode": MODE_SQL, "mode_source": MODE_SOURCE_SQL}
    select = ", ".join(filled.get(c, "s." + '"' + c + '"') for c in columns)
    return (f"SELECT {select} FROM {scores} AS s LEFT JOIN {models} AS m ON m.model_id = s.model_id "
            f"ORDER BY {order_by}")
