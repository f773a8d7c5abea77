"""The analysis: pure pandas functions from per-user counts to rates and statistics (no I/O)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from user_failure_stats import significance

# Formatting lives in the light module, re-exported here for the notebook and old callers.
from user_failure_stats.formats import DEFAULT_FDR, ci_text, format_percent, window_change  # noqa: F401
from user_failure_stats.formats import missing as _missing
from user_failure_stats.stats import NAN, Statistics

# The two-sided normal quantile of the 95% Wilson intervals.
Z_95 = 1.959963984540054

RATE_COLUMNS = [
    "user_name",
    "total_sessions",
    "failed_sessions",
    "success_sessions",
    "failure_rate",
    "failure_rate_percent",
    "user_id",
    "has_user_record",
    "failure_rate_ci_low",
    "failure_rate_ci_high",
    "flagged",
    "p_value",
    "q_value",
]

BRACKET_LABELS = [f"{10 * i}-{10 * (i + 1)}%" for i in range(10)]


def user_label(user_id, name, has_user_record: bool) -> str:
    """Return the label shown for a user: the name, else ``user <id>`` (NULL or blank name).

    ``unknown user <id>`` for a user_id with no row in ``public."user"``; ``no user id`` for a
    NULL user_id.
    """
    if not has_user_record:
        return "no user id" if _missing(user_id) else f"unknown user {user_id}"
    if _missing(name) or not str(name).strip():
        return f"user {user_id}"
    return str(name)


def user_labels(user_ids: pd.Series, names: pd.Series | None, has_record: pd.Series) -> pd.Series:
    """Return :func:`user_label` of every row, vectorised; ``names`` None means no names."""
    index = user_ids.index
    ids = pd.Series(user_ids.to_numpy(dtype=object), index=index, dtype="string")
    if names is None:
        names = pd.Series(None, index=index, dtype=object)
    text = pd.Series(names.to_numpy(dtype=object), index=index, dtype="string")
    record = has_record.to_numpy(dtype=bool)
    unnamed = (text.isna() | text.str.strip().eq("")).to_numpy(dtype=bool)
    no_id = ids.isna().to_numpy(dtype=bool)
    labels = text.to_numpy(dtype=object, na_value=None)
    labels = np.where(unnamed, ("user " + ids).to_numpy(dtype=object, na_value=""), labels)
    odd = unnamed & record & no_id  # a record without an id: as user_label spells it
    if odd.any():
        labels[odd] = [f"user {v}" for v in user_ids.to_numpy(dtype=object)[odd]]
    unknown = ("unknown user " + ids).to_numpy(dtype=object, na_value="no user id")
    labels = np.where(record, labels, np.where(no_id, "no user id", unknown))
    return pd.Series(labels, index=index, dtype=object)


def ci_texts(low: pd.Series, high: pd.Series) -> list[str]:
    """Return :func:`ci_text` of every interval (``21.5-78.5%``; ``n/a`` when undefined)."""
    lows = (low.to_numpy(dtype="float64") * 100).tolist()
    highs = (high.to_numpy(dtype="float64") * 100).tolist()
    return [
        "n/a" if lo != lo or hi != hi else f"{lo:.1f}-{hi:.1f}%"
        for lo, hi in zip(lows, highs, strict=True)
    ]


def count_texts(failed, total) -> list[str]:
    """Return each ``failed/total`` pair as the tables show it: ``1,234/5,678``."""
    return [f"{f:,}/{n:,}" for f, n in zip(failed, total, strict=True)]


def percent_texts(rates: pd.Series) -> list[str]:
    """Return :func:`format_percent` of every rate (``23.75%``; ``n/a`` when missing)."""
    values = rates.to_numpy(dtype="float64") * 100
    return ["n/a" if v != v else f"{v:.2f}%" for v in values.tolist()]


def failure_rates(
    counts: pd.DataFrame, min_sessions: int = 1, fdr: float = DEFAULT_FDR
) -> pd.DataFrame:
    """Compute the per-user table from per-user counts: :func:`user_rates` with the flags.

    ``counts``: ``user_id``, ``name``, ``total_sessions``, ``failed_sessions``, optionally
    ``has_user_record`` (default True). After the interval come ``flagged`` (``q_value`` at
    most ``fdr``), ``p_value`` (``significance.excess_p_values`` for users with at least
    ``min_sessions`` sessions, NaN for others) and ``q_value`` (Benjamini-Hochberg).
    """
    table = user_rates(counts)
    total = table["total_sessions"].to_numpy(dtype="int64")
    failed = table["failed_sessions"].to_numpy(dtype="int64")
    p = significance.excess_p_values(failed, total, total >= min_sessions)
    q = significance.q_values(p)
    at = table.columns.get_loc("failure_rate_ci_high") + 1
    flag_columns = {"flagged": significance.discoveries(q, fdr), "p_value": p, "q_value": q}
    for offset, (name, values) in enumerate(flag_columns.items()):
        table.insert(at + offset, name, values)
    return table


def user_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """Compute each user's rate and 95% Wilson interval from per-user counts, without flags.

    Columns: :data:`RATE_COLUMNS` to ``failure_rate_ci_high``, then other input columns.
    Users without sessions are left out; sorted by rate and failures descending, name, id.
    """
    frame = counts.copy()
    if "has_user_record" not in frame:
        frame["has_user_record"] = True
    if "user_id" not in frame:
        frame["user_id"] = None
    frame = frame[frame["total_sessions"] > 0]
    extra = [c for c in frame.columns if c not in RATE_COLUMNS and c != "name"]
    total = frame["total_sessions"].astype("int64")
    failed = frame["failed_sessions"].astype("int64")
    table = pd.DataFrame(
        {
            "user_name": user_labels(frame["user_id"], frame.get("name"), frame["has_user_record"]),
            "total_sessions": total,
            "failed_sessions": failed,
            "success_sessions": total - failed,
            "failure_rate": (failed / total).astype("float64"),
        },
        index=frame.index,
    )
    table["failure_rate_percent"] = percent_texts(table["failure_rate"])
    table["user_id"] = frame["user_id"]
    table["has_user_record"] = frame["has_user_record"].astype(bool)
    table["failure_rate_ci_low"], table["failure_rate_ci_high"] = wilson_interval(
        failed.to_numpy(), total.to_numpy()
    )
    for column in extra:
        table[column] = frame[column]
    table = table.sort_values(
        ["failure_rate", "failed_sessions", "user_name", "user_id"],
        ascending=[False, False, True, True],
        na_position="last",
        kind="mergesort",
        key=_sort_key,
    )
    return table.reset_index(drop=True)


def _sort_key(column: pd.Series) -> pd.Series:
    # user_id may be integers, strings or missing: compare numbers as numbers when they all are.
    if column.name == "user_id" and column.dtype == object:
        numeric = pd.to_numeric(column, errors="coerce")
        if numeric.notna().sum() == column.notna().sum():
            return numeric
        return column.astype("string")
    return column


def summary_statistics(rates: pd.DataFrame, min_sessions: int | None = None) -> Statistics:
    """Summarise the per-user table (see :class:`Statistics`), with :func:`flag_counts`."""
    sessions = int(rates["total_sessions"].sum())
    failures = int(rates["failed_sessions"].sum())
    per_user = rates["failure_rate"].astype("float64")
    orphan = 0
    if "has_user_record" in rates:
        orphan = int(rates.loc[~rates["has_user_record"].astype(bool), "total_sessions"].sum())
    some = len(per_user) > 0
    return Statistics(
        total_users=int(len(rates)),
        total_sessions=sessions,
        total_failures=failures,
        overall_failure_rate=failures / sessions if sessions else NAN,
        average_failure_rate=float(per_user.mean()) if some else NAN,
        median_failure_rate=float(per_user.median()) if some else NAN,
        max_failure_rate=float(per_user.max()) if some else NAN,
        min_failure_rate=float(per_user.min()) if some else NAN,
        std_failure_rate=float(per_user.std(ddof=1)) if len(per_user) > 1 else NAN,
        sessions_without_user_record=orphan,
        **flag_counts(rates, min_sessions),
    )


# The counts :func:`flag_counts` gives, each from a column of the per-user table.
FLAG_COUNTS = {
    "tested_users": ("p_value", lambda v: v.notna()),
    "flagged_users": ("flagged", lambda v: v.astype(bool)),
    "compared_users": ("change_p_value", lambda v: v.notna()),
    "worsened_users": ("worsened", lambda v: v.astype(bool)),
    "new_users": ("previous_total_sessions", lambda v: v == 0),
}


def flag_counts(rates: pd.DataFrame, min_sessions: int | None = None) -> dict:
    """Count the users tested, flagged, compared, worse, new (by column) and too few to judge."""
    found = {
        key: int(test(rates[column]).sum())
        for key, (column, test) in FLAG_COUNTS.items()
        if column in rates
    }
    if min_sessions is not None:
        found["too_few_users"] = int((rates["total_sessions"] < min_sessions).sum())
    return found


def wilson_interval(failed, total, z: float = Z_95):
    """Return the Wilson score interval ``(low, high)`` for ``failed`` of ``total``.

    Scalars or arrays; ``total`` of 0 gives NaN. Example: 4 of 8 at 95%: 0.2152 to 0.7848.
    """
    failed, total = (np.asarray(v, dtype="float64") for v in (failed, total))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = failed / total
        z2n = z * z / total
        centre = (p + z2n / 2) / (1 + z2n)
        half = z * np.sqrt(p * (1 - p) / total + z2n / (4 * total)) / (1 + z2n)
    # At 0 failures the interval starts exactly at 0, at all failures it ends exactly at 1.
    some = total > 0
    low = np.where(some & (failed == 0), 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(some & (failed == total), 1.0, np.clip(centre + half, 0.0, 1.0))
    if low.ndim == 0:
        return low[()], high[()]
    return low, high


def trend(buckets: pd.DataFrame, window) -> pd.DataFrame:
    """Regroup the window's bins into every local day (or hour) of the report, empty ones as 0.

    ``buckets``: ``bucket`` (a bin's start: naive in the database's zone, or aware) and the
    counts. Returns a row per local ``window.trend_unit``: ``bucket`` (its naive local
    start), the counts and ``failure_rate`` (NaN without sessions).
    """
    freq = {"day": "D", "hour": "h"}[window.trend_unit]
    first = pd.Timestamp(window.start).tz_localize(None).floor(freq)
    last = pd.Timestamp(window.end).tz_localize(None)
    index = pd.date_range(first, last, freq=freq, inclusive="left", name="bucket")
    if len(index) == 0:
        index = pd.DatetimeIndex([first], name="bucket")
    raw = buckets["bucket"]
    if len(raw) and getattr(raw.iloc[0], "tzinfo", None) is not None:
        # A timestamptz column: the bins are instants already.
        instants = pd.DatetimeIndex(pd.to_datetime(raw, utc=True))
    else:
        # Naive wall times in the database's zone; ambiguous ones (a DST fall-back) are read
        # as standard time.
        instants = pd.DatetimeIndex(pd.to_datetime(raw)).tz_localize(
            window.db_timezone,
            ambiguous=np.zeros(len(raw), dtype=bool),
            nonexistent="shift_forward",
        )
    local = instants.tz_convert(window.timezone).tz_localize(None).floor(freq)
    counts = (
        buckets[["total_sessions", "failed_sessions"]]
        .set_axis(local, axis=0)
        .groupby(level=0)
        .sum()
    )
    table = counts.reindex(index, fill_value=0).astype("int64").rename_axis("bucket").reset_index()
    table["failure_rate"] = table["failed_sessions"] / table["total_sessions"].where(
        table["total_sessions"] > 0
    )
    return table


def bracket_index(failed: int, total: int) -> int:
    """Return the 10% bracket (0 to 9) of ``failed / total``, exactly (integers); 100% is 9."""
    return min(failed * 10 // total, 9)


def rate_distribution(rates: pd.DataFrame, members: int | None = None) -> pd.DataFrame:
    """Count users per 10% failure-rate bracket (see :func:`bracket_index`), vectorised.

    Ten rows: ``bracket`` (``0-10%`` ... ``90-100%``), ``users`` and ``members`` (a DataFrame
    of the bracket's rows of ``rates``, in order: the first ``members``; None: all).
    """
    failed = rates["failed_sessions"].to_numpy(dtype="int64")
    total = rates["total_sessions"].to_numpy(dtype="int64")
    index = np.minimum(failed * 10 // np.maximum(total, 1), 9)
    users = np.bincount(index, minlength=10)
    kept = []
    for i in range(10):
        positions = np.flatnonzero(index == i)
        kept.append(rates.iloc[positions if members is None else positions[:members]])
    return pd.DataFrame({"bracket": BRACKET_LABELS, "users": users, "members": kept})


def counts_from_calls(data: pd.DataFrame) -> pd.DataFrame:
    """Count sessions and failures per user from per-call rows, as :func:`failure_rates` takes.

    ``data`` (the seed's input shape) has ``session_id``, ``exotel_call_sid`` and ``name``,
    and ``user_id`` when known: users are then told apart by id, else by name.
    """
    calls = data[data["session_id"].notna()].copy()
    calls["failed"] = calls["exotel_call_sid"].isna()
    key = "user_id" if "user_id" in calls else "name"
    if key == "name":
        calls["name"] = calls["name"].where(calls["name"].notna(), None)
    grouped = calls.groupby(key, dropna=False, sort=False)
    counts = grouped.agg(total_sessions=("failed", "size"), failed_sessions=("failed", "sum"))
    counts = counts.reset_index()
    counts["has_user_record"] = True
    if key == "user_id":
        counts["name"] = grouped["name"].first().values if "name" in calls else None
    else:
        counts["user_id"] = None
        # Without ids the name is the label; a NULL name has no id to fall back to.
        counts["name"] = counts["name"].where(counts["name"].notna(), "unnamed user")
    return counts[["user_id", "name", "has_user_record", "total_sessions", "failed_sessions"]]
