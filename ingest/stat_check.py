"""Start-up check of data/ against the catalog that skips hashing when no data file has changed since the last one.

`ensure_current` hashes every CSV to learn whether the catalog was built from them (half a second for the
900,000-row synthetic catalog, paid by every new app process before its first page). After a check that found the
catalog current (or built it), the stats of every data file and of the catalog file are written beside the catalog;
the next start compares stats only. Stats are a hint, never taken as proof: any difference in the file list, a size,
a modification time or an inode (a file replaced by rename) falls back to the full check, and so does a file changed
within the last seconds of a check, when a second write in the same timestamp tick could go unseen ("racy" files,
as git calls them). Editing a file in place while keeping its size and restoring its modification time defeats the
hint; `python -m ingest build` always rebuilds.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ingest.data_files import data_files

if TYPE_CHECKING:
    from ingest.build import BuildReport

# A file modified this close to a check is not trusted to be unchanged by stats alone (coarse file-system clocks).
RACY_WINDOW_S = 2.0


def record_path(db_path: Path) -> Path:
    return db_path.parent / f".{db_path.name}.checked"


def file_stats(data_dir: Path, db_path: Path) -> list[list] | None:
    """[name, size, mtime_ns, inode] of every data file the build reads, then of the catalog file; None when one
    cannot be read (a file vanished between listing and stat, or there is no catalog yet): no shortcut then."""
    try:
        return [[name, st.st_size, st.st_mtime_ns, st.st_ino]
                for name, st in [*((p.relative_to(data_dir).as_posix(), os.stat(p)) for p in data_files(data_dir)),
                                 (db_path.name, os.stat(db_path))]]
    except OSError:
        return None


def _recorded(db_path: Path) -> list[list] | None:
    try:
        return json.loads(record_path(db_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _remember(db_path: Path, stats: list[list]) -> None:
    record = record_path(db_path)
    temp = record.with_name(f"{record.name}.{os.getpid()}")
    try:
        temp.write_text(json.dumps(stats), encoding="utf-8")
        os.replace(temp, record)
    except OSError:  # a read-only catalog folder: every start hashes, as before
        try:
            temp.unlink()
        except OSError:
            pass


def ensure_current_unless_unchanged(data_dir: Path, db_path: Path,
                                    before_full_check: Callable[[], None] | None = None) -> BuildReport | None:
    """ensure_current (build when stale; None when the catalog is current), skipped when every data file and the
    catalog have the stats recorded by the last check that found them matching. before_full_check, if given, is
    called only when the stats differ, before the full check (which hashes the CSVs and may build)."""
    data_dir, db_path = Path(data_dir), Path(db_path)
    before = file_stats(data_dir, db_path)
    if before is not None and before == _recorded(db_path):
        return None
    if before_full_check is not None:
        before_full_check()
    from ingest.build import ensure_current  # the build's modules (pyarrow among them) only when it may run

    report = ensure_current(data_dir, db_path)
    after = file_stats(data_dir, db_path)
    checked_at_ns = time.time_ns()
    # Remembered only when no data file changed while it was hashed (the catalog may have been rebuilt meanwhile)
    # and none was modified so recently that a second write could share its timestamp.
    if (after is not None and before is not None and after[:-1] == before[:-1]
            and all(checked_at_ns - mtime_ns > RACY_WINDOW_S * 1e9 for _, _, mtime_ns, _ in after[:-1])):
        _remember(db_path, after)
    return report
