"""Who the report leads with: users flagged, users who got worse, and the ranked top users.

Pure pandas on the per-user table: the previous window's comparison, marks, numbered lists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from user_failure_stats import significance
from user_failure_stats.formats import DEFAULT_FDR

# What the previous window of the same length adds (see :func:`compare_windows`).
CHANGE_COLUMNS = [
    "previous_total_sessions",
    "previous_failed_sessions",
    "previous_failure_rate",
    "change_points",
    "change_p_value",
    "change_q_value",
    "worsened",
]
# How every table marks a user (the same marks in the report, the console and the index).
FLAG_MARK = "▲ flagged"
WORSE_MARK = "↑ worse"
TOO_FEW_MARK = "○ too few"


def compare_windows(
    rates: pd.DataFrame, previous: pd.DataFrame, min_sessions: int = 1, fdr: float = DEFAULT_FDR
) -> pd.DataFrame:
    """Add to the per-user table how each user did in the previous window, and who got worse.

    ``previous``: per-user counts of the previous window of the same length, matched by
    ``user_id`` and ``has_user_record``; users with ``min_sessions`` sessions in both windows
    are compared. Returns ``rates`` with :data:`CHANGE_COLUMNS`: the previous sessions,
    failures (0 for a new user) and rate, ``change_points`` (now minus before; NaN for a new
    user), ``change_p_value`` (``significance.worse_p_values``; NaN when not compared),
    ``change_q_value`` (Benjamini-Hochberg), ``worsened`` (q at most ``fdr``, rate up).
    """
    table = rates.drop(columns=[c for c in CHANGE_COLUMNS if c in rates])
    before = previous[previous["total_sessions"] > 0]
    position = _keys(before).get_indexer(_keys(table))
    take = np.where(position >= 0, position, len(before))  # past the end: a 0 appended
    before_total = np.append(before["total_sessions"].to_numpy(dtype="int64"), 0)[take]
    before_failed = np.append(before["failed_sessions"].to_numpy(dtype="int64"), 0)[take]
    total = table["total_sessions"].to_numpy(dtype="int64")
    failed = table["failed_sessions"].to_numpy(dtype="int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        before_rate = np.where(before_total > 0, before_failed / before_total, np.nan)
        # One division of whole numbers: +60 pts is 60.0, not 60.00000000000001.
        moved = 100 * (failed * before_total - before_failed * total) / (total * before_total)
    change = np.where(before_total > 0, moved, np.nan)
    compared = (total >= min_sessions) & (before_total >= min_sessions)
    p = significance.worse_p_values(failed, total, before_failed, before_total, compared)
    q = significance.q_values(p)
    worsened = significance.discoveries(q, fdr) & (np.nan_to_num(change) > 0)
    values = (before_total, before_failed, before_rate, change, p, q, worsened)
    for name, column in zip(CHANGE_COLUMNS, values, strict=True):
        table[name] = column
    return table


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    """Return each row's user: its id (by value across dtypes; NA matches NA) and record flag."""
    index = frame.index
    ids = frame["user_id"] if "user_id" in frame else pd.Series(None, index=index, dtype=object)
    records = frame["has_user_record"] if "has_user_record" in frame else True
    return pd.MultiIndex.from_arrays(
        [ids.array, pd.Series(records, index=index).to_numpy(dtype=bool)]
    )


# Each code of :func:`mark_codes` and its text: flagged adds 1, worse 2; too few is 4.
MARK_TEXTS = ("", FLAG_MARK, WORSE_MARK, f"{FLAG_MARK} {WORSE_MARK}", TOO_FEW_MARK)


def mark_codes(rates: pd.DataFrame, min_sessions: int = 1) -> np.ndarray:
    """Return each user's marks as a small code, an index into :data:`MARK_TEXTS`."""
    codes = _column(rates, "flagged").astype("int8") + 2 * _column(rates, "worsened")
    too_few = (rates["total_sessions"] < min_sessions).to_numpy()
    return np.where(too_few, 4, codes).astype("int8")


def marks(rates: pd.DataFrame, min_sessions: int = 1) -> list[str]:
    """Return each user's marks (:data:`MARK_TEXTS`); too few to judge excludes the others."""
    return np.asarray(MARK_TEXTS, dtype=object)[mark_codes(rates, min_sessions)].tolist()


def split_marks(text: str) -> list[str]:
    """Return the marks in a text of :func:`marks`: ``["▲ flagged", "↑ worse"]``."""
    return [mark for mark in (FLAG_MARK, WORSE_MARK, TOO_FEW_MARK) if mark in text]


def _column(rates: pd.DataFrame, name: str) -> np.ndarray:
    if name not in rates:
        return np.zeros(len(rates), dtype=bool)
    return rates[name].to_numpy(dtype=bool)


def flagged_users(rates: pd.DataFrame, min_sessions: int = 1) -> pd.DataFrame:
    """Return every flagged user, smallest ``p_value`` first, with ``rank`` and ``note`` (marks)."""
    part = rates[_column(rates, "flagged")]
    return _numbered(part.sort_values("p_value", kind="mergesort"), min_sessions)


def worsened_users(rates: pd.DataFrame, min_sessions: int = 1) -> pd.DataFrame:
    """Return every user who got worse, largest change first; columns as :func:`flagged_users`."""
    part = rates[_column(rates, "worsened")]
    return _numbered(
        part.sort_values("change_points", ascending=False, kind="mergesort"), min_sessions
    )


def top_users(rates: pd.DataFrame, n: int = 10, min_sessions: int = 1) -> pd.DataFrame:
    """Return the ``n`` highest failure rates of users with ``min_sessions``, numbered.

    Users with fewer (a 1-of-1 user's 100% says little) are never ranked.
    """
    return _numbered(rates[rates["total_sessions"] >= min_sessions].head(n), min_sessions)


def _numbered(part: pd.DataFrame, min_sessions: int) -> pd.DataFrame:
    part = part.reset_index(drop=True)
    part.insert(0, "rank", pd.array(range(1, len(part) + 1), dtype="Int64"))
    part["note"] = marks(part, min_sessions)
    return part
