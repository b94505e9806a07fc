"""The design's security rules, checked over the repository itself so a new change cannot quietly break them."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PRODUCT_DIRS = ("modelmatch", "ingest", "pages")
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ATTACH|DROP|COPY|ALTER)\b")

# SQL built with f-strings is allowed only where every interpolated piece is an identifier from the schema (or a
# fixed constant) or a run of "?" placeholders. Each such function is listed here with the reason; a new one fails
# the test until a reviewer adds it.
REVIEWED_SQL_FSTRINGS = {
    ("ingest/schema.py", "ddl"): "table and column names from the schema declarations",
    ("ingest/build.py", "write_catalog"): "table name from the schema",
    ("ingest/changes.py", "record_changes"): "table/column names from the schema; PREVIOUS is a constant alias",
    ("ingest/changes.py", "_attach_previous"): "PREVIOUS is a constant alias; the path is a bound parameter",
    ("modelmatch/freshness.py", "summary"): "table names from settings.FRESHNESS_TABLES",
    ("modelmatch/freshness.py", "rows_by_age"): "table checked against FRESHNESS_TABLES; key columns from schema",
    ("modelmatch/eval_store.py", "save_result"): "only a run of ? placeholders, one per result column",
}
KEYISH_PARAM = re.compile(r"(key|secret|token|password|client)", re.IGNORECASE)
KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9]{20,}|hf_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----)")


def product_files() -> list[Path]:
    files = [REPO_ROOT / "app.py"]
    for folder in PRODUCT_DIRS:
        files += sorted((REPO_ROOT / folder).rglob("*.py"))
    return files


def rel(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


class _Scan(ast.NodeVisitor):
    def __init__(self) -> None:
        self.functions: list[str] = []
        self.sql_fstrings: list[tuple[str, int]] = []
        self.sql_format_calls: list[int] = []
        self.cached_functions: list[ast.FunctionDef] = []

    def visit_FunctionDef(self, node):  # noqa: N802
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr in ("cache_data", "cache_resource"):
                self.cached_functions.append(node)
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_JoinedStr(self, node):  # noqa: N802
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        if SQL_WORDS.search(text) and any(isinstance(v, ast.FormattedValue) for v in node.values):
            self.sql_fstrings.append((self.functions[0] if self.functions else "<module>", node.lineno))
        self.generic_visit(node)

    def visit_Call(self, node):  # noqa: N802
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr == "format" and isinstance(func.value, ast.Constant)
                and isinstance(func.value.value, str) and SQL_WORDS.search(func.value.value)):
            self.sql_format_calls.append(node.lineno)
        self.generic_visit(node)


def scans() -> dict[str, _Scan]:
    out = {}
    for path in product_files():
        scan = _Scan()
        scan.visit(ast.parse(path.read_text(encoding="utf-8")))
        out[rel(path)] = scan
    return out


def test_no_html_rendering_anywhere_in_the_product():
    offenders = []
    for path in product_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if re.search(r"unsafe_allow_html\s*=\s*True|st\.html\(|components(\.v1)?\.html\(", code):
                offenders.append(f"{rel(path)}:{number}")
    assert offenders == []


def test_sql_is_never_built_with_format_and_fstrings_only_in_reviewed_places():
    unreviewed, formatted = [], []
    for path, scan in scans().items():
        for function, line in scan.sql_fstrings:
            if (path, function) not in REVIEWED_SQL_FSTRINGS:
                unreviewed.append(f"{path}:{line} in {function}")
        formatted += [f"{path}:{line}" for line in scan.sql_format_calls]
    assert formatted == [], "SQL built with str.format"
    assert unreviewed == [], "SQL f-string outside the reviewed list: bind values, allow-list identifiers"


def test_the_reviewed_list_has_no_stale_entries():
    found = {(path, function) for path, scan in scans().items() for function, _ in scan.sql_fstrings}
    assert set(REVIEWED_SQL_FSTRINGS) <= found


def test_cached_functions_never_take_keys_or_clients():
    offenders = []
    for path, scan in scans().items():
        for fn in scan.cached_functions:
            names = [a.arg for a in [*fn.args.args, *fn.args.kwonlyargs]]
            offenders += [f"{path}:{fn.lineno} {fn.name}({n})" for n in names if KEYISH_PARAM.search(n)]
            returns = ast.unparse(fn.returns) if fn.returns else ""
            if re.search(r"(Client|Session|ApiKey|Secret)", returns):
                offenders.append(f"{path}:{fn.lineno} {fn.name} returns {returns}")
    assert offenders == []


def test_no_tracked_file_holds_something_that_looks_like_a_key():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.fail("git ls-files failed: the rules test needs a git checkout")
    hits = []
    for name in tracked.stdout.splitlines():
        path = REPO_ROOT / name
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{name}: {m.group(0)[:12]}…" for m in KEY_LIKE.finditer(text)]
    assert hits == []


def test_streamlit_config_keeps_xsrf_on_and_hides_error_details_and_secrets_are_ignored():
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["client"]["showErrorDetails"] in ("none", False)
    assert config["browser"]["gatherUsageStats"] is False
    for private in (".streamlit/secrets.toml", "endpoints.toml", "runs/runs.duckdb", "data/catalog.duckdb"):
        ignored = subprocess.run(["git", "check-ignore", "-q", private], cwd=REPO_ROOT)
        assert ignored.returncode == 0, f"{private} is not git-ignored"
