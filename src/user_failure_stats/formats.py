"""The numbers a report shows, in plain Python: percentages, intervals, window changes.

Shared by the pandas side (``analysis``, ``plots``, the notebook) and the light side (the
runner, the reports index, the console summary). The light side never loads pandas, numpy
or plotly, which keeps the runner's process small (see benchmarks/results.md).
"""

from __future__ import annotations

import math
from datetime import date, datetime


def missing(value) -> bool:
    """Return True for None, NaN and pandas' NA and NaT (without importing pandas)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def format_percent(rate: float) -> str:
    """Format a rate in [0, 1] as a percentage with two decimals: ``0.2375`` -> ``23.75%``."""
    if missing(rate):
        return "n/a"
    return f"{rate * 100:.2f}%"


def ci_text(low: float, high: float) -> str:
    """Format an interval as ``21.5-78.5%``; ``n/a`` when undefined."""
    if missing(low) or missing(high):
        return "n/a"
    return f"{low * 100:.1f}-{high * 100:.1f}%"


def window_change(current: dict, previous: dict) -> dict:
    """Compare two summaries (see ``analysis.summary_statistics``): this window against the last.

    Returns:
        ``sessions`` and ``failures`` as relative changes (0.1 is +10%; NaN when the
        previous window had none), ``users`` as a difference in users, and
        ``overall_failure_rate`` as a difference in percentage points (NaN when either
        window had no sessions).
    """

    def relative(key: str) -> float:
        before = previous[key]
        return (current[key] - before) / before if before else float("nan")

    return {
        "sessions": relative("total_sessions"),
        "failures": relative("total_failures"),
        "users": current["total_users"] - previous["total_users"],
        "overall_failure_rate": 100
        * (current["overall_failure_rate"] - previous["overall_failure_rate"]),
    }


def plain(value, date_sep: str = "T"):
    """Return a scalar as plain JSON data.

    NaN, infinities, NA and NaT become None, numpy scalars numbers, dates and times ISO text
    (``date_sep`` between the date and the time).
    """
    if missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=date_sep)
    if isinstance(value, date):
        return value.isoformat()
    return value


def summary_rows(summary: dict) -> list[tuple[str, str]]:
    """Return the summary statistics as ``(label, formatted value)`` pairs."""
    return [
        ("Users", f"{summary['total_users']:,}"),
        ("Sessions", f"{summary['total_sessions']:,}"),
        ("Failures", f"{summary['total_failures']:,}"),
        ("Overall failure rate", format_percent(summary["overall_failure_rate"])),
        ("Average per-user rate", format_percent(summary["average_failure_rate"])),
        ("Median per-user rate", format_percent(summary["median_failure_rate"])),
        ("Maximum per-user rate", format_percent(summary["max_failure_rate"])),
        ("Minimum per-user rate", format_percent(summary["min_failure_rate"])),
        ("Std. deviation of per-user rates", format_percent(summary["std_failure_rate"])),
        ("Users failing significantly more", f"{summary.get('flagged_users', 0):,}"),
        ("Sessions with no user record", f"{summary['sessions_without_user_record']:,}"),
    ]


def change_texts(summary: dict, previous: dict, length: str) -> dict[str, str]:
    """Describe the change of each headline number against the previous window.

    Example: ``{"overall_failure_rate": "+3.10 pts vs the previous 2 days", ...}``.
    """
    change = window_change(summary, previous)
    against = f"vs the previous {length}"

    def relative(key: str) -> str:
        value = change[key]
        if math.isnan(value):
            return f"none in the previous {length}"
        return f"{value * 100:+.1f}% {against}"

    points = change["overall_failure_rate"]
    return {
        "sessions": relative("sessions"),
        "failures": relative("failures"),
        "overall_failure_rate": (
            f"no sessions in the previous {length}"
            if math.isnan(points)
            else f"{points:+.2f} pts {against}"
        ),
        "users": f"{change['users']:+,} {against}",
    }


def elapsed_ms(began: float) -> str:
    """Return the time since ``began`` (a ``time.perf_counter()`` reading) as ``123 ms``."""
    import time

    return f"{(time.perf_counter() - began) * 1000:.0f} ms"
