"""The answer the report leads with: the flagged users, then the users who got worse."""

from __future__ import annotations

from typing import TYPE_CHECKING

from user_failure_stats.analysis import count_texts
from user_failure_stats.flags import split_marks
from user_failure_stats.formats import chance_text, format_percent, missing, points_text
from user_failure_stats.sections import fragment, rate_cells
from user_failure_stats.text import shown_all
from user_failure_stats.view import show

if TYPE_CHECKING:
    import pandas as pd

    from user_failure_stats.stats import Statistics

# Above this many rows, a list of users scrolls in its own box (all rows are there).
ANSWER_ROWS = 5_000
FLAGGED_HEADS = ["#", "User", "Failed / total", "Rate", "95% CI", "q-value", "Marks"]
WORSENED_HEADS = ["#", "User", "Before", "Now", "Change", "q-value", "Marks"]


def q_text(q: float) -> str:
    """Return a q-value (or p-value) for a table: ``0.0123``, ``<0.0001``; ``n/a`` for NaN."""
    if missing(q):
        return "n/a"
    return "<0.0001" if q < 0.0001 else f"{q:.4f}"


def _counts(failed: pd.Series, total: pd.Series, rates) -> list[str]:
    return [f"{c} ({r})" for c, r in zip(count_texts(failed, total), rates, strict=True)]


def flagged_html(flagged: pd.DataFrame, summary: Statistics, min_sessions: int, fdr: float) -> str:
    """Return the users who fail significantly more than the rest: all of them, numbered."""
    part = flagged.head(ANSWER_ROWS)
    counts, intervals = rate_cells(part)
    rows = zip(
        part["rank"].astype(str),
        shown_all(part["user_name"]),
        counts,
        part["failure_rate_percent"],
        intervals,
        [q_text(q) for q in part["q_value"]],
        [split_marks(n) for n in part["note"]],
        strict=True,
    )
    return _section("answer.html.j2", summary, "flagged_users", fdr, min_sessions, rows)


def worsened_html(
    worsened: pd.DataFrame, summary: Statistics, min_sessions: int, fdr: float, length: str
) -> str:
    """Return the users who got worse since the previous window: all of them, numbered."""
    part = worsened.head(ANSWER_ROWS)
    before = [format_percent(r) for r in part["previous_failure_rate"]]
    rows = zip(
        part["rank"].astype(str),
        shown_all(part["user_name"]),
        _counts(part["previous_failed_sessions"], part["previous_total_sessions"], before),
        _counts(part["failed_sessions"], part["total_sessions"], part["failure_rate_percent"]),
        [points_text(c) for c in part["change_points"]],
        [q_text(q) for q in part["change_q_value"]],
        [split_marks(n) for n in part["note"]],
        strict=True,
    )
    return _section("worsened.html.j2", summary, "worsened_users", fdr, min_sessions, rows, length)


def _section(name, summary, key, fdr, min_sessions, rows, length="") -> str:
    count = int(getattr(summary, key) or 0)
    return fragment(
        name,
        summary=summary,
        count=count,
        chance=chance_text(count, fdr),
        min_sessions=min_sessions,
        length=length,
        heads=WORSENED_HEADS if length else FLAGGED_HEADS,
        rows=list(rows),
    )


def show_answer(data, min_sessions: int) -> None:
    """Display the flagged users, then who got worse with its chart, of a ``ReportData``."""
    from IPython.display import HTML, display

    from user_failure_stats import plots

    display(HTML(flagged_html(data.flagged, data.summary, min_sessions, data.fdr)))
    length = data.window.length_text()
    display(HTML(worsened_html(data.worsened, data.summary, min_sessions, data.fdr, length)))
    if len(data.worsened):
        show(plots.change_figure(data.worsened, length))
