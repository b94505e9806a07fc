"""Every setting declared once, with its help text and the environment variable that overrides it."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

_CHECKOUT = Path(__file__).resolve().parent.parent
# Relative defaults (data/, endpoints.toml, runs/) are inside the checkout when the code runs from one; an installed
# package (`pip install .`) has no data/ beside it, so they are taken from the folder the command runs in.
REPO_ROOT = _CHECKOUT if (_CHECKOUT / "data").is_dir() else Path.cwd()


class SettingError(ValueError):
    """An environment variable holds a value its setting cannot take; the message names the variable, what it holds
    and the expected form (never a secret's value)."""


# What a value must look like, by kind: (parser, the expected form in words). A parser returns the typed value or
# raises ValueError.
def _whole(raw: str) -> int:
    return int(raw)


def _number(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _flag(raw: str) -> bool:
    text = raw.lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)


def _url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(raw)
    return raw


KINDS: dict[str, tuple] = {
    "text": (str, "any text"),
    "flag": (_flag, "1 or 0 (also true/false, yes/no, on/off)"),
    "secret": (str, "any text"),
    "path": (str, "a file or folder path"),
    "url": (_url, "an http(s) URL such as https://host/path"),
    "whole>=1": (_whole, "a whole number of at least 1"),
    "whole>=0": (_whole, "a whole number of at least 0"),
    "number>0": (_number, "a number greater than 0"),
    "number>=0": (_number, "a number of at least 0"),
    "share": (_number, "a number greater than 0 and at most 1"),
    "whole>=1|empty": (_whole, "a whole number of at least 1, or empty"),
}
_CHECKS = {
    "whole>=1": lambda v: v >= 1,
    "whole>=0": lambda v: v >= 0,
    "whole>=1|empty": lambda v: v >= 1,
    "number>0": lambda v: v > 0,
    "number>=0": lambda v: v >= 0,
    "share": lambda v: 0 < v <= 1,
}


@dataclass(frozen=True)
class Setting:
    """One setting: its name, environment variable, default, help text and the kind of value it takes."""

    name: str
    env: str
    default: str
    help: str
    # One of KINDS: what the value must look like. A bad value is refused with SettingError when the setting is read
    # and by check_all() when a command or the app starts.
    kind: str = "text"

    def expected(self) -> str:
        return KINDS[self.kind][1]

    def parse(self, raw: str):
        """The typed value of `raw`, or SettingError naming the variable and the expected form."""
        text = raw.strip()
        if self.kind.endswith("|empty") and text == "":
            return None
        parser, expected = KINDS[self.kind]
        shown = "(hidden)" if self.kind == "secret" else repr(raw)
        try:
            value = parser(text)
        except (ValueError, OverflowError):
            raise SettingError(f"{self.env}={shown} is not {expected}") from None
        check = _CHECKS.get(self.kind)
        if check is not None and not check(value):
            raise SettingError(f"{self.env}={shown} is not {expected}")
        return value


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "MODELMATCH_DATA_DIR", str(REPO_ROOT / "data"),
            "Folder holding the catalog's CSV tables (the source of truth).", kind="path"),
    Setting("catalog_path", "MODELMATCH_CATALOG", str(REPO_ROOT / "data" / "catalog.duckdb"),
            "DuckDB file built from the CSVs; the app opens it read-only.", kind="path"),
    Setting("stale_after_days", "MODELMATCH_STALE_AFTER_DAYS", "365",
            "A row whose as_of date is older than this many days is marked stale in the UI.", kind="whole>=1"),
    Setting("query_cache_ttl_s", "MODELMATCH_QUERY_CACHE_TTL_S", "60",
            "Seconds a page may reuse a catalog query result before asking the catalog again.", kind="whole>=1"),
    Setting("planner_gpu_memory_utilization", "MODELMATCH_PLANNER_GPU_MEMORY_UTILIZATION", "0.9",
            "Default share of each GPU's memory the serving engine may use in the planner and wizard (vLLM's "
            "--gpu-memory-utilization, whose default is 0.9); the rest is counted as overhead. Users can change it "
            "per plan.", kind="share"),
    Setting("planner_runtime_reserve_gb", "MODELMATCH_PLANNER_RUNTIME_RESERVE_GB", "2.0",
            "Default GB per GPU the planner and wizard set aside, inside the engine's share, for activations, CUDA "
            "graphs and the runtime. An assumption, not a measurement: users can change it per plan.", kind="number>=0"),
    Setting("endpoints_path", "MODELMATCH_ENDPOINTS", str(REPO_ROOT / "endpoints.toml"),
            "Operator's endpoints file for the playground and evals (see endpoints.example.toml). Without it the "
            "playground offers two small local models.", kind="path"),
    Setting("runs_db_path", "MODELMATCH_RUNS_DB", str(REPO_ROOT / "runs" / "runs.sqlite"),
            "SQLite file (WAL mode) for saved playground runs, eval results and the shared request caps (separate "
            "from the catalog). The earlier DuckDB runs file (runs/runs.duckdb, or this setting naming a DuckDB "
            "file) is copied in once on first start and left as it was.", kind="path"),
    Setting("eval_runs_public", "MODELMATCH_EVAL_RUNS_PUBLIC", "0",
            "1 lists every eval run to every visitor of Your evals; 0 (default) lists a session's own runs, and "
            "any run opens from its link.", kind="flag"),
    Setting("max_prompt_chars", "MODELMATCH_MAX_PROMPT_CHARS", "100000",
            "The longest prompt the playground accepts, in characters (checked on the server, not only in the box).",
            kind="whole>=1"),
    Setting("runs_retention_days", "MODELMATCH_RUNS_RETENTION_DAYS", "0",
            "Saved playground runs older than this many days are deleted when a run is saved; 0 keeps them all.",
            kind="number>=0"),
    Setting("session_requests_per_10_min", "MODELMATCH_SESSION_REQUESTS_PER_10_MIN", "40",
            "Playground requests one visitor session may send in any 10 minutes (each column counts as one).", kind="whole>=1"),
    # Freshness: one threshold per table (prices move faster than licenses). Empty = the general
    # MODELMATCH_STALE_AFTER_DAYS above.
    Setting("stale_after_days_models", "MODELMATCH_STALE_AFTER_DAYS_MODELS", "",
            "Days after which a models row (context, parameters, license id) is marked stale; empty = "
            "MODELMATCH_STALE_AFTER_DAYS.", kind="whole>=1|empty"),
    Setting("stale_after_days_architectures", "MODELMATCH_STALE_AFTER_DAYS_ARCHITECTURES", "",
            "Days after which an architectures row is marked stale; empty = MODELMATCH_STALE_AFTER_DAYS.", kind="whole>=1|empty"),
    Setting("stale_after_days_scores", "MODELMATCH_STALE_AFTER_DAYS_SCORES", "",
            "Days after which a score is marked stale; empty = MODELMATCH_STALE_AFTER_DAYS.", kind="whole>=1|empty"),
    Setting("stale_after_days_prices", "MODELMATCH_STALE_AFTER_DAYS_PRICES", "90",
            "Days after which a price row is marked stale (its as_of: the date the price was last read or "
            "re-confirmed by an importer); API prices change every few months.", kind="whole>=1|empty"),
    Setting("stale_after_days_licenses", "MODELMATCH_STALE_AFTER_DAYS_LICENSES", "",
            "Days after which a license row is marked stale; empty = MODELMATCH_STALE_AFTER_DAYS.", kind="whole>=1|empty"),
    Setting("stale_after_days_gpus", "MODELMATCH_STALE_AFTER_DAYS_GPUS", "",
            "Days after which a GPU datasheet row is marked stale; empty = MODELMATCH_STALE_AFTER_DAYS.", kind="whole>=1|empty"),
    # Importers (`python -m ingest fetch`): fixed official URLs; the environment may point them elsewhere (tests
    # point them at a loopback server). Plain http is refused unless the host is loopback.
    Setting("openrouter_base_url", "MODELMATCH_OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1",
            "OpenRouter API base; `fetch openrouter` reads {base}/models and {base}/models/{id}/endpoints.", kind="url"),
    Setting("litellm_price_map_url", "MODELMATCH_LITELLM_PRICE_MAP_URL",
            "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json",
            "LiteLLM's price map JSON (USD per token, cache prices, context) read by `fetch litellm`.", kind="url"),
    Setting("huggingface_base_url", "MODELMATCH_HUGGINGFACE_BASE_URL", "https://huggingface.co",
            "Hugging Face Hub base; `fetch hf-config` reads {base}/{repo}/resolve/{revision}/config.json.", kind="url"),
    Setting("huggingface_token", "MODELMATCH_HF_TOKEN", "",
            "Optional Hugging Face token for gated repos; sent only to the Hugging Face host, never logged or "
            "written anywhere.", kind="secret"),
    Setting("fetch_timeout_s", "MODELMATCH_FETCH_TIMEOUT_S", "30",
            "Seconds an importer waits for a server to connect, to send the next bytes, and to finish a response.", kind="number>0"),
    Setting("fetch_max_bytes", "MODELMATCH_FETCH_MAX_BYTES", str(64 * 1024 * 1024),
            "Largest response an importer accepts, in bytes; a bigger one is refused, never cut short.", kind="whole>=1"),
    # Your own evals (pages/evals.py, `python -m modelmatch eval`).
    Setting("eval_max_file_mb", "MODELMATCH_EVAL_MAX_FILE_MB", "20",
            "Largest eval set file accepted, in MB; a bigger one is refused before it is parsed.", kind="number>0"),
    Setting("eval_max_items", "MODELMATCH_EVAL_MAX_ITEMS", "5000",
            "Most items an eval set may hold.", kind="whole>=1"),
    Setting("eval_max_requests_per_run", "MODELMATCH_EVAL_MAX_REQUESTS_PER_RUN", "2000",
            "Most requests (items x endpoints) one eval run started from the page may send.", kind="whole>=1"),
    Setting("eval_concurrency", "MODELMATCH_EVAL_CONCURRENCY", "4",
            "Default requests in flight at once per endpoint during an eval run (local models always run one at a "
            "time).", kind="whole>=1"),
    Setting("eval_max_concurrency", "MODELMATCH_EVAL_MAX_CONCURRENCY", "16",
            "Most requests in flight at once per endpoint that a user may choose for an eval run.", kind="whole>=1"),
    Setting("eval_retries", "MODELMATCH_EVAL_RETRIES", "3",
            "Retries of an eval request after HTTP 429, 5xx, a timeout or a broken connection (with exponential "
            "backoff).", kind="whole>=0"),
    Setting("eval_retry_base_s", "MODELMATCH_EVAL_RETRY_BASE_S", "2",
            "First retry delay in seconds; each further retry doubles it (with jitter, at most 60 s).", kind="number>=0"),
    Setting("eval_breaker_failures", "MODELMATCH_EVAL_BREAKER_FAILURES", "3",
            "Items in a row that fail after all retries before an endpoint is considered down: its remaining items "
            "are marked failed (not sent) and can be resumed later.", kind="whole>=1"),
    Setting("eval_cost_cap_usd", "MODELMATCH_EVAL_COST_CAP_USD", "2",
            "Default spending cap for one eval run in USD, at catalog list prices.", kind="number>=0"),
    Setting("eval_cost_cap_max_usd", "MODELMATCH_EVAL_COST_CAP_MAX_USD", "20",
            "Highest spending cap a visitor may set for one eval run on the page (the CLI is not limited).", kind="number>=0"),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    """The setting's text (environment, else default), checked against its kind: a bad value raises SettingError."""
    setting = _BY_NAME[name]
    raw = os.environ.get(setting.env, setting.default)
    setting.parse(raw)
    return raw.strip()


def value(name: str):
    """The setting's typed value (int, float, str; None for an empty optional one), or SettingError."""
    setting = _BY_NAME[name]
    return setting.parse(os.environ.get(setting.env, setting.default))


def check_all() -> list[str]:
    """One line per setting whose environment variable holds a bad value (empty when all are fine); commands and the
    app call it at start so a typo is reported once, clearly, before any work."""
    problems = []
    for setting in SETTINGS:
        try:
            setting.parse(os.environ.get(setting.env, setting.default))
        except SettingError as bad:
            problems.append(str(bad))
    return problems


def data_dir() -> Path:
    return Path(get("data_dir"))


def catalog_path() -> Path:
    return Path(get("catalog_path"))


def stale_after_days() -> int:
    return value("stale_after_days")


def query_cache_ttl_s() -> int:
    return value("query_cache_ttl_s")


def planner_gpu_memory_utilization() -> float:
    return value("planner_gpu_memory_utilization")


def planner_runtime_reserve_gb() -> float:
    return value("planner_runtime_reserve_gb")


def endpoints_path() -> Path:
    return Path(get("endpoints_path"))


def runs_db_path() -> Path:
    return Path(get("runs_db_path"))


def max_prompt_chars() -> int:
    return value("max_prompt_chars")


def runs_retention_days() -> float:
    return value("runs_retention_days")


def eval_runs_public() -> bool:
    return value("eval_runs_public")


def session_requests_per_10_min() -> int:
    return value("session_requests_per_10_min")


# Tables whose rows carry an as_of date, in the order the UI lists them.
FRESHNESS_TABLES = ("models", "architectures", "scores", "prices", "licenses", "gpus")


def stale_after_days_for(table: str) -> int:
    """The staleness threshold for one table: its own setting, or the general stale_after_days."""
    if table not in FRESHNESS_TABLES:
        raise KeyError(f"no staleness setting for table {table!r}; tables: {', '.join(FRESHNESS_TABLES)}")
    own = value(f"stale_after_days_{table}")
    return stale_after_days() if own is None else own


def fetch_timeout_s() -> float:
    return value("fetch_timeout_s")


def fetch_max_bytes() -> int:
    return value("fetch_max_bytes")
