"""The console summary the runner prints (the seed's ``USER FAILURE RATE ANALYSIS SUMMARY``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from user_failure_stats.formats import (
    DEFAULT_FDR,
    chance_text,
    change_texts,
    ci_text,
    format_percent,
    missing,
)
from user_failure_stats.text import shown
from user_failure_stats.window import Window

if TYPE_CHECKING:
    import pandas as pd

RULE = "=" * 72


def summary_lines(
    summary: dict,
    window: Window | None = None,
    flagged: pd.DataFrame | list[dict] | None = None,
    previous: dict | None = None,
    worsened: pd.DataFrame | list[dict] | None = None,
) -> list[str]:
    """Return the console summary (the seed's ``USER FAILURE RATE ANALYSIS SUMMARY``) as lines.

    ``flagged`` and ``worsened`` are the flagged users and those who got worse (see
    ``analysis.flagged_users`` and ``analysis.worsened_users``), or their rows as dicts:
    each is listed after a line that counts them and says what chance may explain.
    """
    pct = format_percent
    length = window.length_text() if window is not None else "window"
    changes = (
        change_texts(summary, previous, length)
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
    if flagged is not None:
        lines += ["", *flag_lines(summary, _records(flagged))]
    if worsened is not None:
        lines += ["", *worse_lines(summary, _records(worsened), length)]
    too_few = int(summary.get("too_few_users") or 0)
    if too_few:
        users = "1 user" if too_few == 1 else f"{too_few:,} users"
        lines += ["", f"{users} had too few sessions to judge (listed in the CSV)."]
    lines.append(RULE)
    return lines


def _records(rows) -> list[dict]:
    return rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)


def _count(summary: dict, key: str) -> int:
    value = summary.get(key)
    return 0 if missing(value) else int(value)


def flag_lines(summary: dict, rows: list[dict]) -> list[str]:
    """Return the flagged users' count, what chance may explain, and the listed ones."""
    count = _count(summary, "flagged_users")
    fdr = summary.get("fdr") or DEFAULT_FDR
    lines = [
        f"Users failing significantly more than the rest: {count:,} of "
        f"{_count(summary, 'tested_users'):,} judged ({chance_text(count, fdr)})"
    ]
    if rows:
        more = f", the first {len(rows)}" if len(rows) < count else ""
        lines.append(f"Flagged users, most significant first{more}:")
        lines += _table(rows, ("Failed/Total", "Rate", "95% CI"), _flag_cells)
    return lines


def worse_lines(summary: dict, rows: list[dict], length: str) -> list[str]:
    """Return the count of users who got worse, what chance may explain, and the listed."""
    count = _count(summary, "worsened_users")
    fdr = summary.get("fdr") or DEFAULT_FDR
    lines = [
        f"Got worse since the previous {length}: {count:,} of "
        f"{_count(summary, 'compared_users'):,} compared ({chance_text(count, fdr)})"
    ]
    if rows:
        more = f", the first {len(rows)}" if len(rows) < count else ""
        lines.append(f"Users who got worse, largest change first{more}:")
        lines += _table(rows, ("Before", "Now", "Change"), _worse_cells)
    return lines


def _flag_cells(row: dict) -> tuple[str, ...]:
    return (
        f"{row['failed_sessions']:,}/{row['total_sessions']:,}",
        str(row["failure_rate_percent"]),
        ci_text(row.get("failure_rate_ci_low"), row.get("failure_rate_ci_high")),
    )


def _worse_cells(row: dict) -> tuple[str, ...]:
    change = row.get("change_points")
    return (
        f"{format_percent(row.get('previous_failure_rate'))} "
        f"({row['previous_failed_sessions']:,}/{row['previous_total_sessions']:,})",
        f"{row['failure_rate_percent']} ({row['failed_sessions']:,}/{row['total_sessions']:,})",
        "n/a" if missing(change) else f"{change:+.2f} pts",
    )


def _table(rows: list[dict], heads: tuple[str, ...], cells) -> list[str]:
    width = max(4, min(32, max(len(shown(row["user_name"])) for row in rows)))
    texts = [cells(row) for row in rows]
    widths = [max(len(h), *(len(c[k]) for c in texts)) for k, h in enumerate(heads)]
    head = "  ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))
    lines = [f"  {'#':>4}  {'User':<{width}}  {head}  Marks"]
    for number, (row, text) in enumerate(zip(rows, texts, strict=True), start=1):
        name = shown(row["user_name"], width)
        values = "  ".join(f"{c:>{w}}" for c, w in zip(text, widths, strict=True))
        line = f"  {number:>4}  {name:<{width}}  {values}  {row.get('note') or ''}"
        lines.append(line.rstrip())
    return lines
