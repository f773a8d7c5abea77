"""The report's sections as HTML: the heading, the headline, the notes, the side tables.

Each is a Jinja template of ``templates/fragments`` with autoescape: every value from outside
(the title, the database's name, users' names) is escaped as text, never read as markup.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from user_failure_stats.coerce import TITLE_LIMIT
from user_failure_stats.formats import DEFAULT_FDR, change_texts, format_percent, summary_rows
from user_failure_stats.params import Parameters
from user_failure_stats.text import shown, shown_all
from user_failure_stats.window import Window

if TYPE_CHECKING:
    import pandas as pd

    from user_failure_stats.stats import Statistics

# The key, in the metadata of the heading's output, of the HTML page's <title>.
PAGE_TITLE_KEY = "user_failure_stats/page_title"
PAGE_TITLE_LIMIT = 160


def fragment(template: str, **values) -> str:
    """Return ``templates/fragments/<template>`` filled in, every value escaped as text."""
    return page_template(f"fragments/{template}").render(**values)


def page_template(name: str):
    """Return the package's Jinja template ``templates/<name>``, with autoescape."""
    return _environment().get_template(name)


@functools.cache
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("user_failure_stats", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def header_html(params: Parameters, window: Window, database: str, generated: str) -> str:
    """Return the report's heading: title, window, parameters and source (``database``)."""
    return fragment(
        "header.html.j2",
        title=shown(params.title, TITLE_LIMIT),
        start=f"{window.start:%Y-%m-%d %H:%M}",
        end=f"{window.end:%Y-%m-%d %H:%M}",
        timezone=window.timezone,
        length=window.length_text(),
        db_start=window.db_start,
        db_end=window.db_end,
        db_timezone=window.db_timezone,
        generated=generated,
        database=shown(database, TITLE_LIMIT),
        top_n=params.top_n,
        min_sessions=params.min_sessions,
        fdr=f"{params.fdr:g}",
        timezone_parameter=params.timezone,
    )


def page_title(title: str, window: Window) -> str:
    """Return the HTML page's title: the report's title and its window, one bounded line.

    Example: ``User failure rates · 2025-05-01 to 2025-05-08 (Asia/Kolkata)``; bounds that
    are not midnight show their time. The title is cut first, so the window always shows.
    """
    when = f"{_bound(window.start)} to {_bound(window.end)} ({shown(window.timezone, 64)})"
    return f"{shown(title, max(PAGE_TITLE_LIMIT - len(when) - 3, 1))} · {when}"


def _bound(moment: datetime) -> str:
    midnight = moment.time() == datetime.min.time()
    return f"{moment:%Y-%m-%d}" if midnight else f"{moment:%Y-%m-%d %H:%M}"


def show_header(params: Parameters, window: Window, database: str, generated: str) -> None:
    """Display the report's heading; its metadata has :func:`page_title` for ``render_html``."""
    from IPython.display import display

    title = page_title(params.title, window)
    display(
        {"text/html": header_html(params, window, database, generated), "text/plain": title},
        metadata={PAGE_TITLE_KEY: title},
        raw=True,
    )


def headline_html(summary: Statistics, previous: Statistics, window: Window) -> str:
    """Return the headline numbers as HTML, each with its change against the previous window."""
    changes = change_texts(summary, previous, window.length_text())
    rate = format_percent(summary.overall_failure_rate)
    numbers = [
        ("Sessions", f"{summary.total_sessions:,}", changes["sessions"]),
        ("Failures", f"{summary.total_failures:,}", changes["failures"]),
        ("Overall failure rate", rate, changes["overall_failure_rate"]),
        ("Users", f"{summary.total_users:,}", changes["users"]),
    ]
    return fragment("headline.html.j2", numbers=numbers)


def notes_html(
    summary: Statistics,
    min_sessions: int | None = None,
    duplicate_users: int = 0,
    window_notes: tuple[str, ...] = (),
    fdr: float = DEFAULT_FDR,
) -> str:
    """Return what a reader must know to read the numbers (empty window, orphans, flags).

    ``duplicate_users`` have several rows in ``public."user"``; ``window_notes`` are the
    window's own (a bound in a repeated hour).
    """
    return fragment(
        "notes.html.j2",
        empty=summary.total_sessions == 0,
        window_notes=window_notes,
        orphan=summary.sessions_without_user_record,
        duplicate_users=duplicate_users,
        min_sessions=min_sessions,
        fdr=f"{fdr * 100:.3g}",
    )


def rate_cells(part: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Return each user's ``failed/total`` and 95% interval as the tables show them."""
    from user_failure_stats.analysis import ci_texts, count_texts

    counts = count_texts(part["failed_sessions"], part["total_sessions"])
    return counts, ci_texts(part["failure_rate_ci_low"], part["failure_rate_ci_high"])


def side_tables_html(top: pd.DataFrame, summary: Statistics) -> str:
    """Return the top users (``flags.top_users``) and the summary statistics: two HTML tables."""
    top_rows = []
    if not top.empty:
        counts, intervals = rate_cells(top)
        top_rows = list(
            zip(
                [str(r) for r in top["rank"]],
                shown_all(top["user_name"]),
                counts,
                top["failure_rate_percent"],
                intervals,
                top["note"],
                strict=True,
            )
        )
    return fragment("side.html.j2", top_rows=top_rows, summary_rows=summary_rows(summary))


def export_html(csv_path: Path | str | None) -> str:
    """Return the line that links the exported per-user table, or says none was written."""
    return fragment("export.html.j2", name=Path(csv_path).name if csv_path else None)


def generated_text(timezone: str, when: datetime | None = None) -> str:
    """Return ``when`` (default: now) in ``timezone`` for the report's "Generated" line."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    moment = datetime.now(zone) if when is None else when.astimezone(zone)
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}"
