"""The reports index: ``index.html`` in the output directory, a small dashboard of the reports.

It is rebuilt from the reports' JSON summaries each time a run publishes (and after a
clean-up, see ``retention``), under a file lock and written atomically, so a failed run
(which publishes nothing) leaves it as it was and runs that finish at the same time both
end up in it.

The page lists the reports newest first, by the instant each was generated (not by the
stamp, which is the host's local clock), with every time in one zone that the page names
(UTC unless the caller gives another). Above the table, a chart shows the overall failure
rate and the number of flagged users across the windows, drawn like the report's charts:
plotly.js embedded in the page, the data in a JSON ``<script>`` that cannot be broken out
of, nothing loaded from the network. Links are relative, so the folder can be copied or
served anywhere. Every text from a summary is escaped and bounded.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from user_failure_stats.coerce import TITLE_LIMIT
from user_failure_stats.errors import ConfigError
from user_failure_stats.formats import format_percent
from user_failure_stats.outputs import (
    HTML_PREFIX,
    RunSummary,
    atomic_write,
    csv_name,
    html_name,
    summary_name,
)
from user_failure_stats.render import CONFIG, plotlyjs
from user_failure_stats.staging import SCAN_LOCK, locked
from user_failure_stats.text import html_text, plotly_text, shown

INDEX_NAME = "index.html"
LOCK_NAME = SCAN_LOCK
DEFAULT_TIMEZONE = "UTC"
# Bounds for hundreds (or thousands) of reports: the page stays a few hundred KB plus plotly.js.
MAX_ROWS = 1000
MAX_POINTS = 1000
CHART_ID = "ufs-index-chart"
SHOWN_TEXT = 60  # a window bound or zone that is not a time: shown, this long at most


def read_entries(output_dir: Path) -> list[RunSummary]:
    """Return the summaries of the published reports in ``output_dir``, newest first.

    Newest by the instant each report was generated (``RunSummary.generated_instant``);
    reports generated in the same second by their stamps, the later stamp first. A summary
    whose HTML report no longer exists is left out; an unreadable one, or one under another
    stamp's name, is skipped.
    """
    entries = []
    for path in Path(output_dir).glob(f".{HTML_PREFIX}*.json"):
        try:
            entry = RunSummary.read(path)
            if (
                path.name == summary_name(entry.stamp)
                and (Path(output_dir) / html_name(entry.stamp)).is_file()
            ):
                entries.append(entry)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(entries, key=_newest_key, reverse=True)


def _newest_key(entry: RunSummary) -> tuple[datetime, str, int]:
    return (entry.generated_instant(), *stamp_key(entry.stamp))


def stamp_key(stamp: str) -> tuple[str, int]:
    """Return a key that sorts stamps in the order they were taken.

    ``20250523_010000_2`` sorts after ``20250523_010000`` and before ``..._10``.
    """
    parts = stamp.split("_")
    base = "_".join(parts[:2])
    suffix = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
    return base, suffix


def page_zone(timezone: str) -> ZoneInfo:
    """Return the zone the page shows its times in.

    Raises:
        ConfigError: ``timezone`` is not an IANA time zone.
    """
    try:
        return ZoneInfo(str(timezone))
    except (ValueError, OSError, LookupError):
        raise ConfigError(f"unknown time zone {shown(timezone, SHOWN_TEXT)!r}") from None


def chart_data(entries: list[RunSummary], timezone: str = DEFAULT_TIMEZONE) -> dict:
    """Return the points of the chart across windows, oldest window first.

    One point per window (start and end): when a window was reported more than once, the
    report generated last stands for it. At most :data:`MAX_POINTS`, the latest windows.

    Returns:
        ``x`` (window starts in ``timezone``, ``YYYY-MM-DD HH:MM``), ``rate`` (overall
        failure rate in percent, None for a window without sessions), ``flagged`` (flagged
        users, None when the summary does not say), ``label`` (what a point's hover names:
        the window and the title, escaped for plotly) and ``windows`` (how many distinct
        windows there are, before the bound).
    """
    zone = page_zone(timezone)
    latest: dict[tuple[str, str], RunSummary] = {}
    for entry in sorted(entries, key=_newest_key):  # oldest first: the newest one stays
        start = _instant(entry.window["start"])
        end = _instant(entry.window["end"])
        if start is None or end is None:
            continue
        latest[(start.isoformat(), end.isoformat())] = entry
    points = sorted(latest.items())[-MAX_POINTS:]
    data: dict = {"x": [], "rate": [], "flagged": [], "label": [], "windows": len(latest)}
    for _, entry in points:
        start = _instant(entry.window["start"]).astimezone(zone)
        rate = _number(entry.summary.get("overall_failure_rate"))
        flagged = _number(entry.summary.get("flagged_users"))
        data["x"].append(f"{start:%Y-%m-%d %H:%M}")
        data["rate"].append(None if rate is None else round(rate * 100, 4))
        data["flagged"].append(None if flagged is None else round(flagged))
        data["label"].append(
            plotly_text(f"{_window_text(entry, zone)} · {shown(entry.title, SHOWN_TEXT)}")
        )
    return data


def chart_figure(data: dict, timezone: str = DEFAULT_TIMEZONE) -> dict:
    """Return the plotly figure (data, layout, config) for :func:`chart_data`'s points.

    The overall failure rate is a line on the left axis, the flagged users bars on the right.
    """
    zone = plotly_text(shown(timezone, SHOWN_TEXT))
    most = max((n for n in data["flagged"] if n is not None), default=0)
    return {
        "data": [
            {
                "type": "bar",
                "name": "Flagged users",
                "x": data["x"],
                "y": data["flagged"],
                "yaxis": "y2",
                "marker": {"color": "rgba(192, 57, 43, 0.35)"},
                "customdata": data["label"],
                "hovertemplate": "%{customdata}<br>%{y} flagged users<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Overall failure rate",
                "x": data["x"],
                "y": data["rate"],
                "line": {"color": "#1f4e79"},
                "customdata": data["label"],
                "hovertemplate": "%{customdata}<br>%{y:.2f}% of sessions failed<extra></extra>",
            },
        ],
        "layout": {
            "height": 360,
            "margin": {"l": 56, "r": 56, "t": 56, "b": 48},
            "xaxis": {
                "type": "date",
                "title": {"text": f"Window start ({zone})", "standoff": 12},
                "automargin": True,  # rotated labels on a phone push the title down
            },
            "yaxis": {"title": {"text": "Overall failure rate (%)"}, "rangemode": "tozero"},
            "yaxis2": {
                "title": {"text": "Flagged users"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
                "dtick": max(1, math.ceil(most / 5)),  # whole users
                "tickformat": ",d",
            },
            # Above the plot, in the top margin: on a phone it takes two lines, over nothing.
            "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
            "hovermode": "closest",
        },
        "config": CONFIG,
    }


def script_json(value) -> str:
    r"""Return ``value`` as JSON that a ``<script>`` element cannot be broken out of.

    ``<``, ``>`` and ``&`` (and the line separators U+2028/U+2029) are written as ``\u``
    escapes, which JSON reads back as the same characters: no ``</script>`` or ``<!--``.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def render_index(entries: list[RunSummary], timezone: str = DEFAULT_TIMEZONE) -> str:
    """Return the index page for ``entries`` (from :func:`read_entries`, newest first).

    Args:
        entries: The reports' summaries.
        timezone: The one zone every time on the page is shown in; the page names it.

    Raises:
        ConfigError: ``timezone`` is not an IANA time zone.
    """
    zone = page_zone(timezone)
    zone_name = html_text(shown(timezone, SHOWN_TEXT))
    listed = entries[:MAX_ROWS]
    rows = "\n".join(_row(entry, zone) for entry in listed)
    if not rows:
        rows = "<tr><td colspan='7'>No reports yet.</td></tr>"
    more = (
        f"<p>The {len(listed):,} newest of {len(entries):,} reports are listed.</p>"
        if len(entries) > len(listed)
        else ""
    )
    return PAGE.format(
        zone=zone_name,
        chart=_chart_html(entries, timezone),
        rows=rows,
        more=more,
    )


def _row(entry: RunSummary, zone: ZoneInfo) -> str:
    summary = entry.summary
    generated = entry.generated_instant().astimezone(zone)
    html_href, csv_href = (
        html_text(quote(n)) for n in (html_name(entry.stamp), csv_name(entry.stamp))
    )
    local = ""
    if str(entry.window["timezone"]) != zone.key:
        local = f"<br><small>set as {html_text(_window_text(entry))}</small>"
    return (
        "<tr>"
        f"<td class='t'>{html_text(shown(entry.title, TITLE_LIMIT))}</td>"
        f"<td>{html_text(_window_text(entry, zone, with_zone=False))}{local}</td>"
        f"<td>{generated:%Y-%m-%d %H:%M}</td>"
        f"<td class='n'>{_count(summary.get('total_sessions'))}</td>"
        f"<td class='n'>{_percent(summary.get('overall_failure_rate'))}</td>"
        f"<td class='n'>{_count(summary.get('flagged_users'))}</td>"
        f"<td class='n'>{_count(summary.get('worsened_users'))}</td>"
        f"<td><a href='{html_href}'>report</a> · <a href='{csv_href}'>CSV</a></td>"
        "</tr>"
    )


def _chart_html(entries: list[RunSummary], timezone: str) -> str:
    data = chart_data(entries, timezone)
    if data["windows"] < 2:
        so_far = "No reports yet" if not entries else "One window reported so far"
        return (
            f"<p class='nochart'>{so_far}: the chart of the failure rate across windows "
            "appears once there are reports of two windows.</p>"
        )
    shown_points = len(data["x"])
    note = (
        f"<p>The latest {shown_points:,} of {data['windows']:,} windows are drawn.</p>"
        if data["windows"] > shown_points
        else ""
    )
    return (
        f"<script type='text/javascript'>{plotlyjs()}</script>\n"
        f"<div id='{CHART_ID}' class='chart'></div>\n"
        f"<script type='application/json' id='{CHART_ID}-data'>"
        f"{script_json(chart_figure(data, timezone))}</script>\n"
        "<script type='text/javascript'>\n"
        "(function () {\n"
        f"  var figure = JSON.parse(document.getElementById('{CHART_ID}-data').textContent);\n"
        f"  Plotly.newPlot('{CHART_ID}', figure.data, figure.layout, figure.config);\n"
        "})();\n"
        f"</script>\n{note}"
    )


def _instant(text) -> datetime | None:
    """Return an ISO 8601 time with an offset as an aware datetime; None for anything else."""
    try:
        moment = datetime.fromisoformat(str(text))
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _window_text(entry: RunSummary, zone: ZoneInfo | None = None, with_zone: bool = True) -> str:
    """Return the window as ``2025-05-21 00:00 to 2025-05-23 00:00 Asia/Kolkata``.

    In ``zone``, or as the report set it (its own zone) without one.
    """
    window = entry.window
    own = shown(window["timezone"], SHOWN_TEXT)
    bounds = []
    for key in ("start", "end"):
        moment = _instant(window[key])
        if moment is None:
            bounds.append(shown(window[key], SHOWN_TEXT))
        elif zone is not None:
            bounds.append(f"{moment.astimezone(zone):%Y-%m-%d %H:%M}")
        else:
            bounds.append(str(window[key])[:16].replace("T", " "))
    text = f"{bounds[0]} to {bounds[1]}"
    if with_zone:
        text += f" {zone.key if zone is not None else own}"
    return text


def _number(value) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{round(number):,}"


def _percent(value) -> str:
    number = _number(value)
    return format_percent(float("nan") if number is None else number)


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>User failure reports</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 1200px; margin: 24px auto;
         padding: 0 16px; color: #222; }}
  .box {{ max-width: 100%; overflow-x: auto; }}
  .chart {{ width: 100%; height: 360px; }}
  table {{ border-collapse: collapse; width: 100%; font-size: 14px; }}
  th, td {{ text-align: left; padding: 6px 10px; border-bottom: 1px solid #ddd;
            vertical-align: top; }}
  th {{ background: #f4f4f4; white-space: nowrap; }}
  td {{ white-space: nowrap; }}
  td.t {{ white-space: normal; overflow-wrap: anywhere; min-width: 10em; max-width: 24em; }}
  td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
  small {{ color: #666; }}
</style>
</head>
<body>
<h1>User failure reports</h1>
<p>Newest first, by when each report was generated. Times are in <strong>{zone}</strong>.
A user is <strong>flagged</strong> when they fail significantly more than the rest, and
<strong>got worse</strong> when they fail significantly more than in the previous window of the
same length: each user with enough sessions is tested exactly, and the tests are adjusted for
their number, so that at most a small share of the users counted (the false discovery rate,
5% by default) are ordinary users caught by chance.</p>
{chart}
<div class="box">
<table>
<thead><tr><th>Report</th><th>Window ({zone})</th><th>Generated ({zone})</th><th>Sessions</th>
<th>Overall rate</th><th>Flagged users</th><th>Got worse</th><th>Files</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</div>
{more}
</body>
</html>
"""


def write_index(output_dir: Path, timezone: str = DEFAULT_TIMEZONE) -> Path:
    """Rebuild ``index.html`` in ``output_dir``, for a caller that holds :data:`LOCK_NAME`.

    Returns:
        The index's path.
    """
    output_dir = Path(output_dir)
    page = render_index(read_entries(output_dir), timezone)
    return atomic_write(output_dir / INDEX_NAME, lambda tmp: tmp.write_text(page, encoding="utf-8"))


def update_index(output_dir: Path, timezone: str = DEFAULT_TIMEZONE) -> Path:
    """Rebuild ``index.html`` in ``output_dir`` from the published reports; return its path.

    Args:
        output_dir: The output directory.
        timezone: The zone the page shows every time in (default UTC).
    """
    output_dir = Path(output_dir)
    with locked(output_dir / LOCK_NAME):  # never through a planted link
        return write_index(output_dir, timezone)
