"""The report's nbconvert exporter: an executed notebook to one self-contained HTML page.

Registered as nbconvert's ``user_failure_report`` (``jupyter nbconvert --to
user_failure_report executed.ipynb``); ``run`` renders through it too.
"""

from __future__ import annotations

import copy
from pathlib import Path

from nbconvert import HTMLExporter
from traitlets import default
from traitlets.config import Config

from user_failure_stats.files import atomic_write
from user_failure_stats.sections import PAGE_TITLE_KEY, PAGE_TITLE_LIMIT
from user_failure_stats.text import shown
from user_failure_stats.view import CONFIG, PLOTLY_MIMETYPE, plotlyjs

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
# Figures are drawn from plotly's mimetype (the template knows it), before any other form.
DISPLAY_PRIORITY = [
    PLOTLY_MIMETYPE,
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "text/plain",
]


class ReportExporter(HTMLExporter):
    """nbconvert's HTML exporter with the report's template and nothing from the network.

    No code cells, prompts or stderr; no require.js, MathJax or Mermaid; plotly.js embedded
    once, each figure's data once as JSON safe in a ``<script>``. The page's ``<title>`` is
    the one the notebook's heading names, else the name nbconvert gives (the file's).
    """

    export_from_notebook = "User failure report"

    @default("template_name")
    def _template_name_default(self):
        return "report"

    @default("extra_template_basedirs")
    def _extra_template_basedirs_default(self):
        return [str(TEMPLATE_DIR)]

    @default("extra_template_paths")
    def _extra_template_paths_default(self):
        # The macros and styles the report shares with the index (templates/shared, report.css).
        return [str(TEMPLATE_DIR)]

    @default("exclude_input")
    def _exclude_input_default(self):
        return True

    @default("exclude_input_prompt")
    def _exclude_input_prompt_default(self):
        return True

    @default("exclude_output_prompt")
    def _exclude_output_prompt_default(self):
        return True

    @property
    def default_config(self) -> Config:
        """The HTML exporter's defaults, with figures drawn from plotly's mimetype first."""
        config = super().default_config.copy()
        config.merge(Config({"NbConvertBase": {"display_data_priority": DISPLAY_PRIORITY}}))
        return config

    def from_notebook_node(self, nb, resources=None, **kw):
        """Convert a notebook node, as nbconvert's exporters do; see the class."""
        nb = copy.deepcopy(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
                for output in cell.outputs:  # the report's own settings: no share link
                    figure = output.get("data", {}).get(PLOTLY_MIMETYPE)
                    if isinstance(figure, dict):
                        figure["config"] = CONFIG
        resources = dict(resources or {})
        resources["metadata"] = dict(resources.get("metadata") or {})
        name = notebook_page_title(nb)
        if name or not resources["metadata"].get("name"):
            resources["metadata"]["name"] = name or "User failure rates"
        resources["plotlyjs"] = plotlyjs()
        return super().from_notebook_node(nb, resources=resources, **kw)


def render_html(executed_notebook: Path, destination: Path, title: str) -> Path:
    """Render an executed notebook with :class:`ReportExporter` to one file, atomically.

    The ``<title>`` is the one the notebook's heading names, else ``title``.
    """
    import nbformat

    notebook = nbformat.read(executed_notebook, as_version=4)
    resources = {"metadata": {"name": shown(title, PAGE_TITLE_LIMIT)}}
    body, _ = ReportExporter().from_notebook_node(notebook, resources=resources)
    return atomic_write(destination, lambda tmp: tmp.write_text(body, encoding="utf-8"))


def notebook_page_title(notebook) -> str | None:
    """Return the page title an executed notebook's heading names (see :func:`show_header`)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            value = output.get("metadata", {}).get(PAGE_TITLE_KEY)
            if isinstance(value, str) and value.strip():
                return shown(value, PAGE_TITLE_LIMIT)
    return None
