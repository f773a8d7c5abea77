"""The message about a run: a title and a short Markdown body, built from plain values.

Names from the database are made visible (control characters as escapes), bounded, escaped
(``text``) and defanged, so they never form a link, a mention, an image, emphasis or HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

from user_failure_stats.formats import (
    change_texts,
    flags_line,
    format_percent,
    plural,
    points_text,
    whole,
    worse_line,
)
from user_failure_stats.text import bounded, markdown_text, shown, visible
from user_failure_stats.window import Window, format_local

TITLE = "User failure rates"
# How many of the largest changes a message names, and how long each name may be.
WORST = 3
NAME_LIMIT = 60
ERROR_LIMIT = 500
LINK_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}):(?=/)")
# A bare domain (evil.example.com, punycode, full-width and look-alike dots, run into more
# text as in evil.com_x), or an IPv4 address with a path or port: clients link these too.
DOTS = "[.\u2024\u3002\ufe52\uff0e\uff61]"
DOMAIN_LIKE = re.compile(
    rf"[\w-]+(?:{DOTS}[\w-]+)*{DOTS}(?:xn--[\w-]+|[^\W\d_]{{2,63}})(?![^\W\d_])"
    rf"|\b\d{{1,3}}(?:{DOTS}\d{{1,3}}){{3}}(?=[/:?#])"
)


@dataclass(frozen=True)
class Message:
    """A notification: a one-line plain-text title and a Markdown body, outside text escaped.

    ``text`` is the same body as plain text, for services that show text as it is (no
    Markdown escapes); ``kind`` is Apprise's notification type: ``info``, ``warning`` (an
    alert) or ``failure``.
    """

    title: str
    body: str
    kind: str = "info"
    text: str = ""

    @property
    def plain(self) -> str:
        """The body for a service that shows plain text."""
        return self.text or self.body


def window_label(window: Window) -> str:
    """Return a window in a few words: ``2025-05-01 to 2025-05-08 06:30 UTC`` (midnight: a date)."""

    def bound(moment) -> str:
        if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
            return moment.strftime("%Y-%m-%d")
        text = format_local(moment)
        return text[:-3] if text.endswith(":00") and text.count(":") == 2 else text

    return f"{bound(window.start)} to {bound(window.end)} {window.timezone}"


def _rate_text(row: Mapping) -> str:
    if row.get("failure_rate_percent"):
        return str(row["failure_rate_percent"])
    return format_percent(row.get("failure_rate", float("nan")))


def defanged(name: str) -> str:
    """Return a user name that no chat or mail client turns into a link or a mention.

    ``https://evil.example`` becomes ``https[:]//evil[.]example``, and every dot of a bare
    domain (``www.evil.example``, ``evil.co.uk``, full-width dots too) ``[.]``; an ``@`` is
    followed by a zero-width space (``@channel`` notifies nobody).
    """
    name = LINK_SCHEME.sub(r"\1[:]", name)
    name = DOMAIN_LIKE.sub(lambda found: re.sub(DOTS, "[.]", found.group(0)), name)
    return re.sub("([@\uff20])", "\\1\u200b", name)  # and a full-width one


def _link_lines(link: str | None, plain: bool = False, label: str = "Report") -> list[str]:
    """Return the file's line: a web link without credentials or query, else a file name."""
    if not link:
        return []
    link = str(link)
    if re.match(r"https?://", link, re.IGNORECASE):
        with suppress(ValueError):  # not a URL after all: shown as a file name
            parts = urlsplit(link)
            # A user, password or query (a signed URL's signature) is a credential: left out.
            url = f"{parts.scheme.lower()}://{parts.netloc.rpartition('@')[2]}{parts.path}"
            if re.fullmatch(r"https?://[^\s<>\"'`\\@?#]+", url):
                return [f"{label}: {url}" if plain else f"{label}: <{url}>"]
    name = shown(re.split(r"[/\\?#]", link.rstrip("/\\"))[-1] or link, NAME_LIMIT * 2)
    return [f"{label}: {name if plain else markdown_text(name)}"]


def message(
    window: Window | str,
    summary: Mapping,
    previous: Mapping | None = None,
    flagged: Sequence[Mapping] = (),
    worsened: Sequence[Mapping] = (),
    *,
    length: str | None = None,
    link: str | None = None,
    csv_link: str | None = None,
    alert: str | None = None,
) -> Message:
    """Return the message about a run's report, from plain values (see ``RunSummary``).

    ``window`` may be given in a few words (see :func:`window_label`); ``length`` (``7 days``)
    defaults to the window's. ``previous`` is None when there is no previous data. Every
    ``flagged`` user given is named, and the first :data:`WORST` of ``worsened`` with their
    change. A web ``link`` (and ``csv_link``) is shown without a user, password, query or
    fragment (a signed URL's signature is a credential), a file by its name. An ``alert``
    makes it a warning. The body comes in Markdown and in plain text (``Message.text``).
    """
    if isinstance(window, Window):
        length = length or window.length_text()
        window = window_label(window)
    length = length or "window"
    title = f"{TITLE}: {window} — {plural(whole(summary.flagged_users), 'flagged user')}"
    rate = f"{format_percent(summary.overall_failure_rate)}"
    if not previous:
        rate += " (no previous data)"
    else:
        change = change_texts(summary, previous, length)["overall_failure_rate"]
        both = summary.total_sessions and previous.total_sessions
        rate += f", {change}" if both else f" ({change})"
    facts = [
        f"- Window: {window}",
        f"- Overall failure rate: {rate}",
        f"- Sessions: {whole(summary.total_sessions):,}",
        f"- {flags_line(summary)}",
        f"- {worse_line(summary, length)}",
    ]
    bodies = []
    for plain in (False, True):
        text = (lambda value: value) if plain else markdown_text
        lines = []
        if alert:
            line = f"Alert: {text(visible(alert))}"
            lines += [line if plain else f"**{line}**", ""]
        lines += [*facts, ""]
        if flagged:
            lines += ["Flagged users, most significant first:", ""]
            for number, row in enumerate(flagged, start=1):
                counts = f"{int(row['failed_sessions']):,}/{int(row['total_sessions']):,}"
                lines.append(f"{number}. {_name(row, plain)}: {counts} failed ({_rate_text(row)})")
            lines.append("")
        if worsened:
            lines += ["Largest changes:", ""]
            for number, row in enumerate(list(worsened)[:WORST], start=1):
                before = format_percent(row.get("previous_failure_rate", float("nan")))
                moved = points_text(row.get("change_points"))
                lines.append(
                    f"{number}. {_name(row, plain)}: {before} to {_rate_text(row)} ({moved})"
                )
            lines.append("")
        lines += _link_lines(link, plain) + _link_lines(csv_link, plain, "CSV")
        bodies.append("\n".join(lines).strip())
    markdown, plain_text = bodies
    kind = "warning" if alert else "info"
    return Message(title=title, body=markdown, kind=kind, text=plain_text)


def _name(row: Mapping, plain: bool = False) -> str:
    name = defanged(shown(row.get("user_name", ""), NAME_LIMIT))
    return name if plain else markdown_text(name)


def failure_message(error: str) -> Message:
    """Return the notice for a run that failed: its one-line error (no secret), visible, bounded.

    Defanged as names are (:func:`defanged`): a server's words in it (a view may raise any
    text) become no link and no mention.
    """
    line = defanged(bounded(visible(str(error).strip()), ERROR_LIMIT))
    return Message(
        title=f"{TITLE}: run failed", body=markdown_text(line), kind="failure", text=line
    )
