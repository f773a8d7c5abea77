"""The console summary the runner prints (the seed's ``USER FAILURE RATE ANALYSIS SUMMARY``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from user_failure_stats.formats import (
    change_texts,
    ci_text,
    flags_line,
    format_percent,
    plural,
    points_text,
    whole,
    worse_line,
)
from user_failure_stats.text import shown
from user_failure_stats.window import Window

if TYPE_CHECKING:
    import pandas as pd

    from user_failure_stats.stats import Statistics

RULE = "=" * 72


def summary_lines(
    summary: Statistics,
    window: Window | None = None,
    flagged: pd.DataFrame | list[dict] | None = None,
    previous: Statistics | None = None,
    worsened: pd.DataFrame | list[dict] | None = None,
) -> list[str]:
    """Return the console summary (the seed's ``USER FAILURE RATE ANALYSIS SUMMARY``) as lines.

    ``flagged`` and ``worsened`` (``flags.flagged_users``/``worsened_users``, or rows as dicts)
    are each listed after a line that counts them and says what chance may explain.
    """
    pct = format_percent
    length = window.length_text() if window is not None else "window"
    lines = [RULE, "USER FAILURE RATE ANALYSIS SUMMARY", RULE]
    if window is not None:
        lines += [f"Window: {window.describe()}", ""]
    rate_line = f"  Overall Failure Rate: {pct(summary.overall_failure_rate)} (failures / sessions)"
    if previous is not None and window is not None:
        rate_line += f", {change_texts(summary, previous, length)['overall_failure_rate']}"
    lines += [
        "Overall Statistics:",
        f"  Total Users:          {summary.total_users:,}",
        f"  Total Sessions:       {summary.total_sessions:,}",
        f"  Total Failures:       {summary.total_failures:,}",
        rate_line,
    ]
    if summary.sessions_without_user_record:
        lines.append(f"  Sessions with no user record: {summary.sessions_without_user_record:,}")
    lines += [
        "",
        "Per-User Failure Rate Statistics:",
        f"  Average: {pct(summary.average_failure_rate)}",
        f"  Median:  {pct(summary.median_failure_rate)}",
        f"  Maximum: {pct(summary.max_failure_rate)}",
        f"  Minimum: {pct(summary.min_failure_rate)}",
        f"  Std Dev: {pct(summary.std_failure_rate)}",
    ]
    if flagged is not None:
        heading = "Flagged users, most significant first"
        lines += ["", flags_line(summary)]
        lines += _listed(heading, flagged, summary.flagged_users, FLAG_CELLS)
    if worsened is not None:
        heading = "Users who got worse, largest change first"
        lines += ["", worse_line(summary, length)]
        lines += _listed(heading, worsened, summary.worsened_users, WORSE_CELLS)
    too_few = whole(summary.too_few_users)
    if too_few:
        lines += [
            "",
            f"{plural(too_few, 'user')} had too few sessions to judge (listed in the CSV).",
        ]
    lines.append(RULE)
    return lines


def _listed(heading: str, rows, count, cells) -> list[str]:
    """Return the heading and the table of ``rows`` (the first of ``count`` users)."""
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    if not rows:
        return []
    more = ""
    if len(rows) < whole(count):
        more = f", the first {len(rows)} of {whole(count):,} (all are in the report and the CSV)"
    return [f"{heading}{more}:", *_table(rows, cells)]


# Each list's columns after the user: a heading and the cell of a row.
FLAG_CELLS = (
    ("Failed/Total", lambda row: f"{row['failed_sessions']:,}/{row['total_sessions']:,}"),
    ("Rate", lambda row: str(row["failure_rate_percent"])),
    (
        "95% CI",
        lambda row: ci_text(row.get("failure_rate_ci_low"), row.get("failure_rate_ci_high")),
    ),
)
WORSE_CELLS = (
    (
        "Before",
        lambda row: (
            f"{format_percent(row.get('previous_failure_rate'))} "
            f"({row['previous_failed_sessions']:,}/{row['previous_total_sessions']:,})"
        ),
    ),
    (
        "Now",
        lambda row: (
            f"{row['failure_rate_percent']} ({row['failed_sessions']:,}/{row['total_sessions']:,})"
        ),
    ),
    ("Change", lambda row: points_text(row.get("change_points"))),
)


def _table(rows: list[dict], cells) -> list[str]:
    width = max(4, min(32, max(len(shown(row["user_name"])) for row in rows)))
    heads = [head for head, _ in cells]
    texts = [[cell(row) for _, cell in cells] for row in rows]
    widths = [max(len(h), *(len(c[k]) for c in texts)) for k, h in enumerate(heads)]
    head = "  ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))
    lines = [f"  {'#':>4}  {'User':<{width}}  {head}  Marks"]
    for number, (row, text) in enumerate(zip(rows, texts, strict=True), start=1):
        name = shown(row["user_name"], width)
        values = "  ".join(f"{c:>{w}}" for c, w in zip(text, widths, strict=True))
        line = f"  {number:>4}  {name:<{width}}  {values}  {row.get('note') or ''}"
        lines.append(line.rstrip())
    return lines
