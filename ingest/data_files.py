"""Which files under data/ are the catalog's tables: each table's folder, and the files importers write.

Apart from the validation so that the start-up check of data/ (ingest/stat_check.py), which only lists and stats
these files, does not import the validation's modules (10 ms of imports after DuckDB).
"""

from __future__ import annotations

from pathlib import Path

from modelmatch.catalog.schema import TABLES, Table

# Importers (`python -m ingest fetch`) write their rows to data/imports/<source>/<table>.csv: those files are part of
# their table (same columns, same checks) but stay apart from hand-transcribed files, so a review sees what came
# from where. Mapping files and importer reports are CSVs too, but not tables.
IMPORTS_DIR = "imports"
MAPPINGS_DIR = "mappings"
IMPORT_REPORT_FILES = ("unmapped.csv",)


def table_files(data_dir: Path, table: Table) -> list[Path]:
    return (sorted((data_dir / table.name).glob("*.csv"))
            + sorted((data_dir / IMPORTS_DIR).glob(f"*/{table.name}.csv")))


def is_known_non_table_csv(path: Path, data_dir: Path) -> bool:
    parent = path.parent.resolve()
    if parent == (data_dir / MAPPINGS_DIR).resolve():
        return True
    return parent.parent == (data_dir / IMPORTS_DIR).resolve() and path.name in IMPORT_REPORT_FILES


def data_files(data_dir: Path) -> list[Path]:
    return [p for t in TABLES for p in table_files(data_dir, t)]
