"""Scoring one eval reply: find the final answer, compare it with the expected one, guess the reply's language.

The recipe (shared/seeds/003, "Evaluating Multilingual Model Quality"): ask for a final answer line, check it
against the expected answer, measure accuracy per language and whether translations of the same question get the
same answer. Each prompt asks for a last line "ANSWER: ..."; a reasoning model's thinking is never searched, only
its final answer. Numbers are read by modelmatch.evals.numbers; accuracy intervals and consistency are in
modelmatch.evals.stats.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from modelmatch.evals.numbers import (
    Tolerance,
    format_number,
    normalize_text,
    parse_expected_number,
    parse_tolerance,
    read_answer_number,
    read_numbers,
)

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
# Only the last this many characters of a reply are scored (the final answer is at its end); every step below is
# linear in the text, and this bounds the whole.
SCORE_MAX_CHARS = 200_000

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
