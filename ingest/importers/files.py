"""Editing the CSVs under data/ the way a careful person would: touched rows change, every other byte stays.

`CsvDocument` keeps each record's original text, so accepting one held row or appending a new dated price produces
a one-line git diff. `commit_files` writes every file of a change to a temporary file first and renames them into
place only when all of them are complete, so a failure (or a kill) never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from filelock import FileLock

from ingest.build import fsync_path


class CsvReadError(ValueError):
    """A CSV under data/ that cannot be parsed; the message names the file and line."""


@dataclass
class Record:
    line: int  # first physical line of the record (1-based), the number validation reports
    values: dict[str, str] | None  # None for a blank line (kept as-is)
    raw: str | None  # the record's original text with its line ending; None once the record is changed


@dataclass
class CsvDocument:
    path: Path
    header: list[str]
    records: list[Record] = field(default_factory=list)
    header_raw: str | None = None
    bom: bool = False
    existed: bool = False
    _header_changed: bool = False

    @classmethod
    def load(cls, path: Path, default_header: list[str]) -> "CsvDocument":
        """Parse `path`; a missing file is an empty document with `default_header`."""
        path = Path(path)
        if not path.exists():
            return cls(path, list(default_header), _header_changed=True)
        data = path.read_bytes()
        try:
            doc = cls.load_text(path, data.decode("utf-8-sig"), default_header)
        except UnicodeDecodeError as exc:
            raise CsvReadError(f"{path} is not UTF-8 (byte offset {exc.start}); fix or delete it") from None
        except csv.Error as exc:
            raise CsvReadError(f"{path} cannot be parsed as CSV ({exc}); fix or delete it") from None
        doc.bom, doc.existed = data.startswith(b"\xef\xbb\xbf"), True
        return doc

    @classmethod
    def load_text(cls, path: Path, text: str, default_header: list[str] | None = None) -> "CsvDocument":
        text = text.removeprefix("\ufeff")
        lines = list(io.StringIO(text, newline=""))
        reader = csv.reader(iter(lines), strict=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return cls(Path(path), list(default_header or []), _header_changed=True)
        doc = cls(Path(path), header, header_raw="".join(lines[: reader.line_num]))
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            raw = "".join(lines[start - 1: reader.line_num])
            if not cells or all(c.strip() == "" for c in cells):
                doc.records.append(Record(start, None, raw))
                continue
            values = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}
            doc.records.append(Record(start, values, raw))
        return doc

    # -- queries -------------------------------------------------------------------------------------------------
    def rows(self) -> list[Record]:
        return [r for r in self.records if r.values is not None]

    def at_line(self, line: int) -> Record | None:
        return next((r for r in self.records if r.line == line and r.values is not None), None)

    # -- edits ---------------------------------------------------------------------------------------------------
    def _widen(self, values: dict[str, str]) -> None:
        missing = [k for k, v in values.items() if k not in self.header and v not in ("", None)]
        if missing:
            self.header.extend(missing)
            self._header_changed = True

    def append(self, values: dict[str, str]) -> Record:
        self._widen(values)
        record = Record(0, {k: values.get(k, "") for k in self.header}, None)
        self.records.append(record)
        return record

    def update(self, record: Record, changes: dict[str, str]) -> None:
        self._widen(changes)
        assert record.values is not None
        record.values = {**{k: record.values.get(k, "") for k in self.header}, **changes}
        record.raw = None

    def remove(self, record: Record) -> None:
        self.records.remove(record)

    # -- output --------------------------------------------------------------------------------------------------
    def render(self) -> str:
        out: list[str] = []
        if self._header_changed or self.header_raw is None:
            out.append(serialize_row(self.header))
            for r in self.records:  # a new column changes every row's shape: write them all anew
                if r.values is not None:
                    out.append(serialize_row([r.values.get(k, "") for k in self.header]))
        else:
            out.append(_ensure_newline(self.header_raw))
            for r in self.records:
                if r.raw is not None:
                    out.append(_ensure_newline(r.raw))
                else:
                    out.append(serialize_row([(r.values or {}).get(k, "") for k in self.header]))
        text = "".join(out)
        return ("\ufeff" + text) if self.bom else text


def _ensure_newline(text: str) -> str:
    return text if text.endswith(("\n", "\r")) else text + "\n"


def serialize_row(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["" if c is None else str(c) for c in cells])
    return buffer.getvalue()


def commit_files(files: dict[Path, str | bytes | None]) -> None:
    """Replace every path with its new content (None deletes it), all-or-nothing as far as a filesystem allows:
    every temporary file is complete and fsynced before the first rename."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, content in files.items():
            if content is None:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            data = content.encode("utf-8") if isinstance(content, str) else content
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            temps.append((temp, path))
        for temp, path in temps:
            os.replace(temp, path)
        for path, content in files.items():
            if content is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        for folder in {p.parent for p in files}:
            if folder.exists():
                fsync_path(folder)
    finally:
        for temp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


@contextlib.contextmanager
def imports_lock(data_dir: Path) -> Iterator[None]:
    """One importer or review command at a time per data folder (a second waits), across processes.

    The lock file lives in the system's temp folder, not in data/: a fetch that fails must leave data/ exactly as
    it was, down to the list of files."""
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"modelmatch-imports-{digest}.lock"
    # filelock: an OS lock on POSIX and Windows alike (fcntl exists only on POSIX).
    with FileLock(lock_path):
        yield
