"""Catalog cells as plain Python values: every flavour of empty (None, NaN, pandas.NA) becomes None."""

from __future__ import annotations

from typing import Any


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pandas.NA compare unequal to themselves
    except (TypeError, ValueError):  # pandas.NA raises on bool()
        return True


def clean(value: Any) -> Any:
    """Catalog cell -> plain Python value, with every flavour of 'empty' (None, NaN, pandas.NA) as None."""
    if _is_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()  # numpy scalars -> int/float/bool
        except (AttributeError, ValueError):
            return value
    return value
