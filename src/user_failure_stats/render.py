"""What people read in the notebook and the HTML report.

Escaped HTML parts, the figures' display, and nbconvert's rendering of the executed notebook.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from user_failure_stats.coerce import TITLE_LIMIT
from user_failure_stats.formats import (
    DEFAULT_FDR,
    change_texts,
    format_percent,
    summary_rows,
)
from user_failure_stats.outputs import atomic_write
from user_failure_stats.params import Parameters
from user_failure_stats.settings import Settings, describe_database
from user_failure_stats.text import html_text, shown, shown_all
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
# The key, in the metadata of the heading's output, of the HTML page's <title>.
PAGE_TITLE_KEY = "user_failure_stats/page_title"
PAGE_TITLE_LIMIT = 160


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
        f"min_sessions = {params.min_sessions}, fdr = {params.fdr:g}, "
        f"timezone = {html_text(params.timezone)}",
    ]
    return (
        f"<h1>{html_text(shown(params.title, TITLE_LIMIT))}</h1>\n"
        f"<p>{'<br>'.join(lines)}</p>\n"
        "<p>A session is a call-log row with a session id; it <strong>failed</strong> when the "
        "provider never created the call (<code>exotel_call_sid</code> is NULL).</p>"
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


def show_header(params: Parameters, window: Window, settings: Settings, generated: str) -> None:
    """Display the report's heading (see :func:`header_html`), naming the page's title.

    The output's metadata holds :func:`page_title` under :data:`PAGE_TITLE_KEY`, where
    :func:`render_html` finds it for the page's ``<title>``.
    """
    from IPython.display import display

    title = page_title(params.title, window)
    display(
        {"text/html": header_html(params, window, settings, generated), "text/plain": title},
        metadata={PAGE_TITLE_KEY: title},
        raw=True,
    )


def notes_html(
    summary: dict,
    min_sessions: int | None = None,
    duplicate_users: int = 0,
    window_notes: tuple[str, ...] = (),
    fdr: float = DEFAULT_FDR,
) -> str:
    """Return what a reader must know to read the numbers.

    That is: an empty window, the window's own notes (a bound in a repeated hour), sessions
    without a user record, users with more than one row in ``public."user"``
    (``duplicate_users``), and what the flags mean at the false discovery rate ``fdr``.
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
            "▲ <strong>flagged</strong>: the user fails more often than the rest of the users "
            "by more than chance explains (an exact test of each user with at least "
            f"{min_sessions} sessions, adjusted for testing them all at a {fdr * 100:.3g}% "
            "false discovery rate: of the flagged users, about "
            f"{fdr * 100:.3g}% may be ordinary users flagged by chance). ↑ <strong>worse"
            "</strong>: the user fails more often than in the previous window, by the same "
            "standard. ○ <strong>too few to judge</strong>: fewer than "
            f"{min_sessions} sessions, so the user is listed but neither ranked nor flagged."
        )
    return "\n".join(f"<p>{note}</p>" for note in notes)


FRAGMENTS = "fragments"


def fragment(name: str, **values) -> str:
    """Return the package's HTML fragment ``templates/fragments/<name>``, filled in.

    Jinja with autoescape: every value is escaped as text, never read as markup.
    """
    return _fragments().get_template(name).render(**values)


@functools.cache
def _fragments():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("user_failure_stats", f"templates/{FRAGMENTS}"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def rate_cells(part: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Return each user's ``failed/total`` and 95% interval as the tables show them."""
    from user_failure_stats.analysis import ci_texts

    counts = [
        f"{f:,}/{n:,}" for f, n in zip(part["failed_sessions"], part["total_sessions"], strict=True)
    ]
    return counts, ci_texts(part["failure_rate_ci_low"], part["failure_rate_ci_high"])


def export_html(csv_path: Path | str) -> str:
    """Return the line that tells where the per-user table was exported."""
    return f"<p>Per-user table exported as <code>{html_text(Path(csv_path).name)}</code>.</p>"


SIDE_STYLE = """<style>
.ufs-side { display: flex; flex-wrap: wrap; gap: 8px 32px; align-items: flex-start; }
.ufs-side section { flex: 1 1 36em; min-width: 0; max-width: 100%; }
.ufs-side section.ufs-side-summary { flex: 0 1 24em; }
.ufs-side h3 { margin: 8px 0; }
.ufs-table-box { max-width: 100%; overflow-x: auto; }
.ufs-side .ufs-table-box :is(th, td) { white-space: nowrap; text-align: left;
  overflow-wrap: normal; }
.ufs-side .ufs-table-box .ufs-top-users td:nth-child(2) { white-space: normal;
  overflow-wrap: anywhere; min-width: 10em; max-width: 24em; }
.ufs-side .ufs-table-box .ufs-top-users :is(th, td):is(:nth-child(1), :nth-child(3),
  :nth-child(4)), .ufs-side .ufs-table-box .ufs-summary td:nth-child(2) { text-align: right; }
@media (max-width: 600px) {
  .ufs-side .ufs-table-box :is(th, td) { padding: 3px 4px; font-size: 12px; }
  .ufs-side .ufs-table-box th, .ufs-side .ufs-table-box .ufs-top-users td:nth-child(6) {
    white-space: normal; }
  .ufs-side .ufs-table-box .ufs-top-users td:nth-child(2) { min-width: 6em; }
}
</style>"""


def side_tables_html(top: pd.DataFrame, summary: dict) -> str:
    """Return the top users and the summary statistics: two HTML tables, side by side.

    Each table sits in a box of its own that scrolls sideways when the screen is narrower
    than the table; the boxes wrap below each other when there is no room for both.

    Args:
        top: The ranked top users (see ``flags.top_users``).
        summary: The summary statistics (see ``analysis.summary_statistics``).
    """
    return (
        f'<div class="ufs-side">{SIDE_STYLE}'
        f'<section class="ufs-side-top"><h3>Top users</h3>{top_users_html(top)}</section>'
        f'<section class="ufs-side-summary"><h3>Summary statistics</h3>'
        f"{summary_html(summary)}</section></div>"
    )


def top_users_html(top: pd.DataFrame) -> str:
    """Return the top users as an HTML table, one row each, in the given order.

    Columns: rank, user (shown as text, see ``text.shown``), failed/total sessions, rate,
    95% interval and marks (see ``flags.marks``). Without users, a line that says so.
    """
    if top.empty:
        return '<p class="ufs-top-none">No user had enough sessions to rank.</p>'
    counts, intervals = rate_cells(top)
    rows = zip(
        [str(r) for r in top["rank"]],
        shown_all(top["user_name"]),
        counts,
        top["failure_rate_percent"],
        intervals,
        top["note"],
        strict=True,
    )
    heads = ["#", "User", "Failed / total", "Rate", "95% CI", "Marks"]
    return _table_html("ufs-top-users", heads, rows)


def summary_html(summary: dict) -> str:
    """Return the summary statistics as an HTML table of two columns: statistic, value."""
    return _table_html("ufs-summary", ["Statistic", "Value"], summary_rows(summary))


def _table_html(name: str, heads, rows) -> str:
    header = "".join(f"<th>{html_text(h)}</th>" for h in heads)
    body = "".join(
        "<tr>" + "".join(f"<td>{html_text(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    return (
        f'<div class="ufs-table-box"><table class="{name}"><thead><tr>{header}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


EXPORT_CONFIG = {
    "NbConvertBase": {
        "display_data_priority": [
            PLOTLY_MIMETYPE,
            "text/html",
            "text/markdown",
            "image/svg+xml",
            "image/png",
            "image/jpeg",
            "text/plain",
        ]
    }
}
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
    plotly.js is embedded once, in the page's head. The template draws each figure from
    its plotly mimetype (see :func:`figure_bundle`), the data of which it embeds once as
    JSON made safe for a ``<script>`` element (Jinja's ``tojson``). The page's ``<title>``
    is the one the notebook's heading names (see :func:`show_header`), else ``title``;
    nbconvert's template escapes it.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    notebook = nbformat.read(executed_notebook, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    name = notebook_page_title(notebook) or shown(title, PAGE_TITLE_LIMIT)
    resources = {"metadata": {"name": name}, "plotlyjs": plotlyjs()}
    exporter = HTMLExporter(config=Config(EXPORT_CONFIG), **EXPORT_OPTIONS)
    body, _ = exporter.from_notebook_node(notebook, resources=resources)
    return atomic_write(destination, lambda tmp: tmp.write_text(body, encoding="utf-8"))


def notebook_page_title(notebook) -> str | None:
    """Return the page title an executed notebook's heading names (see :func:`show_header`)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            value = output.get("metadata", {}).get(PAGE_TITLE_KEY)
            if isinstance(value, str) and value.strip():
                return shown(value, PAGE_TITLE_LIMIT)
    return None


def configure_notebook() -> None:
    """Set up a notebook session: tables shown in full."""
    import pandas as pd

    pd.set_option("display.max_rows", None)
    pd.set_option("display.max_columns", None)


def figure_bundle(figure: go.Figure) -> dict:
    """Return a figure's display data: plotly's mimetype, and a line of plain text.

    JupyterLab draws the mimetype with plotly's renderer; the report's template draws it
    with the page's plotly.js (see :func:`render_html`). The figure is stored once in the
    notebook, as plain JSON (numbers as plotly's typed arrays), never also as HTML.
    """
    import plotly.io as pio

    spec = json.loads(pio.to_json(figure, validate=False))  # plain JSON data, as the mimetype asks
    layout = spec["layout"]
    titles = [(layout.get("title") or {}).get("text")]
    titles += [a.get("text") for a in layout.get("annotations", [])]
    title = next((t for t in titles if t), "a figure")
    return {
        PLOTLY_MIMETYPE: {"data": spec["data"], "layout": spec["layout"], "config": CONFIG},
        "text/plain": f"Plotly figure: {shown(title)} (shown in JupyterLab and in the report)",
    }


def show(figure: go.Figure) -> None:
    """Display a figure in the notebook in the forms of :func:`figure_bundle`."""
    from IPython.display import display

    display(figure_bundle(figure), raw=True)


def plotlyjs() -> str:
    """Return plotly.js as the installed plotly package ships it (``get_plotlyjs``)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def generated_text(timezone: str, when: datetime | None = None) -> str:
    """Return ``when`` (default: now) in ``timezone`` for the report's "Generated" line."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    moment = datetime.now(zone) if when is None else when.astimezone(zone)
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}"
