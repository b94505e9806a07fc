"""Answer extraction, number reading and scorers on hand-written replies, including the tricky formats; the
consistency metric and the Wilson interval on constructed examples; the script-based language guess."""

from __future__ import annotations

from fractions import Fraction

import pytest

from modelmatch.evals.numbers import (
    chinese_numeral_value,
    parse_expected_number,
    parse_tolerance,
    read_answer_number,
    read_numbers,
)
from modelmatch.evals.scoring import detect_language, final_answer, language_switch, score_reply
from modelmatch.evals.stats import consistency, wilson_interval


def values(text: str) -> list[list[Fraction]]:
    return [list(r.values) for r in read_numbers(text)]


@pytest.mark.parametrize("text, expected", [
    ("1,234.5", [Fraction("1234.5")]),
    ("1.234,5", [Fraction("1234.5")]),
    ("1 234,5", [Fraction("1234.5")]),
    ("1\u00a0234,5", [Fraction("1234.5")]),  # no-break space
    ("1\u202f234\u202f567", [Fraction(1234567)]),  # narrow no-break space (French style)
    ("1,234,567", [Fraction(1234567)]),
    ("1.234.567", [Fraction(1234567)]),
    ("12,5", [Fraction("12.5")]),  # one separator, not three digits after: a decimal comma
    ("0,500", [Fraction("0.5")]),
    ("1234,567", [Fraction("1234.567")]),  # four digits before: cannot be grouping
    ("½", [Fraction(1, 2)]),
    ("3½", [Fraction(7, 2)]),  # NFKC would make this 31/2
    ("2 ¾", [Fraction(11, 4)]),
    ("3 1/2", [Fraction(7, 2)]),
    ("3/4", [Fraction(3, 4)]),
    ("－５", [Fraction(-5)]),  # full-width minus and digit
    ("４２", [Fraction(42)]),  # full-width digits
    ("−105", [Fraction(-105)]),  # U+2212 minus sign
    ("๑,๒๓๔", [Fraction(1234), Fraction("1.234")]),  # Thai digits
    ("1.2万", [Fraction(12000)]),
    ("3亿", [Fraction(300_000_000)]),
])
def test_read_number_formats(text, expected):
    assert values(text) == [expected]


def test_ambiguous_single_separator_keeps_both_readings():
    reading = read_numbers("1,234")[0]
    assert reading.ambiguous and set(reading.values) == {Fraction(1234), Fraction("1.234")}
    reading = read_numbers("Rp 12.500")[0]
    assert set(reading.values) == {Fraction(12500), Fraction("12.5")}


def test_thousands_separators_inside_thai_and_chinese_text():
    assert values("ดังนั้นเธอได้เงิน 1,056 ดอลลาร์") == [[Fraction(1056), Fraction("1.056")]]
    assert values("所以一共是1,020美元。") == [[Fraction(1020), Fraction("1.02")]]
    # The full-width comma separates clauses in Chinese: "35%是红色的，25%" is two numbers, not 35.25.
    assert values("其中35%是红色的，25%是蓝色的") == [[Fraction(35)], [Fraction(25)]]


def test_numbers_that_are_not_quantities_are_not_merged():
    assert values("H2O and 5²") == [[Fraction(5)]]  # a formula's digit, a superscript: not read as 52
    assert values("on 2024-05-01") == [[Fraction(2024)], [Fraction(5)], [Fraction(1)]]


@pytest.mark.parametrize("text, value", [
    ("三百二十五", 325), ("两千零五", 2005), ("十五", 15), ("一千零五", 1005), ("三亿五千万", 350_000_000),
    ("十", 10), ("零", 0),
])
def test_chinese_numerals(text, value):
    assert chinese_numeral_value(text) == value


def test_answer_line_with_chinese_numerals_only():
    assert read_answer_number("三百二十五个").values == (Fraction(325),)


def test_answer_number_after_last_equals_sign():
    assert read_answer_number("5 × 8 = 40").values == (Fraction(40),)
    assert read_answer_number("40 apples (5 boxes)").values == (Fraction(40),)


@pytest.mark.parametrize("content, expected, correct, extraction", [
    ("Step by step... 24 - 9 = 15, 15 + 15 = 30.\nANSWER: 30", "30", True, "answer-line"),
    ("ANSWER: **1,234.5**", "1234.5", True, "answer-line"),
    ("ANSWER: $1,020", "1020", True, "answer-line"),
    ("Jadi harganya Rp 12.500.\nANSWER: 12.500", "12500", True, "answer-line"),
    ("Vậy mỗi đoạn dài 2,4 mét.\nANSWER: 2,4", "2.4", True, "answer-line"),
    ("ANSWER: ½", "0.5", True, "answer-line"),
    ("ANSWER: 3½", "3.5", True, "answer-line"),
    ("ANSWER: −105", "-105", True, "answer-line"),
    ("答案：１２０", "120", True, "answer-line"),  # translated marker, full-width digits
    ("คำตอบ: ๑๒๐", "120", True, "answer-line"),  # Thai marker, Thai digits
    ("Đáp án: 120", "120", True, "answer-line"),
    ("Jawaban: 120", "120", True, "answer-line"),
    ("ANSWER:\n\n42", "42", True, "answer-line"),  # the number on the next line
    ("The answer is \\boxed{42}.", "42", True, "boxed"),
    ("ANSWER: 41", "42", False, "answer-line"),
    ("ANSWER: 100,000", "100000", True, "answer-line"),
    ("ANSWER: 10万", "100000", True, "answer-line"),
])
def test_numeric_scorer(content, expected, correct, extraction):
    score = score_reply(content, expected, "numeric")
    assert score.correct is correct, score
    assert score.extraction == extraction


def test_answer_inside_think_is_never_used():
    # The thinking says 41; the final answer says 42: only the answer counts.
    score = score_reply("<think>Maybe ANSWER: 41? No.</think>\nThe total is 42.\nANSWER: 42", "42", "numeric")
    assert score.correct and score.extracted == "42"
    wrong = score_reply("<think>ANSWER: 42</think>\nANSWER: 41", "42", "numeric")
    assert not wrong.correct and wrong.answer_key == "41"


def test_reply_cut_off_inside_its_thinking_has_no_answer():
    score = score_reply("<think>Let me compute 6 x 7 = 42. ANSWER: 42", "42", "numeric")
    assert not score.correct and score.answer_key is None
    assert "ended inside its thinking" in score.note


def test_thinking_without_opening_tag_is_dropped():
    # DeepSeek-R1 distills: the template opens <think>, so the reply starts mid-thought and only closes it.
    score = score_reply("ANSWER: 41 is wrong...</think>ANSWER: 42", "42", "numeric")
    assert score.correct


def test_fallback_to_last_number_is_flagged():
    score = score_reply("She has 24 - 9 + 15 = 30 apples.", "30", "numeric")
    assert score.correct and score.extraction == "last-number" and "no number on an ANSWER line" in score.note


def test_last_answer_line_wins():
    assert score_reply("ANSWER: 12\nWait, I made a mistake.\nANSWER: 13", "13", "numeric").correct


def test_instruction_echo_is_not_the_answer():
    reply = 'I will end with "ANSWER: <number>" as asked.\n3 + 4 = 7\nANSWER: 7'
    assert score_reply(reply, "7", "numeric").correct


def test_numeric_tolerance():
    assert score_reply("ANSWER: 3.14", "3.14159", "numeric", "0.01").correct
    assert not score_reply("ANSWER: 3.1", "3.14159", "numeric", "0.01").correct
    assert score_reply("ANSWER: 101", "100", "numeric", "1%").correct
    assert not score_reply("ANSWER: 102", "100", "numeric", "1%").correct
    assert not score_reply("ANSWER: 100.5", "100", "numeric").correct  # no tolerance: exact


def test_parse_tolerance_and_expected():
    assert parse_tolerance("") is not None and parse_tolerance("0.5") is not None and parse_tolerance("2%")
    assert parse_tolerance("abc") is None and parse_tolerance("-1") is None
    assert parse_expected_number("7/2") == Fraction(7, 2)
    assert parse_expected_number("1,234") is None  # expected answers are written plainly


@pytest.mark.parametrize("content, expected, correct", [
    ("ANSWER: B", "B", True),
    ("ANSWER: (B) Mercury", "B", True),
    ("ANSWER: **C**", "C", True),
    ("Mercury is closest.\nANSWER: B)", "B", True),
    ("ANSWER: A", "B", False),
    ("B", "B", True),  # a bare one-line reply
    ("答案：D", "D", True),
    ("ANSWER: I think B", "B", True),  # the pronoun I is not option I
    ("ANSWER: Ｂ", "B", True),  # full-width letter
    ("ANSWER: b", "B", True),
    ("ANSWER: A", "A|B", True),  # several accepted letters
])
def test_choice_scorer(content, expected, correct):
    assert score_reply(content, expected, "choice").correct is correct


@pytest.mark.parametrize("content, expected, scorer, correct", [
    ("ANSWER: Au", "Au", "exact", True),
    ("ANSWER: **au**.", "Au", "exact", True),
    ("ANSWER: H₂O", "H2O", "exact", True),  # subscript digit
    ("ANSWER: Au (gold)", "Au", "exact", False),
    ("Au", "Au", "exact", True),  # one-line reply without a marker
    ("Gold is\nAu", "Au", "exact", False),  # several lines and no marker: no answer
    ("ANSWER: Tokyo is the capital.", "Tokyo|東京|东京|โตเกียว", "contains", True),
    ("ANSWER: เมืองหลวงคือโตเกียว", "Tokyo|東京|东京|โตเกียว", "contains", True),
    ("日本的首都是东京。", "Tokyo|東京|东京|โตเกียว", "contains", True),
    ("ANSWER: Osaka", "Tokyo|東京|东京|โตเกียว", "contains", False),
])
def test_text_scorers(content, expected, scorer, correct):
    assert score_reply(content, expected, scorer).correct is correct


def test_regex_scorer_checks_the_whole_reply_without_thinking():
    pattern = r"^\W*YES\W*$"
    assert score_reply("YES", pattern, "regex").correct
    assert score_reply("<think>should I say no?</think>\n**YES**", pattern, "regex").correct
    assert not score_reply("Yes, of course.", pattern, "regex").correct


def test_regex_scorer_stops_a_pathological_pattern():
    score = score_reply("a" * 40 + "!", r"^(a|aa)+$", "regex")  # exponential backtracking
    assert not score.correct and "stopped" in score.note


def test_final_answer_methods():
    assert final_answer("no marker at all").method == "none"
    assert final_answer("**Final answer:** 42").text == "42"
    assert final_answer("Final Answer: 42").method == "answer-line"


@pytest.mark.parametrize("text, language", [
    ("So she has 30 apples left, and that is the answer.", "en"),
    ("Jadi jumlah apel yang tersisa adalah 30 buah.", "id"),
    ("Vậy số táo còn lại là 30 quả.", "vi"),
    ("所以她还剩30个苹果。", "zh"),
    ("ดังนั้นเธอเหลือแอปเปิล 30 ผล", "th"),
    ("ANSWER: 30", None),  # too little text to tell
])
def test_detect_language(text, language):
    assert detect_language(text).language == language


def test_language_switch():
    assert language_switch("th", "So the answer is 30 apples in total.\nANSWER: 30") == ("en", True)
    assert language_switch("th", "ดังนั้นคำตอบคือ 30 ผล\nANSWER: 30") == ("th", False)
    assert language_switch("th", "ANSWER: 30")[1] is None  # number only: not judged
    assert language_switch("sw", "Jibu ni 30")[1] is None  # Swahili: not a detectable language


def test_consistency_on_a_constructed_example():
    # Three questions in en/zh/th. Keys: numeric answers by value; None = no comparable answer.
    answers = [
        ("q1", "en", "30"), ("q1", "zh", "30"), ("q1", "th", "30"),  # all agree (2 pairs agree)
        ("q2", "en", "12"), ("q2", "zh", "12"), ("q2", "th", "13"),  # th differs (1 agree, 1 differs)
        ("q3", "en", None), ("q3", "zh", "7"), ("q3", "th", None),  # en no answer: zh differs; th vs en not comparable
        ("q4", "zh", "5"),  # a question with one language: no pair
    ]
    result = consistency(answers, "en")
    assert (result.agree, result.compared) == (3, 5)
    assert result.score == pytest.approx(3 / 5)
    # Groups with 2+ answers: q1 agrees; q2 and q3 do not.
    assert (result.groups_all_agree, result.groups_compared) == (1, 3)


def test_consistency_counts_a_right_and_a_wrong_free_text_answer_as_different():
    answers = [("g", "en", "correct"), ("g", "th", None), ("h", "en", None), ("h", "th", None)]
    result = consistency(answers, "en")
    assert (result.agree, result.compared) == (0, 1)  # h: two wrong free-text answers cannot be compared


def test_wilson_interval_known_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)
    low, high = wilson_interval(0, 5)
    assert low == 0 and high == pytest.approx(0.4345, abs=1e-4)
    low, high = wilson_interval(5, 5)
    assert high == 1 and low == pytest.approx(0.5655, abs=1e-4)
