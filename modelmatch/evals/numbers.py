"""Reading numbers the way people write them, and the text normalisation the scorers compare with.

Numbers are read with the formats seen in the five starter languages: "1,234.5", "1.234,5", "1 234,5" (also with
no-break and thin spaces), full-width digits, Thai digits, "½" and other vulgar fractions, "3 1/2", a leading
minus or "−", Chinese numerals ("三百二十五", "两千零五") and "1.2万". A single separator followed by exactly three
digits ("1,234" or "12.500") is ambiguous between a thousands separator and a decimal comma/point: both readings are
kept and the answer counts as right when either matches (the score note says so).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

# A number written with more characters than this is not read as a number (Python's int() refuses strings of more
# than 4,300 digits, and no expected answer is that long).
MAX_NUMBER_CHARS = 100

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
