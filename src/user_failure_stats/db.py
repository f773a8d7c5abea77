"""Database access: a read-only engine and the one aggregate query.

The query counts sessions and failures per user inside PostgreSQL (aggregate on ``calllog``
first, join the names afterwards), so one row per user comes back, never one per call.
Every value reaches the server as a bound parameter.
"""

from __future__ import annotations

import select
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg2
import psycopg2.extensions
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from user_failure_stats.errors import ConfigError, DatabaseError
from user_failure_stats.settings import Settings, describe_database
from user_failure_stats.window import Window

if TYPE_CHECKING:
    import pandas as pd

APPLICATION_NAME = "user-failure-stats"

metadata = sa.MetaData()

calllog = sa.Table(
    "calllog",
    metadata,
    sa.Column("session_id", sa.Text),
    sa.Column("user_id", sa.BigInteger),
    sa.Column("exotel_call_sid", sa.Text),
    sa.Column("created_on", sa.DateTime),
    schema="public",
)

users = sa.Table(
    "user",
    metadata,
    sa.Column("user_id", sa.BigInteger),
    sa.Column("name", sa.Text),
    schema="public",
)

COUNT_COLUMNS = ["user_id", "name", "has_user_record", "total_sessions", "failed_sessions"]


def driver_url(url: str) -> sa.URL:
    """Return ``url`` parsed, with plain ``postgresql://`` bound to the psycopg2 driver.

    SQLAlchemy 2.1 made psycopg 3 the default PostgreSQL driver; this project ships
    psycopg2-binary, so a URL that names no driver gets psycopg2. ``postgres://``, which many
    hosting providers hand out and SQLAlchemy does not know, means the same.
    """
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def make_engine(settings: Settings) -> sa.Engine:
    """Create an engine whose sessions are read-only and time-limited.

    Each connection has a connect timeout, a server-side statement timeout, the session
    time zone set to ``DB_TIMEZONE``, read-only transactions and an ``application_name``.
    Client-side deadlines end any wait for the server: the connect timeout while connecting,
    the statement timeout plus 5 s for a query, so a hung server (whose statement timeout
    never fires) cannot hang the tool.
    """
    from sqlalchemy.pool import NullPool

    url = settings.require_db_url()
    timeout_ms = max(1, int(settings.statement_timeout_seconds * 1000))
    options = (
        f"-c statement_timeout={timeout_ms} "
        f"-c default_transaction_read_only=on "
        f"-c TimeZone={settings.db_timezone}"
    )
    try:
        return sa.create_engine(
            driver_url(url),
            poolclass=NullPool,
            connect_args={
                "connect_timeout": settings.connect_timeout_seconds,
                "application_name": APPLICATION_NAME,
                "options": options,
                "connection_factory": deadline_connection(
                    settings.connect_timeout_seconds,
                    settings.statement_timeout_seconds + DEADLINE_MARGIN_SECONDS,
                ),
            },
        )
    except (sa_exc.ArgumentError, ValueError, ImportError):
        raise DatabaseError(
            f"cannot use DB_URL for {describe_database(url)}: not a usable PostgreSQL URL"
        ) from None


DEADLINE_MARGIN_SECONDS = 5.0


class NoAnswer(psycopg2.OperationalError):
    """The server did not answer within the client's deadline; ``connecting`` says when."""

    def __init__(self, message: str, connecting: bool):
        super().__init__(message)
        self.connecting = connecting


def deadline_connection(connect_seconds: float, query_seconds: float) -> type:
    """Return a psycopg2 connection class whose waits for the server have deadlines.

    The deadlines are kept by :func:`wait_with_deadline`, psycopg2's wait callback (its
    documented hook for waiting on the server), installed here for the process.
    """
    psycopg2.extensions.set_wait_callback(wait_with_deadline)
    deadlines = {"connect_deadline": connect_seconds, "query_deadline": query_seconds}
    return type("DeadlineConnection", (psycopg2.extensions.connection,), deadlines)


@contextmanager
def blocking_waits():
    """Wait for the server the ordinary, blocking way meanwhile (COPY needs it).

    psycopg2 refuses ``COPY`` while a wait callback (see :func:`deadline_connection`) is
    installed; this removes it for the block, and puts back whatever was there.
    """
    saved = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(saved)


def wait_with_deadline(conn) -> None:
    """Wait for the server as psycopg2 asks, within the connection's deadline.

    Connections of other classes wait without a deadline.

    Raises:
        NoAnswer: The deadline passed (psycopg2 then closes the connection).
    """
    connecting = conn.status == psycopg2.extensions.STATUS_SETUP
    limit = getattr(conn, "connect_deadline" if connecting else "query_deadline", None)
    ends = None if limit is None else time.monotonic() + limit
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        left = None if ends is None else ends - time.monotonic()
        if left is not None and left <= 0:  # psycopg2 then closes the connection
            raise NoAnswer(f"no answer within {limit:g} s", connecting)
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [], left)
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [], left)
        else:  # pragma: no cover - psycopg2 knows no other state
            raise psycopg2.OperationalError(f"unexpected poll state {state}")


# The trend's buckets: 15 minutes divide every time zone's offset, so PostgreSQL bins in its
# own zone and Python regroups the bins into the report zone's hours or days.
TREND_BIN = "15 minutes"


def users_once() -> sa.Subquery:
    """Return ``public."user"`` with one row per ``user_id``, however many it holds.

    The name is the first in sort order among the user's non-NULL names, so a duplicated
    user counts each session once and is always labelled the same; ``user_rows`` says how
    many rows the user has.
    """
    return (
        sa.select(
            users.c.user_id,
            sa.func.min(users.c.name).label("name"),
            sa.func.count().label("user_rows"),
        )
        .group_by(users.c.user_id)
        .subquery("users_once")
    )


def window_counts_query() -> sa.CompoundSelect:
    """Build the one statement behind a report.

    Two aggregates in one ``UNION ALL``: sessions and failures per (period, user) over the
    window and the window of the same length before it, and per 15-minute bin over the
    window (for the trend). Each is a parallel GROUP BY; PostgreSQL runs ``GROUPING SETS``
    without parallel workers, and it measured five times slower (benchmarks/results.md).
    The trend's aggregate is as plain: on a call log not stored in time order PostgreSQL
    runs it in one process (it expects a group per ``created_on`` value), and the
    formulations that change that did not pay for themselves (benchmarks/results.md).
    Names are joined after aggregating. One row per user and per bin comes back, never one
    per call.

    Bound parameters: ``previous_start``, ``start``, ``end`` (naive, in the database's zone).

    Returns:
        The columns ``by_period, in_window, user_id, name, has_user_record, user_rows,
        bucket, total_sessions, failed_sessions``; ``by_period`` is 1 on the trend's rows.
    """
    c = calllog.c
    start = sa.bindparam("start", type_=sa.DateTime)
    end = sa.bindparam("end", type_=sa.DateTime)
    failed = sa.func.count().filter(c.exotel_call_sid.is_(None))
    per_user = (
        sa.select(
            (c.created_on >= start).label("in_window"),
            c.user_id,
            sa.func.count().label("total_sessions"),
            failed.label("failed_sessions"),
        )
        .where(
            c.session_id.is_not(None),
            c.created_on >= sa.bindparam("previous_start", type_=sa.DateTime),
            c.created_on < end,
        )
        .group_by(sa.literal_column("1"), c.user_id)  # 1: in_window, by position
        .subquery("per_user")
    )
    once = users_once()
    users_part = sa.select(
        sa.literal_column("0").label("by_period"),
        per_user.c.in_window,
        per_user.c.user_id,
        once.c.name,
        once.c.user_id.is_not(None).label("has_user_record"),
        once.c.user_rows,
        sa.null().cast(sa.DateTime).label("bucket"),
        per_user.c.total_sessions,
        per_user.c.failed_sessions,
    ).select_from(per_user.outerjoin(once, once.c.user_id == per_user.c.user_id))
    bucket = sa.func.date_bin(
        sa.literal_column(f"interval '{TREND_BIN}'"),
        c.created_on,
        sa.literal_column("timestamp '2000-01-01'"),
    )
    trend_part = (
        sa.select(
            sa.literal_column("1").label("by_period"),
            sa.true().label("in_window"),
            sa.null().cast(sa.BigInteger).label("user_id"),
            sa.null().cast(sa.Text).label("name"),
            sa.false().label("has_user_record"),
            sa.null().cast(sa.BigInteger).label("user_rows"),
            bucket.label("bucket"),
            sa.func.count().label("total_sessions"),
            failed.label("failed_sessions"),
        )
        .where(c.session_id.is_not(None), c.created_on >= start, c.created_on < end)
        .group_by(sa.literal_column("7"))  # 7: the bucket, by position
    )
    return sa.union_all(users_part, trend_part)


@dataclass(frozen=True)
class WindowCounts:
    """What the report needs from the database, from one query.

    Attributes:
        current: Per-user counts in the window (``COUNT_COLUMNS``).
        previous: Per-user counts in the window of the same length before it.
        trend: ``bucket, total_sessions, failed_sessions`` per 15 minutes of the window;
            ``bucket`` is naive, in the database's zone (``analysis.trend`` regroups it).
        duplicate_users: Users of the window with more than one row in ``public."user"``
            (each is counted once, see :func:`users_once`).
        notes: The window's notes that hold for this call log (a bound in a repeated hour
            matters only for naive ``timestamp`` values).
    """

    current: pd.DataFrame
    previous: pd.DataFrame
    trend: pd.DataFrame
    duplicate_users: int = 0
    notes: tuple[str, ...] = ()


def fetch_window_counts(settings_or_engine: Settings | sa.Engine, window: Window) -> WindowCounts:
    """Run the report's aggregate query for ``window``.

    Args:
        settings_or_engine: Settings to connect with, or an engine from :func:`make_engine`.
        window: The window; its database-zone bounds are the query's parameters.

    Returns:
        The per-user counts of the window and of the previous window, and the trend.

    Raises:
        DatabaseError: The database cannot be reached or the query fails.
    """
    import numpy as np
    import pandas as pd

    engine = _engine(settings_or_engine)
    with database_errors(engine), engine.connect() as conn:
        _, instants = _prepare(conn)
        result = conn.execute(window_counts_query(), window_bounds(window, instants))
        keys = list(result.keys())
        rows = result.fetchall()
    # One row per user and period and per bin, turned into columns at once (no object per
    # cell): at a million users this is seconds faster than a DataFrame of the rows.
    values = zip(*rows, strict=True) if rows else [()] * len(keys)
    columns = {k: np.array(v, dtype=object) for k, v in zip(keys, values, strict=True)}
    del rows
    in_window = columns["in_window"].astype(bool)
    per_user = columns["by_period"].astype("int64") == 0
    user_rows = pd.to_numeric(columns["user_rows"], errors="coerce")

    def users_where(mask) -> pd.DataFrame:
        picked = np.flatnonzero(mask)
        # Integer ids stay integers next to a NULL user_id (nullable Int64, not float).
        frame = pd.DataFrame(
            {
                "user_id": pd.array(columns["user_id"][picked].tolist()),
                "name": columns["name"][picked],
                "has_user_record": columns["has_user_record"][picked],
                "total_sessions": columns["total_sessions"][picked],
                "failed_sessions": columns["failed_sessions"][picked],
            }
        )
        return _typed(frame)

    bins = np.flatnonzero(in_window & ~per_user)
    trend = pd.DataFrame(
        {
            "bucket": columns["bucket"][bins],
            "total_sessions": columns["total_sessions"][bins],
            "failed_sessions": columns["failed_sessions"][bins],
        }
    )
    duplicates = int((per_user & in_window & (np.nan_to_num(user_rows) > 1)).sum())
    notes = () if instants else window.notes  # instants have no repeated hours
    return WindowCounts(
        users_where(per_user & in_window),
        users_where(per_user & ~in_window),
        trend,
        duplicates,
        notes,
    )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame["total_sessions"] = frame["total_sessions"].astype("int64")
    frame["failed_sessions"] = frame["failed_sessions"].astype("int64")
    frame["has_user_record"] = frame["has_user_record"].astype(bool)
    return frame


def fetch_user_counts(settings_or_engine: Settings | sa.Engine, window: Window) -> pd.DataFrame:
    """Return the window's per-user counts (see :func:`fetch_window_counts`).

    Returns:
        A DataFrame with the columns ``user_id, name, has_user_record, total_sessions,
        failed_sessions``; empty (with those columns) when the window has no sessions.
    """
    return fetch_window_counts(settings_or_engine, window).current


class database_errors:  # noqa: N801 - used as a context manager, reads like a statement
    """Turn driver errors into one-line DatabaseErrors that name the host and database only."""

    def __init__(self, engine_or_url):
        url = engine_or_url.url if isinstance(engine_or_url, sa.Engine) else engine_or_url
        self.target = describe_database(url)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, sa_exc.SQLAlchemyError):
            return False
        raise DatabaseError(explain(exc, self.target)) from None


# SQLSTATE codes the server sends (the same under a localised server, unlike its messages).
QUERY_CANCELED = "57014"  # the statement timeout
CONNECTION_ENDED = ("57P01", "57P02", "57P03")  # admin or crash shutdown, cannot connect now
AUTHENTICATION = ("28000", "28P01")
NO_SUCH_DATABASE = "3D000"
AUTHENTICATION_FAILED = "authentication failed (check the user and password in DB_URL)"
# Failures while connecting carry no SQLSTATE in psycopg2 (it gives libpq's message only):
# these are told apart by libpq's words, the last two by the server's English ones.
CLIENT_FAILURES = (
    (("could not translate host name",), "host name not found"),
    (("connection refused",), "connection refused"),
    (("timeout expired",), "connection timed out (CONNECT_TIMEOUT_SECONDS)"),
    (("authentication failed",), AUTHENTICATION_FAILED),
    (('database "', '" does not exist'), "the database does not exist"),
)


def explain(exc: Exception, target: str) -> str:
    """Return a one-line, secret-free explanation of a database error.

    Errors the server reports are told apart by their SQLSTATE; failures before a server
    answers (no host, refused, timed out) by libpq's words, as they have no SQLSTATE.
    """
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "pgcode", None)
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if isinstance(orig, NoAnswer) and orig.connecting:
        return (
            f"cannot connect to the database {target}: connection timed out "
            "(CONNECT_TIMEOUT_SECONDS)"
        )
    if isinstance(orig, NoAnswer):
        return (
            f"the database {target} did not answer within the timeout "
            "(STATEMENT_TIMEOUT_SECONDS plus 5 s): the server may be hung or overloaded"
        )
    if code == QUERY_CANCELED:
        return f"query on {target} cancelled by the statement timeout (STATEMENT_TIMEOUT_SECONDS)"
    lower = str(orig if orig is not None else exc).lower()
    if code in CONNECTION_ENDED or (code is None and "server closed the connection" in lower):
        return f"the database {target} ended the connection during the query (server stopped?)"
    if code in AUTHENTICATION:
        return f"cannot connect to the database {target}: {AUTHENTICATION_FAILED}"
    if code == NO_SUCH_DATABASE:
        return f"cannot connect to the database {target}: the database does not exist"
    if isinstance(exc, sa_exc.OperationalError) and code is None and primary is None:
        reason = next(
            (why for words, why in CLIENT_FAILURES if all(w in lower for w in words)), None
        )
        return f"cannot connect to the database {target}: {reason or 'connection failed'}"
    if primary:
        return f"query on {target} failed: {primary}"
    return f"database error on {target}: {exc.__class__.__name__}"


MINIMUM_VERSION = 140000  # date_bin, which bins the trend, came with PostgreSQL 14


def require_version(version_num: int, version: str) -> None:
    """Raise DatabaseError unless the server is PostgreSQL 14 or newer.

    Args:
        version_num: ``server_version_num`` (``130004`` for 13.4).
        version: ``server_version``, for the message.
    """
    if version_num < MINIMUM_VERSION:
        raise DatabaseError(f"PostgreSQL 14 or newer is required, found {version.split()[0]}")


def check_version(conn: sa.Connection) -> str:
    """Check the server's version on an open connection; return it (``18.1``)."""
    return _prepare(conn)[0]


def _prepare(conn: sa.Connection) -> tuple[str, bool]:
    """Check the server's version; tell whether ``created_on`` holds instants.

    One round trip, at the start of each connection that queries the call log.

    Returns:
        The version (``18.1``) and whether ``created_on`` is a ``timestamptz``.
    """
    row = conn.execute(
        sa.text(
            "SELECT current_setting('server_version_num')::int, "
            "current_setting('server_version'), "
            "(SELECT format_type(atttypid, NULL) FROM pg_attribute "
            " WHERE attrelid = to_regclass(:table) AND attname = :column AND NOT attisdropped)"
        ),
        {"table": "public.calllog", "column": "created_on"},
    ).one()
    require_version(row[0], row[1])
    return str(row[1]).split()[0], row[2] == "timestamp with time zone"


def window_bounds(window: Window, instants: bool) -> dict:
    """Return the window's bounds as the queries bind them.

    For a ``timestamptz`` column the bounds are instants (aware datetimes): exact, whatever
    ``DB_TIMEZONE`` says. For a ``timestamp`` column they are the naive wall times of
    ``DB_TIMEZONE`` (``window.db_start``/``db_end``).
    """
    previous = window.previous()
    if instants:
        return {"previous_start": previous.start, "start": window.start, "end": window.end}
    return {"previous_start": previous.db_start, "start": window.db_start, "end": window.db_end}


def server_version(engine: sa.Engine) -> str:
    """Return the server's version (``PostgreSQL 18.6``), checking it is reachable and new enough.

    Raises:
        DatabaseError: The server cannot be reached, or is older than PostgreSQL 14.
    """
    with database_errors(engine), engine.connect() as conn:
        return f"PostgreSQL {check_version(conn)}"


def column_types(engine: sa.Engine) -> dict[tuple[str, str], str]:
    """Return the data type of each column of the report's tables: ``{(table, column): type}``.

    Example: ``{("calllog", "created_on"): "timestamp with time zone", ...}``.
    """
    columns = sa.table(
        "columns",
        sa.column("table_schema"),
        sa.column("table_name"),
        sa.column("column_name"),
        sa.column("data_type"),
        schema="information_schema",
    )
    query = sa.select(columns.c.table_name, columns.c.column_name, columns.c.data_type).where(
        columns.c.table_schema == sa.bindparam("schema"),
        columns.c.table_name.in_([t.name for t in (calllog, users)]),
    )
    with database_errors(engine), engine.connect() as conn:
        return {(t, c): kind for t, c, kind in conn.execute(query, {"schema": "public"})}


def missing_columns(engine: sa.Engine) -> list[str]:
    """Return the required tables/columns the database lacks, as ``table.column`` names."""
    present = column_types(engine)
    wanted = [(t.name, c.name) for t in (calllog, users) for c in t.columns]
    return [
        f'public."{t}".{c}' if t == "user" else f"public.{t}.{c}"
        for t, c in wanted
        if (t, c) not in present
    ]


TIMESTAMP_TYPES = ("timestamp without time zone", "timestamp with time zone")


def describe_created_on(kind: str, db_timezone: str) -> str:
    """Say how ``created_on`` is read, from its data type; raise for a type that is no time.

    Raises:
        ConfigError: ``created_on`` is neither ``timestamp`` nor ``timestamptz``.
    """
    if kind == "timestamp with time zone":
        return "created_on is timestamptz: instants, DB_TIMEZONE does not apply"
    if kind == "timestamp without time zone":
        return f"created_on is timestamp without time zone, read in DB_TIMEZONE {db_timezone}"
    raise ConfigError(
        f"public.calllog.created_on is {kind}: it must be timestamp or timestamptz",
        field="created_on",
    )


WRITE_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")


def write_privileges(settings_or_engine: Settings | sa.Engine) -> list[str]:
    """Return what the connected role may change in the report's tables, for ``check``.

    Counted are the role's own rights and those of every role it may ``SET ROLE`` to, on the
    table or on any of its columns (``INSERT``/``UPDATE`` can be granted per column).
    Example: ``["INSERT, DELETE on public.calllog"]``; empty for a role that can only read.
    The tool itself only reads; this tells whether the role enforces it.
    """
    query = sa.text(
        """
        SELECT t.name, p.privilege
        FROM unnest(CAST(:tables AS text[])) WITH ORDINALITY AS t(name, i)
        CROSS JOIN unnest(CAST(:privileges AS text[])) WITH ORDINALITY AS p(privilege, j)
        WHERE EXISTS (
            SELECT 1 FROM pg_roles r
            WHERE pg_has_role(current_user, r.oid, 'MEMBER')
              AND CASE WHEN p.privilege IN ('INSERT', 'UPDATE')
                       THEN has_any_column_privilege(r.oid, t.name, p.privilege)
                       ELSE has_table_privilege(r.oid, t.name, p.privilege) END
        )
        ORDER BY t.i, p.j
        """
    )
    tables = ["public.calllog", 'public."user"']
    engine = _engine(settings_or_engine)
    with database_errors(engine), engine.connect() as conn:
        granted = conn.execute(
            query, {"tables": tables, "privileges": list(WRITE_PRIVILEGES)}
        ).all()
    return [
        f"{', '.join(p for t, p in granted if t == table)} on {table}"
        for table in tables
        if any(t == table for t, _ in granted)
    ]


def _in_window(window_column=None):
    column = calllog.c.created_on if window_column is None else window_column
    return sa.and_(
        column >= sa.bindparam("start", type_=sa.DateTime),
        column < sa.bindparam("end", type_=sa.DateTime),
    )


def data_quality_query() -> sa.Select:
    """Build the query that counts the window's suspicious rows, in one aggregate.

    Columns: ``rows_in_window``, ``rows_without_session_id`` (not sessions: ignored),
    ``sessions_with_empty_sid`` (counted as successes, but the provider gave no call id),
    ``sessions_without_user_id``.
    """
    c = calllog.c
    session = c.session_id.is_not(None)
    return sa.select(
        sa.func.count().label("rows_in_window"),
        sa.func.count().filter(c.session_id.is_(None)).label("rows_without_session_id"),
        sa.func.count().filter(session, c.exotel_call_sid == "").label("sessions_with_empty_sid"),
        sa.func.count().filter(session, c.user_id.is_(None)).label("sessions_without_user_id"),
    ).where(_in_window())


def fetch_data_quality(settings_or_engine: Settings | sa.Engine, window: Window) -> dict:
    """Return the window's data-quality counts (see :func:`data_quality_query`)."""
    engine = _engine(settings_or_engine)
    with database_errors(engine), engine.connect() as conn:
        bounds = window_bounds(window, _prepare(conn)[1])
        row = conn.execute(
            data_quality_query(), {"start": bounds["start"], "end": bounds["end"]}
        ).one()
    return {key: int(value) for key, value in row._mapping.items()}


def session_details_query() -> sa.Select:
    """Build the per-session query of a window, oldest first, at most ``:limit`` rows."""
    once = users_once()
    return (
        sa.select(
            calllog.c.session_id,
            calllog.c.user_id,
            once.c.name.label("user_name"),
            calllog.c.exotel_call_sid,
            calllog.c.created_on,
        )
        .select_from(calllog.outerjoin(once, once.c.user_id == calllog.c.user_id))
        .where(calllog.c.session_id.is_not(None), _in_window())
        .order_by(calllog.c.created_on, calllog.c.session_id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


def fetch_session_details(
    settings_or_engine: Settings | sa.Engine, window: Window, limit: int
) -> tuple[list[dict], bool]:
    """Return up to ``limit`` sessions of the window and whether there were more.

    The rows are read with a server-side cursor, in batches, so memory stays bounded.
    """
    engine = _engine(settings_or_engine)
    rows: list[dict] = []
    with database_errors(engine), engine.connect() as conn:
        bounds = window_bounds(window, _prepare(conn)[1])
        params = {"start": bounds["start"], "end": bounds["end"], "limit": limit + 1}
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(
            session_details_query(), params
        )
        for row in result:
            rows.append(dict(row._mapping))
    truncated = len(rows) > limit
    return rows[:limit], truncated


def _engine(settings_or_engine: Settings | sa.Engine) -> sa.Engine:
    if isinstance(settings_or_engine, sa.Engine):
        return settings_or_engine
    return make_engine(settings_or_engine)


CREATE_INDEX_SQL = (
    "CREATE INDEX CONCURRENTLY calllog_created_on_idx ON public.calllog (created_on);"
)


def created_on_indexes(settings_or_engine: Settings | sa.Engine) -> list[str]:
    """Return the names of the indexes on ``public.calllog`` that lead with ``created_on``."""
    query = sa.text(
        """
        SELECT i.relname
        FROM pg_index x
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
        WHERE n.nspname = :schema AND t.relname = :table AND a.attname = :column
          AND x.indisvalid
        ORDER BY i.relname
        """
    )
    engine = _engine(settings_or_engine)
    with database_errors(engine), engine.connect() as conn:
        rows = conn.execute(query, {"schema": "public", "table": "calllog", "column": "created_on"})
        return [row[0] for row in rows]


def query_plan(settings_or_engine: Settings | sa.Engine, window: Window) -> str:
    """Return how PostgreSQL plans to read ``calllog`` for the window's query.

    Example: ``Bitmap Heap Scan (Bitmap Index Scan using calllog_created_on_idx)`` or
    ``Parallel Seq Scan``. The plan is asked for (EXPLAIN), not run.
    """
    from sqlalchemy.dialects import postgresql

    compiled = window_counts_query().compile(dialect=postgresql.dialect())
    engine = _engine(settings_or_engine)
    with database_errors(engine), engine.connect() as conn:
        params = compiled.params | window_bounds(window, _prepare(conn)[1])
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), params).scalar()
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    return describe_scan(plan[0]["Plan"]) or "unknown"


def describe_scan(node: dict) -> str:
    """Describe the plan node that reads ``calllog`` (with the index it uses, if any).

    On Citus the coordinator's plan reads no table itself: it is described by its
    distributed job (``Citus: 32 shard tasks``).
    """
    if str(node.get("Custom Plan Provider", "")).startswith("Citus"):
        tasks = node.get("Distributed Query", {}).get("Job", {}).get("Task Count")
        return f"Citus: {tasks} shard tasks" if tasks is not None else "Citus distributed plan"
    if node.get("Relation Name") == "calllog":
        text = node["Node Type"]
        if "Index Name" in node:
            text += f" using {node['Index Name']}"
        inner = [describe_scan(child) for child in node.get("Plans", [])]
        index = [part for part in inner if part]
        return f"{text} ({index[0]})" if index else text
    if node.get("Node Type") == "Bitmap Index Scan" and "Index Name" in node:
        return f"Bitmap Index Scan using {node['Index Name']}"
    for child in node.get("Plans", []):
        found = describe_scan(child)
        if found:
            return found
    return ""
