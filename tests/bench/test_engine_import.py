"""bench.engine_import prints both ways of importing DuckDB, each with its ratio to the extension alone."""

from __future__ import annotations

import re

import pytest

from bench import engine_import


def test_prints_both_kinds_with_their_ratios(live_catalog, capsys) -> None:
    assert engine_import.main([str(live_catalog), "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {m.group(1).strip(): m for m in (re.match(
        r"(.{16}) import\s+([\d.]+) ms\s+([\d.]+)x\s+open \+ query\s+([\d.]+) ms\s+([\d.]+)x\s+package loaded: (\w+)",
        line) for line in lines[1:]) if m}
    assert set(rows) == set(engine_import.KINDS)
    assert float(rows["extension alone"].group(3)) == 1.0 and float(rows["extension alone"].group(5)) == 1.0
    assert rows["duckdb package"].group(6) == "yes" and rows["extension alone"].group(6) == "no"


def test_a_missing_catalog_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(SystemExit, match="no catalog at"):
        engine_import.main([str(tmp_path / "nope.duckdb")])
