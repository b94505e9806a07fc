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
# The same statements written in lower or mixed case, recognised by their shape so prose ("Select 2 models") is not.
SQL_SHAPES = re.compile(r"(?is)\b(select\b.*\bfrom\b|insert\s+into\b|update\s+\w+\s+set\b|delete\s+from\b|"
                        r"create\s+(or\s+replace\s+)?(table|view|index|schema)\b|drop\s+(table|view|index)\b|"
                        r"attach\s+(database\s+)?['?]|alter\s+table\b|copy\s+\w+\s+(to|from)\b)")
HTML_CALLS = re.compile(r"unsafe_allow_html\s*=\s*True|\bst\.html\(|components(\.v1)?\.html\(")

# SQL built with f-strings is allowed only where every interpolated piece is an identifier from the schema (or a
# fixed constant) or a run of "?" placeholders. Each such function is listed here with the reason; a new one fails
# the test until a reviewer adds it.
REVIEWED_SQL_FSTRINGS = {
    ("modelmatch/catalog/schema.py", "ddl"): "table and column names from the schema declarations",
    ("ingest/build.py", "write_catalog"): "table name from the schema",
    ("ingest/score_modes.py", "scores_with_modes"): "column names from the schema, the staged tables' names from the "
                                                    "build, the mode rule a module constant",
    ("ingest/staging.py", "__init__"): "table/column names and types from the schema; _file/_line are constants",
    ("ingest/staging.py", "_define"): "a view of SELECTs this module made (schema names, file indexes as ints)",
    ("ingest/staging.py", "_flush_careful"): "table name and column types from the schema; file indexes formatted as "
                                             "ints; the rows are bound parameters or a registered Arrow table",
    ("ingest/staging.py", "try_add_file"): "raw_file_<int> names made here from the file index",
    ("ingest/staging.py", "_read_raw"): "raw_file_<int> and positional names c0..cN made here; the file path is bound",
    ("ingest/staging.py", "_stage_raw"): "raw_file_<int> and positional names c0..cN made here; file index as an int; "
                                         "column names and types from the schema",
    ("ingest/staging.py", "_checked_expression"): "positional column name c0..cN and a type from the schema",
    ("ingest/staging.py", "rows"): "table/column names from the schema; the filter is a constant of the caller",
    ("ingest/staging.py", "count"): "table name from the schema",
    ("ingest/validate.py", "_keys_of"): "table and key column names from the schema",
    ("ingest/tier_coverage.py", "_count_in_sql"): "table and numeric column names from the schema",
    ("ingest/validate.py", "_references_of"): "table/column names from the schema's references",
    ("ingest/validate.py", "_percent_scores"): "constant column names; the percent bound is bound",
    ("ingest/validate.py", "_active_parameters"): "constant column names",
    ("ingest/validate.py", "held_rows"): "table name from the schema",
    ("ingest/validate.py", "tiers"): "table/column names from the schema; every value is bound",
    ("ingest/changes.py", "record_changes"): "table/column names from the schema; PREVIOUS is a constant alias",
    ("ingest/changes.py", "_attach_previous"): "PREVIOUS is a constant alias; the path is a bound parameter",
    ("modelmatch/catalog/freshness.py", "summary"): "table names from settings.FRESHNESS_TABLES",
    ("modelmatch/catalog/freshness.py", "rows_by_age"): "table checked against FRESHNESS_TABLES; key columns from schema",
    ("modelmatch/evals/store.py", "save_result"): "only a run of ? placeholders, one per result column",
    ("modelmatch/chat/runs_store.py", "save"): "only a run of ? placeholders, one per run_columns column",
    ("modelmatch/chat/runs_migration.py", "copy_legacy_tables"): "table names from the stores' constants (checked "
                                                                  "against [a-z_]+); column names from our own schema "
                                                                  "(PRAGMA table_info); values are bound",
    ("modelmatch/catalog/prices.py", "<module>"): "module constants only: the price-rows CTE joined into fixed queries",
    ("modelmatch/planning/records.py", "<module>"): "the price-rows CTE constant from modelmatch.catalog.prices; values are bound",
    ("modelmatch/explore/overview.py", "<module>"): "module constants only: scores.CHOSEN_MODE_SQL, "
                                                    "scores.SCORES_SQL and prices.LIST_PRICE_CTE joined into fixed "
                                                    "queries; values are bound",
    ("modelmatch/catalog/models.py", "<module>"): "module constant only: the model filter clause joined into "
                                                  "fixed queries; values are bound",
    ("modelmatch/catalog/scores.py", "<module>"): "module constant only: CHOSEN_MODE_SQL, a fixed CASE whose mode is bound",
    ("modelmatch/explore/compare.py", "<module>"): "module constant only: OWN_SOURCES_SQL, column names declared in the "
                                                   "schema (provenance.OWN_SOURCES); the model ids are bound",
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


def looks_like_sql(text: str) -> bool:
    return bool(SQL_WORDS.search(text) or SQL_SHAPES.search(text))


def _sql_constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and looks_like_sql(node.value)


class _Scan(ast.NodeVisitor):
    def __init__(self) -> None:
        self.functions: list[str] = []
        self.sql_fstrings: list[tuple[str, int]] = []
        self.sql_format_calls: list[int] = []  # "...".format(...), "..." % x, "..." + x on SQL text
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
        if looks_like_sql(text) and any(isinstance(v, ast.FormattedValue) for v in node.values):
            self.sql_fstrings.append((self.functions[0] if self.functions else "<module>", node.lineno))
        self.generic_visit(node)

    def visit_Call(self, node):  # noqa: N802
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format" and _sql_constant(func.value):
            self.sql_format_calls.append(node.lineno)
        self.generic_visit(node)

    def visit_BinOp(self, node):  # noqa: N802
        if isinstance(node.op, ast.Mod) and _sql_constant(node.left):
            self.sql_format_calls.append(node.lineno)
        elif isinstance(node.op, ast.Add) and (
                (_sql_constant(node.left) and not isinstance(node.right, ast.Constant))
                or (_sql_constant(node.right) and not isinstance(node.left, ast.Constant))):
            self.sql_format_calls.append(node.lineno)
        self.generic_visit(node)


def scan_source(code: str) -> _Scan:
    scan = _Scan()
    scan.visit(ast.parse(code))
    return scan


def html_offences(code: str) -> list[int]:
    return [number for number, line in enumerate(code.splitlines(), start=1)
            if HTML_CALLS.search(line.split("#", 1)[0])]


def cached_function_offences(scan: _Scan) -> list[str]:
    offenders = []
    for fn in scan.cached_functions:
        names = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]]
        offenders += [f"{fn.lineno} {fn.name}({n})" for n in names if KEYISH_PARAM.search(n)]
        returns = ast.unparse(fn.returns) if fn.returns else ""
        if re.search(r"(Client|Session|ApiKey|Secret|Key\b)", returns):
            offenders.append(f"{fn.lineno} {fn.name} returns {returns}")
    return offenders


def scans() -> dict[str, _Scan]:
    return {rel(path): scan_source(path.read_text(encoding="utf-8")) for path in product_files()}


def test_no_html_rendering_anywhere_in_the_product():
    offenders = [f"{rel(path)}:{number}" for path in product_files()
                 for number in html_offences(path.read_text(encoding="utf-8"))]
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
    offenders = [f"{path}:{o}" for path, scan in scans().items() for o in cached_function_offences(scan)]
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
    for private in (".streamlit/secrets.toml", "endpoints.toml", "runs/runs.duckdb", "runs/runs.sqlite", "data/catalog.duckdb"):
        ignored = subprocess.run(["git", "check-ignore", "-q", private], cwd=REPO_ROOT)
        assert ignored.returncode == 0, f"{private} is not git-ignored"


# The checks above must be able to fail: each planted violation is caught, and ordinary code is not.
PLANTED_SQL = [
    'con.execute(f"SELECT * FROM models WHERE model_id = \'{model_id}\'")',
    'con.execute(f"select * from models where vendor = {vendor}")',
    'con.execute("SELECT * FROM scores WHERE model_id = \'{}\'".format(model_id))',
    'con.execute("DELETE FROM runs WHERE run_id = \'%s\'" % run_id)',
    'con.execute("SELECT * FROM prices WHERE provider = \'" + provider + "\'")',
    'con.execute("attach \'" + path + "\' as other")',
]
CLEAN_SQL = [
    'con.execute("SELECT * FROM models WHERE model_id = ?", [model_id])',
    'st.caption(f"Select {count} models to compare")',
    'label = "Update " + name',
    'sql = "SELECT model_id " + "FROM models"',
]


@pytest.mark.parametrize("code", PLANTED_SQL)
def test_the_sql_rule_catches_each_way_of_building_sql_from_values(code):
    scan = scan_source(code)
    assert scan.sql_fstrings or scan.sql_format_calls, code


@pytest.mark.parametrize("code", CLEAN_SQL)
def test_the_sql_rule_leaves_bound_parameters_and_prose_alone(code):
    scan = scan_source(code)
    assert not scan.sql_fstrings and not scan.sql_format_calls, code


@pytest.mark.parametrize("code", [
    "st.markdown(answer, unsafe_allow_html=True)", "st.markdown(answer, unsafe_allow_html = True)",
    "st.html(answer)", "components.html(page)", "st.components.v1.html(page)",
])
def test_the_html_rule_catches_each_html_call(code):
    assert html_offences(f"import streamlit as st\n{code}\n") == [2]


def test_the_html_rule_ignores_comments_and_safe_markdown():
    assert html_offences("st.markdown(safe_markdown(text))  # never unsafe_allow_html=True\n") == []


@pytest.mark.parametrize("code", [
    "@st.cache_data\ndef prices(api_key: str):\n    pass\n",
    "@st.cache_resource(ttl=60)\ndef client(*, token):\n    pass\n",
    "@st.cache_resource\ndef make() -> OpenAIClient:\n    pass\n",
    "@st.cache_data\ndef secret_of(name) -> ApiKey:\n    pass\n",
])
def test_the_cache_rule_catches_keys_and_clients(code):
    assert cached_function_offences(scan_source(code)), code


def test_the_cache_rule_leaves_ordinary_cached_queries_alone():
    assert cached_function_offences(scan_source("@st.cache_data\ndef scores(build_id: str) -> pd.DataFrame:\n"
                                                "    pass\n")) == []


@pytest.mark.parametrize("planted", [
    "sk-" + "Ab3" * 8, "hf_" + "x9Y" * 11, "AKIA" + "ABCD2345" * 2, "-----BEGIN RSA " + "PRIVATE KEY-----",
])
def test_the_key_rule_catches_common_key_shapes(planted):
    assert KEY_LIKE.search(f"api_key = '{planted}'")


# ---------------------------------------------------------------------------------------------------------------
# Stored markdown injection (second hardening round): an uploaded eval set's file name was put into a caption as
# markdown, so every visitor of Your evals fetched an attacker's image and saw attacker links. Every string that a
# visitor, an uploaded file or a model server controls must reach the screen through modelmatch.chat.render: md_text for
# a value inside markdown, safe_markdown for a whole markdown text (a prompt, a reply). The rule below reads the
# pages where such strings are shown and lists every other value that reaches a markdown-rendering call; each must
# be one that cannot carry such text, and is listed here with the reason.

# Streamlit calls whose text (first argument, or these keywords) is rendered as markdown.
MARKDOWN_CALLS = {"markdown", "caption", "write", "error", "warning", "info", "success", "toast", "title", "header",
                  "subheader", "expander", "button", "page_link", "download_button", "checkbox", "toggle", "radio",
                  "metric", "status", "popover", "progress"}
MARKDOWN_KEYWORDS = ("body", "label", "help", "text")
NOT_TEXT_FIRST_ARGUMENT = {"progress"}  # st.progress(value, text=...): the first argument is a number
SAFE_WRAPPERS = {"md_text", "md_code", "safe_markdown"}
INERT_CALLS = {"len", "int", "float", "round", "abs", "sum"}
NUMERIC_FORMAT = re.compile(r"(^%)|([dfgeEn%,_]$)")  # {x:,.2f}, {n:,}, {when:%Y-%m-%d}: digits only (a str raises)
# Pages that show text from visitors, uploaded files or model servers: every value there is checked.
VISITOR_TEXT_PAGES = ("app.py", "pages/common.py", "pages/evals.py", "pages/playground.py")
REVIEWED_MARKDOWN_VALUES = {
    ("app.py", "info.build_id"): "made by ingest build (a timestamp and a hash)",
    ("pages/common.py", "notice"): "view_state notices: every value from the link is escaped by view_state._quote",
    ("pages/common.py", "str(missing)"): "CatalogMissing: the operator's catalog path and DuckDB's own message",
    ("pages/common.py", "label"): "csv_download's button label: a fixed string at every call site",
    ("pages/evals.py", "info.run_id"): "run ids are made by the store (hex) and links are checked by valid_run_id",
    ("pages/evals.py", "status_text"): "one of the store's fixed statuses or a fixed sentence",
    ("pages/evals.py", "groups"): "a count",
    ("pages/evals.py", "label"): "'Start: N requests', a count",
    ("pages/evals.py", "p.complete"): "a count", ("pages/evals.py", "p.total"): "a count",
    ("pages/evals.py", "p.correct"): "a count", ("pages/evals.py", "p.in_flight"): "a count",
    ("pages/evals.py", "extra"): "counts with fixed words",
    ("pages/evals.py", "p.state"): "the runner's fixed states; 'stopped: ' + its own breaker reason",
    ("pages/evals.py", "', '.join((f'`{s}`' for s in SCORERS))"): "the fixed scorer names",
    ("pages/evals.py", "summary.incomplete_requests"): "a count",
    ("pages/playground.py", "run.run_id"): "loaded runs only: ids made by the store (hex), checked by valid_run_id",
    ("pages/playground.py", "last.run_id"): "made by the store (hex)",
    ("pages/playground.py", "empty"): "a fixed placeholder passed by the page itself",
    ("pages/playground.py", "turn['metrics']"): "built by metrics_line: numbers and fixed words",
    ("pages/playground.py", "metrics_line(snap, run.endpoint)"): "numbers and fixed words",
    ("pages/playground.py", "snap.queue_position"): "a count",
}


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
    return None


class _MarkdownScan(ast.NodeVisitor):
    """Every value that reaches a markdown-rendering call unescaped: (line, source of the value)."""

    def __init__(self, tree: ast.AST) -> None:
        # Names the module assigns only from md_text/safe_markdown are safe; names assigned from the link's query
        # values are never safe, in any page.
        assigned: dict[str, list[ast.AST]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, []).append(node.value)
        self.safe_names = {name for name, values in assigned.items()
                           if all(_call_name(v) in SAFE_WRAPPERS for v in values)}
        self.query_names = {name for name, values in assigned.items()
                            if any("query_params" in ast.unparse(v) for v in values)}
        self.found: list[tuple[int, str]] = []
        self.visit(tree)

    def inert(self, node: ast.AST, spec: ast.AST | None = None) -> bool:
        if spec is not None:
            text = "".join(v.value for v in ast.walk(spec) if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if NUMERIC_FORMAT.search(text):
                return True
        name = _call_name(node)
        return (isinstance(node, ast.Constant) or name in SAFE_WRAPPERS or name in INERT_CALLS
                or (isinstance(node, ast.Name) and (node.id.isupper() or node.id in self.safe_names))
                or (isinstance(node, ast.Attribute) and node.attr.isupper()))

    def values(self, node: ast.AST, spec: ast.AST | None = None) -> list[ast.AST]:
        if isinstance(node, ast.JoinedStr):
            return [v for part in node.values if isinstance(part, ast.FormattedValue)
                    for v in self.values(part.value, part.format_spec)]
        if isinstance(node, ast.BinOp):
            return self.values(node.left) + self.values(node.right)
        if isinstance(node, ast.IfExp):
            return self.values(node.body, spec) + self.values(node.orelse, spec)
        if _call_name(node) == "safe_markdown" and node.args and isinstance(node.args[0], (ast.JoinedStr, ast.BinOp)):
            return self.values(node.args[0])  # a markdown template: the values put into it need md_text
        return [] if self.inert(node, spec) else [node]

    def visit_Call(self, node):  # noqa: N802
        name = _call_name(node)
        if isinstance(node.func, ast.Attribute) and name in MARKDOWN_CALLS:
            texts = [] if name in NOT_TEXT_FIRST_ARGUMENT else list(node.args[:1])
            texts += [k.value for k in node.keywords if k.arg in MARKDOWN_KEYWORDS]
            for text in texts:
                self.found += [(value.lineno, ast.unparse(value)) for value in self.values(text)]
        self.generic_visit(node)


def markdown_offences(code: str, path: str, strict: bool) -> list[str]:
    """Values reaching markdown unescaped that are not reviewed (strict: every page showing visitor text) or that
    come from the link's query values (any page)."""
    scan = _MarkdownScan(ast.parse(code))
    offences = []
    for line, source in scan.found:
        from_link = "query_params" in source or any(re.search(rf"\b{re.escape(n)}\b", source)
                                                     for n in scan.query_names)
        if from_link or (strict and (path, source) not in REVIEWED_MARKDOWN_VALUES):
            offences.append(f"{path}:{line} {source}")
    return offences


def page_files() -> list[str]:
    return ["app.py"] + [rel(p) for p in sorted((REPO_ROOT / "pages").glob("*.py"))]


def test_stored_markdown_injection_every_visitor_or_server_string_goes_through_the_safe_path():
    offenders = []
    for path in page_files():
        code = (REPO_ROOT / path).read_text(encoding="utf-8")
        offenders += markdown_offences(code, path, strict=path in VISITOR_TEXT_PAGES)
    assert offenders == [], "wrap in md_text (a value) or safe_markdown (a markdown text), or review it here"


def test_the_reviewed_markdown_values_have_no_stale_entries():
    found = set()
    for path in VISITOR_TEXT_PAGES:
        scan = _MarkdownScan(ast.parse((REPO_ROOT / path).read_text(encoding="utf-8")))
        found |= {(path, source) for _, source in scan.found}
    assert set(REVIEWED_MARKDOWN_VALUES) <= found


@pytest.mark.parametrize("code", [
    'st.caption(f"Run set **{info.set_name}** ({info.set_source})")',  # the finding itself
    'st.error(f"{len(problems)} problem(s) in {upload.name}")',
    'st.markdown(safe_markdown(f"read `{extracted}`"))',  # a value inside a markdown template
    'st.error(message)', 'left.warning(message, icon="x")', 'st.expander(f"{item_id}")',
    'st.progress(0.5, text=f"**{p.name}**")', 'st.button("x", help=reason)',
])
def test_the_markdown_rule_catches_each_unescaped_value(code):
    assert markdown_offences(f"import streamlit as st\n{code}\n", "pages/evals.py", strict=True), code


@pytest.mark.parametrize("code", [
    'wanted = st.query_params.get("model")\nst.warning(f"The link asks for model {wanted!r}")',
    'st.info(st.query_params["x"])',
])
def test_the_markdown_rule_catches_query_values_in_every_page(code):
    assert markdown_offences(f"import streamlit as st\n{code}\n", "pages/wizard.py", strict=False), code


@pytest.mark.parametrize("code", [
    'st.caption(f"{len(items):,} items, {share:.0%}, ${usd:.4f} on {day:%Y-%m-%d}")',
    'st.error(md_text(message))', 'st.markdown(safe_markdown(answer))',
    'st.caption(f"set **{md_text(info.set_name)}** · {MAX_ENDPOINTS} endpoints")',
    'shown = md_text(name)\nst.caption(f"reply looks like {shown}")',
    'st.progress(done, text=f"{int(done * 100)}%")',
])
def test_the_markdown_rule_leaves_escaped_values_and_numbers_alone(code):
    assert markdown_offences(f"import streamlit as st\n{code}\n", "pages/evals.py", strict=True) == [], code


def test_icon_font_from_an_external_host_no_page_icon_is_fetched_from_outside():
    """A ":material/...:" page icon makes every visitor's browser fetch the favicon from an external font host."""
    offenders = []
    for path in page_files():
        for node in ast.walk(ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))):
            if _call_name(node) == "set_page_config":
                icon = next((k.value for k in node.keywords if k.arg == "page_icon"), None)
                if isinstance(icon, ast.Constant) and str(icon.value).startswith((":", "http")):
                    offenders.append(f"{path}:{node.lineno} {icon.value}")
    assert offenders == []


def test_eval_uploads_over_the_stated_limit_are_refused_by_the_server():
    """The uploader's max_upload_size is checked in the browser only: the server's own limit must be the eval-set
    limit, not Streamlit's default 200 MB."""
    from modelmatch import settings

    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    default_mb = next(float(s.default) for s in settings.SETTINGS if s.name == "eval_max_file_mb")
    assert config["server"]["maxUploadSize"] <= default_mb
