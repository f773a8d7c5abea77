"""The numbers a report shows, in plain Python: percentages, intervals, window changes.

Shared with the light side (runner, reports index, console), which never loads pandas, numpy
or plotly, to keep the runner's process small (see benchmarks/results.md).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from user_failure_stats.stats import Statistics


def missing(value) -> bool:
    """Return True for None, NaN and pandas' NA and NaT (without importing pandas)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def format_percent(rate: float) -> str:
    """Format a rate in [0, 1] as a percentage with two decimals: ``0.2375`` -> ``23.75%``."""
    return "n/a" if missing(rate) else f"{rate * 100:.2f}%"


def ci_text(low: float, high: float) -> str:
    """Format an interval as ``21.5-78.5%``; ``n/a`` when undefined."""
    return "n/a" if missing(low) or missing(high) else f"{low * 100:.1f}-{high * 100:.1f}%"


def window_change(current: Statistics, previous: Statistics) -> dict:
    """Compare two summaries (see ``analysis.summary_statistics``): this window against the last.

    ``sessions`` and ``failures`` are relative (0.1 is +10%; NaN if none before), ``users``
    a difference, ``overall_failure_rate`` in points (NaN if either window had no sessions).
    """

    def relative(key: str) -> float:
        before = getattr(previous, key)
        return (getattr(current, key) - before) / before if before else float("nan")

    return {
        "sessions": relative("total_sessions"),
        "failures": relative("total_failures"),
        "users": current.total_users - previous.total_users,
        "overall_failure_rate": 100
        * (current.overall_failure_rate - previous.overall_failure_rate),
    }


def plain(value, date_sep: str = "T"):
    """Return a scalar as JSON data: None for NaN, inf, NA, NaT; ISO text for dates, times."""
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


def summary_rows(summary: Statistics) -> list[tuple[str, str]]:
    """Return the summary statistics as ``(label, formatted value)`` pairs."""
    return [
        ("Users", f"{summary.total_users:,}"),
        ("Sessions", f"{summary.total_sessions:,}"),
        ("Failures", f"{summary.total_failures:,}"),
        ("Overall failure rate", format_percent(summary.overall_failure_rate)),
        ("Average per-user rate", format_percent(summary.average_failure_rate)),
        ("Median per-user rate", format_percent(summary.median_failure_rate)),
        ("Maximum per-user rate", format_percent(summary.max_failure_rate)),
        ("Minimum per-user rate", format_percent(summary.min_failure_rate)),
        ("Std. deviation of per-user rates", format_percent(summary.std_failure_rate)),
        ("Users failing significantly more", f"{summary.flagged_users or 0:,}"),
        ("Sessions with no user record", f"{summary.sessions_without_user_record:,}"),
    ]


def change_texts(summary: Statistics, previous: Statistics, length: str) -> dict[str, str]:
    """Describe each headline number's change; the rate's says if it is more than chance."""
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
            else f"{points:+.2f} pts {against} ({chance_of_change(summary, previous)})"
        ),
        "users": (
            f"{change['users']:+,} {against}"
            if previous.total_users
            else f"none in the previous {length}"
        ),
    }


def elapsed_ms(began: float) -> str:
    """Return the time since ``began`` (a ``time.perf_counter()`` reading) as ``123 ms``."""
    import time

    return f"{(time.perf_counter() - began) * 1000:.0f} ms"


# The false discovery rate of the flags (see ``significance``), unless a run sets ``fdr``.
DEFAULT_FDR = 0.05
# The level of the two-proportion test of the overall rate's change (one test, not many).
CHANGE_LEVEL = 0.05


def change_p_value(failed: int, total: int, before_failed: int, before_total: int) -> float:
    """Return the two-sided p-value of a change in the overall rate (pooled two-proportion z).

    Pure Python (no scipy on the console's side). NaN when either window has no sessions or
    nothing (or everything) ever failed. Example: 120 of 1,000 against 100 of 1,000: 0.153.
    """
    if total <= 0 or before_total <= 0:
        return float("nan")
    pooled = (failed + before_failed) / (total + before_total)
    spread = pooled * (1 - pooled) * (1 / total + 1 / before_total)
    if spread <= 0:
        return float("nan") if failed / total == before_failed / before_total else 0.0
    z = (failed / total - before_failed / before_total) / math.sqrt(spread)
    return math.erfc(abs(z) / math.sqrt(2))


def chance_of_change(summary: Statistics, previous: Statistics) -> str:
    """Say whether chance alone may explain the overall rate's change (:func:`change_p_value`)."""
    p = change_p_value(
        summary.total_failures,
        summary.total_sessions,
        previous.total_failures,
        previous.total_sessions,
    )
    return "more than chance" if p < CHANGE_LEVEL else "within chance"


def chance_text(flagged: int, fdr: float) -> str:
    """Say in words how many of ``flagged`` users chance alone may explain.

    Example: 16 at 5% gives "with a 5% false discovery rate, about 1 of them may be chance".
    """
    rate = f"{fdr * 100:.3g}%"
    expected = flagged * fdr
    if flagged == 0:
        return f"at a {rate} false discovery rate"
    amount = "fewer than 1" if expected < 0.5 else f"about {round(expected):,}"
    return f"with a {rate} false discovery rate, {amount} of them may be chance"


def whole(value) -> int:
    """Return a count from a summary as an int: 0 when it is missing (an older summary)."""
    return 0 if missing(value) else int(value)


def plural(count: int, word: str) -> str:
    """Return ``1 user`` or ``1,234 users``."""
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def points_text(points) -> str:
    """Return a change in percentage points: ``+30.00 pts``; ``n/a`` when missing."""
    return "n/a" if missing(points) else f"{float(points):+.2f} pts"


def summary_fdr(summary: Statistics) -> float:
    """Return the false discovery rate a summary's flags used (older summaries: the default)."""
    return DEFAULT_FDR if missing(summary.fdr) or not summary.fdr else float(summary.fdr)


def flags_line(summary: Statistics) -> str:
    """Say how many users were flagged, of how many judged, and what chance may explain."""
    count = whole(summary.flagged_users)
    return (
        f"Users failing significantly more than the rest: {count:,} of "
        f"{whole(summary.tested_users):,} judged "
        f"({chance_text(count, summary_fdr(summary))})"
    )


def worse_line(summary: Statistics, length: str) -> str:
    """Say how many users got worse, of how many compared, and what chance may explain."""
    count = whole(summary.worsened_users)
    return (
        f"Got worse since the previous {length}: {count:,} of "
        f"{whole(summary.compared_users):,} compared "
        f"({chance_text(count, summary_fdr(summary))})"
    )
