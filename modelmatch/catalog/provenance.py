"""Rules for the provenance tiers: what each tier needs, and checking a derived cell against its formula.

A tier is a claim about how sure a number is, so a row whose tier lacks what makes it true is refused (file, line,
reason): official-copy without the URL where the copy was read, derived without its formula, secondary without its
second, independent source. A formula is recomputed from the row's own cells; a cell that disagrees is refused
with both numbers. A row with no tier at all is a warning: it is shown as "no tier" until someone fills it in.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from modelmatch.catalog.schema import MODELS, TIERS, Table

# Relative tolerance for a formula's result against the cell: derived integers must match exactly after rounding,
# floats to this share (a datasheet's 3.35 TB/s written as 3350 GB/s is exact; rounding noise is not a mismatch).
FLOAT_REL_TOLERANCE = 1e-3

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


class FormulaError(ValueError):
    pass


@dataclass(frozen=True)
class Formula:
    target: str
    expression: str
    tree: ast.expr

    def names(self) -> set[str]:
        return {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)}

    def evaluate(self, values: dict[str, Any]) -> float | None:
        """The expression's value, or None when a cell it needs is empty."""
        if any(values.get(name) is None for name in self.names()):
            return None
        return _eval(self.tree, values)


def _eval(node: ast.expr, values: dict[str, Any]) -> float:
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left, values), _eval(node.right, values)
        if isinstance(node.op, ast.Div) and right == 0:
            raise FormulaError("division by zero")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, values)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(values[node.id])
    raise FormulaError("only numbers, column names, + - * / and parentheses are allowed")


def parse_formulas(text: str, table: Table) -> list[Formula]:
    """'a = b / c; d = e * 2' -> formulas; raises FormulaError naming the part that is wrong."""
    formulas: list[Formula] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        target, sep, expression = part.partition("=")
        target, expression = target.strip(), expression.strip()
        if not sep or not target or not expression:
            raise FormulaError(f"{part!r} is not 'column = expression'")
        column = table.column_by_name.get(target)
        if column is None or not column.is_numeric:
            raise FormulaError(f"{target!r} is not a numeric column of table '{table.name}'")
        try:
            tree = ast.parse(expression, mode="eval").body
        except SyntaxError as exc:
            raise FormulaError(f"cannot read {expression!r}: {exc.msg}") from None
        formula = Formula(target, expression, tree)
        _check_nodes(tree)
        for name in formula.names():
            other = table.column_by_name.get(name)
            if other is None or not other.is_numeric:
                raise FormulaError(f"{name!r} in {part!r} is not a numeric column of table '{table.name}'")
        if target in formula.names():
            raise FormulaError(f"{part!r} uses its own result")
        formulas.append(formula)
    return formulas


def _check_nodes(tree: ast.expr) -> None:
    for node in ast.walk(tree):
        allowed = (ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.USub, *_OPS)
        if not isinstance(node, allowed):
            raise FormulaError("only numbers, column names, + - * / and parentheses are allowed")


def derived_columns(values: dict[str, Any], table: Table) -> set[str]:
    """Columns of this row that a formula derives (their tier is derived whatever the row's tier)."""
    text = values.get("formula")
    if not text:
        return set()
    try:
        return {f.target for f in parse_formulas(text, table)}
    except FormulaError:
        return set()


# On shared code hosts the publisher is the account, not the site: two organisations' repositories on github.com
# are independent sources; two pages of one website are not.
CODE_HOSTS = ("github.com", "gitlab.com", "gitcode.com", "huggingface.co", "raw.githubusercontent.com")


def _host(url: str | None) -> str:
    """Who published a URL: the site, or site/account on a shared code host."""
    if not url:
        return ""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    host = host[4:] if host.startswith("www.") else host
    if host in CODE_HOSTS:
        account = parsed.path.strip("/").split("/")[0].lower()
        return f"{host}/{account}"
    return host


def tier_problems(values: dict[str, Any], table: Table) -> list[tuple[str, str]]:
    """(column, reason) for every way this row's tier is not backed by what the row holds."""
    if "provenance" not in table.column_by_name:
        return []
    problems: list[tuple[str, str]] = []
    tier = values.get("provenance")
    source, copy, second = values.get("source_url"), values.get("copy_url"), values.get("second_source_url")
    formula_text = values.get("formula")
    problems.extend(_copy_problems("", tier, source, copy))
    if tier == "derived" and not formula_text:
        problems.append(("formula", "provenance derived needs a formula ('column = expression over official "
                                    "columns')"))
    if tier == "secondary":
        problems.extend(_second_source_problems("", source, second))
    # On other tiers a second source is a further citation of the same fact (an official page's other-language
    # twin): allowed, and it does not change the tier.
    if tier == "measured" and values.get("measured_by") and table.name == "scores":
        problems.append(("measured_by", "measured_by names another vendor's run; a measured row is this "
                                        "project's own run"))
    if formula_text:
        problems.extend(formula_problems(values, table))
    return problems


@dataclass(frozen=True)
class OwnSource:
    """Cells of a model row that may come from another source than the row's (the counts from two engines' pages on
    a row read in a pricing page; the context from the config on a row read in the README), with the columns that
    name that source: {prefix}provenance, {prefix}source_url, {prefix}source_location, {prefix}as_of, and what the
    tier needs ({prefix}copy_url, {prefix}second_source_url)."""

    prefix: str
    cells: tuple[str, ...]
    what: str  # "the counts": in messages
    label: str  # "parameter counts": where a page lists each fact's source

    @property
    def tier_column(self) -> str:
        return f"{self.prefix}provenance"

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The tier column first, then every column that gives the source (those the schema declares)."""
        names = ("provenance", "source_url", "source_location", "as_of", "copy_url", "second_source_url")
        return tuple(f"{self.prefix}{n}" for n in names if f"{self.prefix}{n}" in MODELS.column_by_name)


PARAMS_SOURCE = OwnSource("params_", ("params_total_b", "params_active_b", "architecture"), "the counts",
                          "parameter counts")
CONTEXT_SOURCE = OwnSource("context_", ("context_length", "context_length_extended", "max_output_tokens"),
                           "the context length", "context length")
LICENSE_SOURCE = OwnSource("license_", ("license_id",), "the license", "license")
OWN_SOURCES = (PARAMS_SOURCE, CONTEXT_SOURCE, LICENSE_SOURCE)


def own_source_problems(values: dict[str, Any], group: OwnSource) -> list[tuple[str, str]]:
    """Cells with their own tier need their own source (and what the tier needs: the copy's URL for official-copy,
    two independent sources for secondary); source columns without a tier say nothing and are refused."""
    p = group.prefix
    tier = values.get(group.tier_column)
    given = [c for c in group.source_columns[1:] if values.get(c) is not None]
    if tier is None:
        possessive = f"{group.what}'" if group.what.endswith("s") else f"{group.what}'s"
        return [(c, f"{p}* source columns need {group.tier_column} ({possessive} tier)") for c in given]
    problems: list[tuple[str, str]] = []
    if all(values.get(c) is None for c in group.cells):
        if len(group.cells) == 1:
            problems.append((group.tier_column, f"{group.tier_column} is set but {group.cells[0]} is empty"))
        else:
            cells = ", ".join(group.cells[:-1]) + " and " + group.cells[-1]
            problems.append((group.tier_column, f"{group.tier_column} is set but {cells} are empty"))
    for column in (f"{p}source_url", f"{p}source_location", f"{p}as_of"):
        if values.get(column) is None:
            problems.append((column, f"{group.tier_column} {tier} needs {column}"))
    problems.extend(_copy_problems(p, tier, values.get(f"{p}source_url"), values.get(f"{p}copy_url")))
    if tier == "secondary":
        problems.extend(_second_source_problems(p, values.get(f"{p}source_url"),
                                                values.get(f"{p}second_source_url")))
    return problems


def _copy_problems(prefix: str, tier: str | None, source: str | None, copy: str | None) -> list[tuple[str, str]]:
    """An official-copy tier needs the URL where the copy was read, not the official one; a copy URL on another tier
    says nothing true (columns {prefix}source_url and {prefix}copy_url, under the tier column {prefix}provenance)."""
    column = f"{prefix}copy_url"
    if tier == "official-copy":
        if not copy:
            return [(column, f"{prefix}provenance official-copy needs {column}: where the copy of the official "
                             f"document was read ({prefix}source_url stays the official URL)")]
        if copy == source:
            return [(column, f"{column} is the same as {prefix}source_url: a document read at its official URL "
                             "is tier official")]
    elif copy and tier is not None:
        return [(column, f"{column} is only for {prefix}provenance official-copy (this row says {tier})")]
    return []


def _second_source_problems(prefix: str, source: str | None, second: str | None) -> list[tuple[str, str]]:
    """A secondary tier needs a second source from another publisher (columns {prefix}source_url and
    {prefix}second_source_url, under the tier column {prefix}provenance)."""
    column = f"{prefix}second_source_url"
    if not second:
        return [(column, f"{prefix}provenance secondary needs two independent sources that agree: {column} is "
                         "empty")]
    if _host(second) == _host(source):
        return [(column, f"{column} is on the same site as {prefix}source_url ({_host(source)}): not an "
                         "independent second source")]
    return []


def formula_problems(values: dict[str, Any], table: Table) -> list[tuple[str, str]]:
    try:
        formulas = parse_formulas(values["formula"], table)
    except FormulaError as exc:
        return [("formula", str(exc))]
    problems: list[tuple[str, str]] = []
    for formula in formulas:
        try:
            computed = formula.evaluate(values)
        except FormulaError as exc:
            problems.append(("formula", f"{formula.target} = {formula.expression}: {exc}"))
            continue
        cell = values.get(formula.target)
        missing = sorted(n for n in formula.names() if values.get(n) is None)
        if computed is None:
            problems.append(("formula", f"{formula.target} = {formula.expression} cannot be checked: "
                                        f"{', '.join(missing)} empty"))
        elif cell is None:
            problems.append((formula.target, f"formula gives {computed:g} but the cell is empty"))
        elif not _agrees(float(cell), computed, table.column_by_name[formula.target].kind):
            problems.append((formula.target, f"is {cell:g} but its formula {formula.target} = "
                                             f"{formula.expression} gives {computed:g}"))
    return problems


def _agrees(cell: float, computed: float, kind: str) -> bool:
    if kind == "int":
        return abs(computed - round(computed)) < 1e-9 and int(round(computed)) == int(cell)
    return abs(cell - computed) <= FLOAT_REL_TOLERANCE * max(abs(cell), abs(computed), 1e-12)


def column_tier(values: dict[str, Any], table: Table, column: str) -> str | None:
    """The tier of one cell: derived when a formula makes it, else the row's tier; None when the cell is empty or
    the row has no tier."""
    if values.get(column) is None:
        return None
    if column in derived_columns(values, table):
        return "derived"
    for group in OWN_SOURCES:
        if column in group.cells and values.get(group.tier_column) in TIERS:
            return values[group.tier_column]
    tier = values.get("provenance")
    return tier if tier in TIERS else None
