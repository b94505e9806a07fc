"""Which of several score rows for one model and benchmark to prefer, by where the number comes from.

Kept apart from tiers (which reads the schema and the provenance rules) so the wizard, which needs only this, loads
neither.
"""

from __future__ import annotations

LEGACY = {"third-party": "official", "local-run": "measured"}


def score_rank(provenance: str | None, measured_by: str | None = None) -> int:
    """Which score row to prefer: the vendor's own report (or its exact copy), then another vendor's official
    report (measured_by, legacy third-party), then derived/secondary, then this project's runs."""
    tier = LEGACY.get(provenance or "", provenance)
    if tier in ("official", "official-copy"):
        return 1 if (measured_by or provenance == "third-party") else 0
    if tier in ("derived", "secondary"):
        return 2
    return 3
