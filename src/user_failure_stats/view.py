"""Figures in the notebook: plotly's mimetype, which JupyterLab and the report both draw."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from user_failure_stats.text import shown

if TYPE_CHECKING:
    import plotly.graph_objects as go

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
# Nothing in a report sends data anywhere: no "Share chart" (plotly.js 4 showed it by default
# and uploaded the chart, hover data and all, to plotly's cloud), no "Edit in Chart Studio" (a
# button, not a setting, in plotly.js 3), no logo link. The PNG download saves locally.
CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "showSendToCloud": False,
    "plotlyServerURL": "",
    "modeBarButtonsToRemove": ["sendChartToCloud", "sendDataToCloud", "editInChartStudio"],
}


def configure_notebook() -> None:
    """Set up a notebook session: tables shown in full."""
    import pandas as pd

    pd.set_option("display.max_rows", None)
    pd.set_option("display.max_columns", None)


def figure_bundle(figure: go.Figure) -> dict:
    """Return a figure's display data: plotly's mimetype (stored once, as JSON) and plain text."""
    import plotly.io as pio

    spec = json.loads(pio.to_json(figure, validate=False))  # plain JSON data, as the mimetype asks
    layout = spec["layout"]
    titles = [(layout.get("title") or {}).get("text")]
    titles += [a.get("text") for a in layout.get("annotations", [])]
    title = next((t for t in titles if t), "a figure")
    return {
        PLOTLY_MIMETYPE: {"data": spec["data"], "layout": layout, "config": CONFIG},
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
