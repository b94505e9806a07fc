"""Importers for public catalogs: `python -m ingest fetch <source>`.

Each importer downloads one official source, normalizes units, maps external ids to catalog model_ids through
data/mappings/<source>.csv, compares with what data/ holds, runs the guards, and writes a review batch under
data/imports/<source>/: the rows (part of their table from the next build on, held rows refused until accepted),
unmapped.csv, and last_fetch.md/.json saying what is new, changed and unmapped. It never writes the catalog file;
any failure (network, timeout, HTTP error, changed format, truncated body, bad mapping) writes nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ingest.importers import hf_config, litellm, openrouter
from ingest.importers.core import CurrentData, ImportPlan, quiet, write_plan
from ingest.importers.files import CsvReadError, imports_lock
from ingest.importers.http import FetchError
from ingest.importers.mapping import MappingError

SOURCES: dict[str, str] = {
    "openrouter": "OpenRouter models API: per-provider prices and served context of mapped models",
    "litellm": "LiteLLM price map JSON: per-token list prices, cache prices, context of mapped keys",
    "hf-config": "Hugging Face config.json: architecture numbers for open-weights models",
}

__all__ = ["SOURCES", "FetchError", "MappingError", "FetchOutcome", "run_fetch"]


@dataclass
class FetchOutcome:
    plan: ImportPlan | None  # None: nothing to fetch
    written: list[Path] = field(default_factory=list)
    dry_run: bool = False


def run_fetch(source: str, data_dir: Path, *, model_ids: list[str] | tuple[str, ...] = (), missing: bool = False,
              revision: str | None = None, skip_failed: bool = False, dry_run: bool = False,
              progress: Callable[[str], None] = quiet, clock=None) -> FetchOutcome:
    """Fetch one source and write its review batch (unless dry_run). Raises FetchError or MappingError, in which
    case nothing under data/ was touched."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; sources: {', '.join(SOURCES)}")
    data_dir = Path(data_dir)
    with imports_lock(data_dir):
        current = CurrentData.read(data_dir)
        try:
            if source == "openrouter":
                plan = openrouter.fetch(data_dir, current, progress, clock)
            elif source == "litellm":
                plan = litellm.fetch(data_dir, current, progress, clock)
            else:
                plan = hf_config.fetch(data_dir, current, list(model_ids), missing, revision, skip_failed, progress,
                                       clock)
        except CsvReadError as exc:
            raise FetchError(f"{exc}; nothing was written") from None
        if plan is None:
            return FetchOutcome(None, [], dry_run)
        if dry_run:
            plan.files()  # renders (and numbers the new rows) without writing
            return FetchOutcome(plan, [], True)
        return FetchOutcome(plan, write_plan(plan), False)
