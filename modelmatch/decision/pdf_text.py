"""A plain-text PDF (title, headings, wrapped lines) written by hand: the decision summary needs no layout engine,
and a few hundred bytes of PDF syntax are easier to trust than a dependency. Standard Helvetica fonts (no font
files), WinAnsi encoding; characters outside it are spelled out or replaced, never dropped silently."""

from __future__ import annotations

import textwrap
import zlib

PAGE_W_PT, PAGE_H_PT = 595.0, 842.0  # A4
MARGIN_PT = 48.0
STYLES = {  # name: (font resource, size in pt, space before in pt)
    "title": ("F2", 15.0, 0.0), "heading": ("F2", 11.5, 9.0), "text": ("F1", 9.0, 1.0),
    "small": ("F1", 7.5, 1.0)}
# Helvetica's mean advance is about half an em; 0.5 keeps wrapped lines inside the margin for ordinary text.
MEAN_CHAR_EM = 0.5
SPELLED = {"≥": ">=", "≤": "<=", "→": "->", "←": "<-", "Σ": "sum", "−": "-", "≈": "~", "✓": "yes", "✗": "no",
           "\u00a0": " ", "\u202f": " "}


def _encode(text: str) -> bytes:
    for char, spelled in SPELLED.items():
        text = text.replace(char, spelled)
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _wrap(text: str, size_pt: float, indent: str) -> list[str]:
    width_chars = max(20, int((PAGE_W_PT - 2 * MARGIN_PT) / (size_pt * MEAN_CHAR_EM)))
    return textwrap.wrap(text, width=width_chars, subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False) or [""]


def text_pdf(title: str, blocks: list[tuple[str, str]]) -> bytes:
    """blocks: (style, text) with style one of STYLES except title. Pages are added as the text needs."""
    pages: list[list[bytes]] = [[]]
    y = PAGE_H_PT - MARGIN_PT
    for style, text in [("title", title), *blocks]:
        font, size, before = STYLES[style]
        indent = "  " if text.startswith("- ") else ""
        y -= before
        for line in _wrap(text, size, indent):
            if y - size < MARGIN_PT:
                pages.append([])
                y = PAGE_H_PT - MARGIN_PT
            y -= size * 1.25
            pages[-1].append(b"BT /%s %.1f Tf %.1f %.1f Td (%s) Tj ET" % (font.encode(), size, MARGIN_PT, y,
                                                                          _encode(line)))
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog_id = add(b"")  # filled in once the page tree's id is known
    pages_id = add(b"")
    fonts = (add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"),
             add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"))
    kids = []
    for lines in pages:
        content = zlib.compress(b"\n".join(lines))
        stream_id = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content))
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.0f %.0f] /Contents %d 0 R "
                        b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>"
                        % (pages_id, PAGE_W_PT, PAGE_H_PT, stream_id, *fonts)))
    objects[catalog_id - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog_id, xref)
    return bytes(out)
