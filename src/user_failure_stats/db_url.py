"""The database URL: read, checked and described without its user or password.

``DB_URL`` is a secret: nothing here returns any part of it left of the last ``@``, and a
description shows no password even where a database or folder is named like one.
"""

from __future__ import annotations

import getpass
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from contextlib import suppress
from urllib.parse import quote, quote_plus, unquote, urlsplit

from user_failure_stats.errors import ConfigError
from user_failure_stats.text import visible

SHORTEST_HIDDEN = 4  # a shorter password would hide ordinary words and numbers


def parse_db_url(url):
    """Return a string or ``URL`` parsed by ``sqlalchemy.make_url``, or None (never echoed)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError, TypeError, AttributeError):
        return None


def ambiguous(url) -> bool:
    """Whether more than one unencoded "@" may have moved part of the password elsewhere."""
    return isinstance(url, str) and url.count("@") > 1


def check_db_url(url: str) -> None:
    """Raise ConfigError unless ``url`` is a usable PostgreSQL URL (never echoing it)."""
    parsed = parse_db_url(url)
    hosts = url.partition("://")[2].split("/")[0].split("?")[0].rsplit("@", 1)[-1]
    if parsed is None and "," in hosts:
        raise ConfigError(
            "DB_URL lists several hosts before the database, which SQLAlchemy cannot read: "
            "give them in the query, postgresql://user:password@/db?host=h1:5432&host=h2:5432",
            field="DB_URL",
        )
    if parsed is None:
        raise ConfigError(
            "DB_URL is not a valid database URL (expected postgresql://user:password@host/db; "
            "percent-encode special characters in the password, '@' as %40)",
            field="DB_URL",
        )
    if ambiguous(url):
        raise ConfigError(
            "DB_URL is ambiguous: it has more than one '@'; percent-encode '@' in the user "
            "name, password or database name as %40",
            field="DB_URL",
        )
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigError(
            f"DB_URL must point to PostgreSQL (postgresql://...), not {parsed.get_backend_name()}",
            field="DB_URL",
        )
    parts = [url, parsed.username, parsed.password, parsed.host, parsed.database]
    parts += [str(v) for v in parsed.query.values()]
    # Raw, or percent-encoded anywhere (SQLAlchemy versions decode different parts).
    if "%00" in url or any("\x00" in str(part) for part in parts if part is not None):
        raise ConfigError(
            "DB_URL holds a NUL character (raw or as %00), which no connection can carry",
            field="DB_URL",
        )


WELL_KNOWN_ROLE = "postgres"  # the default superuser and database: no secret
NAMED_LIKE_THE_ROLE = "(database named like the role)"


def describe_database(url, passwords: Iterable[str] = ()) -> str:
    """Return ``host:port/database`` for messages: nothing left of the last ``@``, ever.

    A database named like the role that connects (the URL's user, ``PGUSER``, or this
    machine's user, as libpq's default) is not named, except ``postgres``; a password the
    URL, ``PGPASSWORD`` or ``passwords`` (a password file's) give is ``(password)`` wherever
    it shows in a database, host or socket folder name (:func:`hidden_part`).

    The result is raw text from the URL: escape it where it is shown (``text`` module).
    """
    hidden = given_passwords(url, os.environ) | set(passwords)
    return _describe(url, lambda part: hidden_part(part, hidden))


def hidden_part(part: str, passwords: Iterable[str]) -> str:
    """Return a part of the URL (a database, host or folder name) with no password in it.

    Each password of :data:`SHORTEST_HIDDEN` characters or more is ``(password)`` in any
    case; a part that holds one only once percent-decoded or normalised is ``(password)``.
    """
    part = hide_passwords(part, passwords)
    plain = comparable(unquote(part))
    if any(len(p) >= SHORTEST_HIDDEN and comparable(p) in plain for p in passwords):
        return "(password)"
    return part


def comparable(text: str) -> str:
    """Return ``text`` as compared with a password: NFC-normalised, in no particular case."""
    return unicodedata.normalize("NFC", text).casefold()


def _describe(url, hide) -> str:
    if not url:
        return "(not configured)"
    if ambiguous(url):
        # Only what follows the last "@" is described, as a URL of its own.
        scheme, _, rest = url.partition("://")
        url = f"{scheme}://{rest.rsplit('@', 1)[-1]}"
    parsed = parse_db_url(url)
    if parsed is None:  # a malformed URL must not be echoed
        return "(unparsable DB_URL)"
    query = parsed.query  # libpq: the query's dbname wins, else the path, else PGDATABASE
    database = joined(query.get("dbname")) or parsed.database or os.environ.get("PGDATABASE", "")
    # libpq reads the query after the rest of the URL: its user, host and port win.
    role = joined(query.get("user")) or parsed.username or os.environ.get("PGUSER")
    if database and database.casefold() == (role or _login()).casefold() != WELL_KNOWN_ROLE:
        database = NAMED_LIKE_THE_ROLE  # createdb's habit: the name would give the role away
    database = hide(database)
    # Where libpq connects: the URL's host or address, else its service, else PGSERVICE,
    # PGHOST or PGHOSTADDR, else the default socket (not localhost).
    port = hide(str(joined(query.get("port")) or parsed.port or os.environ.get("PGPORT", "")))
    host = joined(query.get("host")) or parsed.host or ""
    address = hide(joined(query.get("hostaddr")))
    if not host and not address:
        service = query.get("service") or os.environ.get("PGSERVICE")
        if isinstance(service, str) and service:
            return f"service {hide(service)}" + (f"/{database}" if database else "")
        host, address = os.environ.get("PGHOST", ""), hide(os.environ.get("PGHOSTADDR", ""))
    host = hide(host)
    if host.startswith("/") or not (host or address):
        where = f"socket {host}:{port}" if port else f"socket {host}"
        if not host:
            where = f"default socket, port {port}" if port else "default socket"
        return f"{database or '(default)'} ({where})"  # folders, never a secret
    port = f":{port}" if port else ""
    if host and address:
        return f"{host}{port}/{database} (address {address})"
    return f"{host or address}{port}/{database}"


def _login() -> str:
    """This machine's user name, libpq's default role; empty when it has none."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


def joined(value) -> str:
    """Return a query value of a URL (a tuple when given twice) as text: ``/tmp/a, /tmp/b``."""
    return ", ".join(value) if isinstance(value, tuple) else value or ""


def url_passwords(url) -> set[str]:
    """Return the passwords in ``url``: ``user:password@`` (decoded, as written), ``?password=``.

    And ``?sslpassword=``, the client key's passphrase.
    """
    parsed = parse_db_url(url) if url else None
    found = set()
    if parsed is not None:
        found.add(str(parsed.password or ""))
        found |= {joined(parsed.query.get(key)) for key in ("password", "sslpassword")}
    if isinstance(url, str):
        with suppress(ValueError):
            found.add(urlsplit(url).password or "")  # as written, percent-encoded or not
    return {password for password in found if password}


def given_passwords(url, environ: Mapping) -> set[str]:
    """Return the passwords ``url`` and ``PGPASSWORD`` give, in every form a message may show."""
    return shown_forms(url_passwords(url) | {str(environ.get("PGPASSWORD") or "")})


def shown_forms(passwords: Iterable[str]) -> set[str]:
    """Return ``passwords`` as given, percent-encoded and with control characters escaped."""
    found = set(passwords)
    # Bytes that are no UTF-8 (a lone surrogate, from the shell) are percent-encoded as bytes.
    given = set(found)
    found |= {quote(p, safe="", errors="surrogateescape") for p in given}
    found |= {quote_plus(p, errors="surrogateescape") for p in given}
    found |= {visible(p) for p in found}  # as a message shows it, control characters escaped
    found |= {byte_escaped(p) for p in found}  # bytes no UTF-8 as libpq's words show them
    return {p for p in found if p}


def byte_escaped(text: str) -> str:
    r"""Return ``text`` with bytes that are no UTF-8 (lone surrogates) as ``\xff`` escapes.

    So the driver shows them in libpq's and a server's words (see ``driver.undecodable``).
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def hide_passwords(text: str, passwords: Iterable[str], shortest: int = SHORTEST_HIDDEN) -> str:
    """Return ``text`` with each password of ``shortest`` characters or more: ``(password)``."""
    for password in sorted(passwords, key=len, reverse=True):
        if len(password) >= shortest:  # in any case: upper() in a view, a host's lower case
            text = re.sub(re.escape(password), "(password)", text, flags=re.IGNORECASE)
    return text
