"""Text that a visitor, a model server or an uploaded file controls, made safe to show on a page. This module is the
one path such text takes to the screen (tests/test_repository_rules.py finds any other):

- `safe_markdown(text)` for text that is meant to be markdown (model output, prompts): HTML stays off (pages never
  pass unsafe_allow_html), images become plain text so the browser fetches nothing a model chose (a tracking pixel,
  a local URL), bidi controls are dropped, and the text is cut to `MAX_RENDERED_CHARS` before any work is done.
- `md_text(value)` for a value put inside markdown (a file name, an id, a query value, an error message): every
  markdown character is escaped, so it shows exactly as written and can be neither an image nor a link.

Every function here runs in time linear in its input (a visitor's text runs on the thread that serves everyone
else): no pattern can scan past the next "[" or "<" from where it starts, so the tries from different starting
points never cover the same text twice (tests/chat/test_linear_time_text.py times growing adversarial inputs).
"""

from __future__ import annotations

import re

MAX_RENDERED_CHARS = 50_000  # the most characters of one text a page renders
MAX_VALUE_CHARS = 2_000  # the most characters of one value put inside markdown

# Each part of these patterns stops at the next "[" (and the tag pattern at the next "<"), and every run of spaces
# or characters has a hard bound: a try that starts at one "![" therefore never reads past the next "![", which
# keeps the whole pass linear however many openers the text has (a text of repeated "![" made the old patterns,
# with unbounded runs, read the rest of the text from every opener: quadratic).
_ALT = r"[^\[\]\n]{0,500}"
INLINE_IMAGE = re.compile(r"!\[(" + _ALT + r")\]\([ \t]{0,32}<?([^\s()<>\[\]]{0,2048})>?"
                          r"(?:[ \t]{1,32}[\"'][^\"'\n\[\]]{0,300}[\"'])?[ \t]{0,32}\)")
REFERENCE_IMAGE = re.compile(r"!\[(" + _ALT + r")\]\[(" + _ALT + r")\]")
HTML_IMG = re.compile(r"<[ \t\n]{0,32}img\b[^<>]{0,4096}>", re.IGNORECASE)
# Whatever the patterns above miss (nested brackets in the alt text, a title in parentheses, an address in <...>
# with spaces, a reference defined later, a backslash before the "!") must still not be an image: a markdown image
# needs "![" with nothing between, so a zero-width space goes between. It renders as nothing, so text that merely
# contains "![" looks the same, and no escaping trick in the input can undo it.
IMAGE_OPENER = "!["
BROKEN_OPENER = "!\u200b["
# Bidirectional overrides and isolates make text display in another order than it is stored ("evil.com/‮gpj.exe"):
# dropped from everything shown. (The plain marks U+200E/U+200F cannot reorder text and stay.)
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
# CommonMark lets a backslash escape any ASCII punctuation. Escaped: what markdown (and Streamlit's $math$,
# :color[text], ~~strike~~) gives a meaning to inside a line; "_" only where it can open or close emphasis (not
# inside a word: "base_url" stays readable in the source); and what lets the autolink extension make a link of
# bare text: the ":" of "://", the "." of "www." and the "@" of an address.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*{}\[\]()<>#|~$!&@]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|:(?=/)|(?<=www)\.",
                               re.IGNORECASE)
# At the start of a line "-" and "+" start a list, "=" an underline heading, "1." an ordered list.
_LINE_START_SPECIAL = re.compile(r"^([ \t]{0,32})([-+=]|\d{1,9}(?=\.))")


def _shown_url(url: str) -> str:
    # Backticks keep the URL as inert text (no autolink, no fetch).
    return "`" + url.replace("`", "'")[:200] + "`" if url else "no address"


def strip_bidi_controls(text: str) -> str:
    return text.translate(BIDI_CONTROLS)


def neutralize_images(text: str) -> str:
    text = INLINE_IMAGE.sub(lambda m: f"[image not loaded: {m.group(1) or 'untitled'} — {_shown_url(m.group(2))}]",
                            text)
    text = REFERENCE_IMAGE.sub(lambda m: f"[image not loaded: {m.group(1) or m.group(2) or 'untitled'}]", text)
    text = HTML_IMG.sub("[image tag removed]", text)
    return text.replace(IMAGE_OPENER, BROKEN_OPENER)


def cut(text: str, max_chars: int) -> tuple[str, int]:
    """(the first max_chars characters, how many were left out)."""
    if len(text) <= max_chars:
        return text, 0
    return text[:max_chars], len(text) - max_chars


def safe_markdown(text: str, max_chars: int = MAX_RENDERED_CHARS) -> str:
    """What st.markdown may show of model output or other markdown a visitor or server wrote: cut to max_chars
    first (so a huge text costs neither this server nor the browser's markdown renderer), images neutralised,
    bidi controls dropped; raw HTML is left as text for Streamlit to escape (HTML rendering stays off)."""
    text, left_out = cut(str(text), max_chars)
    text = neutralize_images(strip_bidi_controls(text))
    if left_out:
        text += f"\n\n… ({left_out:,} more characters not shown)"
    return text


def _escape_line_start(match: re.Match) -> str:
    lead, mark = match.group(1), match.group(2)
    return lead + ("\\" + mark if not mark[0].isdigit() else mark + "\\")  # "1." -> "1\." (escaping a digit does nothing)


def md_text(value: object, max_chars: int = MAX_VALUE_CHARS) -> str:
    """A value shown literally inside markdown: every markdown character escaped, line breaks as spaces, bidi
    controls dropped, at most max_chars characters. Use it for every file name, id, query value or message that a
    visitor, an uploaded file or a server chose."""
    text, left_out = cut(str(value), max_chars)
    text = strip_bidi_controls(text).replace("\r", " ").replace("\n", " ")
    text = _MARKDOWN_SPECIAL.sub(r"\\\g<0>", text)
    text = _LINE_START_SPECIAL.sub(_escape_line_start, text, count=1)
    return text + ("…" if left_out else "")


def md_code(value: object, max_chars: int = MAX_VALUE_CHARS) -> str:
    """A value shown literally as inline code. The fence is one backtick longer than the longest run of backticks
    in the value, so nothing in it can close the span early (inside a code span nothing is markdown: no link, no
    image, no autolink)."""
    text, left_out = cut(str(value), max_chars)
    text = strip_bidi_controls(text).replace("\r", " ").replace("\n", " ") + ("…" if left_out else "")
    text = text.replace(IMAGE_OPENER, BROKEN_OPENER)  # inert in a code span anyway; no "![" reaches any page
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"
