"""Helpers shared by the test modules."""

import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

COMMAND = [sys.executable, "-m", "user_failure_stats"]
# The seed's window on the command line: 21 and 22 May 2025 in Kolkata.
SEED_WINDOW = ["--start", "2025-05-21", "--end", "2025-05-23", "--timezone", "Asia/Kolkata"]
ROOT = Path(__file__).resolve().parents[1]


def docs_text(*, reference: bool = False) -> str:
    """Return the README and the pages of docs/ as one text (docs/cli.md only if asked)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    if not reference:
        pages = [page for page in pages if page.name != "cli.md"]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def readme_block(marker: str) -> list[str]:
    """The commands of the README's ``sh`` block that holds ``marker``, one per line.

    A line ending in ``\\`` goes on; comments after two spaces are left out.
    """
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```sh\n(.*?)```", readme, flags=re.S) if marker in b]
    block = block.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def run_cli(args, env, cwd, timeout=600, command=None) -> subprocess.CompletedProcess:
    """Run ``python -m user_failure_stats ARGS`` (or ``command ARGS``) in ``cwd``, captured."""
    return subprocess.run(
        [*(command or COMMAND), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(args, env, cwd) -> subprocess.Popen:
    """Start ``python -m user_failure_stats ARGS`` in ``cwd``, its output in text pipes."""
    return subprocess.Popen(
        [*COMMAND, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kernels_of(process) -> list:
    """The notebook kernels among a psutil process's descendants.

    Children that end meanwhile (the trial connection's, a zombie for a moment) are skipped.
    """
    import psutil

    found = []
    for child in process.children(recursive=True):
        try:
            if "ipykernel" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALL_CHARTS_DRAWN = (
    "() => { const plots = document.querySelectorAll('.js-plotly-plot');"
    " const tables = document.querySelectorAll('[data-ufs-table]');"
    " return plots.length >= 3 && [...plots].every(p => p.querySelector('.main-svg'))"
    " && [...tables].every(t => t.dataset.state === 'ready'); }"
)


def open_offline(browser, uri: str, width: int = 1300, ready: str = ALL_CHARTS_DRAWN):
    """Open ``uri`` (a report on disk) with every other request blocked, once it is drawn.

    ``ready`` is the script that tells when it is drawn (default: a report's charts and table).

    Returns the page and what it did: the blocked requests, script errors, and the messages
    of the dialogs it opened (each dismissed).
    """
    page = browser.new_page(viewport={"width": width, "height": 1000})
    external, errors, dialogs = [], [], []

    def route(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(uri)
    page.wait_for_function(ready, timeout=20000)
    return page, external, errors, dialogs


def modebar_titles(page) -> list[str]:
    """The titles of every chart toolbar button on the page, lower case."""
    return page.evaluate(
        "() => [...document.querySelectorAll('.modebar-btn')]"
        ".map(b => (b.getAttribute('data-title') || '').toLowerCase())"
    )


def hover_text(page, element) -> str:
    """Hover over ``element`` and return the text of the hover label it shows."""
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = page.locator(".hoverlayer .hovertext").first
    hover.wait_for(timeout=5000)
    return hover.text_content()


def notebook_with(outputs: list[dict], tmp_path):
    """Write a notebook of one code cell whose display outputs are ``outputs`` (mimebundles)."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data=d) for d in outputs]
    notebook.cells = [cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(notebook, path)
    return path


# The boxes of what a chart writes: title, annotations, legend, axis titles and x tick labels.
CHART_PARTS = """plot => {
  const box = els => {
    const rs = els.map(e => e.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
    if (!rs.length) return null;
    return {left: Math.min(...rs.map(r => r.left)), top: Math.min(...rs.map(r => r.top)),
            right: Math.max(...rs.map(r => r.right)), bottom: Math.max(...rs.map(r => r.bottom))};
  };
  const all = sel => [...plot.querySelectorAll(sel)];
  const parts = {
    title: box(all('.g-gtitle text')),
    legend: box(all('.legend .bg')),
    xtitle: box(all('.g-xtitle text')),
    ytitle: box(all('.g-ytitle text')),
    y2title: box(all('.g-y2title text')),
    xticks: box(all('.xaxislayer-above .xtick text')),
  };
  all('.annotation-text-g text').forEach((t, i) => { parts['annotation' + i] = box([t]); });
  return {parts, svg: box(all('.main-svg').slice(0, 1))};
}"""


def overlap(a, b) -> float:
    width = min(a["right"], b["right"]) - max(a["left"], b["left"])
    height = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return max(width, 0) * max(height, 0)


def assert_chart_readable(plot, width: int, axes: bool = True) -> None:
    """Assert that a drawn chart fits ``width`` and that its texts are whole and apart.

    Its title, annotations, legend, axis titles and x tick labels lie inside the chart, and
    none of them overlaps another; ``axes``: the chart has an x axis title.
    """
    found = plot.evaluate(CHART_PARTS)
    svg, parts = found["svg"], {k: v for k, v in found["parts"].items() if v}
    assert svg["right"] <= width + 1 and svg["left"] >= -1, svg
    assert "title" in parts and ("xtitle" in parts or not axes), parts
    for name, part in parts.items():  # inside the chart: nothing cut off at its edges
        assert part["left"] >= svg["left"] - 1 and part["right"] <= svg["right"] + 1, name
        assert part["top"] >= svg["top"] - 1 and part["bottom"] <= svg["bottom"] + 1, name
    for (a, box_a), (b, box_b) in combinations(parts.items(), 2):
        assert overlap(box_a, box_b) < 1, (a, b, box_a, box_b)


def plant_report(folder, stamp, generated_at, files=("csv", "html", "ipynb")):
    """Publish a report's files (those of ``files``) and its summary, as a run does."""
    record = {
        "stamp": stamp,
        "title": "Daily",
        "generated": "sometime",
        "generated_at": generated_at,
        "window": {
            "start": "2025-05-21T00:00:00+00:00",
            "end": "2025-05-22T00:00:00+00:00",
            "timezone": "UTC",
        },
        "summary": {"total_sessions": 10, "overall_failure_rate": 0.1, "flagged_users": 0},
        "parameters": {},
        "previous": {},
        "files": {
            "html": f"user_failure_rates_{stamp}.html",
            "csv": f"user_failure_stats_{stamp}.csv",
        },
    }
    from user_failure_stats.names import published_names

    for name in published_names(stamp):
        if name.endswith(".json"):
            (folder / name).write_text(json.dumps(record))
        elif name.rsplit(".", 1)[1] in files:
            (folder / name).write_text("x" * 100)
        if (folder / name).exists():
            (folder / name).chmod(0o644)  # as a run writes them, whatever the umask


# Each section's heading, and a word its chart draws (an axis title), on the same printed page.
CHART_SECTIONS = {
    "Failure-rate distribution": "Failure rate",
    "Funnel plot": "Sessions (log scale)",
    "Trend": "Failure rate",
}


def assert_headings_stay_with_their_charts(path) -> None:
    """Assert that each chart's section heading is printed on the page its chart starts."""
    import re

    from pypdf import PdfReader

    texts = [page.extract_text() for page in PdfReader(path).pages]
    for heading, drawn in CHART_SECTIONS.items():
        (where,) = [i for i, text in enumerate(texts) if re.search(rf"^{heading}$", text, re.M)]
        after = texts[where].split(heading, 1)[1]
        assert drawn in after, (heading, texts[where][-300:], texts[where + 1][:300])
