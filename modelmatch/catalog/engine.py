"""DuckDB's query engine for the read side, without the duckdb package's Python layer.

The duckdb package (2.x) is its C++ extension, the module `_duckdb`, re-exported by a Python layer of relational and
expression builders (`duckdb._relation`, `duckdb._expression`, ...). The readers use none of that layer: they connect,
execute SQL with bound parameters and fetch rows or frames, all of which is the extension's. Importing the package
costs every new process the whole layer before its first query, on a page's first run and on each command line run
(`python -m bench.engine_import` prints both imports side by side). So the read side imports the extension alone.

It is the very extension the package re-exports (`duckdb.connect is _duckdb.connect`; tests/catalog/test_engine.py
holds that against the locked version): the same connections, results and exception classes, so an `except
duckdb.Error` elsewhere catches what this engine raises. A duckdb without a separate extension module falls back to
the package.
"""

from __future__ import annotations

try:
    import _duckdb as _extension
except ImportError:  # a duckdb build that keeps its extension inside the package
    import duckdb as _extension

connect = _extension.connect
Error = _extension.Error
DuckDBPyConnection = _extension.DuckDBPyConnection
