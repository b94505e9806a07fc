"""The review queue: rows an import guard held, and the maintainer's two answers, accept and reject.

`python -m ingest build` refuses every row with review=held (validation reports it at file:line, column review).
`accept FILE:LINE` sets review=accepted and appends who-knows-why to notes; `reject FILE:LINE` deletes the row.
Both only touch held rows, change only those lines (every other byte of the file stays), and are all-or-nothing:
one bad target and no file is written.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.importers.files import CsvDocument, CsvReadError, commit_files, imports_lock
from modelmatch.catalog.schema import TABLES, TABLE_BY_NAME
from ingest.data_files import IMPORTS_DIR, table_files
from ingest.validate import ValidationResult


class ReviewError(Exception):
    """A target that cannot be accepted or rejected; nothing was written."""


@dataclass(frozen=True)
class HeldRow:
    file: str
    line: int
    table: str
    key: str
    model_id: str
    values: dict[str, Any]
    reason: str

    @property
    def target(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def accept_command(self) -> str:
        return f"python -m ingest accept {self.target} --note \"checked <where>\""


def _key_text(table: str, values: dict[str, Any]) -> str:
    parts = [str(values.get(k)) for k in TABLE_BY_NAME[table].key if values.get(k) not in (None, "")]
    return " · ".join(parts)


def review_queue(result: ValidationResult) -> list[HeldRow]:
    """Every held row in data/ as validation read it, in file and line order."""
    held = []
    for table in TABLES:
        if "review" not in table.column_by_name:
            continue
        for row in result.tables.get(table.name, []):
            if row.values.get("review") == "held":
                held.append(HeldRow(row.file, row.line, table.name, _key_text(table.name, row.values),
                                    str(row.values.get("model_id") or ""), dict(row.values),
                                    str(row.values.get("review_reason") or "")))
    return sorted(held, key=lambda h: (h.file, h.line))


def import_summaries(data_dir: Path) -> list[dict[str, Any]]:
    """The last fetch of each source (data/imports/<source>/last_fetch.json), newest first; unreadable ones say so."""
    out = []
    for path in sorted((Path(data_dir) / IMPORTS_DIR).glob("*/last_fetch.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(summary, dict):
                raise ValueError("not an object")
        except (ValueError, OSError) as exc:
            summary = {"source": path.parent.name, "headline": f"{path} cannot be read: {exc}", "counts": {}}
        summary["folder"] = path.parent.name
        out.append(summary)
    return sorted(out, key=lambda s: str(s.get("retrieved_at", "")), reverse=True)


def _resolve(data_dir: Path, target: str) -> tuple[Path, str, int | None]:
    """'data/imports/x/prices.csv:12' (as the build reports it), an absolute path, or a path without :LINE."""
    text, line = target, None
    head, sep, tail = target.rpartition(":")
    if sep and tail.isdigit():
        text, line = head, int(tail)
    root = Path(data_dir).resolve().parent
    # As the build reports it (relative to data/'s parent) first, so `--data elsewhere` never edits the repo's files.
    candidates = [root / text, Path(data_dir) / text, Path(text)]
    path = next((c.resolve() for c in candidates if c.is_file()), None)
    if path is None:
        raise ReviewError(f"{target}: no such file (give the path as the build reports it, e.g. "
                          f"data/{IMPORTS_DIR}/openrouter/prices.csv:12)")
    for table in TABLES:
        if path in {p.resolve() for p in table_files(Path(data_dir), table)}:
            return path, table.name, line
    raise ReviewError(f"{target}: not a table file under {data_dir}")


def _targets(data_dir: Path, targets: list[str]) -> dict[Path, tuple[str, CsvDocument, list[int | None]]]:
    if not targets:
        raise ReviewError("name at least one FILE:LINE (or FILE for every held row in it)")
    grouped: dict[Path, tuple[str, CsvDocument, list[int | None]]] = {}
    for target in targets:
        path, table, line = _resolve(data_dir, target)
        if path not in grouped:
            try:
                doc = CsvDocument.load(path, TABLE_BY_NAME[table].column_names)
            except CsvReadError as exc:
                raise ReviewError(f"{exc}; nothing was written") from None
            grouped[path] = (table, doc, [])
        grouped[path][2].append(line)
    return grouped


def _held_records(path: Path, doc: CsvDocument, lines: list[int | None], root: Path) -> list:
    rel = path.relative_to(root).as_posix()
    chosen, problems = [], []
    for line in lines:
        if line is None:
            rows = [r for r in doc.rows() if (r.values or {}).get("review", "").strip() == "held"]
            if not rows:
                problems.append(f"{rel}: has no held row")
            chosen += rows
            continue
        record = doc.at_line(line)
        if record is None:
            problems.append(f"{rel}:{line}: no row starts on that line")
        elif (record.values or {}).get("review", "").strip() != "held":
            state = (record.values or {}).get("review", "").strip() or "not under review"
            problems.append(f"{rel}:{line}: the row is {state}, not held")
        else:
            chosen.append(record)
    if problems:
        raise ReviewError("; ".join(problems) + "; nothing was written")
    return list({id(r): r for r in chosen}.values())


def accept(data_dir: Path, targets: list[str], note: str = "", today: dt.date | None = None) -> list[str]:
    """Mark held rows accepted; returns one line per accepted row. Raises ReviewError (nothing written)."""
    today = today or dt.date.today()
    note = " ".join(note.split()) or "source checked by a maintainer"
    root = Path(data_dir).resolve().parent
    with imports_lock(Path(data_dir)):
        files, messages = {}, []
        for path, (table, doc, lines) in _targets(Path(data_dir), targets).items():
            records = _held_records(path, doc, lines, root)
            for record in records:
                line = record.line
                values = record.values or {}
                notes = values.get("notes", "").strip()
                stamp = f"Accepted {today.isoformat()} ({values.get('review_reason', '').strip()}): {note}."
                doc.update(record, {"review": "accepted", "notes": f"{notes} {stamp}".strip()})
                messages.append(f"accepted {path.relative_to(root).as_posix()}:{line} "
                                f"{_key_text(table, values)}")
            files[path] = doc.render()
        commit_files(files)
    return messages


def reject(data_dir: Path, targets: list[str]) -> list[str]:
    """Delete held rows; returns one line per deleted row. Raises ReviewError (nothing written)."""
    root = Path(data_dir).resolve().parent
    with imports_lock(Path(data_dir)):
        files, messages = {}, []
        for path, (table, doc, lines) in _targets(Path(data_dir), targets).items():
            for record in _held_records(path, doc, lines, root):
                doc.remove(record)
                messages.append(f"rejected {path.relative_to(root).as_posix()}:{record.line} "
                                f"{_key_text(table, record.values or {})} (row deleted)")
            files[path] = doc.render()
        commit_files(files)
    return messages
