"""What a build changed: rows added, changed and removed per table, against the catalog it replaces.

The build computes this inside the new catalog file, before the swap, by attaching the live file read-only, so the
answer travels with the build it describes (the Data page and `python -m ingest build` show it). Rows are matched
by the table's key; a row is "changed" when any column both builds have differs. Identifiers come from the schema
(a fixed allow-list); no value is ever spliced into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import duckdb

from modelmatch.catalog.schema import TABLES, Table

if TYPE_CHECKING:
    # Only read_changes makes a frame (and imports pandas there): a build, and the CLIs that check whether the
    # catalog needs one, do not pay for importing pandas (a third of `python -m modelmatch recommend`'s run).
    import pandas as pd

PREVIOUS = "previous_build"
KEY_SEPARATOR = " · "


@dataclass(frozen=True)
class TableChange:
    table: str
    added: int
    changed: int
    removed: int

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True)
class BuildChanges:
    previous_build_id: str | None  # None: there was no readable catalog before this build
    tables: tuple[TableChange, ...]
    rows: pd.DataFrame  # table_name, change (added/changed/removed), row_key

    @property
    def any(self) -> bool:
        return any(t.any for t in self.tables)

    def summary(self) -> str:
        if self.previous_build_id is None:
            return "first build (no previous catalog to compare with)"
        moved = [f"{t.table} +{t.added} ~{t.changed} -{t.removed}" for t in self.tables if t.any]
        return (f"changes since build {self.previous_build_id}: " + ("; ".join(moved) if moved else "none"))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _as_text(expression: str) -> str:
    return f"coalesce(CAST({expression} AS VARCHAR), '')"


def _row_key_sql(table: Table, side: str) -> str:
    """The key as the Data page shows it: each part as text, an empty part for NULL."""
    return f"concat_ws('{KEY_SEPARATOR}', {', '.join(_as_text(f'{side}.{_q(k)}') for k in table.key)})"


def _column_types(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> dict[str, str]:
    rows = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? "
                       "AND table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                       [catalog, table]).fetchall()
    return dict(rows)


def _comparable(column: str, same_type: bool) -> str:
    # A column both builds type alike is compared and hashed as it is stored: a text copy of every cell of a
    # 900,000-row table was two thirds of a rebuild's comparison. One whose type changed between builds is compared
    # as text, so 1 (BIGINT) and 1 (INTEGER) are still the same value.
    return _q(column) if same_type else f"CAST({_q(column)} AS VARCHAR)"


def record_changes(con: duckdb.DuckDBPyConnection, previous: Path | None,
                   progress: Callable[[str], None] = lambda _: None) -> None:
    """Write build_previous, build_changes and build_change_rows into the catalog open on `con`."""
    con.execute("CREATE TABLE build_previous (previous_build_id VARCHAR)")
    con.execute("CREATE TABLE build_changes (table_name VARCHAR, added BIGINT, changed BIGINT, removed BIGINT)")
    con.execute("CREATE TABLE build_change_rows (table_name VARCHAR, change VARCHAR, row_key VARCHAR)")
    current = con.execute("SELECT current_database()").fetchone()[0]
    previous_id = _attach_previous(con, previous)
    con.execute("INSERT INTO build_previous VALUES (?)", [previous_id])
    try:
        for table in TABLES:
            if previous_id is None:
                count = con.execute(f"SELECT count(*) FROM main.{_q(table.name)}").fetchone()[0]
                con.execute("INSERT INTO build_changes VALUES (?, ?, 0, 0)", [table.name, count])
                continue
            old_types = _column_types(con, PREVIOUS, table.name)
            new_types = _column_types(con, current, table.name)
            same = {c: old_types.get(c) == new_types.get(c) for c in table.column_names}
            common = [c for c in table.column_names if c in old_types]
            keys = ", ".join(f"{_comparable(k, same[k])} AS {_q(k)}" for k in table.key)
            if set(table.key) <= set(old_types):
                hashed = f"hash({', '.join(_comparable(c, same[c]) for c in common)})"
                old_select = f"SELECT {keys}, {hashed} AS h, true AS present FROM {PREVIOUS}.{_q(table.name)}"
            else:  # the table is new (or re-keyed) in this build: every row counts as added
                hashed = "NULL::UBIGINT"
                old_select = f"SELECT {keys}, {hashed} AS h, true AS present FROM main.{_q(table.name)} WHERE false"
            new_select = f"SELECT {keys}, {hashed} AS h, true AS present FROM main.{_q(table.name)}"
            # A NULL key part is the same as an empty one (a text key's empty cell is NULL in one build and could
            # be '' in an older one); a typed part matches as typed, NULL with NULL.
            match = " AND ".join(
                f"coalesce(n.{_q(k)}, '') = coalesce(o.{_q(k)}, '')" if new_types.get(k) == "VARCHAR" or not same[k]
                else f"n.{_q(k)} IS NOT DISTINCT FROM o.{_q(k)}" for k in table.key)
            con.execute(f"""
                INSERT INTO build_change_rows
                SELECT ?, CASE WHEN o.present IS NULL THEN 'added' WHEN n.present IS NULL THEN 'removed'
                               ELSE 'changed' END,
                       CASE WHEN n.present THEN {_row_key_sql(table, 'n')} ELSE {_row_key_sql(table, 'o')} END
                FROM ({new_select}) n FULL OUTER JOIN ({old_select}) o ON {match}
                WHERE o.present IS NULL OR n.present IS NULL OR n.h <> o.h
            """, [table.name])
            con.execute("""
                INSERT INTO build_changes
                SELECT ?, count(*) FILTER (WHERE change = 'added'), count(*) FILTER (WHERE change = 'changed'),
                       count(*) FILTER (WHERE change = 'removed')
                FROM build_change_rows WHERE table_name = ?
            """, [table.name, table.name])
    finally:
        if previous_id is not None:
            con.execute(f"DETACH {PREVIOUS}")
    progress("recorded changes against the previous build" if previous_id else "first build: no previous catalog")


def _attach_previous(con: duckdb.DuckDBPyConnection, previous: Path | None) -> str | None:
    if previous is None or not Path(previous).exists():
        return None
    try:
        con.execute(f"ATTACH ? AS {PREVIOUS} (READ_ONLY)", [str(previous)])
    except duckdb.Error:
        return None  # not a readable catalog (an interrupted copy, another file): compare with nothing
    try:
        row = con.execute(f"SELECT build_id FROM {PREVIOUS}.build_meta").fetchone()
    except duckdb.Error:
        row = None
    if row is None:
        con.execute(f"DETACH {PREVIOUS}")
        return None
    return str(row[0])


def read_changes(reader) -> BuildChanges | None:
    """The changes stamped into a built catalog (a CatalogReader), or None for a catalog built before tracking."""
    try:
        previous = reader.query("SELECT previous_build_id FROM build_previous")
        counts = reader.query("SELECT table_name, added, changed, removed FROM build_changes")
        rows = reader.query("SELECT table_name, change, row_key FROM build_change_rows "
                            "ORDER BY table_name, change, row_key")
    except duckdb.Error:
        return None
    import pandas as pd

    previous_id = previous["previous_build_id"].iloc[0] if len(previous) else None
    order = {t.name: i for i, t in enumerate(TABLES)}
    tables = tuple(sorted((TableChange(str(r.table_name), int(r.added), int(r.changed), int(r.removed))
                           for r in counts.itertuples(index=False)), key=lambda t: order.get(t.table, 99)))
    return BuildChanges(None if pd.isna(previous_id) else str(previous_id), tables, rows)
