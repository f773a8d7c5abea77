"""What people read: the console summary, the notebook's tables, the CSV and the HTML.

The formatting functions are pure; the ``write``/``export``/``render`` functions touch files,
and all of them write under a temporary name and move into place. The runner uses this module
too, so it loads pandas only inside the functions that take DataFrames.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import date, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from user_failure_stats.config import (
    TITLE_LIMIT,
    Parameters,
    Settings,
    Window,
    describe_database,
)
from user_failure_stats.errors import OutputError
from user_failure_stats.formats import ci_text, format_percent, missing, window_change
from user_failure_stats.text import csv_cell, html_text, shown

if TYPE_CHECKING:
    import pandas as pd

CSV_PREFIX = "user_failure_stats_"
HTML_PREFIX = "user_failure_rates_"
RULE = "=" * 72
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "report"
# Set by the runner for its kernel: the report's template then embeds plotly.js itself, so
# the executed notebook does not carry 4.8 MB of it through the kernel, papermill and nbconvert.
PLOTLYJS_FROM_TEMPLATE = "USER_FAILURE_STATS_PLOTLYJS_FROM_TEMPLATE"
PLOTLYJS_MARK = 'data-plotlyjs="embedded"'
# The columns of the top-users table that the console summary prints.
TOP_FIELDS = (
    "rank",
    "user_name",
    "failed_sessions",
    "total_sessions",
    "failure_rate_percent",
    "note",
)


def csv_name(stamp: str) -> str:
    """Return the CSV's file name for a run stamp ``YYYYMMDD_HHMMSS``."""
    return f"{CSV_PREFIX}{stamp}.csv"


def html_name(stamp: str) -> str:
    """Return the HTML report's file name for a run stamp."""
    return f"{HTML_PREFIX}{stamp}.html"


def notebook_name(stamp: str) -> str:
    """Return the executed notebook's file name for a run stamp."""
    return f"{HTML_PREFIX}{stamp}.ipynb"


def summary_name(stamp: str) -> str:
    """Return the (hidden) JSON summary's file name for a run stamp; the index reads it."""
    return f".{HTML_PREFIX}{stamp}.json"


def atomic_write(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place.

    The move replaces a link at ``path`` rather than writing through it.

    Raises:
        OutputError: The file cannot be written (a missing or read-only folder, a full disk),
            naming the file and the reason.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path


# RFC 4180: CRLF between rows, so a field holding a bare CR or LF is quoted and read back whole.
CSV_OPTIONS = {"index": False, "lineterminator": "\r\n"}


def csv_safe(rates: pd.DataFrame) -> pd.DataFrame:
    """Return the table with every text cell safe for spreadsheets (see ``text.csv_cell``).

    Texts starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading
    ``'``; numbers and every other text are unchanged.
    """
    from pandas.api.types import is_string_dtype

    safe = rates.copy(deep=False)
    for column in safe.columns:
        if is_string_dtype(safe[column].dtype):
            safe[column] = safe[column].map(csv_cell)
    return safe


def csv_text(rates: pd.DataFrame) -> str:
    """Return the per-user table as CSV text, as :func:`write_csv` writes it."""
    return csv_safe(rates).to_csv(**CSV_OPTIONS)


def write_csv(rates: pd.DataFrame, path: Path | str) -> Path:
    """Write the per-user table as UTF-8 CSV, atomically, and return the path.

    Rows end in CRLF (RFC 4180) and cells that a spreadsheet could run as a formula start
    with ``'`` (see :func:`csv_safe`); every name reads back as written.
    """
    safe = csv_safe(rates)
    return atomic_write(Path(path), lambda tmp: safe.to_csv(tmp, encoding="utf-8", **CSV_OPTIONS))


def export_csv(rates: pd.DataFrame, output_dir: Path | str, stamp: str) -> Path:
    """Write ``user_failure_stats_<stamp>.csv`` into ``output_dir`` and return its path."""
    return write_csv(rates, Path(output_dir) / csv_name(stamp))


def export_summary(
    output_dir: Path | str,
    stamp: str,
    params: Parameters,
    window: Window,
    summary: dict,
    previous: dict,
    generated: str,
    top: pd.DataFrame | None = None,
    notes: tuple[str, ...] = (),
) -> Path:
    """Write the run's summary as JSON beside the CSV (for the console and the reports index).

    ``top`` (see ``analysis.top_users``) is kept as records, so the runner can print the top
    users without loading pandas; ``notes`` are the window's notes that hold for the call log
    (see ``db.WindowCounts``), which the runner prints as warnings.
    """
    record = {
        "stamp": stamp,
        "title": params.title,
        "generated": generated,
        "window": window.as_dict(),
        "parameters": params.as_notebook_parameters(),
        "summary": {k: plain(v) for k, v in summary.items()},
        "previous": {k: plain(v) for k, v in previous.items()},
        "files": {"html": html_name(stamp), "csv": csv_name(stamp)},
        "notes": list(notes),
    }
    if top is not None:
        record["top"] = [
            {k: plain(v) for k, v in row.items() if k in TOP_FIELDS}
            for row in top.to_dict("records")
        ]
    path = Path(output_dir) / summary_name(stamp)
    text = json.dumps(record, indent=1, allow_nan=False)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


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


def headline_html(summary: dict, previous: dict, window: Window) -> str:
    """Return the headline numbers as HTML, each with its change against the previous window."""
    changes = change_texts(summary, previous, window.length_text())
    numbers = [
        (f"{summary['total_sessions']:,}", changes["sessions"]),
        (f"{summary['total_failures']:,}", changes["failures"]),
        (format_percent(summary["overall_failure_rate"]), changes["overall_failure_rate"]),
        (f"{summary['total_users']:,}", changes["users"]),
    ]
    heads = "".join(
        f"<th>{label}</th>" for label in ("Sessions", "Failures", "Overall failure rate", "Users")
    )
    values = "".join(f"<td><strong>{html_text(v)}</strong></td>" for v, _ in numbers)
    deltas = "".join(f"<td>{html_text(c)}</td>" for _, c in numbers)
    return (
        f'<table class="ufs-headline"><thead><tr>{heads}</tr></thead>'
        f"<tbody><tr>{values}</tr><tr>{deltas}</tr></tbody></table>"
    )


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


def header_html(params: Parameters, window: Window, settings: Settings, generated: str) -> str:
    """Return the report's heading as HTML: title, window, database bounds, parameters, source.

    Every text is escaped: the title and the database name are shown as text, never as
    markup or links.
    """
    database = shown(describe_database(settings.db_url), TITLE_LIMIT)
    lines = [
        f"<strong>Window:</strong> {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} "
        f"({html_text(window.timezone)}, {window.length_text()}, end excluded)",
        f"<strong>Database bounds:</strong> <code>created_on &gt;= {window.db_start}</code> and "
        f"<code>&lt; {window.db_end}</code> ({html_text(window.db_timezone)})",
        f"<strong>Generated:</strong> {html_text(generated)}",
        f"<strong>Database:</strong> {html_text(database)}",
        f"<strong>Parameters:</strong> top_n = {params.top_n}, "
        f"min_sessions = {params.min_sessions}, timezone = {html_text(params.timezone)}",
    ]
    return (
        f"<h1>{html_text(shown(params.title, TITLE_LIMIT))}</h1>\n"
        f"<p>{'<br>'.join(lines)}</p>\n"
        "<p>A session is a call-log row with a session id; it <strong>failed</strong> when the "
        "provider never created the call (<code>exotel_call_sid</code> is NULL).</p>"
    )


def notes_html(
    summary: dict,
    min_sessions: int | None = None,
    duplicate_users: int = 0,
    window_notes: tuple[str, ...] = (),
) -> str:
    """Return what a reader must know to read the numbers.

    That is: an empty window, the window's own notes (a bound in a repeated hour), sessions
    without a user record, users with more than one row in ``public."user"``
    (``duplicate_users``), and what the flags mean.
    """
    notes = [f"<strong>Note:</strong> {html_text(note)}." for note in window_notes]
    if summary["total_sessions"] == 0:
        notes.insert(0, "<strong>There were no sessions in this window.</strong>")
    orphan = summary["sessions_without_user_record"]
    if orphan:
        notes.append(
            f'{orphan:,} sessions point to a user id with no row in <code>public."user"</code> '
            "(or to no user id); they are counted under <code>unknown user &lt;id&gt;</code>."
        )
    if duplicate_users:
        notes.append(
            f"{duplicate_users:,} {'user has' if duplicate_users == 1 else 'users have'} more "
            'than one row in <code>public."user"</code>; each session is counted once, under '
            "the first of the user's names in sort order."
        )
    if min_sessions is not None and summary["total_sessions"]:
        notes.append(
            "▲ <strong>fails significantly more</strong>: the user's 95% Wilson interval lies "
            "entirely above the overall rate (above the funnel plot's dashed line). ○ "
            "<strong>too few to judge</strong>: fewer than "
            f"{min_sessions} sessions, so the user is listed but neither ranked nor flagged."
        )
    return "\n".join(f"<p>{note}</p>" for note in notes)


def export_html(csv_path: Path | str) -> str:
    """Return the line that tells where the per-user table was exported."""
    return f"<p>Per-user table exported as <code>{html_text(Path(csv_path).name)}</code>.</p>"


def display_table(rates: pd.DataFrame) -> pd.DataFrame:
    """Return the per-user table as shown in the report: labelled columns, percentages.

    Names are shown as text (see ``text.shown``): one line, control characters visible,
    at most 100 characters; the CSV keeps them whole.
    """
    import pandas as pd

    table = pd.DataFrame(
        {
            "User": rates["user_name"].map(shown),
            "Sessions": rates["total_sessions"],
            "Failed": rates["failed_sessions"],
            "Succeeded": rates["success_sessions"],
            "Failure rate": rates["failure_rate_percent"],
            "95% CI": [
                ci_text(lo, hi)
                for lo, hi in zip(
                    rates["failure_rate_ci_low"], rates["failure_rate_ci_high"], strict=True
                )
            ],
            "Flagged": ["▲" if f else "" for f in rates["flagged"]],
            "User id": rates["user_id"],
        }
    )
    table.index = range(1, len(table) + 1)
    return table


EXPORT_OPTIONS = {
    "extra_template_basedirs": [str(TEMPLATE_DIR)],
    "template_name": TEMPLATE_NAME,
    "exclude_input": True,
    "exclude_input_prompt": True,
    "exclude_output_prompt": True,
}


def render_html(executed_notebook: Path, destination: Path, title: str) -> Path:
    """Render an executed notebook to one self-contained HTML file, atomically.

    No code cells, no prompts, no stderr; the template loads nothing from the network
    (no require.js, MathJax or Mermaid) and embeds plotly.js once, in the page's head,
    unless the notebook's outputs already carry it.
    """
    import nbformat

    notebook = nbformat.read(executed_notebook, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    carries_plotlyjs = any(
        PLOTLYJS_MARK in str(output.get("data", {}).get("text/html", ""))[:200]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    resources = {
        "metadata": {"name": title},
        "plotlyjs": "" if carries_plotlyjs else plotlyjs(),
    }
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(**EXPORT_OPTIONS).from_notebook_node(notebook, resources=resources)
    return atomic_write(destination, lambda tmp: tmp.write_text(body, encoding="utf-8"))


def configure_notebook() -> None:
    """Set up a notebook session: tables shown in full, plotly.js for the figures' HTML.

    The figures (see ``plots.Figure``) draw themselves with plotly's own mimetype in
    JupyterLab, and with HTML that needs plotly.js on the page elsewhere (nbconvert). That
    script is displayed once, here, inline: nothing is fetched from a CDN. Skipped under the
    runner, whose report template embeds plotly.js in the page's head instead.
    """
    import pandas as pd

    pd.set_option("display.max_rows", None)
    pd.set_option("display.max_columns", None)
    if not os.environ.get(PLOTLYJS_FROM_TEMPLATE):
        from IPython.display import display_html

        display_html(
            f'<script type="text/javascript" {PLOTLYJS_MARK}>{plotlyjs()}</script>', raw=True
        )


def plotlyjs() -> str:
    """Return plotly.js (minified) as shipped in the plotly package, without importing it."""
    spec = find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("plotly is not installed: it provides plotly.js")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return (folder / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def run_stamp() -> str:
    """Return a file-name timestamp for now: ``YYYYMMDD_HHMMSS`` (local clock)."""
    return f"{datetime.now():%Y%m%d_%H%M%S}"


def generated_text(timezone: str) -> str:
    """Return the current time in ``timezone`` for the report's "Generated" line."""
    from zoneinfo import ZoneInfo

    return f"{datetime.now(ZoneInfo(timezone)):%Y-%m-%d %H:%M:%S %Z}"
