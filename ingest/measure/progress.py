"""A progress bar for measurement runs that costs nothing measurable: redrawn at most 10 times a second on a
terminal, and a handful of plain lines when stderr is a file or a pipe (CI logs stay short)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO | None = None, enabled: bool = True):
        self.label, self.total = label, total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = self.failed = 0
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._next_line_at = 0.25  # plain mode: a line at every quarter

    def update(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if not self.enabled:
            return
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or self.done == self.total:
                self._last_draw = now
                self._draw("\r")
        elif self.total and self.done / self.total >= self._next_line_at:
            while self.total and self.done / self.total >= self._next_line_at:
                self._next_line_at += 0.25
            self._draw("")
            self.stream.write("\n")

    def _draw(self, prefix: str) -> None:
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        elapsed = time.monotonic() - self._started
        failed = f", {self.failed} failed" if self.failed else ""
        self.stream.write(f"{prefix}  {self.label} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{self.done}/{self.total} requests{failed}, {elapsed:.1f} s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
