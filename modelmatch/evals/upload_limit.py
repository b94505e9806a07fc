"""The two limits on an uploaded eval set, and whether they agree.

The eval-set limit (MODELMATCH_EVAL_MAX_FILE_MB) is ours; the web server refuses any upload over its own limit
(Streamlit's server.maxUploadSize) before the page sees it, with only a generic error in the browser. When ours is
the larger, files between the two are refused without a word about our setting, so the app and the command line
warn, naming both values and how to fix it. Streamlit is not imported here: the page passes the server's limit, and
the command line reads the project's config file (what `streamlit run` from the checkout reads).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from modelmatch import settings

STREAMLIT_DEFAULT_MAX_UPLOAD_MB = 200.0  # Streamlit's own default for server.maxUploadSize
STREAMLIT_ENV = "STREAMLIT_SERVER_MAX_UPLOAD_SIZE"  # Streamlit reads this variable over its config files
CONFIG_FILE = Path(".streamlit") / "config.toml"


def mb_text(mb: float) -> str:
    """20 -> '20 MB', 0.5 -> '0.5 MB' (a rounded '0 MB' would hide a small limit)."""
    return f"{mb:,.6g} MB"


def eval_limit_mb() -> float:
    return float(settings.value("eval_max_file_mb"))


def size_refusal(size_bytes: int) -> str | None:
    """Why a file of size_bytes is refused (naming the limit and its setting), or None when it is within it."""
    limit_mb = eval_limit_mb()
    if size_bytes <= limit_mb * 1024 * 1024:
        return None
    return (f"The file is {mb_text(round(size_bytes / 1024 / 1024, 2))}; eval sets are limited to "
            f"{mb_text(limit_mb)} (MODELMATCH_EVAL_MAX_FILE_MB). Nothing was read.")


def disagreement(server_limit_mb: float, where: str) -> str | None:
    """A warning when the eval-set limit is over the server's upload limit (uploads between the two would be refused
    by the server with a generic error), naming both values and the fix; None when they agree."""
    eval_mb = eval_limit_mb()
    if eval_mb <= server_limit_mb:
        return None
    return (f"MODELMATCH_EVAL_MAX_FILE_MB is {mb_text(eval_mb)} but the web server accepts uploads of at most "
            f"{mb_text(server_limit_mb)} (server.maxUploadSize, {where}): eval sets between the two are refused by "
            f"the server. Raise server.maxUploadSize to at least {mb_text(eval_mb)} or lower "
            "MODELMATCH_EVAL_MAX_FILE_MB.")


def configured_server_limit_mb(root: Path | None = None) -> tuple[float, str]:
    """(server.maxUploadSize in MB, where it was read) as `streamlit run` from `root` would see it: the
    environment variable, else the project's config file, else Streamlit's default. Command-line flags and the
    per-user config file are not visible here; the app checks the value the server really uses."""
    raw = os.environ.get(STREAMLIT_ENV, "").strip()
    if raw:
        try:
            return float(raw), STREAMLIT_ENV
        except ValueError:
            pass  # Streamlit itself refuses it at start; nothing to compare with
    path = (root or settings.REPO_ROOT) / CONFIG_FILE
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return STREAMLIT_DEFAULT_MAX_UPLOAD_MB, "Streamlit's default; no readable .streamlit/config.toml"
    value = config.get("server", {}).get("maxUploadSize")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), ".streamlit/config.toml"
    return STREAMLIT_DEFAULT_MAX_UPLOAD_MB, "Streamlit's default; not set in .streamlit/config.toml"


def command_line_warning() -> str | None:
    """The disagreement as the command line sees it (see configured_server_limit_mb)."""
    server_mb, where = configured_server_limit_mb()
    return disagreement(server_mb, where)
