"""The naive approach, for the benchmark: fetch one row per call, then group in pandas.

``compute`` and ``fetch_window_counts`` return what ``pipeline.compute`` and
``queries.fetch_window_counts`` return, computed the way the seed did it: every call of both
windows travels to Python.
"""

import pandas as pd
import sqlalchemy as sa

from user_failure_stats.database import make_engine
from user_failure_stats.pipeline import ReportData, from_counts
from user_failure_stats.queries import WindowCounts

CALLS = sa.text(
    """
    SELECT c.session_id, c.user_id, u.name, u.user_id IS NOT NULL AS has_user_record,
           c.exotel_call_sid, c.created_on
    FROM public.calllog c LEFT JOIN public."user" u ON u.user_id = c.user_id
    WHERE c.created_on >= :previous_start AND c.created_on < :end
    """
)


def fetch_window_counts(settings, window) -> WindowCounts:
    """Per-call rows into pandas, grouped there."""
    engine = make_engine(settings)
    with engine.connect() as conn:
        calls = pd.read_sql(
            CALLS, conn, params={"previous_start": window.previous().db_start, "end": window.db_end}
        )
    calls = calls[calls["session_id"].notna()]
    calls["failed"] = calls["exotel_call_sid"].isna()
    calls["in_window"] = calls["created_on"] >= window.db_start

    def per_user(frame):
        grouped = frame.groupby(["user_id", "name", "has_user_record"], dropna=False)
        counts = grouped["failed"].agg(total_sessions="size", failed_sessions="sum")
        return counts.reset_index()[
            ["user_id", "name", "has_user_record", "total_sessions", "failed_sessions"]
        ]

    current = calls[calls["in_window"]]
    trend = (
        current.assign(bucket=current["created_on"].dt.floor("15min"))
        .groupby("bucket")["failed"]
        .agg(total_sessions="size", failed_sessions="sum")
        .reset_index()
    )
    return WindowCounts(per_user(current), per_user(calls[~calls["in_window"]]), trend)


def compute(settings, window, params) -> ReportData:
    """``pipeline.compute`` with the naive data step."""
    return from_counts(fetch_window_counts(settings, window), window, params)
