"""Eval set files: every problem is reported per row before anything is sent; the built-in starter set is complete,
its answers are recomputed here from formulas written apart from the file, and its translations keep every number."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from ingest.validate import validate
from modelmatch.evals.numbers import parse_expected_number, read_numbers
from modelmatch.evals.sets import EXAMPLE_CSV, load_builtin, load_path, parse_eval_set, sent_prompt
from tests.conftest import REPO_ROOT

HEADER = "id,language,prompt,expected,scorer,group_id,tolerance\n"


def problems(text: str, name: str = "set.csv") -> list[str]:
    result = parse_eval_set(text.encode("utf-8"), name, name)
    assert result.eval_set is None or not result.problems
    return [str(p) for p in result.problems]


def test_a_good_file_parses():
    result = parse_eval_set((HEADER + 'q1-en,en,"Two plus two?",4,numeric,q1,\n'
                                      'q1-th,th,"สองบวกสอง",4,numeric,q1,0.5\n'
                                      'q2,en,"Pick one:\nA) x\nB) y",B,choice,,\n').encode(), "s.csv", "s.csv")
    assert result.ok
    items = result.eval_set.items
    assert [i.item_id for i in items] == ["q1-en", "q1-th", "q2"]
    assert items[2].prompt == "Pick one:\nA) x\nB) y" and items[1].tolerance == "0.5"
    assert items[2].line == 4  # line numbers count physical lines (q2 starts on line 4)


def test_every_bad_row_is_reported_with_its_line_and_column():
    text = (HEADER
            + 'a,en,"ok",4,numeric,,\n'  # line 2: fine
            + 'a,en,"dup",4,numeric,,\n'  # line 3: duplicate id
            + 'b,en,"x",4,fuzzy,,\n'  # line 4: unknown scorer
            + 'c,en,"   ",4,numeric,,\n'  # line 5: empty prompt
            + 'd,en,"x",(unclosed,regex,,\n'  # line 6: regex does not compile
            + 'e,en,"x",four,numeric,,\n'  # line 7: not a number
            + 'f,,"x",4,numeric,,\n'  # line 8: empty language
            + 'g,en,"x",4,exact,,0.1\n'  # line 9: tolerance on a non-numeric scorer
            + 'h,en,"x",AB,choice,,\n'  # line 10: choice must be a letter
            + 'i,en,"x",,exact,,\n'  # line 11: empty expected
            + 'j,en,"x",4,numeric,,\n'
            + 'k,en,"x",4,numeric\n'  # line 13: too few fields
            + 'bad id!,en,"x",4,numeric,,\n')  # line 14: id characters
    found = problems(text)
    expected = [
        ("line 3, column id", "duplicate id 'a' (first on line 2)"),
        ("line 4, column scorer", "unknown scorer 'fuzzy'"),
        ("line 5, column prompt", "empty prompt"),
        ("line 6, column expected", "the regex does not compile"),
        ("line 7, column expected", "'four' is not a number"),
        ("line 8, column language", "empty language"),
        ("line 9, column tolerance", "only to the numeric scorer"),
        ("line 10, column expected", "option letters"),
        ("line 11, column expected", "empty expected answer"),
        ("line 13", "the row has 5 fields but the header has 7"),
        ("line 14, column id", "may use only letters"),
    ]
    for where, what in expected:
        assert any(p.startswith(where) and what in p for p in found), (where, what, found)
    assert len(found) == len(expected), found


def test_missing_and_unknown_columns():
    found = problems("id,language,prompt,answer\nx,en,hi,4\n")
    assert any("missing column(s): expected, scorer" in p for p in found)
    assert any("unknown column(s): 'answer'" in p for p in found)


def test_group_rules():
    found = problems(HEADER + 'a,en,"x",4,numeric,g,\nb,en,"y",4,numeric,g,\nc,th,"z",5,numeric,g,\n')
    assert any(p.startswith("line 3, column group_id") and "already has a 'en' item (line 2)" in p for p in found)
    assert any(p.startswith("line 4, column expected") and "translations must keep the same answer" in p
               for p in found)


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"id,language,prompt,expected,scorer\n", "a header but no items"),
    (b"\xff\xfe\x00i\x00d", "not UTF-8"),
    ('id,language,prompt,expected,scorer\nx,en,"unclosed,4,exact\n'.encode(), "not valid CSV"),
])
def test_unreadable_files(data, message):
    result = parse_eval_set(data, "s.csv", "s.csv")
    assert not result.ok and message in str(result.problems[0])


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELMATCH_EVAL_MAX_FILE_MB", "1")
    big = tmp_path / "big.csv"
    with big.open("wb") as f:  # 100 MB, sparse: the loader must refuse it from its size alone
        f.truncate(100 * 1024 * 1024)
    result = load_path(big)
    assert not result.ok and "100.0 MB" in str(result.problems[0]) and "nothing was read" in str(result.problems[0])
    in_memory = parse_eval_set(b"x" * (1024 * 1024 + 1), "big.csv", "upload")
    assert not in_memory.ok and "limited to 1 MB" in str(in_memory.problems[0])


def test_the_documented_examples_are_valid():
    assert parse_eval_set(EXAMPLE_CSV.encode(), "example.csv", "page").ok
    readme = (REPO_ROOT / "data" / "evals" / "README.md").read_text(encoding="utf-8")
    block = readme.split("Example:\n\n```\n", 1)[1].split("```", 1)[0]
    assert parse_eval_set(block.encode(), "readme.csv", "readme").ok


def test_tsv_by_extension_and_bom():
    data = "\ufeffid\tlanguage\tprompt\texpected\tscorer\nx\ten\tHello, world?\t4\tnumeric\n".encode("utf-8")
    result = parse_eval_set(data, "s.tsv", "s.tsv")
    assert result.ok and result.eval_set.items[0].prompt == "Hello, world?"


def test_answer_instruction_is_in_the_prompts_language():
    item = parse_eval_set((HEADER + 'a,th,"สองบวกสอง",4,numeric,,\nb,en,"Say YES",^YES$,regex,,\n'
                                     'c,pt-BR,"Dois mais dois",4,numeric,,\n').encode(), "s.csv", "s").eval_set.items
    assert sent_prompt(item[0]).endswith('"ANSWER: <ตัวเลข>" โดยเขียนเฉพาะตัวเลข ไม่ต้องมีหน่วย')
    assert sent_prompt(item[1]) == "Say YES"  # regex items are sent as written
    assert "ANSWER: <number>" in sent_prompt(item[2])  # no translation for Portuguese: English instruction
    assert sent_prompt(item[0], add_answer_instruction=False) == "สองบวกสอง"


# ---------------------------------------------------------------------------------------------------------------
# The starter set

LANGUAGES = {"en", "zh", "th", "vi", "id"}
# Each answer recomputed from the English wording, written apart from data/evals/starter.tsv.
MATH_ANSWERS = {
    1: 24 - 9 + 15, 2: 12 * 35, 3: 80 * 3 + 60 * 2, 4: 100 - (2 * 18 + 47), 5: 14 * 9, 6: Fraction(156, 12),
    7: 7 * 18 - 95, 8: Fraction(400, 25), 9: 1500 - 1500 * Fraction(2, 5), 10: 38 - 12 + 7 - 9 + 15,
    11: Fraction(35, 10) * 6, 12: 48 * 4, 13: 2 * 12 + 3 * 7, 14: Fraction(96, 10) / 4, 15: Fraction(595, 35),
    16: 32 - 32 * Fraction(3, 8), 17: 23 + 9 - 6, 18: 1200 - 1200 * Fraction(15, 100), 19: Fraction(6 * 450, 100),
    20: 5 * 28 + 3 * 34, 21: 18 * 24 - 379, 22: Fraction(250 * 36, 10), 23: Fraction(12, 10) * 2 * 5,
    24: 22 * 8 * 6, 25: Fraction(3750, 250), 26: Fraction(85 + 17, 2), 27: -(-(6 * 3) // 8),
    28: 4 * Fraction(20, 2),  # L = 4s and L + 20 = 2(s + 20)  =>  s = 20 / 2 = 10, L = 40
    29: (Fraction(275, 10) - 15) / Fraction(25, 100), 30: (64 // 4) ** 2, 31: 240 * Fraction(100 - 35 - 25, 100),
    32: Fraction(18, 45) * 120, 33: -120 + 45 - 30, 34: 1250 * 16 * 5,
}


@pytest.fixture(scope="module")
def starter():
    return load_builtin()


def test_starter_set_size_and_languages(starter):
    groups: dict[str, dict[str, object]] = {}
    for item in starter.items:
        groups.setdefault(item.group_id, {})[item.language] = item
    math = [g for g in groups if g.startswith("math-")]
    assert len(math) >= 30
    assert all(set(by_language) == LANGUAGES for by_language in groups.values())
    assert {i.category for i in starter.items} == {"math", "facts", "instructions"}
    assert len([g for g in groups if g.startswith("fact-")]) >= 5
    assert len([g for g in groups if g.startswith("inst-")]) >= 3


def test_starter_math_answers_recomputed(starter):
    for item in starter.items:
        if item.category != "math":
            continue
        number = int(item.group_id.split("-")[1])
        assert parse_expected_number(item.expected) == MATH_ANSWERS[number], item.item_id
    assert len(MATH_ANSWERS) == len({i.group_id for i in starter.items if i.category == "math"})


def test_starter_translations_keep_every_number(starter):
    """Every translation states exactly the numbers of the English question (3,5 in Vietnamese = 3.5)."""
    groups: dict[str, dict[str, str]] = {}
    for item in starter.items:
        groups.setdefault(item.group_id, {})[item.language] = item.prompt

    def numbers(text: str) -> Counter:
        return Counter(tuple(sorted(r.values)) for r in read_numbers(text))

    for group, prompts in groups.items():
        for language, prompt in prompts.items():
            assert numbers(prompt) == numbers(prompts["en"]), (group, language)


def test_starter_regexes_accept_a_compliant_reply(starter):
    from modelmatch.evals.scoring import score_reply

    replies = {"inst-01": "YES", "inst-02": "1. Red\n2. Blue\n3. Green", "inst-03": '```json\n{"count": 6}\n```',
               "inst-04": "ModelMatch, ModelMatch, ModelMatch"}
    for item in starter.items:
        if item.category == "instructions":
            assert score_reply(replies[item.group_id], item.expected, "regex").correct, item.item_id
            assert not score_reply("Sure! " + replies[item.group_id], item.expected, "regex").correct, item.item_id


def test_starter_set_does_not_disturb_the_catalog_check():
    """data/evals/ holds a .tsv so that `python -m ingest check` (which rejects stray CSVs) stays clean."""
    result = validate(REPO_ROOT / "data")
    assert not [p for p in result.problems if "evals" in str(p.file)]


def test_an_upload_of_blank_lines_stops_at_the_record_limit_not_at_the_end_of_the_file(monkeypatch):
    """20 MB of blank lines after a header were 20 million steps of the page's thread (78 s on a shared core) and a
    1.7 GB list of rows. Reading now stops at RECORDS_PER_ITEM x MODELMATCH_EVAL_MAX_ITEMS records."""
    from modelmatch.evals import sets

    monkeypatch.setenv("MODELMATCH_EVAL_MAX_ITEMS", "10")  # 40 records
    head = b"id,language,scorer,expected,prompt\nq1,en,exact,yes,Say yes\n"
    assert parse_eval_set(head + b"\n" * 39, "ok.csv", "upload").ok
    refused = parse_eval_set(head + b"\n" * 10_000_000, "blank.csv", "upload")
    assert refused.eval_set is None and len(refused.problems) == 1
    assert "more than 40 rows, blank ones included" in refused.problems[0].message
    assert refused.problems[0].line == 42  # where reading stopped: far from line 10,000,002
    assert sets.max_records() == sets.RECORDS_PER_ITEM * 10 + 1


def test_an_expected_answer_over_its_limit_is_refused_before_it_is_compiled_or_read(monkeypatch):
    from modelmatch.evals import sets

    calls = []
    monkeypatch.setattr(sets, "compile_user_regex", lambda pattern: calls.append(len(pattern)))
    long_pattern = "a" * (sets.MAX_EXPECTED_CHARS + 1)
    loaded = parse_eval_set(f"id,language,scorer,expected,prompt\nq1,en,regex,{long_pattern},Say a\n".encode(),
                            "long.csv", "upload")
    assert [p.column for p in loaded.problems] == ["expected"] and "the limit is 10,000" in loaded.problems[0].message
    assert calls == []  # never compiled


def test_the_built_in_set_is_parsed_once_per_version_of_its_file_regression(tmp_path, monkeypatch):
    """The Evals page parsed and checked the starter set's every row on each rerun: it is parsed once per version
    of the file (mtime and size), each caller gets a set of its own, and an edited file is parsed again."""
    import os

    from modelmatch.evals import sets

    path = tmp_path / "starter.tsv"
    path.write_bytes(sets.BUILT_IN[sets.STARTER_SET].read_bytes())
    monkeypatch.setitem(sets.BUILT_IN, "copy", path)
    parsed: list[bytes] = []
    real = sets.parse_eval_set
    monkeypatch.setattr(sets, "parse_eval_set", lambda data, *a: parsed.append(data) or real(data, *a))
    first, second = sets.load_builtin("copy"), sets.load_builtin("copy")
    assert len(parsed) == 1
    assert first is not second and first.items is not second.items and first.items == second.items
    first.items.clear()
    assert len(sets.load_builtin("copy").items) == len(second.items) > 0  # one caller's edits reach no other
    assert first.name == "copy" and first.source == "built-in copy set"
    kept = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(kept[:-1]), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert len(sets.load_builtin("copy").items) == len(second.items) - 1 and len(parsed) == 2


def test_the_rough_token_count_counts_han_and_thai_by_their_unicode_ranges():
    """The count was a Python loop over characters; the regex version must count exactly the same ranges."""
    from modelmatch.evals.run_setup import TEMPLATE_OVERHEAD_TOKENS, typical_input_tokens

    def by_loop(text: str) -> int:
        import math
        han = sum(1 for ch in text if 0x3400 <= ord(ch) <= 0x9FFF)
        thai = sum(1 for ch in text if 0x0E00 <= ord(ch) <= 0x0E7F)
        return math.ceil(han + thai / 2 + (len(text) - han - thai) / 4) + TEMPLATE_OVERHEAD_TOKENS

    edges = "".join(chr(c) for c in (0x33FF, 0x3400, 0x4E2D, 0x9FFF, 0xA000, 0x0DFF, 0x0E00, 0x0E01, 0x0E7F, 0x0E80))
    # 3 Han (1 each), 3 Thai (2 per token), 4 others (4 per token): ceil(3 + 1.5 + 1) = 6
    assert typical_input_tokens(edges) == by_loop(edges) == 6 + TEMPLATE_OVERHEAD_TOKENS
    for item in load_builtin().items:
        assert typical_input_tokens(item.prompt) == by_loop(item.prompt), item.item_id
