"""Scoring one eval reply: find the final answer, read numbers the way people write them, compare, detect language.

The recipe (shared/seeds/003, "Evaluating Multilingual Model Quality"): ask for a final answer line, check it
against the expected answer, measure accuracy per language and whether translations of the same question get the
same answer. Each prompt asks for a last line "ANSWER: ..."; a reasoning model's thinking is never searched, only
its final answer.

Numbers are read with the formats seen in the five starter languages: "1,234.5", "1.234,5", "1 234,5" (also with
no-break and thin spaces), full-width digits, Thai digits, "½" and other vulgar fractions, "3 1/2", a leading
minus or "−", Chinese numerals ("三百二十五", "两千零五") and "1.2万". A single separator followed by exactly three
digits ("1,234" or "12.500") is ambiguous between a thousands separator and a decimal comma/point: both readings are
kept and the answer counts as right when either matches (the score note says so).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Sequence

try:  # `regex` (a transformers dependency) can stop a pathological pattern; `re` cannot
    import regex as _regex_engine

    REGEX_TIMEOUT_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised only where transformers is absent
    _regex_engine = re  # type: ignore[assignment]
    REGEX_TIMEOUT_AVAILABLE = False

Scorer = Literal["exact", "contains", "numeric", "regex", "choice"]
SCORERS: tuple[str, ...] = ("exact", "contains", "numeric", "regex", "choice")
ALTERNATIVE_SEPARATOR = "|"
REGEX_TIMEOUT_S = 1.0
REGEX_MAX_TEXT_CHARS = 50_000
# A number written with more characters than this is not read as a number (Python's int() refuses strings of more
# than 4,300 digits, and no expected answer is that long).
MAX_NUMBER_CHARS = 100
# Only the last this many characters of a reply are scored (the final answer is at its end); every step below is
# linear in the text, and this bounds the whole.
SCORE_MAX_CHARS = 200_000

# ---------------------------------------------------------------------------------------------------------------
# Text normalisation


# Full-width ASCII to ASCII, except the full-width comma: in Chinese text "，" separates clauses ("24，25"), it is
# not a decimal or thousands mark.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F) if code != 0xFF0C}
_SPACES = "\u00a0\u202f\u2009\u2007\u3000"
_MINUS = "\u2212\u2012\u2013\ufe63"
_VULGAR = "½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅐⅛⅜⅝⅞⅑⅒↉"
_VULGAR_RE = re.compile(f"[{_VULGAR}]")


def _ascii_digits(text: str) -> str:
    """Every Unicode decimal digit (Thai ๑, Arabic-Indic, full-width) as its ASCII digit."""
    out = []
    for ch in text:
        if ch.isdecimal() and not ("0" <= ch <= "9"):
            out.append(str(unicodedata.decimal(ch)))
        else:
            out.append(ch)
    return "".join(out)


def _vulgar_to_slash(text: str) -> str:
    """"3½" -> "3 1/2", "½" -> "1/2" (NFKC would turn "3½" into "31⁄2", which reads as 31/2).

    Linear time: each fraction sign looks back over the digits before it, never past the previous fraction sign (a
    pattern "(\\d+)?\\s?[½]" read the rest of a digit run from every digit in it: quadratic on a long run)."""
    if not any(ch in _VULGAR for ch in text):
        return text
    out: list[str] = []
    done = 0  # text[:done] is already in out
    for match in _VULGAR_RE.finditer(text):
        sign_at = match.start()
        start = sign_at
        if start > done and text[start - 1].isspace():
            start -= 1
        digits_end = start
        while start > done and text[start - 1].isdecimal():  # as \d did: Thai and full-width digits too
            start -= 1
        whole = text[start:digits_end]
        if not whole:
            start = sign_at  # no number before it: a space before "½" stays
        frac = Fraction(unicodedata.numeric(match.group(0))).limit_denominator(12)
        shown = f"{frac.numerator}/{frac.denominator}"
        out.append(text[done:start])
        out.append(f"{whole} {shown}" if whole else shown)
        done = sign_at + 1
    out.append(text[done:])
    return "".join(out)


def normalize_numeric_text(text: str) -> str:
    """Digits, minus signs, full-width punctuation and fractions in a form the number reader understands."""
    text = _vulgar_to_slash(text)
    text = text.translate(_FULLWIDTH)
    text = _ascii_digits(text)
    for ch in _MINUS:
        text = text.replace(ch, "-")
    text = text.replace("\u2044", "/")  # fraction slash
    return text


def normalize_text(text: str) -> str:
    """For exact/contains: NFKC (full-width, subscripts), case-folded, markdown and outer quotes/punctuation removed,
    whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[*_`]+", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = text.strip("\"'“”‘’「」『』《》()[]{} ")
    # rstrip, not a "[...]+$" pattern: that one retries from every character of an inner run (quadratic).
    return text.rstrip(".。!！?？,，;；:：").strip()


# ---------------------------------------------------------------------------------------------------------------
# Numbers


@dataclass(frozen=True)
class NumberReading:
    text: str  # the characters read, as written
    values: tuple[Fraction, ...]  # one value, or two when a separator is ambiguous

    @property
    def ambiguous(self) -> bool:
        return len(self.values) > 1


_GROUP_SEPS = ",. '’" + _SPACES
_NUMBER_RE = re.compile(
    r"(?<![0-9A-Za-z/])(?<![0-9][.,])"  # not the tail of a longer token (1,234 / v2 / 3/4)
    r"(?P<sign>-\s?)?"
    r"(?P<body>"
    r"\d+\s\d+/\d+"  # mixed fraction 3 1/2
    r"|\d+/\d+"  # fraction 3/4
    r"|\d{1,3}(?:[,.'’ \u00a0\u202f\u2009\u2007]\d{3})+(?:[.,]\d+)?"  # grouped thousands, optional decimals
    r"|\d+(?:[.,]\d+)?"
    r")"
    r"(?![0-9]|/\d)"
    r"(?:\s?(?P<mult>万|萬|亿|億))?"
)
_CJK_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
               "八": 8, "九": 9}
_CJK_SMALL = {"十": 10, "百": 100, "千": 1000}
_CJK_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_CJK_RUN = re.compile("[" + "".join(_CJK_DIGITS) + "".join(_CJK_SMALL) + "".join(_CJK_BIG) + "]+")


def _grouped_int(body: str, seps: str) -> int | None:
    parts = re.split("[" + re.escape(seps) + "]", body)
    if not parts[0] or len(parts[0]) > 3 or any(len(p) != 3 for p in parts[1:]):
        return None
    return int("".join(parts))


def _interpret(body: str) -> tuple[Fraction, ...]:
    """Every plausible value of a number as written (see the module notes on ambiguity)."""
    if "/" in body:
        whole, _, frac = body.rpartition(" ")
        num, den = frac.split("/")
        if int(den) == 0:
            return ()
        value = Fraction(int(num), int(den))
        return (Fraction(int(whole)) + value,) if whole else (value,)
    marks = [ch for ch in body if not ch.isdigit()]
    if not marks:
        return (Fraction(int(body)),)
    spaces = set(" '’" + _SPACES)
    points = [ch for ch in marks if ch in ".,"]
    if not points:  # only space-like grouping: 1 234 567
        value = _grouped_int(body, "".join(spaces))
        return (Fraction(value),) if value is not None else ()
    kinds = set(points)
    if len(kinds) == 2:  # 1,234.5 or 1.234,5: the last mark is the decimal one
        decimal_mark = points[-1]
        if points.count(decimal_mark) != 1:
            return ()
        int_part, frac_part = body.rsplit(decimal_mark, 1)
        group_marks = "".join(({",", "."} - {decimal_mark}) | spaces)
        value = _grouped_int(int_part, group_marks)
        return (Fraction(value) + Fraction(int(frac_part), 10 ** len(frac_part)),) if value is not None else ()
    mark = points[0]
    if len(points) > 1:  # 1,234,567 or 1.234.567: grouping only
        value = _grouped_int(body, mark + "".join(spaces))
        return (Fraction(value),) if value is not None else ()
    int_part, frac_part = body.split(mark)
    decimal = Fraction(int(re.sub(r"\D", "", int_part) or "0")) + Fraction(int(frac_part), 10 ** len(frac_part))
    if any(ch in spaces for ch in int_part):  # 1 234,5: spaces group, so the mark is decimal
        value = _grouped_int(int_part, "".join(spaces))
        return (Fraction(value) + Fraction(int(frac_part), 10 ** len(frac_part)),) if value is not None else ()
    if len(frac_part) != 3 or int_part.startswith("0") or len(int_part) > 3:
        return (decimal,)
    grouped = Fraction(int(int_part + frac_part))
    return (grouped, decimal)  # 1,234 / 12.500: thousands or decimal


def chinese_numeral_value(text: str) -> int | None:
    """"三百二十五" -> 325, "两千零五" -> 2005, "十五" -> 15, "三亿五千万" -> 350000000; None if not a numeral."""
    if not text or any(ch not in _CJK_DIGITS and ch not in _CJK_SMALL and ch not in _CJK_BIG for ch in text):
        return None
    total = section = number = 0
    saw_digit_or_unit = False
    for ch in text:
        if ch in _CJK_DIGITS:
            number = _CJK_DIGITS[ch]
            saw_digit_or_unit = True
        elif ch in _CJK_SMALL:
            if number == 0 and ch == "十":
                number = 1
            section += number * _CJK_SMALL[ch]
            number = 0
            saw_digit_or_unit = True
        else:
            unit = _CJK_BIG[ch]
            if unit == 10_000:
                total += (section + number) * unit
            else:
                total = (total + section + number) * unit
            section = number = 0
    return total + section + number if saw_digit_or_unit else None


def read_numbers(text: str) -> list[NumberReading]:
    """Every number in text, in order."""
    norm = normalize_numeric_text(text)
    found: list[NumberReading] = []
    for match in _NUMBER_RE.finditer(norm):
        if len(match.group("body")) > MAX_NUMBER_CHARS:
            continue  # not an answer anyone wrote; and int() refuses more than 4,300 digits
        values = _interpret(match.group("body"))
        if not values:
            continue
        if match.group("sign"):
            values = tuple(-v for v in values)
        if match.group("mult"):
            values = tuple(v * _CJK_BIG[match.group("mult")] for v in values)
        found.append(NumberReading(match.group(0).strip(), values))
    return found


def read_answer_number(text: str) -> NumberReading | None:
    """The number an answer line gives: after the last "=" if any, the first number; Chinese numerals when the
    line has no digits."""
    tail = text.rsplit("=", 1)[-1]
    numbers = read_numbers(tail)
    if numbers:
        return numbers[0]
    for run in _CJK_RUN.findall(tail):
        value = chinese_numeral_value(run)
        if value is not None:
            return NumberReading(run, (Fraction(value),))
    return None


def parse_expected_number(text: str) -> Fraction | None:
    """An expected numeric answer must be one unambiguous number: 42, -3.5, 1234.5, 7/2."""
    cleaned = text.strip()
    if len(cleaned) > MAX_NUMBER_CHARS or not re.fullmatch(r"-?\d+(?:\.\d+)?|-?\d+/\d+", cleaned):
        return None
    if "/" in cleaned:
        num, den = cleaned.split("/")
        return Fraction(int(num), int(den)) if int(den) != 0 else None
    return Fraction(cleaned)


@dataclass(frozen=True)
class Tolerance:
    absolute: Fraction = Fraction(0)
    relative: Fraction = Fraction(0)  # share of the expected value, from "1%"

    def allows(self, value: Fraction, expected: Fraction) -> bool:
        allowed = max(self.absolute, abs(expected) * self.relative)
        if allowed == 0:
            return value == expected
        return abs(value - expected) <= allowed


def parse_tolerance(text: str | None) -> Tolerance | None:
    """"" -> exact; "0.01" -> absolute; "1%" -> relative. None when the text is not a tolerance."""
    raw = (text or "").strip()
    if not raw:
        return Tolerance()
    relative = raw.endswith("%")
    number = raw[:-1].strip() if relative else raw
    if not re.fullmatch(r"\d+(?:\.\d+)?", number):
        return None
    value = Fraction(number)
    return Tolerance(relative=value / 100) if relative else Tolerance(absolute=value)


def format_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    as_float = float(value)
    text = f"{as_float:.10g}"
    return text


# ---------------------------------------------------------------------------------------------------------------
# Final answer


Extraction = Literal["answer-line", "boxed", "last-number", "whole-reply", "none"]

# The instructed form ("ANSWER:") may appear anywhere on a line; translated markers count only at a line's start.
_MARKER_ANYWHERE = re.compile(r"(?<![A-Za-z])ANSWER\s*[:：]")
_MARKER_LINE_START = re.compile(
    r"(?im)^[ \t>#*_`\-]*(?:final\s+answer|the\s+answer\s+is|answer|最终答案|答案|คำตอบสุดท้าย|คำตอบ|"
    r"đáp\s+án|đáp\s+số|câu\s+trả\s+lời|jawaban\s+akhir|jawaban|jawab)[ \t*_`]*[:：]")


@dataclass(frozen=True)
class FinalAnswer:
    reply: str  # the answer part of the reply (thinking removed)
    text: str | None  # what the marker introduced, or None
    method: Extraction
    note: str = ""


def answer_part(content: str) -> tuple[str, str]:
    """(answer, note): the reply without a <think> block. A reply still inside its thinking has no answer."""
    if "</think>" in content:
        return content.rsplit("</think>", 1)[1], ""
    if content.lstrip().startswith("<think>"):
        return "", "the reply ended inside its thinking (no final answer; max tokens too low?)"
    return content, ""


def _boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    begin = i
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[begin:i - 1] if depth == 0 else None


def _strip_chars(text: str, chars: str) -> str:
    """text without leading and trailing characters from chars or whitespace. Linear time: a pattern such as
    "[*_`\\s]+$" tries again from every character of every inner run of spaces (quadratic on a long one)."""
    start, end = 0, len(text)
    while start < end and (text[start] in chars or text[start].isspace()):
        start += 1
    while end > start and (text[end - 1] in chars or text[end - 1].isspace()):
        end -= 1
    return text[start:end]


def _clean_marker_text(text: str) -> str:
    text = _strip_chars(text, "*_`")
    return text.strip("$").strip()


def final_answer(content: str) -> FinalAnswer:
    reply, note = answer_part(content)
    if len(reply) > SCORE_MAX_CHARS:
        reply = reply[-SCORE_MAX_CHARS:]
        note = _join(note, f"the answer is longer than {SCORE_MAX_CHARS:,} characters: only its last "
                           f"{SCORE_MAX_CHARS:,} were read")
    last: tuple[int, int] | None = None
    for pattern in (_MARKER_ANYWHERE, _MARKER_LINE_START):
        for match in pattern.finditer(reply):
            if last is None or match.start() > last[0]:
                last = (match.start(), match.end())
    if last is not None:
        rest = reply[last[1]:]
        line, _, after = rest.partition("\n")
        if not _clean_marker_text(line):  # "ANSWER:\n42"
            line = next((ln for ln in after.split("\n") if ln.strip()), "")
        return FinalAnswer(reply, _clean_marker_text(line), "answer-line", note)
    boxed = _boxed(reply)
    if boxed is not None:
        return FinalAnswer(reply, boxed.strip(), "boxed", note)
    return FinalAnswer(reply, None, "none", note)


# ---------------------------------------------------------------------------------------------------------------
# Scorers


@dataclass(frozen=True)
class Score:
    correct: bool
    extracted: str | None  # what was compared, as shown to the user
    extraction: Extraction
    answer_key: str | None  # comparable across translations (consistency); None = no comparable answer
    note: str = ""


def alternatives(expected: str) -> list[str]:
    return [a.strip() for a in expected.split(ALTERNATIVE_SEPARATOR) if a.strip()]


_CHOICE_ONLY = re.compile(r"^[\s(\[*_`\"'“]*([A-Za-z])[\s)\].:*_`\"'”]*$")
_CHOICE_MARKED = re.compile(r"(?<![A-Za-z])[(\[]?([A-J])[)\].:](?![A-Za-z])")
_CHOICE_BARE = re.compile(r"(?<![A-Za-z])([A-J])(?![A-Za-z])(?!'| [a-z])")  # not the pronoun "I think", "I'm"


def read_choice(text: str) -> str | None:
    text = unicodedata.normalize("NFKC", text)
    for pattern in (_CHOICE_ONLY, _CHOICE_MARKED, _CHOICE_BARE):
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    return None


def compile_user_regex(pattern: str):
    """Compile an eval set's regex (raises re.error / regex.error with the reason)."""
    return _regex_engine.compile(pattern)


def regex_search(pattern: str, text: str) -> bool | None:
    """True/False, or None when the pattern ran longer than REGEX_TIMEOUT_S (the `regex` engine stops it)."""
    compiled = compile_user_regex(pattern)
    text = text[:REGEX_MAX_TEXT_CHARS]
    if REGEX_TIMEOUT_AVAILABLE:
        try:
            return compiled.search(text, timeout=REGEX_TIMEOUT_S) is not None
        except TimeoutError:
            return None
    return compiled.search(text) is not None  # pragma: no cover


def score_reply(content: str, expected: str, scorer: str, tolerance: str | None = None) -> Score:
    """Score one reply's content (reasoning sent apart is never passed here)."""
    final = final_answer(content)
    reply = final.reply
    note = final.note
    if scorer == "regex":
        matched = regex_search(expected, reply.strip())
        if matched is None:
            return Score(False, None, "whole-reply", None,
                         f"the pattern ran longer than {REGEX_TIMEOUT_S:g} s and was stopped")
        return Score(matched, reply.strip()[:200], "whole-reply", "correct" if matched else None, note)
    if scorer == "numeric":
        expected_value = parse_expected_number(expected)
        if expected_value is None:
            raise ValueError(f"expected answer {expected!r} is not a number")
        tol = parse_tolerance(tolerance) or Tolerance()
        reading, method = None, final.method
        if final.text is not None:
            reading = read_answer_number(final.text)
        if reading is None:
            numbers = read_numbers(reply)
            if numbers:
                reading, method = numbers[-1], "last-number"
                note = _join(note, "no number on an ANSWER line; used the reply's last number")
        if reading is None:
            return Score(False, final.text, final.method if final.text is not None else "none", None,
                         _join(note, "no number found"))
        matching = [v for v in reading.values if tol.allows(v, expected_value)]
        if reading.ambiguous:
            readings = " or ".join(format_number(v) for v in reading.values)
            note = _join(note, f"'{reading.text}' reads as {readings} (separator ambiguous); either may match")
        value = matching[0] if matching else reading.values[0]
        key = format_number(expected_value) if matching else format_number(value)
        return Score(bool(matching), reading.text, method, key, note)
    if final.text is not None:
        candidate, method = final.text, final.method
    else:
        stripped = reply.strip()
        candidate, method = (stripped, "whole-reply") if stripped else (None, "none")
        if candidate is not None and scorer in ("exact", "choice") and "\n" in candidate:
            candidate, method = None, "none"
            note = _join(note, "no ANSWER line, and the reply is more than one line")
    if candidate is None:
        return Score(False, None, "none", None, _join(note, "no final answer found"))
    if scorer == "choice":
        letter = read_choice(candidate)
        if letter is None:
            return Score(False, candidate[:200], method, None, _join(note, "no option letter found"))
        allowed = {a.upper() for a in alternatives(expected)}
        return Score(letter in allowed, letter, method, letter, note)
    if scorer == "exact":
        got = normalize_text(candidate)
        ok = any(got == normalize_text(a) for a in alternatives(expected))
        return Score(ok, candidate[:200], method, "correct" if ok else f"text:{got}", note)
    if scorer == "contains":
        haystack = normalize_text(candidate)
        ok = any(normalize_text(a) in haystack for a in alternatives(expected))
        return Score(ok, candidate[:200], method, "correct" if ok else None, note)
    raise ValueError(f"unknown scorer {scorer!r}")


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a and b else a or b


# ---------------------------------------------------------------------------------------------------------------
# Language of a reply (for the language-switch check)

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "th": "Thai", "vi": "Vietnamese", "id": "Indonesian",
                  "ja": "Japanese", "ko": "Korean"}
DETECTABLE = ("en", "zh", "th", "vi", "id")
_VI_LETTERS = set("ăâđêôơưĂÂĐÊÔƠƯ") | {chr(c) for c in range(0x1EA0, 0x1EFA)}
_EN_WORDS = {"the", "and", "is", "are", "of", "to", "in", "that", "it", "for", "with", "so", "we", "each",
             "total", "has", "have", "there", "this", "which", "what", "how", "many", "then", "answer", "be", "was",
             "will", "by", "from", "on", "at", "an", "as", "he", "she", "they", "his", "her", "left", "now"}
_ID_WORDS = {"yang", "dan", "adalah", "dengan", "untuk", "ini", "itu", "tidak", "jadi", "jumlah", "ada", "dari",
             "ke", "di", "akan", "sebanyak", "setiap", "maka", "karena", "sehingga", "atau", "juga", "dalam",
             "oleh", "sisa", "buah", "orang", "berapa", "kita", "dia", "mereka", "sudah", "hari", "jawaban"}
_NOT_TEXT = re.compile(r"(?i)\bANSWER\b|\\[a-z]+|https?://\S+|`[^`]*`|\d+")


@dataclass(frozen=True)
class LanguageGuess:
    language: str | None  # a code from DETECTABLE (or ja/ko), None when the text is too short or unclear
    letters: int
    detail: str = ""


def detect_language(text: str) -> LanguageGuess:
    """Script-based guess for en/zh/th/vi/id (limits: see data/evals/README.md)."""
    cleaned = _NOT_TEXT.sub(" ", text)
    counts = {"han": 0, "thai": 0, "latin": 0, "kana": 0, "hangul": 0}
    vi_letters = 0
    for ch in cleaned:
        code = ord(ch)
        if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
            counts["han"] += 1
        elif 0x0E00 <= code <= 0x0E7F:
            counts["thai"] += 1
        elif 0x3040 <= code <= 0x30FF:
            counts["kana"] += 1
        elif 0xAC00 <= code <= 0xD7AF:
            counts["hangul"] += 1
        elif ch.isalpha() and code < 0x2000:
            counts["latin"] += 1
            if ch in _VI_LETTERS:
                vi_letters += 1
    letters = sum(counts.values())
    if letters < 4:
        return LanguageGuess(None, letters, "too little text to tell")
    if counts["kana"] >= 2:
        return LanguageGuess("ja", letters)
    if counts["hangul"] >= 2:
        return LanguageGuess("ko", letters)
    # One Chinese character carries about as much as a short word, so it weighs as three letters.
    weights = {"han": counts["han"] * 3, "thai": counts["thai"], "latin": counts["latin"]}
    script = max(weights, key=lambda s: weights[s])
    share = weights[script] / sum(weights.values())
    if script == "han":
        return LanguageGuess("zh", letters, f"Chinese characters ({share:.0%} of weighted letters)")
    if script == "thai":
        return LanguageGuess("th", letters, f"Thai script ({share:.0%} of weighted letters)")
    if vi_letters >= 2 and vi_letters / max(counts["latin"], 1) >= 0.03:
        return LanguageGuess("vi", letters, "Vietnamese letters")
    words = re.findall(r"[a-z]+", cleaned.casefold())
    en = sum(w in _EN_WORDS for w in words)
    ind = sum(w in _ID_WORDS for w in words)
    if en == ind:
        return LanguageGuess(None, letters, "Latin script, English or Indonesian unclear")
    return LanguageGuess("en" if en > ind else "id", letters, f"{max(en, ind)} common words")


def language_switch(question_language: str, reply_text: str) -> tuple[str | None, bool | None]:
    """(detected language, switched?). switched is None when it cannot be judged (unsupported question language,
    or a reply too short to tell)."""
    base = question_language.split("-")[0].lower()
    guess = detect_language(reply_text)
    if base not in DETECTABLE or guess.language is None:
        return guess.language, None
    return guess.language, guess.language != base


# ---------------------------------------------------------------------------------------------------------------
# Statistics

Z_95 = 1.959963984540054


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion (95% by default); (None, None) when total is 0."""
    if total <= 0:
        return None, None
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    # Rounded so that 1 - 1e-16 shows as 1: the interval of an all-right sample ends at exactly 1.
    return max(0.0, round(centre - half, 12)), min(1.0, round(centre + half, 12))


def same_answer(a: str | None, b: str | None) -> bool | None:
    """Do two translations' answers agree? None when neither has a comparable answer (two wrong free-text
    replies cannot be compared across languages)."""
    if a is None and b is None:
        return None
    return a == b


@dataclass(frozen=True)
class Consistency:
    agree: int
    compared: int
    groups_all_agree: int
    groups_compared: int

    @property
    def score(self) -> float | None:
        return self.agree / self.compared if self.compared else None

    @property
    def all_agree_share(self) -> float | None:
        return self.groups_all_agree / self.groups_compared if self.groups_compared else None


def consistency(answers: Sequence[tuple[str, str, str | None]], reference: str = "en") -> Consistency:
    """answers: (group_id, language, answer_key) for one model's scored items.

    score: the share of (reference-language item, other-language item) pairs in the same group whose answers
    agree (the recipe's "fraction of questions where the language variant gives the same answer as English").
    all_agree_share: the share of groups with 2+ comparable answers where every language gives the same answer.
    """
    groups: dict[str, dict[str, str | None]] = {}
    for group, language, key in answers:
        if group:
            groups.setdefault(group, {})[language] = key
    agree = compared = all_agree = groups_compared = 0
    for by_language in groups.values():
        if reference in by_language:
            ref = by_language[reference]
            for language, key in by_language.items():
                if language == reference:
                    continue
                same = same_answer(ref, key)
                if same is not None:
                    compared += 1
                    agree += int(same)
        keys = list(by_language.values())
        if len(keys) >= 2 and any(k is not None for k in keys):
            groups_compared += 1
            all_agree += int(all(k == keys[0] for k in keys))
    return Consistency(agree, compared, all_agree, groups_compared)
