"""The report's statements, built with SQLAlchemy Core with bound parameters, and their rows.

Sessions and failures are counted per user inside PostgreSQL (aggregate on ``calllog`` first,
join the names afterwards), so one row per user comes back, never one per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from user_failure_stats.database import connection, prepare, window_bounds
from user_failure_stats.errors import DatabaseError
from user_failure_stats.settings import Settings
from user_failure_stats.window import Window

if TYPE_CHECKING:
    import pandas as pd

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
# The trend's buckets: 15 minutes divide every time zone's offset, so PostgreSQL bins in its
# own zone and Python regroups the bins into the report zone's hours or days.
TREND_BIN = "15 minutes"


def users_once() -> sa.Subquery:
    """Return ``public."user"`` with one row per ``user_id``, however many it holds.

    The name is the user's first non-NULL name in sort order, so a duplicated user counts
    each session once under a stable name; ``user_rows`` says how many rows the user has.
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
    window and the one of the same length before it, and per 15-minute bin over the window
    (the trend, ``by_period`` 1). Each is a plain parallel GROUP BY: ``GROUPING SETS`` runs
    without parallel workers, five times slower, and the formulations that parallelise the
    trend on a call log not stored in time order did not pay (benchmarks/results.md). Bound
    parameters: ``previous_start``, ``start``, ``end`` (``database.window_bounds``).
    """
    c = calllog.c
    previous_start = sa.bindparam("previous_start", type_=sa.DateTime)
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
        .where(c.session_id.is_not(None), c.created_on >= previous_start, c.created_on < end)
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

    ``current`` and ``previous`` are the per-user counts (``COUNT_COLUMNS``) in the window
    and in the one of the same length before it; ``trend`` is ``bucket, total_sessions,
    failed_sessions`` per 15 minutes, ``bucket`` naive in the database's zone. ``notes`` are
    the window's that hold for this call log (repeated hours matter for ``timestamp`` only).
    """

    current: pd.DataFrame
    previous: pd.DataFrame
    trend: pd.DataFrame
    duplicate_users: int = 0
    notes: tuple[str, ...] = ()


def fetch_window_counts(settings_or_engine: Settings | sa.Engine, window: Window) -> WindowCounts:
    """Run the report's aggregate query for ``window``; DatabaseError if that fails."""
    import numpy as np
    import pandas as pd

    with connection(settings_or_engine) as conn:
        _, instants = prepare(conn)
        result = conn.execute(window_counts_query(), window_bounds(window, instants))
        keys = list(result.keys())
        rows = result.fetchall()
    # One row per user and period and per bin, turned into columns at once (no object per
    # cell): at a million users this is seconds faster than a DataFrame of the rows.
    values = zip(*rows, strict=True) if rows else [()] * len(keys)
    columns = {k: np.array(v, dtype=object) for k, v in zip(keys, values, strict=True)}
    del rows
    check_counts(columns["total_sessions"], columns["failed_sessions"])
    in_window = columns["in_window"].astype(bool)
    per_user = columns["by_period"].astype("int64") == 0
    user_rows = pd.to_numeric(columns["user_rows"], errors="coerce")

    def users_where(mask) -> pd.DataFrame:
        picked = np.flatnonzero(mask)
        frame = pd.DataFrame({key: columns[key][picked] for key in COUNT_COLUMNS})
        # Integer ids stay integers next to a NULL user_id (nullable Int64, not float).
        frame["user_id"] = pd.array(columns["user_id"][picked].tolist())
        frame["total_sessions"] = frame["total_sessions"].astype("int64")
        frame["failed_sessions"] = frame["failed_sessions"].astype("int64")
        frame["has_user_record"] = frame["has_user_record"].astype(bool)
        return frame

    bins = np.flatnonzero(in_window & ~per_user)
    trend = pd.DataFrame(
        {key: columns[key][bins] for key in ("bucket", "total_sessions", "failed_sessions")}
    )
    duplicates = int((per_user & in_window & (np.nan_to_num(user_rows) > 1)).sum())
    notes = () if instants else window.notes  # instants have no repeated hours
    current, previous = users_where(per_user & in_window), users_where(per_user & ~in_window)
    return WindowCounts(current, previous, trend, duplicates, notes)


def check_counts(total, failed) -> None:
    """Raise DatabaseError unless the counts are whole numbers, 0 <= failed <= total < 2**63.

    PostgreSQL's ``count`` gives no other; a server that only speaks its protocol might.
    """
    import numpy as np

    try:
        total, failed = np.asarray(total).astype("int64"), np.asarray(failed).astype("int64")
    except (TypeError, ValueError, OverflowError):
        total = failed = None
    if total is None or (total < 0).any() or (failed < 0).any() or (failed > total).any():
        raise DatabaseError(
            "the server's answer is not the report's counts (not whole numbers from 0, or "
            "more failures than sessions): is it PostgreSQL?"
        )


def fetch_user_counts(settings_or_engine: Settings | sa.Engine, window: Window) -> pd.DataFrame:
    """Return the window's per-user counts (``COUNT_COLUMNS``; no rows when it has no sessions)."""
    return fetch_window_counts(settings_or_engine, window).current


def _in_window():
    column = calllog.c.created_on
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
        # Any type reads as text: a bigint or json call id is never empty.
        sa.func.count()
        .filter(session, sa.cast(c.exotel_call_sid, sa.Text) == "")
        .label("sessions_with_empty_sid"),
        sa.func.count().filter(session, c.user_id.is_(None)).label("sessions_without_user_id"),
    ).where(_in_window())


def fetch_data_quality(settings_or_engine: Settings | sa.Engine, window: Window) -> dict:
    """Return the window's data-quality counts (see :func:`data_quality_query`)."""
    with connection(settings_or_engine) as conn:
        bounds = window_bounds(window, prepare(conn)[1])
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
    """Return up to ``limit`` sessions of the window (streamed) and whether there were more."""
    with connection(settings_or_engine) as conn:
        bounds = window_bounds(window, prepare(conn)[1])
        params = {"start": bounds["start"], "end": bounds["end"], "limit": limit + 1}
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(
            session_details_query(), params
        )
        rows = [dict(row._mapping) for row in result]
    return rows[:limit], len(rows) > limit
