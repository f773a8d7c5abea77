"""Notifications: a short message about a run, sent to the Apprise URLs of ``NOTIFY_URLS``.

Apprise (https://github.com/caronc/apprise) reaches email, Slack, Microsoft Teams
(``workflows://``), web hooks and a hundred other services. The URLs hold secrets, so they
come from the settings only, and nothing here prints or raises more of one than :func:`mask`.
"""

from __future__ import annotations

import functools
import logging
import re
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from user_failure_stats.children import gather
from user_failure_stats.errors import ConfigError, NotifyError
from user_failure_stats.files import read_regular
from user_failure_stats.formats import plural
from user_failure_stats.messages import Message, failure_message

# Give up on services that have not answered after this long (Apprise's own timeouts: 4 s to
# connect and 4 s to read for web services, 15 s for SMTP; a URL's cto= and rto= change them).
TIMEOUT_SECONDS = 20.0
EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})
# What an email may carry in attachments, in all: 10 MiB, about 13.7 MB once encoded, under
# the 20 to 25 MB most mail servers take.
EMAIL_BUDGET = 10 * 1024 * 1024
# Schemes whose URL names a real host (the rest hold tokens where the host would be).
HOST_SCHEMES = EMAIL_SCHEMES | frozenset(
    {"json", "jsons", "xml", "xmls", "form", "forms", "workflow", "workflows", "http", "https"}
)
# Apprise's protocols for services shown the plain-text body (see shows_plain_text).
PLAIN_TEXT_SERVICES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms", "slack"})
SCHEME = re.compile(r"[a-z0-9]{1,32}", re.IGNORECASE)  # Apprise's schemes
HOST = re.compile(r"(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\])(?::\d{1,5})?", re.I)
# A query of ``key=value`` pairs; Apprise's web hooks add headers as ``+Name=value`` and
# payload fields as ``:name=value`` or ``-name=``.
QUERY_ITEM = re.compile(r"[+:-]?[a-z0-9_][a-z0-9_.+-]*=[^&]*", re.IGNORECASE)
# Between two URLs: a run of spaces, commas or semicolons before the next ``scheme://``
# (Apprise's rule: a comma inside a URL, as in ``to=a@x.org,b@x.org``, stays in it).
URL_BREAK = re.compile(r"[\s,;]+(?=[a-z0-9]{1,32}://)", re.IGNORECASE)
HIDDEN = "…"


def _quiet_apprise() -> None:
    """Keep Apprise's log records, which may hold secrets, from any handler and stderr.

    A NullHandler on the ``apprise`` logger, and no propagation, keep them from the root
    logger's handlers and Python's last-resort handler (stderr).
    """
    logger = logging.getLogger("apprise")
    logger.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def _scheme(url: str) -> str | None:
    scheme, sep, _ = url.strip().partition("://")
    return scheme.lower() if sep and SCHEME.fullmatch(scheme) else None


def _host(url: str) -> str | None:
    """Return ``host[:port]`` where Apprise sends, or None when a secret could be in it.

    Apprise's parser (``URLBase.parse_url``) says where the host is. It is shown only when the
    URL cannot be read another way: a ``/``, ``?`` or ``#`` before the first ``@`` (an unencoded
    password, ``user:12345?x@host``), a second ``@`` before the path or any ``@`` in the path,
    or a query that is not ``key=value`` pairs, and nothing is shown.
    """
    from apprise import URLBase

    url = url.strip()
    rest = url.partition("://")[2]
    userinfo, at, after = rest.partition("@")
    if at and re.search(r"[/?#]", userinfo):
        return None
    authority = re.split(r"[/?#]", after if at else rest, maxsplit=1)[0]
    path, _, query = (after if at else rest)[len(authority) :].partition("?")
    if "@" in authority or "@" in path or "#" in path:
        return None
    if query and not all(QUERY_ITEM.fullmatch(item) for item in query.split("&") if item):
        return None
    parsed = URLBase.parse_url(url, verify_host=False) or {}
    host, port = str(parsed.get("host") or ""), str(parsed.get("port") or "")
    if not HOST.fullmatch(host) or re.sub(r":\d*$", "", authority).lower() != host.lower():
        return None
    if _scheme(url) in EMAIL_SCHEMES:  # the SMTP server, when the URL names one
        items = parsed.get("qsd") or {}
        smtp = items.get("smtp", "")
        if smtp and HOST.fullmatch(smtp) and ":" not in smtp:
            host, port = smtp, items.get("port", "")
        else:
            port = items.get("port") or port
    if port.isdigit() and len(port) <= 5:
        host += f":{port}"
    return host.lower()


def mask(url: str) -> str:
    """Return what may be shown of an Apprise URL: its scheme and host, never a secret.

    Email and web hooks show their host and port (``json://127.0.0.1:8080``; for email the
    SMTP server of ``smtp=`` and ``port=`` when the URL names one). Services whose URLs hold
    tokens where a host would be, or a URL too malformed to tell, show only their scheme:
    ``slack://…``. User names, passwords, tokens, paths and query values are never shown.
    """
    scheme = _scheme(url)
    if scheme is None:
        return "(not a URL)"
    host = _host(url) if scheme in HOST_SCHEMES else None
    return f"{scheme}://{host or HIDDEN}"


def split_urls(text: str) -> list[str]:
    """Split ``NOTIFY_URLS`` into URLs the way Apprise does: by new lines or ``URL_BREAK``."""
    lines = (text or "").splitlines()
    pieces = [piece.strip(" \t,;") for line in lines for piece in URL_BREAK.split(line)]
    return [piece for piece in pieces if piece]


@functools.cache
def _known_schemes() -> frozenset[str]:
    import apprise

    _quiet_apprise()
    found = set()
    for service in apprise.Apprise().details().get("schemas", []):
        for key in ("protocols", "secure_protocols"):
            found.update(p.lower() for p in service.get(key) or ())
    return frozenset(found)


def parse_urls(text: str) -> tuple[str, ...]:
    """Read ``NOTIFY_URLS``; each URL is checked with Apprise, which sends nothing.

    Raises:
        ConfigError: A URL is not an Apprise URL; the message names its position and its
            :func:`mask`, never the rest.
    """
    _quiet_apprise()
    urls = split_urls(text)
    for number, url in enumerate(urls, start=1):
        problem = _url_problem(url)
        if problem:
            raise ConfigError(f"NOTIFY_URLS: URL {number} {problem}", field="NOTIFY_URLS")
    return tuple(urls)


def _url_problem(url: str) -> str | None:
    """Say what is wrong with one URL (after ``NOTIFY_URLS: URL <n>``), or None."""
    import apprise

    scheme = _scheme(url)
    if scheme is None:
        return "is not a URL: expected scheme://..., as in json://host/path"
    if re.search(r"\s", url):
        return (
            f"({mask(url)}) holds a space: separate URLs by spaces, commas or new lines, each "
            "starting with its scheme://, and percent-encode a space in a URL as %20"
        )
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    if authority.count("@") > 1:
        return (
            f"({mask(url)}) is ambiguous: it has more than one '@' before the host; "
            "percent-encode '@' in the user name or password as %40"
        )
    if apprise.Apprise.instantiate(url) is not None:
        return None
    if scheme not in _known_schemes():  # https:// is known when Apprise reads the URL
        return f"has a scheme Apprise does not know: {scheme}://"
    return (
        f"({mask(url)}) is not a valid {scheme}:// URL for Apprise: see "
        "https://github.com/caronc/apprise/wiki for its syntax"
    )


def describe(urls: Sequence[str]) -> str:
    """Describe the URLs for ``check``, masked: ``2 services: mailtos://smtp.example.com, slack://…``."""
    if not urls:
        return "no services (NOTIFY_URLS is not set)"
    return f"{plural(len(urls), 'service')}: " + ", ".join(mask(url) for url in urls)


def should_notify(mode: str, alert: bool) -> bool:
    """Say whether a run notifies: ``always``, on an ``alert`` only, or ``never``."""
    return mode == "always" or (mode == "alert" and alert)


def default_mode(urls: Sequence[str]) -> str:
    """Return the ``--notify`` mode when none is given: ``alert`` with URLs, else ``never``."""
    return "alert" if urls else "never"


def resolve_mode(mode: str | None, urls: Sequence[str]) -> str:
    """Return the mode a run uses: ``mode``, else :func:`default_mode`.

    Raises:
        ConfigError: ``always`` or ``alert`` without any URL to notify.
    """
    mode = mode or default_mode(urls)
    if mode != "never" and not urls:
        raise ConfigError(
            f"--notify {mode} needs NOTIFY_URLS in the environment or .env", field="notify"
        )
    return mode


def _notify_one(url: str, message: Message, attachments: Sequence[Path]) -> bool:
    import apprise

    # A redirect is not followed (unless the URL says redirect=yes): requests would carry the
    # URL's own headers (+X-Token=...) and the message to whatever host the answer names.
    service = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False))
    if not service.add(url):
        return False
    email = _scheme(url) in EMAIL_SCHEMES
    attach = apprise.AppriseAttachment([str(path) for path in attachments]) if email else None
    kinds = {"warning": apprise.NotifyType.WARNING, "failure": apprise.NotifyType.FAILURE}
    plain = all(shows_plain_text(plugin) for plugin in service)
    return bool(
        service.notify(
            body=message.plain if plain else message.body,
            title=message.title,
            notify_type=kinds.get(message.kind, apprise.NotifyType.INFO),
            body_format=apprise.NotifyFormat.TEXT if plain else apprise.NotifyFormat.MARKDOWN,
            attach=attach if attach else None,
        )
    )


def shows_plain_text(plugin) -> bool:
    """Whether an Apprise service is sent the plain-text body rather than the Markdown one.

    Only services known to show text as it is: web hooks (their receiver is a program) and
    Slack (Apprise escapes its markup characters in plain text and turns its markup off).
    The formats a plugin declares cannot tell: Discord and Mattermost declare plain text and
    render Markdown, so a name could make a link there. Every other service gets the escaped
    Markdown; one that shows it as typed (an SMS) shows a backslash before a name's
    punctuation, never a link.
    """
    protocols = set()
    for value in (plugin.protocol, plugin.secure_protocol):
        protocols.update([value] if isinstance(value, str) else value or ())
    return not protocols.isdisjoint(PLAIN_TEXT_SERVICES)


def private_copies(paths: Sequence[Path], folder: Path, budget: int = EMAIL_BUDGET) -> list[Path]:
    """Copy the files to attach into ``folder``, in order, while they fit in ``budget`` bytes.

    Each is read as the file itself, never through a link, a FIFO or a folder in its place
    (one planted in the output folder could mail out anything the run may read), and only if
    the user's own that no one else may write: another file, a missing one, or one past the
    budget is left out; the message names every file anyway.
    """
    chosen, used = [], 0
    for path in paths:
        data = read_regular(Path(path), budget - used, own=True)
        if data is None:
            continue
        copy = folder / Path(path).name
        copy.write_bytes(data)
        chosen.append(copy)
        used += len(data)
    return chosen


def _deliver_all(send, urls: list[str], message: Message, attachments: list[Path]) -> None:
    """In the child: send to every URL at once, passing on ``(number, sent)`` as each ends."""
    _quiet_apprise()
    lock = threading.Lock()

    def deliver(number: int, url: str) -> None:
        try:
            sent = _notify_one(url, message, attachments)
        except Exception:  # a plugin's own failure: counted, its text (maybe a secret) dropped
            sent = False
        with lock:
            send((number, sent))

    workers = [threading.Thread(target=deliver, args=item, daemon=True) for item in enumerate(urls)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _deliver(
    urls: list[str], message: Message, attachments: list[Path], timeout: float
) -> tuple[dict[int, bool], bool]:
    """Send from a child process killed at the deadline (:func:`children.gather`).

    Returns what each URL's service answered by then, and whether the deadline passed: Apprise's
    own threads are waited for when a process exits, and a receiver answering a byte at a time
    restarts their read timeout with each byte.
    """
    items, timed_out = gather(
        _deliver_all, (urls, message, attachments), expected=len(urls), timeout=timeout
    )
    return dict(items), timed_out


def send(
    urls: Sequence[str],
    message: Message,
    attachments: Sequence[Path] = (),
    *,
    timeout: float = TIMEOUT_SECONDS,
) -> list[str]:
    """Send a message to every URL at once; attach files to emails only; return their masks.

    Each URL is its own Apprise service, so one that fails is named and the others still sent;
    nothing is printed. Services that show plain text get the message's plain text, the others
    its Markdown. Emails carry private copies of ``attachments`` (:func:`private_copies`).
    A service still working after ``timeout`` seconds (for all) counts as failed, and is
    stopped.

    Raises:
        NotifyError: A service failed or did not answer in time (each named by its
            :func:`mask`).
    """
    if not urls:
        return []
    with tempfile.TemporaryDirectory(prefix="ufs-attach-") as folder:
        copies = private_copies(attachments, Path(folder))
        results, timed_out = _deliver(list(urls), message, copies, timeout)
    failed = []
    for number, url in enumerate(urls):
        if number not in results and timed_out:
            failed.append(f"{mask(url)} (no answer within {timeout:g} s)")
        elif not results.get(number):
            failed.append(mask(url))
    if failed:
        raise NotifyError(
            f"notification not sent to {len(failed)} of {plural(len(urls), 'service')}: "
            + ", ".join(failed)
        )
    return [mask(url) for url in urls]


def send_failure(urls: Sequence[str], error: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
    """Send the notice of a run that failed to every URL; raise NotifyError as :func:`send`."""
    send(urls, failure_message(error), timeout=timeout)
