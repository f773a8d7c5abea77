r"""Text from outside the tool, made safe for where it is shown.

User names come from the database, the title from the person running the tool, the database
name from ``DB_URL``: any of them may hold markup, control characters, escape sequences or
10,000 characters. Each output has its own rule, all of them here:

- :func:`visible`: control, bidi-override and other invisible format characters shown as
  escapes (``\x1b``, ``\u202e``, ``\u200b``), never raw: for terminals, and for labels
  shown anywhere;
- :func:`shown`: one visible line, bounded in length: how a name is labelled in a report;
- :func:`html_text`: escaped for HTML elements and attributes;
- :func:`plotly_text`: escaped for plotly's labels (a small HTML subset, whose entities are
  ``&amp;``, ``&lt;`` and ``&gt;``: ``&quot;`` would show as it is);
- :func:`csv_cell`: a cell a spreadsheet will not run as a formula (OWASP's advice);
- :func:`markdown_text`: literal text in Markdown (chat and email notifications): no
  emphasis, link, image, code, heading or HTML can be formed from it.
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
NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# A cell starting with one of these may be run as a formula by a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SHOWN_LIMIT = 100
ELLIPSIS = "…"


def _escape(char: str) -> str:
    if char in NAMED_ESCAPES:
        return NAMED_ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _needs_escape(char: str) -> bool:
    # Cc: C0 and C1 controls and DEL; Zl/Zp: line and paragraph separators; Cf: invisible
    # format characters (bidi controls, zero-width space, BOM, tags) that can hide or disguise
    # text, except the joiners that emoji and Indic scripts are written with.
    return char in BIDI_CONTROLS or (
        unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cf") and char not in JOINERS
    )


def visible(value) -> str:
    r"""Return ``value`` as text whose control and bidi characters are visible escapes.

    Example: a name holding ESC ``[2J`` becomes ``\x1b[2J``, with a real backslash, so
    a terminal shows it instead of clearing the screen. Other text (emoji, accents, any
    script) is kept as it is.
    """
    text = str(value)
    if text.isprintable():  # the common case, fast: nothing to escape
        return text
    return "".join(_escape(c) if _needs_escape(c) else c for c in text)


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

    plotly.js reads a few HTML tags in its texts (``<b>``, ``<a href>``...) and decodes only
    ``&amp;``, ``&lt;`` and ``&gt;`` (and numeric references) of HTML's entities, so quotes
    stay as they are: escaped once, not twice.
    """
    return html.escape(str(value), quote=False)


def csv_cell(value):
    """Return a CSV cell that a spreadsheet shows as text, never runs as a formula.

    A text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading ``'`` (OWASP's advice for CSV injection); anything else is returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
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

    ``*bold*`` becomes ``\*bold\*``, ``[link](http://x)`` ``\[link\]\(http://x\)``,
    ``<script>`` ``&lt;script&gt;``, and a leading ``#``, ``-``, ``+``, ``=`` or ``1.`` is
    escaped, so the text can start a list item. Control characters are not handled here:
    pass the text through :func:`visible` (or :func:`shown`) first, which also keeps it on
    one line.
    """
    text = MARKDOWN_INLINE.sub(lambda m: MARKDOWN_ENTITIES.get(m[0], "\\" + m[0]), str(value))
    return MARKDOWN_BLOCK_START.sub(
        lambda m: m[1] + (m[2][:-1] + "\\" + m[2][-1] if m[2][0].isdigit() else "\\" + m[2]),
        text,
        count=1,
    )
