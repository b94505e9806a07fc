"""Eval sets: the file format, its validation (every problem, per row, before anything is sent) and the built-in
starter set. The format is documented in data/evals/README.md; COLUMNS below is the single declaration of it.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from modelmatch import settings
from modelmatch.evals.numbers import parse_expected_number, parse_tolerance
from modelmatch.evals.scoring import (
    ALTERNATIVE_SEPARATOR,
    SCORERS,
    alternatives,
    compile_user_regex,
)


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    help: str


COLUMNS: tuple[Column, ...] = (
    Column("id", True, "unique id of the item, e.g. math-01-th (letters, digits, . _ - : only)"),
    Column("language", True, "language of the prompt: en, zh, th, vi, id, or another code like ja or pt-BR"),
    Column("prompt", True, "the question, sent as the user message"),
    Column("expected", True, "the expected answer; for exact, contains and choice several accepted answers are "
                             "separated by |; for regex a pattern; for numeric one number (42, -3.5, 7/2)"),
    Column("scorer", True, f"how the answer is checked: {', '.join(SCORERS)}"),
    Column("group_id", False, "links translations of the same question (same group_id, one item per language)"),
    Column("system_prompt", False, "sent as the system message for this item"),
    Column("tolerance", False, "numeric only: allowed difference, absolute (0.01) or relative (1%); empty = exact"),
    Column("category", False, "free label for breaking results down, e.g. math, facts, instructions"),
    Column("notes", False, "free text, not sent to models"),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
REQUIRED = tuple(c.name for c in COLUMNS if c.required)
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
MAX_PROMPT_CHARS = 100_000
# Answers are short; a longer expected value is refused before it is read as a number or compiled as a pattern
# (compiling is pure-Python work that grows with the pattern, on the page's thread).
MAX_EXPECTED_CHARS = 10_000
# CSV records read (blank ones included) per allowed item before a file is refused: blank lines between items
# are common, millions of them are not, and each one costs the page's thread a Python loop step.
RECORDS_PER_ITEM = 4
STARTER_DIR = settings.REPO_ROOT / "data" / "evals"
STARTER_SET = "starter"
EXAMPLE_CSV = ('id,language,group_id,scorer,expected,tolerance,prompt\n'
               'q1-en,en,q1,numeric,12,,"A box holds 3 rows of 4 eggs. How many eggs are in the box?"\n'
               'q1-th,th,q1,numeric,12,,"กล่องหนึ่งมีไข่ 3 แถว แถวละ 4 ฟอง ในกล่องมีไข่กี่ฟอง"\n'
               'q2-en,en,,choice,B,,"Which is a mammal?\nA) Shark\nB) Dolphin\nC) Trout"\n'
               'q3-en,en,,exact,Au,,"What is the chemical symbol for gold?"\n')
# The starter set is tab-separated: the catalog's validator treats every *.csv under data/ as a table file.
BUILT_IN = {STARTER_SET: STARTER_DIR / "starter.tsv"}


@dataclass(frozen=True)
class EvalItem:
    item_id: str
    language: str
    prompt: str
    expected: str
    scorer: str
    group_id: str = ""
    system_prompt: str = ""
    tolerance: str = ""
    category: str = ""
    line: int = 0


@dataclass(frozen=True)
class Problem:
    line: int  # 0 = the whole file
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}" + (f", column {self.column}" if self.column else "") + f": {self.message}"


@dataclass
class EvalSet:
    name: str
    items: list[EvalItem]
    sha256: str
    source: str  # "built-in starter", "upload foo.csv", a file path

    @property
    def languages(self) -> list[str]:
        """In the order the set first uses them (the starter set: en, zh, th, vi, id)."""
        return list(dict.fromkeys(i.language for i in self.items))

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(i.category for i in self.items if i.category))

    def subset(self, languages: list[str] | None = None, categories: list[str] | None = None,
               max_groups: int | None = None) -> "EvalSet":
        """Items in the given languages/categories; max_groups keeps the first N groups (items without a group
        count as their own group), so every kept question keeps all its translations."""
        items = [i for i in self.items if (not languages or i.language in languages)
                 and (not categories or i.category in categories)]
        if max_groups is not None:
            kept: list[str] = []
            for item in items:
                key = item.group_id or f"\0{item.item_id}"
                if key not in kept:
                    kept.append(key)
            allowed = set(kept[:max_groups])
            items = [i for i in items if (i.group_id or f"\0{i.item_id}") in allowed]
        return EvalSet(self.name, items, self.sha256, self.source)


@dataclass
class LoadResult:
    eval_set: EvalSet | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.eval_set is not None and not self.problems


def max_file_bytes() -> int:
    return int(settings.value("eval_max_file_mb") * 1024 * 1024)


def max_items() -> int:
    return settings.value("eval_max_items")


def max_records() -> int:
    return RECORDS_PER_ITEM * max_items() + 1  # the header too


def _delimiter(name: str, text: str) -> str:
    if name.lower().endswith(".tsv"):
        return "\t"
    if name.lower().endswith(".csv"):
        return ","
    first = text.split("\n", 1)[0]
    return "\t" if first.count("\t") > first.count(",") else ","


def parse_eval_set(data: bytes, name: str, source: str) -> LoadResult:
    """Validate and parse an eval set (CSV, or TSV for names ending .tsv). Every problem is reported."""
    limit = max_file_bytes()
    if len(data) > limit:
        return LoadResult(None, [Problem(0, "", f"the file is {len(data) / 1024 / 1024:,.1f} MB; eval sets are "
                                                f"limited to {limit / 1024 / 1024:,.0f} MB "
                                                "(MODELMATCH_EVAL_MAX_FILE_MB); nothing was read")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return LoadResult(None, [Problem(line, "", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")])
    if "\x00" in text:
        return LoadResult(None, [Problem(0, "", "the file contains NUL bytes: is it a spreadsheet, not CSV?")])
    if not text.strip():
        return LoadResult(None, [Problem(0, "", "the file is empty; it needs a header row: "
                                                + ",".join(REQUIRED))])
    delimiter = _delimiter(name, text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    problems: list[Problem] = []
    first_row: list[str] = []
    record_limit, item_limit = max_records(), max_items()  # read once: a setting costs an environment look-up
    try:
        # One strict pass that keeps no rows and stops at the record limit: the page's thread does at most
        # max_records() loop steps here whatever the file holds (20 MB of blank lines were 20 million).
        for number, row in enumerate(reader):
            if number == 0:
                first_row = row
            elif number >= record_limit:
                return LoadResult(None, [Problem(reader.line_num, "", f"more than {record_limit - 1:,} rows, blank "
                                                 f"ones included ({RECORDS_PER_ITEM} per item allowed by "
                                                 "MODELMATCH_EVAL_MAX_ITEMS); split the set")])
    except csv.Error as exc:
        return LoadResult(None, [Problem(reader.line_num, "", f"not valid CSV: {exc}")])
    header = [h.strip() for h in first_row]
    header_problems = _check_header(header)
    if header_problems:
        return LoadResult(None, header_problems)
    items: list[EvalItem] = []
    seen_ids: dict[str, int] = {}
    group_languages: dict[tuple[str, str], int] = {}
    group_expected: dict[str, tuple[str, str, int]] = {}
    line = 1
    # csv.reader counts physical lines; track them so quoted multi-line prompts report the right line.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    count = 0
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        if not any(cell.strip() for cell in row):
            continue
        count += 1
        if count > item_limit:
            problems.append(Problem(line, "", f"more than {item_limit:,} items (MODELMATCH_EVAL_MAX_ITEMS); "
                                              "split the set"))
            break
        if len(row) != len(header):
            problems.append(Problem(line, "", f"the row has {len(row)} fields but the header has {len(header)} "
                                              "(a missing quote or an extra separator?)"))
            continue
        values = {h: cell for h, cell in zip(header, row)}
        item, row_problems = _check_row(values, line)
        raw_id = (values.get("id") or "").strip()
        if raw_id and raw_id in seen_ids:  # checked for every row, also one with other problems
            row_problems.insert(0, Problem(line, "id", f"duplicate id {raw_id!r} (first on line {seen_ids[raw_id]})"))
            item = None
        elif raw_id:
            seen_ids[raw_id] = line
        problems.extend(row_problems)
        if item is None:
            continue
        if item.group_id:
            key = (item.group_id, item.language)
            if key in group_languages:
                problems.append(Problem(line, "group_id", f"group {item.group_id!r} already has a "
                                                          f"{item.language!r} item (line {group_languages[key]}); "
                                                          "a group holds one item per language"))
            group_languages.setdefault(key, line)
            if item.scorer in ("numeric", "choice"):
                first = group_expected.setdefault(item.group_id, (item.scorer, _canonical(item), line))
                if first[:2] != (item.scorer, _canonical(item)):
                    problems.append(Problem(line, "expected", f"group {item.group_id!r} expects {first[1]!r} "
                                                              f"({first[0]}) on line {first[2]} but "
                                                              f"{_canonical(item)!r} ({item.scorer}) here; "
                                                              "translations must keep the same answer (and "
                                                              "the same option letters)"))
        items.append(item)
    if not items and not problems:
        problems.append(Problem(0, "", "the file has a header but no items"))
    digest = hashlib.sha256(data).hexdigest()
    set_name = Path(name).stem or "eval set"
    if problems:
        return LoadResult(None, problems)
    return LoadResult(EvalSet(set_name, items, digest, source), [])


def _canonical(item: EvalItem) -> str:
    if item.scorer == "numeric":
        value = parse_expected_number(item.expected)
        return str(value) if value is not None else item.expected
    return "|".join(sorted(a.upper() for a in alternatives(item.expected)))


def _check_header(header: list[str]) -> list[Problem]:
    problems = []
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        problems.append(Problem(1, "", f"column(s) named twice: {', '.join(duplicates)}"))
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        problems.append(Problem(1, "", f"missing column(s): {', '.join(missing)}; the header needs "
                                       f"{', '.join(REQUIRED)} (optional: "
                                       f"{', '.join(c.name for c in COLUMNS if not c.required)})"))
    unknown = [h for h in header if h not in COLUMN_NAMES]
    if unknown:
        problems.append(Problem(1, "", f"unknown column(s): {', '.join(repr(u) for u in unknown)}; allowed: "
                                       f"{', '.join(COLUMN_NAMES)}"))
    return problems


def _check_row(values: dict[str, str], line: int) -> tuple[EvalItem | None, list[Problem]]:
    problems: list[Problem] = []
    get = lambda key: (values.get(key) or "")  # noqa: E731
    item_id = get("id").strip()
    language = get("language").strip()
    prompt = get("prompt")
    expected = get("expected").strip()
    scorer = get("scorer").strip().lower()
    tolerance = get("tolerance").strip()
    group_id = get("group_id").strip()
    if not item_id:
        problems.append(Problem(line, "id", "empty id"))
    elif not ID_RE.match(item_id):
        problems.append(Problem(line, "id", f"id {item_id[:40]!r} may use only letters, digits and . _ - : "
                                            "(up to 100 characters)"))
    if not language:
        problems.append(Problem(line, "language", "empty language; use a code such as en, zh, th, vi, id"))
    elif not LANGUAGE_RE.match(language):
        problems.append(Problem(line, "language", f"{language[:20]!r} is not a language code such as en, zh, th, "
                                                  "vi, id or pt-BR"))
    if not prompt.strip():
        problems.append(Problem(line, "prompt", "empty prompt"))
    elif len(prompt) > MAX_PROMPT_CHARS:
        problems.append(Problem(line, "prompt", f"prompt is {len(prompt):,} characters; the limit is "
                                                f"{MAX_PROMPT_CHARS:,}"))
    if len(get("system_prompt")) > MAX_PROMPT_CHARS:
        problems.append(Problem(line, "system_prompt", f"system prompt over {MAX_PROMPT_CHARS:,} characters"))
    if group_id and not ID_RE.match(group_id):
        problems.append(Problem(line, "group_id", f"group_id {group_id[:40]!r} may use only letters, digits and "
                                                  ". _ - :"))
    if scorer not in SCORERS:
        shown = repr(get("scorer").strip()[:30]) if scorer else "empty"
        problems.append(Problem(line, "scorer", f"unknown scorer {shown}; use one of {', '.join(SCORERS)}"))
    if not expected:
        problems.append(Problem(line, "expected", "empty expected answer"))
    elif len(expected) > MAX_EXPECTED_CHARS:
        problems.append(Problem(line, "expected", f"expected answer is {len(expected):,} characters; the limit is "
                                                  f"{MAX_EXPECTED_CHARS:,}"))
    elif scorer == "numeric":
        if parse_expected_number(expected) is None:
            problems.append(Problem(line, "expected", f"{expected[:40]!r} is not a number; write it plainly: 42, "
                                                      "-3.5, 1234.5 or 7/2 (no thousands separators or units)"))
    elif scorer == "regex":
        try:
            compile_user_regex(expected)
        except Exception as exc:  # re.error or regex.error
            problems.append(Problem(line, "expected", f"the regex does not compile: {exc}"))
    elif scorer == "choice":
        bad = [a for a in alternatives(expected) if not re.fullmatch(r"[A-Za-z]", a)]
        if bad:
            problems.append(Problem(line, "expected", f"choice answers are option letters (A, B, C...; several "
                                                      f"as A{ALTERNATIVE_SEPARATOR}B), got {bad[0][:20]!r}"))
    if tolerance:
        if scorer != "numeric":
            problems.append(Problem(line, "tolerance", "tolerance applies only to the numeric scorer"))
        elif parse_tolerance(tolerance) is None:
            problems.append(Problem(line, "tolerance", f"{tolerance[:20]!r} is not a tolerance: write 0.01 "
                                                       "(absolute) or 1% (relative)"))
    if problems:
        return None, problems
    return EvalItem(item_id, language, prompt, expected, scorer, group_id, get("system_prompt"), tolerance,
                    get("category").strip(), line), []


def load_path(path: Path) -> LoadResult:
    """A set from a file on this machine (CLI). The size is checked before the file is read."""
    path = Path(path)
    if not path.is_file():
        return LoadResult(None, [Problem(0, "", f"{path}: no such file")])
    size = path.stat().st_size
    if size > max_file_bytes():
        return LoadResult(None, [Problem(0, "", f"{path.name} is {size / 1024 / 1024:,.1f} MB; eval sets are "
                                                f"limited to {max_file_bytes() / 1024 / 1024:,.0f} MB "
                                                "(MODELMATCH_EVAL_MAX_FILE_MB); nothing was read")])
    return parse_eval_set(path.read_bytes(), path.name, str(path))


def load_builtin(name: str = STARTER_SET) -> EvalSet:
    path = BUILT_IN[name]
    stat = path.stat()
    result = _parsed_builtin(path, stat.st_mtime_ns, stat.st_size)
    if not result.ok:
        raise ValueError(f"built-in set {name!r} is invalid: {'; '.join(str(p) for p in result.problems[:5])}")
    assert result.eval_set is not None
    # A set of its own per caller (its item list included); the items themselves are frozen and shared.
    return EvalSet(name, list(result.eval_set.items), result.eval_set.sha256, f"built-in {name} set")


@functools.lru_cache(maxsize=4)
def _parsed_builtin(path: Path, mtime_ns: int, size: int) -> LoadResult:
    """A built-in set parsed once per version of its file: the Evals page showed it by parsing and checking every
    row again on each rerun (a third of the page's warm rerun). Keyed by the file's mtime and size, so an edited set
    is parsed again."""
    return load_path(path)


def load_named(spec: str) -> LoadResult:
    """'starter' (a built-in set) or a path."""
    if spec in BUILT_IN:
        return LoadResult(load_builtin(spec))
    return load_path(Path(spec))


# ---------------------------------------------------------------------------------------------------------------
# What is sent: the item's prompt plus, in the prompt's language, the request for a final "ANSWER:" line.

ANSWER_INSTRUCTIONS: dict[str, dict[str, str]] = {
    "en": {
        "generic": 'End your reply with one line of the form "ANSWER: <your answer>".',
        "numeric": 'End your reply with one line of the form "ANSWER: <number>", giving only the number (no units).',
        "choice": 'End your reply with one line of the form "ANSWER: <letter>", giving only the letter of your '
                  'choice.',
    },
    "zh": {
        "generic": "请在回复的最后单独写一行，格式为“ANSWER: <你的答案>”。",
        "numeric": "请在回复的最后单独写一行，格式为“ANSWER: <数字>”，只写数字，不要写单位。",
        "choice": "请在回复的最后单独写一行，格式为“ANSWER: <字母>”，只写所选选项的字母。",
    },
    "th": {
        "generic": 'ให้จบคำตอบด้วยบรรทัดเดียวในรูปแบบ "ANSWER: <คำตอบของคุณ>"',
        "numeric": 'ให้จบคำตอบด้วยบรรทัดเดียวในรูปแบบ "ANSWER: <ตัวเลข>" โดยเขียนเฉพาะตัวเลข ไม่ต้องมีหน่วย',
        "choice": 'ให้จบคำตอบด้วยบรรทัดเดียวในรูปแบบ "ANSWER: <ตัวอักษร>" โดยเขียนเฉพาะตัวอักษรของตัวเลือกที่เลือก',
    },
    "vi": {
        "generic": 'Hãy kết thúc câu trả lời bằng một dòng riêng theo dạng "ANSWER: <câu trả lời của bạn>".',
        "numeric": 'Hãy kết thúc câu trả lời bằng một dòng riêng theo dạng "ANSWER: <số>", chỉ ghi con số, không '
                   'ghi đơn vị.',
        "choice": 'Hãy kết thúc câu trả lời bằng một dòng riêng theo dạng "ANSWER: <chữ cái>", chỉ ghi chữ cái của '
                  'phương án bạn chọn.',
    },
    "id": {
        "generic": 'Akhiri jawaban Anda dengan satu baris tersendiri dalam format "ANSWER: <jawaban Anda>".',
        "numeric": 'Akhiri jawaban Anda dengan satu baris tersendiri dalam format "ANSWER: <angka>", hanya angkanya '
                   'saja tanpa satuan.',
        "choice": 'Akhiri jawaban Anda dengan satu baris tersendiri dalam format "ANSWER: <huruf>", hanya huruf '
                  'pilihan Anda.',
    },
}


def sent_prompt(item: EvalItem, add_answer_instruction: bool = True) -> str:
    """The user message for an item. regex items are sent as written: their pattern checks the whole reply."""
    if not add_answer_instruction or item.scorer == "regex":
        return item.prompt
    texts = ANSWER_INSTRUCTIONS.get(item.language.split("-")[0].lower(), ANSWER_INSTRUCTIONS["en"])
    kind = item.scorer if item.scorer in ("numeric", "choice") else "generic"
    return f"{item.prompt.rstrip()}\n\n{texts[kind]}"
