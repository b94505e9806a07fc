"""Every setting declared once, with its help text and the environment variable that overrides it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "MODELMATCH_DATA_DIR", str(REPO_ROOT / "data"),
            "Folder holding the catalog's CSV tables (the source of truth)."),
    Setting("catalog_path", "MODELMATCH_CATALOG", str(REPO_ROOT / "data" / "catalog.duckdb"),
            "DuckDB file built from the CSVs; the app opens it read-only."),
    Setting("stale_after_days", "MODELMATCH_STALE_AFTER_DAYS", "365",
            "A row whose as_of date is older than this many days is marked stale in the UI."),
    Setting("query_cache_ttl_s", "MODELMATCH_QUERY_CACHE_TTL_S", "60",
            "Seconds a page may reuse a catalog query result before asking the catalog again."),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    setting = _BY_NAME[name]
    return os.environ.get(setting.env, setting.default)


def data_dir() -> Path:
    return Path(get("data_dir"))


def catalog_path() -> Path:
    return Path(get("catalog_path"))


def stale_after_days() -> int:
    return int(get("stale_after_days"))


def query_cache_ttl_s() -> int:
    return int(get("query_cache_ttl_s"))
