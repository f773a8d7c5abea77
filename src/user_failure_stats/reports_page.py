"""The reports index: ``index.html`` in the output directory, one row per report.

It is rebuilt from the reports' JSON summaries each time a run publishes, under a file lock
and written atomically, so a failed run (which publishes nothing) leaves it as it was and
runs that finish at the same time both end up in it.
"""

from __future__ import annotations

import html
from pathlib import Path

from user_failure_stats.formats import format_percent
from user_failure_stats.outputs import HTML_PREFIX, RunSummary, atomic_write
from user_failure_stats.staging import SCAN_LOCK, locked

INDEX_NAME = "index.html"
LOCK_NAME = SCAN_LOCK


def read_entries(output_dir: Path) -> list[RunSummary]:
    """Return the summaries of the published reports in ``output_dir``, newest first.

    A summary whose HTML report no longer exists is left out; an unreadable one is skipped.
    """
    entries = []
    for path in Path(output_dir).glob(f".{HTML_PREFIX}*.json"):
        try:
            entry = RunSummary.read(path)
            if (Path(output_dir) / str(entry.files["html"])).is_file():
                entries.append(entry)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(entries, key=lambda e: _stamp_key(str(e.stamp)), reverse=True)


def _stamp_key(stamp: str) -> tuple[str, int]:
    # 20250523_010000_2 sorts after 20250523_010000.
    parts = stamp.split("_")
    base = "_".join(parts[:2])
    suffix = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
    return base, suffix


def render_index(entries: list[RunSummary]) -> str:
    """Return the index page for ``entries`` (from :func:`read_entries`): a static HTML table."""
    rows = []
    for entry in entries:
        window, summary, files = entry.window, entry.summary, entry.files
        rate = summary.get("overall_failure_rate")
        rows.append(
            "<tr>"
            f"<td>{_e(entry.title)}</td>"
            f"<td>{_e(window['start'][:16].replace('T', ' '))} to "
            f"{_e(window['end'][:16].replace('T', ' '))} {_e(window['timezone'])}</td>"
            f"<td>{_e(entry.generated)}</td>"
            f"<td class='n'>{summary['total_sessions']:,}</td>"
            f"<td class='n'>{format_percent(float('nan') if rate is None else rate)}</td>"
            f"<td class='n'>{summary.get('flagged_users', 0):,}</td>"
            f"<td><a href='{_e(files['html'])}'>report</a> · "
            f"<a href='{_e(files['csv'])}'>CSV</a></td>"
            "</tr>"
        )
    body = "\n".join(rows) or "<tr><td colspan='7'>No reports yet.</td></tr>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>User failure reports</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 24px auto;
         padding: 0 16px; color: #222; }}
  table {{ border-collapse: collapse; width: 100%; font-size: 14px; }}
  th, td {{ text-align: left; padding: 6px 10px; border-bottom: 1px solid #ddd; }}
  th {{ background: #f4f4f4; }}
  td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
</style>
</head>
<body>
<h1>User failure reports</h1>
<p>Newest first. Flagged users fail significantly more than the rest (their 95% interval lies
above the overall rate).</p>
<table>
<thead><tr><th>Report</th><th>Window</th><th>Generated</th><th>Sessions</th>
<th>Overall rate</th><th>Flagged users</th><th>Files</th></tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def update_index(output_dir: Path) -> Path:
    """Rebuild ``index.html`` in ``output_dir`` from the published reports; return its path."""
    output_dir = Path(output_dir)
    with locked(output_dir / LOCK_NAME):  # never through a planted link
        page = render_index(read_entries(output_dir))
        return atomic_write(
            output_dir / INDEX_NAME, lambda tmp: tmp.write_text(page, encoding="utf-8")
        )
