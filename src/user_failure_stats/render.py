"""The figures' display in the notebook, and nbconvert's rendering of the executed notebook."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from user_failure_stats.outputs import atomic_write
from user_failure_stats.sections import PAGE_TITLE_KEY, PAGE_TITLE_LIMIT
from user_failure_stats.text import shown

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
    import plotly.graph_objects as go

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "report"


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
    # The macros and styles the report shares with the index (templates/shared, report.css).
    "extra_template_paths": [str(TEMPLATE_DIR)],
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
