"""Text from outside the tool, made safe for where it is shown.

User names come from the database, the title from the person running the tool, the database
name from ``DB_URL``: any of them may hold markup, control characters, escape sequences or
10,000 characters. Each output (terminal, HTML, plotly, CSV, Markdown) has its rule here.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Characters that reorder the text around them ("Trojan source"): shown as escapes.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner
# A cell starting with one of these may be run as a formula by a spreadsheet, also after
# spaces or line breaks (which a spreadsheet may trim).
FORMULA_START = re.compile(r"\s*[=+\-@\t\r]")
SHOWN_LIMIT = 100
ELLIPSIS = "…"


def _needs_escape(char: str) -> bool:
    # Cc: C0 and C1 controls and DEL; Zl/Zp: line and paragraph separators; Cf: invisible
    # format characters (bidi controls, zero-width space, BOM, tags) that can hide or disguise
    # text, except the joiners that emoji and Indic scripts are written with; Cs: a lone
    # surrogate, which no terminal or UTF-8 file can hold.
    return char in BIDI_CONTROLS or (
        unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cf", "Cs") and char not in JOINERS
    )


def visible(value) -> str:
    r"""Return ``value`` as text whose control and bidi characters are visible escapes.

    Example: ESC ``[2J`` becomes ``\x1b[2J`` (a real backslash), which a terminal shows
    instead of clearing the screen. Other text (emoji, accents, any script) is kept.
    """
    text = str(value)
    if text.isprintable():  # the common case, fast: nothing to escape
        return text
    # Python's own escapes: \t, \n, \r, then \xhh, \uhhhh or \Uhhhhhhhh.
    return "".join(c.encode("unicode_escape").decode() if _needs_escape(c) else c for c in text)


def bounded(text: str, limit: int) -> str:
    """Return ``text`` cut to at most ``limit`` characters, ending in ``…`` when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


def shown(value, limit: int = SHOWN_LIMIT) -> str:
    """Return a label for display: visible (see :func:`visible`) and at most ``limit`` long."""
    return bounded(visible(value), limit)


def shown_all(values) -> list[str]:
    """Return :func:`shown` of every value of an iterable, fast for the common tidy text."""
    limit = SHOWN_LIMIT
    return [
        v if type(v) is str and len(v) <= limit and v.isprintable() else shown(v) for v in values
    ]


def html_text(value) -> str:
    """Return ``value`` escaped for an HTML element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def plotly_text(value) -> str:
    """Return ``value`` escaped for a plotly label, hover or table cell.

    plotly.js reads a few HTML tags (``<b>``, ``<a href>``...) and decodes only ``&amp;``,
    ``&lt;``, ``&gt;`` and numeric references: quotes stay unescaped (``&quot;`` would show).
    """
    return html.escape(str(value), quote=False)


def csv_cell(value):
    """Return a CSV cell a spreadsheet never runs as a formula: ``'`` before a formula start.

    That is OWASP's advice against CSV injection, also after leading spaces or line breaks
    (which a spreadsheet may trim); anything else is returned unchanged.
    """
    if isinstance(value, str) and FORMULA_START.match(value):
        return "'" + value
    return value


# Markdown: characters that start emphasis, code, links, images, tables and strikethrough
# anywhere in a line get a backslash (CommonMark lets any ASCII punctuation be escaped);
# "<", ">" and "&" become HTML entities, which every Markdown renderer (Python-Markdown,
# CommonMark) shows as the character and never reads as a tag or a blockquote.
MARKDOWN_INLINE = re.compile(r"[\\`*_\[\]{}()!|~<>&]")
MARKDOWN_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# At the start of a text, these make a heading, list item, rule or setext underline.
MARKDOWN_BLOCK_START = re.compile(r"^(\s*)([#+\-=]|\d+[.)])")


def markdown_text(value) -> str:
    r"""Return ``value`` escaped to show as literal text inside a line of Markdown.

    No emphasis, link, image, code, heading or HTML can be formed, and the text can start a
    list item. Control characters are not handled: pass it through :func:`visible` first.
    """
    text = MARKDOWN_INLINE.sub(lambda m: MARKDOWN_ENTITIES.get(m[0], "\\" + m[0]), str(value))
    return MARKDOWN_BLOCK_START.sub(
        lambda m: m[1] + (m[2][:-1] + "\\" + m[2][-1] if m[2][0].isdigit() else "\\" + m[2]),
        text,
        count=1,
    )
