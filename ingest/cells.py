"""One cell of a catalog CSV: parse it by its column's kind and say what is wrong with it (the per-value checks).

Every check here is a pure function of the cell's text and its column, so the build runs it once per distinct value
of a column (a 900,000-row table has a few thousand distinct values per column), not once per cell.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from typing import Any
from urllib.parse import urlparse

from modelmatch.catalog.schema import Column

FORMULA_RE = re.compile(r"^[=+\-@][A-Za-z]")
INT_RE = re.compile(r"^[+-]?\d+$")
FLOAT_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TRUE_WORDS = {"true": True, "false": False}


def parse_cell(raw: str, column: Column) -> tuple[Any, str | None]:
    """Return (value, problem). Empty cells are None; type and range checks come from the column."""
    text = raw.strip()
    if text == "":
        return None, ("is required but empty" if column.required else None)
    if FORMULA_RE.match(text):
        return None, f"starts with {text[0]!r} followed by letters (looks like a spreadsheet formula): {_short(text)}"
    kind = column.kind
    value: Any
    if kind == "int":
        if not INT_RE.match(text):
            return None, f"expected a whole number, got {_short(text)}"
        value = int(text)
    elif kind == "float":
        if not FLOAT_RE.match(text):
            return None, f"expected a number, got {_short(text)}"
        value = float(text)
        if not math.isfinite(value):
            return None, f"expected a finite number, got {_short(text)}"
    elif kind == "bool":
        if text.lower() not in TRUE_WORDS:
            return None, f"expected true or false, got {_short(text)}"
        value = TRUE_WORDS[text.lower()]
    elif kind == "date":
        if not DATE_RE.match(text):
            return None, f"expected a date YYYY-MM-DD, got {_short(text)}"
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            return None, f"not a real date: {_short(text)}"
    elif kind == "datetime":
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None, f"expected an ISO date-time (2026-01-31T12:00:00Z), got {_short(text)}"
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    elif kind == "url":
        problem = url_problem(text)
        if problem:
            return None, problem
        value = text
    elif kind == "enum":
        if text not in column.choices:
            return None, f"{_short(text)} is not one of: {', '.join(column.choices)}"
        value = text
    else:
        value = text
    if column.is_numeric:
        if column.minimum is not None and value < column.minimum:
            return None, f"{value} is below the minimum {column.minimum:g}"
        if column.maximum is not None and value > column.maximum:
            return None, f"{value} is above the maximum {column.maximum:g} (absurd value?)"
    return value, None


@functools.lru_cache(maxsize=65536)
def url_problem(text: str) -> str | None:
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        return f"URL contains spaces or control characters: {_short(text)}"
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or "." not in parsed.netloc:
        return f"expected an http(s) URL with a host, got {_short(text)}"
    return None


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
