"""The figures' display in the notebook, and nbconvert's rendering of the executed notebook."""

from __future__ import annotations

from pathlib import Path

from user_failure_stats.files import atomic_write
from user_failure_stats.sections import PAGE_TITLE_KEY, PAGE_TITLE_LIMIT
from user_failure_stats.text import shown
from user_failure_stats.view import PLOTLY_MIMETYPE, plotlyjs

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "report"
# Figures are drawn from plotly's mimetype (the template knows it), before any other form.
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

    No code cells, prompts or stderr; nothing loaded from the network (no require.js,
    MathJax or Mermaid); plotly.js embedded once, each figure's data once as JSON safe in a
    ``<script>``. The ``<title>`` is the one the notebook's heading names, else ``title``.
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
