"""Language names and ISO 639-1 codes: "th", "TH", "thai" and "Thai" all mean Thai.

Model cards and benchmark tables name languages in English, so the canonical form is the English name. The table
covers the languages multilingual benchmarks and model cards commonly list; a name not in it is kept as written
(title-cased) when it looks like a language name, and a two- or three-letter code not in it is refused, because it
cannot be checked against any language note.
"""

from __future__ import annotations

import re

ISO_639_1 = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "az": "Azerbaijani", "be": "Belarusian", "bg": "Bulgarian",
    "bn": "Bengali", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati", "ha": "Hausa",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian",
    "ig": "Igbo", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "jv": "Javanese", "ka": "Georgian",
    "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean", "ky": "Kyrgyz", "lo": "Lao",
    "lt": "Lithuanian", "lv": "Latvian", "mg": "Malagasy", "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian",
    "mr": "Marathi", "ms": "Malay", "my": "Burmese", "ne": "Nepali", "nl": "Dutch", "no": "Norwegian",
    "ny": "Chichewa", "pa": "Punjabi", "pl": "Polish", "ps": "Pashto", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "rw": "Kinyarwanda", "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian", "so": "Somali",
    "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu",
    "tg": "Tajik", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek",
    "vi": "Vietnamese", "wo": "Wolof", "xh": "Xhosa", "yo": "Yoruba", "zh": "Chinese", "zu": "Zulu",
}
_BY_NAME = {name.lower(): name for name in ISO_639_1.values()}
_NAME_RE = re.compile(r"[^\W\d_][^\W\d_ '\-]*(?:[ '\-][^\W\d_]+)*")


def canonical(text: str) -> str:
    """The English name for a language name or ISO 639-1 code; ValueError says why a value is not one."""
    value = text.strip()
    if not value:
        raise ValueError("empty language")
    lowered = value.lower()
    if lowered in ISO_639_1:
        return ISO_639_1[lowered]
    if lowered in _BY_NAME:
        return _BY_NAME[lowered]
    if not _NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a language name or ISO 639-1 code (e.g. Thai, th, Vietnamese, vi)")
    if len(value) <= 3:
        raise ValueError(f"{value!r} is not an ISO 639-1 code this catalog knows; write the language's name")
    return value[:1].upper() + value[1:]


def code_of(name: str) -> str | None:
    """The ISO 639-1 code of a canonical name, if the table has it."""
    return next((code for code, known in ISO_639_1.items() if known == name), None)


def parse_list(text: str) -> tuple[list[str], list[str]]:
    """A comma-separated field ("th, Vietnamese") as (canonical names, problems)."""
    names: list[str] = []
    problems: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            name = canonical(part)
        except ValueError as problem:
            problems.append(str(problem))
            continue
        if name not in names:
            names.append(name)
    return names, problems


def note_names(note: str | None, name: str) -> bool | None:
    """Whether an official language note names the language (by English name or ISO code as a word); None when
    there is no note (unverified, not "no")."""
    if note is None or (isinstance(note, float)) or not str(note).strip():
        return None
    code = code_of(name)
    words = [re.escape(name)] + ([re.escape(code)] if code else [])
    return re.search(r"\b(?:" + "|".join(words) + r")\b", str(note), re.IGNORECASE) is not None
