"""What people read: the console summary, the notebook's tables, the CSV and the HTML.

The formatting functions are pure; :func:`write_csv` and :func:`render_html` are the only
ones that touch files, and both write under a temporary name and move into place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from user_failure_stats.analysis import format_percent, top_users
from user_failure_stats.config import Parameters, Settings, Window, describe_database

CSV_PREFIX = "user_failure_stats_"
HTML_PREFIX = "user_failure_rates_"
RULE = "=" * 64


def csv_name(stamp: str) -> str:
    """Return the CSV's file name for a run stamp ``YYYYMMDD_HHMMSS``."""
    return f"{CSV_PREFIX}{stamp}.csv"


def html_name(stamp: str) -> str:
    """Return the HTML report's file name for a run stamp."""
    return f"{HTML_PREFIX}{stamp}.html"


def notebook_name(stamp: str) -> str:
    """Return the executed notebook's file name for a run stamp."""
    return f"{HTML_PREFIX}{stamp}.ipynb"


def atomic_write(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv(rates: pd.DataFrame, path: Path | str) -> Path:
    """Write the per-user table as UTF-8 CSV, atomically, and return the path."""
    return atomic_write(Path(path), lambda tmp: rates.to_csv(tmp, index=False, encoding="utf-8"))


def export_csv(rates: pd.DataFrame, output_dir: Path | str, stamp: str) -> Path:
    """Write ``user_failure_stats_<stamp>.csv`` into ``output_dir`` and return its path."""
    return write_csv(rates, Path(output_dir) / csv_name(stamp))


def _pct(value: float) -> str:
    return format_percent(value)


def summary_lines(summary: dict, window: Window | None = None, top: pd.DataFrame | None = None):
    """Return the console summary (the seed's ``USER FAILURE RATE ANALYSIS SUMMARY``) as lines."""
    lines = [RULE, "USER FAILURE RATE ANALYSIS SUMMARY", RULE]
    if window is not None:
        lines.append(f"Window: {window.describe()}")
        lines.append("")
    lines += [
        "Overall Statistics:",
        f"  Total Users:          {summary['total_users']:,}",
        f"  Total Sessions:       {summary['total_sessions']:,}",
        f"  Total Failures:       {summary['total_failures']:,}",
        f"  Overall Failure Rate: {_pct(summary['overall_failure_rate'])} (failures / sessions)",
    ]
    if summary.get("sessions_without_user_record"):
        lines.append(f"  Sessions with no user record: {summary['sessions_without_user_record']:,}")
    lines += [
        "",
        "Per-User Failure Rate Statistics:",
        f"  Average: {_pct(summary['average_failure_rate'])}",
        f"  Median:  {_pct(summary['median_failure_rate'])}",
        f"  Maximum: {_pct(summary['max_failure_rate'])}",
        f"  Minimum: {_pct(summary['min_failure_rate'])}",
        f"  Std Dev: {_pct(summary['std_failure_rate'])}",
    ]
    if top is not None:
        lines += ["", f"Top {len(top)} Users by Failure Rate:"]
        if top.empty:
            lines.append("  (no sessions in this window)")
        else:
            width = max(4, min(40, max(len(str(n)) for n in top["user_name"])))
            lines.append(f"  {'Rank':>4}  {'User':<{width}}  {'Failed/Total':>12}  {'Rate':>7}")
            for row in top.itertuples():
                name = _one_line(row.user_name)[:width]
                counts = f"{row.failed_sessions}/{row.total_sessions}"
                lines.append(
                    f"  {row.rank:>4}  {name:<{width}}  {counts:>12}  {row.failure_rate_percent:>7}"
                )
    lines.append(RULE)
    return lines


def _one_line(text) -> str:
    return " ".join(str(text).split())


def header_markdown(params: Parameters, window: Window, settings: Settings, generated: str) -> str:
    """Return the report's heading: title, window, database bounds, parameters and source."""
    return "\n".join(
        [
            f"# {params.title}",
            "",
            f"**Window:** {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} "
            f"({window.timezone}), end excluded  ",
            f"**Database bounds:** `created_on >= {window.db_start}` and "
            f"`< {window.db_end}` ({window.db_timezone})  ",
            f"**Generated:** {generated}  ",
            f"**Database:** {describe_database(settings.db_url)}  ",
            f"**Parameters:** top_n = {params.top_n}, timezone = {params.timezone}",
            "",
            "A session is a call-log row with a session id; it **failed** when the provider "
            "never created the call (`exotel_call_sid` is NULL).",
        ]
    )


def summary_table(summary: dict) -> pd.DataFrame:
    """Return the summary statistics as a two-column table for display."""
    rows = [
        ("Users", f"{summary['total_users']:,}"),
        ("Sessions", f"{summary['total_sessions']:,}"),
        ("Failures", f"{summary['total_failures']:,}"),
        ("Overall failure rate (failures / sessions)", _pct(summary["overall_failure_rate"])),
        ("Average per-user rate", _pct(summary["average_failure_rate"])),
        ("Median per-user rate", _pct(summary["median_failure_rate"])),
        ("Maximum per-user rate", _pct(summary["max_failure_rate"])),
        ("Minimum per-user rate", _pct(summary["min_failure_rate"])),
        ("Standard deviation of per-user rates", _pct(summary["std_failure_rate"])),
        ("Sessions with no user record", f"{summary['sessions_without_user_record']:,}"),
    ]
    return pd.DataFrame(rows, columns=["Statistic", "Value"]).set_index("Statistic")


def notes_markdown(summary: dict) -> str:
    """Return notes on the data that a reader must know (empty window, orphaned sessions)."""
    notes = []
    if summary["total_sessions"] == 0:
        notes.append("**There were no sessions in this window.**")
    orphan = summary["sessions_without_user_record"]
    if orphan:
        notes.append(
            f'{orphan:,} sessions point to a user id with no row in `public."user"` '
            "(or to no user id); they are counted under `unknown user <id>`."
        )
    return "\n\n".join(notes)


def display_table(rates: pd.DataFrame) -> pd.DataFrame:
    """Return the per-user table as shown in the report: labelled columns, percentages."""
    shown = rates[
        [
            "user_name",
            "total_sessions",
            "failed_sessions",
            "success_sessions",
            "failure_rate_percent",
            "user_id",
        ]
    ].copy()
    shown.columns = ["User", "Sessions", "Failed", "Succeeded", "Failure rate", "User id"]
    shown.index = range(1, len(shown) + 1)
    return shown


def top_table(rates: pd.DataFrame, n: int) -> pd.DataFrame:
    """Return the top-``n`` users table as shown in the report, ranked from 1."""
    return display_table(top_users(rates, n).drop(columns="rank"))


def render_html(executed_notebook: Path, destination: Path, title: str) -> Path:
    """Render an executed notebook to HTML without code cells or prompts, atomically."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed_notebook, as_version=4)
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    notebook.metadata["title"] = title
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    return atomic_write(destination, lambda tmp: tmp.write_text(body, encoding="utf-8"))


def configure_notebook() -> None:
    """Set up a notebook session: figures that survive nbconvert, tables shown in full."""
    from user_failure_stats.plots import use_offline_renderer

    use_offline_renderer()
    pd.set_option("display.max_rows", None)
    pd.set_option("display.max_columns", None)


def run_stamp() -> str:
    """Return a file-name timestamp for now: ``YYYYMMDD_HHMMSS`` (local clock)."""
    from datetime import datetime

    return f"{datetime.now():%Y%m%d_%H%M%S}"


def generated_text(timezone: str) -> str:
    """Return the current time in ``timezone`` for the report's "Generated" line."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return f"{datetime.now(ZoneInfo(timezone)):%Y-%m-%d %H:%M:%S %Z}"
