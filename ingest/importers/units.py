"""Unit normalization for imported prices: strings and numbers to exact decimals, per token to per million tokens.

Sources disagree on units and types: OpenRouter sends USD per token as strings ("0.0000025"), LiteLLM sends USD per
token as JSON numbers (2.5e-06), the catalog stores USD per million tokens. Decimal arithmetic keeps 0.00000219 x 1e6
exactly 2.19 (a float gives 0.00000219 x 1e6 = 2.1900000000000004), so an unchanged price never looks changed.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

TOKENS_PER_MILLION = Decimal(1_000_000)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class UnitError(ValueError):
    """A value that should be a number is not one; the message says where."""


class NotAListPrice(ValueError):
    """A negative price: sources use it for 'variable' or 'unknown' (OpenRouter's router lists -1)."""


def to_decimal(value: object, where: str) -> Decimal | None:
    """A JSON number or numeric string as an exact Decimal; None/"" is None (unknown). Anything else is an error."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UnitError(f"{where}: expected a number, got the boolean {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnitError(f"{where}: expected a finite number, got {value!r}")
        return Decimal(repr(value))  # repr is the shortest text that round-trips: 2.5e-06, not 2.49999...
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if not _NUMBER_RE.match(text):
            raise UnitError(f"{where}: expected a number, got the text {text[:40]!r}")
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
            raise UnitError(f"{where}: expected a number, got {text[:40]!r}") from None
    raise UnitError(f"{where}: expected a number or numeric string, got {type(value).__name__}")


def per_token_to_per_mtok(value: object, where: str) -> Decimal | None:
    """USD per token (number or string) -> USD per million tokens."""
    amount = to_decimal(value, where)
    if amount is None:
        return None
    if amount < 0:
        raise NotAListPrice(f"{where}: negative price {value!r} (a variable or unknown price, not a list price)")
    return amount * TOKENS_PER_MILLION


def to_int(value: object, where: str) -> int | None:
    """A whole number from a JSON number or numeric string (128000, "128000", 128000.0); None when absent."""
    amount = to_decimal(value, where)
    if amount is None:
        return None
    if amount != amount.to_integral_value():
        raise UnitError(f"{where}: expected a whole number, got {value!r}")
    return int(amount)


def fmt(amount: Decimal | int | None) -> str:
    """Shortest plain decimal text for a CSV cell: 2.5, 0.27, 0, 131072 (never 2.50000 or 2.5E+1)."""
    if amount is None:
        return ""
    if isinstance(amount, int):
        return str(amount)
    normalized = amount.normalize()
    text = format(normalized, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
