"""The numbers a report shows, in plain Python: percentages, intervals, window changes.

Shared by the pandas side (``analysis``, ``plots``, the notebook) and the light side (the
runner, the reports index, the console summary). The light side never loads pandas, numpy
or plotly, which keeps the runner's process small (see benchmarks/results.md).
"""

from __future__ import annotations

import math
import sys


def missing(value) -> bool:
    """Return True for None, NaN and pandas' NA and NaT (without importing pandas)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


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
