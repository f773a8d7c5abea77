"""The console summary the runner prints (the seed's ``USER FAILURE RATE ANALYSIS SUMMARY``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from user_failure_stats.formats import format_percent, missing
from user_failure_stats.text import shown
from user_failure_stats.window import Window

if TYPE_CHECKING:
    import pandas as pd
from user_failure_stats.formats import change_texts

RULE = "=" * 72


def summary_lines(
    summary: dict,
    window: Window | None = None,
    top: pd.DataFrame | list[dict] | None = None,
    previous: dict | None = None,
) -> list[str]:
    """Return the console summary (the seed's ``USER FAILURE RATE ANALYSIS SUMMARY``) as lines.

    ``top`` is the top-users table (see ``analysis.top_users``), or its rows as dicts.
    """
    pct = format_percent
    changes = (
        change_texts(summary, previous, window.length_text())
        if previous is not None and window is not None
        else None
    )
    lines = [RULE, "USER FAILURE RATE ANALYSIS SUMMARY", RULE]
    if window is not None:
        lines += [f"Window: {window.describe()}", ""]
    rate_line = (
        f"  Overall Failure Rate: {pct(summary['overall_failure_rate'])} (failures / sessions)"
    )
    if changes:
        rate_line += f", {changes['overall_failure_rate']}"
    lines += [
        "Overall Statistics:",
        f"  Total Users:          {summary['total_users']:,}",
        f"  Total Sessions:       {summary['total_sessions']:,}",
        f"  Total Failures:       {summary['total_failures']:,}",
        rate_line,
    ]
    if summary.get("flagged_users"):
        lines.append(f"  Users failing significantly more: {summary['flagged_users']:,}")
    if summary.get("sessions_without_user_record"):
        lines.append(f"  Sessions with no user record: {summary['sessions_without_user_record']:,}")
    lines += [
        "",
        "Per-User Failure Rate Statistics:",
        f"  Average: {pct(summary['average_failure_rate'])}",
        f"  Median:  {pct(summary['median_failure_rate'])}",
        f"  Maximum: {pct(summary['max_failure_rate'])}",
        f"  Minimum: {pct(summary['min_failure_rate'])}",
        f"  Std Dev: {pct(summary['std_failure_rate'])}",
    ]
    if top is not None:
        top = top.to_dict("records") if hasattr(top, "to_dict") else list(top)
        ranked = sum(not missing(row["rank"]) for row in top)
        unranked = len(top) - ranked
        heading = f"Top {ranked} Users by Failure Rate" if ranked else "Top Users by Failure Rate"
        if unranked:
            heading += f" (and {unranked} with too few sessions to judge)"
        lines += ["", heading + ":"]
        lines += _top_lines(top) if top else ["  (no sessions in this window)"]
    lines.append(RULE)
    return lines


def _top_lines(top: list[dict]) -> list[str]:
    width = max(4, min(32, max(len(shown(row["user_name"])) for row in top)))
    lines = [f"  {'Rank':>4}  {'User':<{width}}  {'Failed/Total':>12}  {'Rate':>7}  Note"]
    for row in top:
        rank = "-" if missing(row["rank"]) else str(int(row["rank"]))
        name = shown(row["user_name"], width)
        counts = f"{row['failed_sessions']}/{row['total_sessions']}"
        note = row.get("note") or ""
        rate = row["failure_rate_percent"]
        line = f"  {rank:>4}  {name:<{width}}  {counts:>12}  {rate:>7}  {note}"
        lines.append(line.rstrip())
    return lines
