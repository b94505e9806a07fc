"""Model output made safe to render as markdown: HTML stays off (pages never pass unsafe_allow_html), and images
are turned into plain text so that the browser fetches nothing a model chose (a tracking pixel, a local URL)."""

from __future__ import annotations

import re

INLINE_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
REFERENCE_IMAGE = re.compile(r"!\[([^\]\n]*)\]\[([^\]\n]*)\]")
HTML_IMG = re.compile(r"<\s*img\b[^>]*>", re.IGNORECASE)
# Whatever the patterns above miss (nested brackets in the alt text, a title in parentheses, an address in <...>
# with spaces, a reference defined later, a backslash before the "!") must still not be an image: a markdown image
# needs "![" with nothing between, so a zero-width space goes between. It renders as nothing, so text that merely
# contains "![" looks the same, and no escaping trick in the input can undo it.
IMAGE_OPENER = "!["
BROKEN_OPENER = "!\u200b["


def _shown_url(url: str) -> str:
    # Backticks keep the URL as inert text (no autolink, no fetch).
    return "`" + url.replace("`", "'")[:200] + "`" if url else "no address"


def neutralize_images(text: str) -> str:
    text = INLINE_IMAGE.sub(lambda m: f"[image not loaded: {m.group(1) or 'untitled'} — {_shown_url(m.group(2))}]",
                            text)
    text = REFERENCE_IMAGE.sub(lambda m: f"[image not loaded: {m.group(1) or m.group(2) or 'untitled'}]", text)
    text = HTML_IMG.sub("[image tag removed]", text)
    return text.replace(IMAGE_OPENER, BROKEN_OPENER)


def safe_markdown(text: str) -> str:
    """What st.markdown may show of model output: images neutralised; raw HTML is left as text for Streamlit to
    escape (HTML rendering stays off everywhere)."""
    return neutralize_images(text)


MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>{}()#|~!$])")


def literal_markdown(text: str) -> str:
    """Text that st.markdown must show exactly as written (an error message): `__init__` stays `__init__`, not a
    bold "init"; nothing becomes a link, an image or LaTeX."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", text)
