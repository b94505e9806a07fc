"""Fill the mode of score rows that do not state one, by a fixed, stated rule (the build applies it as it copies
the scores into the catalog).

A thinking and a non-thinking result of the same weights are different numbers, not a disagreement between sources,
so every score row gets a mode. Rows that state one keep it (mode_source = stated); the rest are derived from what
the source's `setting` says, then from the model row (mode_source = derived).
"""

from __future__ import annotations

from ingest.staging import q

MODE_RULE = ("Mode of a score that states none: 'non-thinking' / 'non-reasoning' in its setting -> non-thinking; "
             "'thinking' / 'reasoning mode' / 'reasoner' in its setting -> thinking; a base checkpoint -> base; a "
             "model that always thinks -> thinking; a model without a thinking mode -> non-thinking; a hybrid model "
             "whose source states no mode -> n.a.")

# (table, column) pairs the build writes: a round trip CSV -> catalog compares them separately.
FILLED_COLUMNS = ("mode", "mode_source")  # the last two columns of scores_with_modes' SELECT, in this order
BUILD_FILLED = frozenset(("scores", name) for name in FILLED_COLUMNS)

# A score's mode from its own row (stated, or what its setting says) and else from its model's row; `s` is the score,
# `m` its model. Written as expressions so the build fills them while it copies the rows, not by an UPDATE after the
# copy: an UPDATE of every row of a just-written table costs DuckDB about as much as writing it (900,000 rows: 0.4 s
# of the build's 2.7 s).
MODE_SQL = """coalesce(s.mode, CASE
        WHEN regexp_matches(lower(coalesce(s.setting, '')), 'non[- ]?thinking|non[- ]?reasoning') THEN 'non-thinking'
        WHEN regexp_matches(lower(coalesce(s.setting, '')), 'thinking|reasoning mode|reasoner') THEN 'thinking'
        WHEN m.variant = 'base' THEN 'base'
        WHEN m.reasoning = 'yes' THEN 'thinking'
        WHEN m.reasoning = 'hybrid' THEN 'n.a.'
        ELSE 'non-thinking' END)"""
MODE_SOURCE_SQL = "CASE WHEN s.mode IS NULL THEN 'derived' ELSE 'stated' END"



def scores_with_modes(score_columns: list[str], scores: str, models: str) -> tuple[list[str], str]:
    """The scores' columns in the order the SELECT gives them, and the SELECT of the staged scores (`scores`) with
    every mode filled from the staged models (`models`). Names come from the schema and the build, never from data.

    DuckDB's hash join does not keep its input's order, so the rows are put back in file and line order by (_file,
    _line), unique per staged row. A LEFT JOIN keeps a score whose model is missing (validation refuses such a build
    before it writes) rather than drop it."""
    given = [name for name in score_columns if name not in FILLED_COLUMNS]
    select = (f"SELECT {', '.join('s.' + q(name) for name in given)}, {MODE_SQL}, {MODE_SOURCE_SQL} "
              f"FROM {scores} AS s LEFT JOIN {models} AS m ON m.model_id = s.model_id ORDER BY s._file, s._line")
    return given + list(FILLED_COLUMNS), select
