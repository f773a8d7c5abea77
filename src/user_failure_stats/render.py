"""What people read in the notebook and the HTML report.

Escaped HTML parts, the figures' display, and nbconvert's rendering of the executed notebook.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from user_failure_stats.formats import change_texts, ci_text, format_percent
from user_failure_stats.outputs import atomic_write
from user_failure_stats.params import TITLE_LIMIT, Parameters
from user_failure_stats.settings import Settings, describe_database
from user_failure_stats.text import html_text, shown
from user_failure_stats.window import Window

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
# Nothing in a report sends data anywhere: no "Share chart" (plotly.js 4 showed it by default
# and uploaded the chart, hover data and all, to plotly's cloud), no "Edit in Chart Studio" (a
# button, not a setting, in plotly.js 3), no plotly logo link. The PNG download stays: it
# saves locally.
CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "showSendToCloud": False,
    "plotlyServerURL": "",
    "modeBarButtonsToRemove": ["sendChartToCloud", "sendDataToCloud", "editInChartStudio"],
}

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "report"


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

    nbconvert's stock ``HTMLExporter`` with the report's template: no code cells, no prompts,
    no stderr; nothing is loaded from the network (no require.js, MathJax or Mermaid), and
    plotly.js is embedded once, in the page's head, for the figures (see :func:`show`).
    """
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed_notebook, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    resources = {"metadata": {"name": title}, "plotlyjs": plotlyjs()}
    body, _ = HTMLExporter(**EXPORT_OPTIONS).from_notebook_node(notebook, resources=resources)
    return atomic_write(destination, lambda tmp: tmp.write_text(body, encoding="utf-8"))


def configure_notebook() -> None:
    """Set up a notebook session: tables shown in full."""
    import pandas as pd

    pd.set_option("display.max_rows", None)
    pd.set_option("display.max_columns", None)


def figure_bundle(figure: go.Figure) -> dict:
    """Return a figure's display forms: plotly's mimetype (JupyterLab) and HTML (the report).

    The HTML is ``plotly.io.to_html`` without plotly.js: the report's page carries it once
    (see :func:`render_html`). Neither form loads anything from the network.
    """
    import plotly.io as pio

    spec = json.loads(pio.to_json(figure, validate=False))  # plain JSON data, as the mimetype asks
    return {
        PLOTLY_MIMETYPE: {"data": spec["data"], "layout": spec["layout"], "config": CONFIG},
        "text/html": pio.to_html(  # from the same plain spec: the figure is serialised once
            spec,
            include_plotlyjs=False,
            full_html=False,
            config=CONFIG,
            default_width="100%",
            validate=False,
        ),
    }


def show(figure: go.Figure) -> None:
    """Display a figure in the notebook in the forms of :func:`figure_bundle`."""
    from IPython.display import display

    display(figure_bundle(figure), raw=True)


def plotlyjs() -> str:
    """Return plotly.js as the installed plotly package ships it (``get_plotlyjs``)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def generated_text(timezone: str) -> str:
    """Return the current time in ``timezone`` for the report's "Generated" line."""
    from zoneinfo import ZoneInfo

    return f"{datetime.now(ZoneInfo(timezone)):%Y-%m-%d %H:%M:%S %Z}"
