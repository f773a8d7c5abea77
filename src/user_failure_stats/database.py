"""Connecting to the database: a read-only, time-limited engine and its errors in one line.

Driver errors become ``DatabaseError`` lines that name the host and database, never the
user or password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from user_failure_stats import libpq_files
from user_failure_stats.db_url import (
    byte_escaped,
    describe_database,
    hide_passwords,
    parse_db_url,
    shown_forms,
    url_passwords,
)
from user_failure_stats.driver import NoAnswer, deadline_connection
from user_failure_stats.errors import ConfigError, DatabaseError
from user_failure_stats.settings import Settings
from user_failure_stats.text import visible
from user_failure_stats.window import Window

APPLICATION_NAME = "user-failure-stats"
DEADLINE_MARGIN_SECONDS = 5.0
MINIMUM_VERSION = 140000  # date_bin, which bins the trend, came with PostgreSQL 14
# SQLSTATE codes the server sends (the same under a localised server, unlike its messages).
QUERY_CANCELED = "57014"  # the statement timeout, or any other cancel
CONNECTION_ENDED = ("57P01", "57P02", "57P03")  # admin or crash shutdown, cannot connect now
AUTHENTICATION = ("28000", "28P01")
NO_SUCH_DATABASE = "3D000"
AUTHENTICATION_FAILED = (
    "authentication failed (check the user and password in DB_URL, or PGUSER, PGPASSWORD or "
    "PGPASSFILE when DB_URL leaves them out)"
)
TIMED_OUT = "connection timed out (CONNECT_TIMEOUT_SECONDS)"
# Failures while connecting carry no SQLSTATE in psycopg2 (it gives libpq's message only):
# these are told apart by libpq's words, the last two by the server's English ones.
CLIENT_FAILURES = (
    (("could not translate host name",), "host name not found"),
    (("connection refused",), "connection refused"),
    (
        ("on socket", "no such file or directory"),
        "no server is listening on that socket (for the demo's database, start it with "
        "user-failure-stats demo --serve)",
    ),
    (("timeout expired",), TIMED_OUT),
    (("authentication failed",), AUTHENTICATION_FAILED),
    (('database "', '" does not exist'), "the database does not exist"),
)
SERVER_WORDS_LIMIT = 300  # characters of a server's message passed on
BAD_ZONE = 'invalid value for parameter "timezone"'  # the server's words at connection
# A role the server names in its words: 'role "x"', 'for user "x"' (postgres_fdw).
NAMED_ROLE = re.compile(r'\b(user|role)\s+"(?:[^"]|"")*"', re.IGNORECASE)


def driver_url(url: str) -> sa.URL:
    """Return ``url`` parsed, with plain ``postgresql://`` bound to the psycopg2 driver.

    SQLAlchemy 2.1 made psycopg 3 the default driver; this project ships psycopg2-binary.
    ``postgres://``, which many hosts hand out and SQLAlchemy does not know, means the same.
    """
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def make_engine(settings: Settings) -> sa.Engine:
    """Create an engine whose sessions are read-only and time-limited.

    Each connection has a connect timeout, a server-side statement timeout, the session time
    zone ``DB_TIMEZONE``, read-only transactions and an ``application_name``. Client-side
    deadlines (the connect timeout; the statement timeout plus 5 s) end any wait, so a hung
    server, whose statement timeout never fires, cannot hang the tool.
    """
    from sqlalchemy.pool import NullPool

    url = settings.require_db_url()
    parsed = parse_db_url(url)
    query = parsed.query if parsed is not None else {}
    libpq_files.check_files(query, password=bool(parsed is not None and parsed.password))
    timeout_ms = max(1, int(settings.statement_timeout_seconds * 1000))
    # search_path: names resolve in pg_catalog first, whatever the role's default says, so a
    # schema of look-alike operators and functions cannot change what is counted (the tables
    # are always named with their schema). Text arrives as UTF-8 whatever the role's
    # client_encoding, and a role's idle session timeouts cannot end a report's reads.
    # A login event trigger runs after these: each connection sets them again once open.
    session = {
        "statement_timeout": str(timeout_ms),
        "default_transaction_read_only": "on",
        "TimeZone": settings.db_timezone,
        "search_path": "pg_catalog,pg_temp",
        "client_encoding": "UTF8",
        "idle_in_transaction_session_timeout": "0",
        "idle_session_timeout": "0",
    }
    connect_args = {
        "connect_timeout": settings.connect_timeout_seconds,
        "application_name": APPLICATION_NAME,
        "options": " ".join(f"-c {name}={value}" for name, value in session.items()),
        "connection_factory": deadline_connection(
            settings.connect_timeout_seconds,
            settings.statement_timeout_seconds + DEADLINE_MARGIN_SECONDS,
            session,
        ),
    }
    if "gssencmode" not in query and not os.environ.get("PGGSSENCMODE"):
        # Kerberos encryption only when asked for: libpq would otherwise read the Kerberos
        # ticket cache and configuration before every TCP connection, with no timeout.
        connect_args["gssencmode"] = "disable"
    try:
        engine = sa.create_engine(driver_url(url), poolclass=NullPool, connect_args=connect_args)
        _, arguments = engine.dialect.create_connect_args(engine.url)
    except (sa_exc.ArgumentError, ValueError, ImportError):
        raise DatabaseError(
            f"cannot use DB_URL for {describe(url)}: not a usable PostgreSQL URL"
        ) from None
    arguments |= {k: v for k, v in connect_args.items() if k != "connection_factory"}
    # libpq tries each host in turn, each within the connect timeout (rounded up to 2 s), and
    # a service file may list more: a generous deadline, so only a wait for ever is caught.
    given = str(arguments.get("host") or os.environ.get("PGHOST") or "")
    hosts = max(
        given.count(",") + 1, 4 if "service" in arguments or os.environ.get("PGSERVICE") else 1
    )
    seconds = (max(settings.connect_timeout_seconds, 2) + 2) * hosts + 10
    if libpq_files.probe(arguments, seconds, describe(url)) == "timeout":
        raise DatabaseError(f"cannot connect to the database {describe(url)}: {TIMED_OUT}")
    return engine


def describe(url) -> str:
    """Return where ``url`` connects, for messages: no user, no password libpq may send.

    A password file's or a service file's too (see :func:`passwords`).
    """
    return describe_database(url, passwords(url, parse_db_url(url) if url else None))


@contextmanager
def database_errors(engine_or_url):
    """Turn driver errors into one-line DatabaseErrors that name the host and database only."""
    url = engine_or_url.url if isinstance(engine_or_url, sa.Engine) else engine_or_url
    target = describe(url)
    parsed = parse_db_url(url) if url else None
    given = [parsed and parsed.username, parsed and parsed.query.get("user")]
    roles = {name for name in given if isinstance(name, str)}
    roles |= libpq_files.possible_users(parsed.query if parsed else {}, os.environ)
    try:
        yield roles  # a connection adds the roles it runs as (see connection)
    except sa_exc.SQLAlchemyError as exc:
        if BAD_ZONE in str(getattr(exc, "orig", "")).lower():  # refused before the session
            raise ConfigError(
                "DB_TIMEZONE: the database server does not know this time zone (its names are "
                "in pg_timezone_names): use an IANA name such as Asia/Kolkata",
                field="DB_TIMEZONE",
            ) from None
        hidden = Hidden(roles, passwords(url, parsed))
        # The target is described without passwords, the server's and libpq's words are
        # hidden as they come: the tool's own words ("database") stay, a password or not.
        raise DatabaseError(explain(exc, target, hidden)) from None


@dataclass(frozen=True)
class Hidden:
    """What a server's words must not show: role names, and passwords (matched exactly)."""

    roles: Iterable[str] = ()
    passwords: Iterable[str] = ()

    def __iter__(self):  # read as the roles, where only roles are asked for
        return iter(self.roles)


def passwords(url, parsed) -> set[str]:
    """The passwords libpq may send for ``url``, as given and as they may be written."""
    found = libpq_files.possible_passwords(parsed.query if parsed else {}, os.environ)
    return shown_forms(found | url_passwords(url))


def explain(exc: Exception, target: str, roles: Iterable[str] = ()) -> str:
    """Return a one-line, secret-free explanation of a database error.

    Told apart by the SQLSTATE, or by libpq's words for failures before the server answers.
    The server's own words are passed on without the role's names (``roles``, and any role
    or user it names in quotes).
    """
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "pgcode", None)
    primary = getattr(getattr(orig, "diag", None), "message_primary", None)
    if isinstance(orig, NoAnswer) and orig.connecting:
        return f"cannot connect to the database {target}: {TIMED_OUT}"
    if isinstance(orig, NoAnswer):
        return (
            f"the database {target} did not answer within the timeout "
            "(STATEMENT_TIMEOUT_SECONDS plus 5 s): the server may be hung or overloaded"
        )
    if code == QUERY_CANCELED and "statement timeout" in (primary or ""):
        return f"query on {target} cancelled by the statement timeout (STATEMENT_TIMEOUT_SECONDS)"
    if code == QUERY_CANCELED:  # an administrator, a server function, or words in its language
        why = server_words(primary or "", roles) or "no reason given"
        return f"query on {target} was cancelled on the server: {why}"
    lower = str(orig if orig is not None else exc).lower()
    if code in CONNECTION_ENDED or (code is None and "server closed the connection" in lower):
        return (
            f"the database {target} ended the connection during the query (server stopped, "
            "or a timeout set for the role or database?)"
        )
    if code in AUTHENTICATION:
        return f"cannot connect to the database {target}: {AUTHENTICATION_FAILED}"
    if code == NO_SUCH_DATABASE:
        return f"cannot connect to the database {target}: the database does not exist"
    if isinstance(exc, sa_exc.OperationalError) and code is None and primary is None:
        reason = next(
            (why for words, why in CLIENT_FAILURES if all(w in lower for w in words)), None
        )
        return f"cannot connect to the database {target}: {reason or libpq_words(orig, roles)}"
    if isinstance(exc, sa_exc.ProgrammingError) and lower.startswith("invalid dsn:"):
        return f"cannot use DB_URL for {target}: {libpq_words(orig, roles)}"
    if primary:
        return f"query on {target} failed: {server_words(primary, roles)}"
    return f"database error on {target}: {exc.__class__.__name__}"


def libpq_words(error, roles: Iterable[str]) -> str:
    """Return libpq's reason from its message, as :func:`server_words`, without where it was.

    ``connection to server at "h", port 5432 failed: session is not read-only`` gives
    ``session is not read-only``; ``invalid dsn: invalid connection option "x"`` the part after
    the colon.
    """
    line = (str(error).strip().splitlines() or [""])[0]
    for prefix in (" failed: ", "invalid dsn: "):
        line = line.split(prefix, 1)[-1]
    return server_words(visible(line), roles) or "connection failed"


def server_words(text: str, roles: Iterable[str]) -> str:
    """Return a server's message as one bounded line, without role names (:func:`hide_roles`)."""
    line = " ".join(hide_roles(text, roles).split())
    return line if len(line) <= SERVER_WORDS_LIMIT else line[: SERVER_WORDS_LIMIT - 1] + "…"


def hide_roles(text: str, roles: Iterable[str]) -> str:
    """Return a server's message with role names replaced: ``role "x"`` -> ``role (hidden)``.

    Given :class:`Hidden`, its passwords are replaced first, wherever they are: ``(password)``.
    """
    text = hide_passwords(text, getattr(roles, "passwords", ()), shortest=1)
    text = NAMED_ROLE.sub(r"\1 (hidden)", text)
    names = {form for role in filter(None, roles) for form in (role, byte_escaped(role))}
    for role in sorted(names, key=len, reverse=True):
        # Unquoted too, but not inside a longer name (postgres_fdw).
        pattern = rf"(?<![\w$]){re.escape(role)}(?![\w$])"  # in any case: upper(current_user)
        text = re.sub(pattern, "(role)", text, flags=re.IGNORECASE)
    return text


def require_version(version_num, version) -> str:
    """Return the version's number (``18.1``); DatabaseError unless the server says 14 or newer.

    ``server_version_num`` is ``130004`` for 13.4; anything else (a server that only speaks
    PostgreSQL's protocol) is refused as unreadable.
    """
    words = version.split() if isinstance(version, str) else []
    if isinstance(version_num, str) and re.fullmatch(r"[0-9]{5,7}", version_num):
        version_num = int(version_num)
    if isinstance(version_num, bool) or not isinstance(version_num, int) or not words:
        raise DatabaseError("the server's version is unreadable: is it PostgreSQL?")
    if version_num < MINIMUM_VERSION:
        found = server_words(words[0], ())[:40]
        raise DatabaseError(f"PostgreSQL 14 or newer is required, found {found}")
    return server_words(words[0], ())[:40]


TIMESTAMPS = ("timestamp without time zone", "timestamp with time zone")
INTEGERS = ("smallint", "integer", "bigint")  # a user_id's (the query joins and sorts them)
# Every column of the report's tables, with its type: a domain's innermost base type (a
# domain may be over another), and whether the role may read it. From the catalog, which
# lists every column whatever the role may read (information_schema only the readable ones).
COLUMNS_SQL = """
WITH RECURSIVE typed AS (
    SELECT c.relname, a.attname, a.atttypid AS type, 0 AS depth,
           pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT') AS readable
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname = 'public' AND c.relname IN ('calllog', 'user')
  UNION ALL
    SELECT typed.relname, typed.attname, t.typbasetype, typed.depth + 1, typed.readable
    FROM typed JOIN pg_catalog.pg_type t ON t.oid = typed.type
    WHERE t.typtype = 'd'
)
SELECT DISTINCT ON (relname, attname)
       relname, attname,
       CASE WHEN t.typtype = 'c' THEN 'composite ' ELSE '' END
           || pg_catalog.format_type(type, NULL),
       readable
FROM typed JOIN pg_catalog.pg_type t ON t.oid = typed.type
ORDER BY relname, attname, depth DESC
"""
COMPOSITE = "composite "  # the prefix COLUMNS_SQL gives a row type's name


def table_name(table: str, column: str | None = None) -> str:
    """Return a report table's (or its column's) name as SQL writes it: ``public."user".name``."""
    name = 'public."user"' if table == "user" else f"public.{table}"
    return name if column is None else f"{name}.{column}"


def columns(conn: sa.Connection) -> dict[tuple[str, str], tuple[str, bool]]:
    """Return ``{(table, column): (type, readable)}`` for the report's tables' columns."""
    rows = conn.execute(sa.text(COLUMNS_SQL))
    return {(table, column): (kind, readable) for table, column, kind, readable in rows}


def require_types(types: dict[tuple[str, str], str]) -> None:
    """Raise DatabaseError unless the columns the report compares have types it can trust.

    ``created_on`` must be a timestamp (a ``date`` compares, and counts whole days), and
    ``user_id`` in both tables an integer (a ``numeric`` id may be 259.5 or NaN);
    ``session_id`` and ``exotel_call_sid`` no row type (``IS NULL`` means every field).
    Columns not in ``types`` are not checked (the query names what is missing).
    """
    created_on = types.get(("calllog", "created_on"))
    if created_on is not None and created_on not in TIMESTAMPS:
        raise DatabaseError(
            f"public.calllog.created_on is {created_on}: it must be timestamp or timestamptz "
            "(date and time of the call)"
        )
    for table in ("calllog", "user"):
        kind = types.get((table, "user_id"))
        if kind is not None and kind not in INTEGERS:
            raise DatabaseError(
                f"{table_name(table, 'user_id')} is {kind}: it must be an integer type "
                "(smallint, integer or bigint)"
            )
    for column in ("session_id", "exotel_call_sid"):
        kind = types.get(("calllog", column)) or ""
        if kind.startswith(COMPOSITE):
            raise DatabaseError(
                f"{table_name('calllog', column)} is the {kind} type: a row is NULL only when "
                "all its fields are, so sessions and failures cannot be counted; it must be "
                "a plain type such as text"
            )


def prepare(conn: sa.Connection, schema: bool = True) -> tuple[str, bool]:
    """Check the server's version and the columns' types (unless not ``schema``).

    Returns the version (``18.1``) and whether ``created_on`` is timestamptz.
    """
    row = conn.execute(
        sa.text(
            "SELECT current_setting('server_version_num'), "
            "current_setting('server_version'), current_user"
        )
    ).one()
    conn.info.setdefault("roles", set()).add(row[2])
    version = require_version(row[0], row[1])
    types = {key: kind for key, (kind, _) in columns(conn).items()}
    if schema:
        require_types(types)
    return version, types.get(("calllog", "created_on")) == TIMESTAMPS[1]


def window_bounds(window: Window, instants: bool) -> dict:
    """Return the window's bounds as the queries bind them.

    For a ``timestamptz`` column (``instants``) they are aware datetimes, exact whatever
    ``DB_TIMEZONE`` says; else the naive wall times of ``DB_TIMEZONE`` (``window.db_start``).
    """
    previous = window.previous()
    if instants:
        return {"previous_start": previous.start, "start": window.start, "end": window.end}
    return {"previous_start": previous.db_start, "start": window.db_start, "end": window.db_end}


def server_version(engine: sa.Engine, schema: bool = True) -> str:
    """Return the server's version (``PostgreSQL 18.6``); DatabaseError if unreachable or old.

    With ``schema``, also if ``created_on`` is there but no timestamp.
    """
    with connection(engine) as conn:
        return f"PostgreSQL {prepare(conn, schema)[0]}"


@contextmanager
def connection(settings_or_engine: Settings | sa.Engine):
    """Connect with the engine given, or a new one for the settings; errors as DatabaseErrors."""
    engine = settings_or_engine
    if not isinstance(engine, sa.Engine):
        engine = make_engine(settings_or_engine)
    with database_errors(engine) as roles, engine.connect() as conn:
        roles.add(conn.connection.dbapi_connection.info.user)  # from PGUSER, a service file...
        conn.info["roles"] = roles  # prepare adds current_user (a role's settings may SET ROLE)
        yield conn
