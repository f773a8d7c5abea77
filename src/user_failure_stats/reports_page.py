"""The reports index page: a small dashboard of the reports, rendered from their summaries.

It lists the reports newest first, every time in one zone it names, under a chart of the
failure rate and flagged users across windows (plotly.js embedded, its data in a JSON
``<script>`` that cannot be broken out of, nothing loaded from the network). Links are
relative, so the folder can be served anywhere. Every text from a summary is escaped and bounded.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from user_failure_stats.coerce import TITLE_LIMIT
from user_failure_stats.errors import ConfigError
from user_failure_stats.formats import format_percent
from user_failure_stats.names import csv_name, html_name
from user_failure_stats.sections import page_template
from user_failure_stats.summary import RunSummary
from user_failure_stats.text import plotly_text, shown
from user_failure_stats.view import CONFIG, plotlyjs

DEFAULT_TIMEZONE = "UTC"
# Bounds for hundreds (or thousands) of reports: the page stays a few hundred KB plus plotly.js.
MAX_ROWS = 1000
MAX_POINTS = 1000
CHART_ID = "ufs-index-chart"
SHOWN_TEXT = 60  # a window bound or zone that is not a time: shown, this long at most


def page_zone(timezone: str) -> ZoneInfo:
    """Return the zone the page shows its times in; ConfigError if not an IANA time zone."""
    try:
        return ZoneInfo(str(timezone))
    except (ValueError, OSError, LookupError):
        raise ConfigError(f"unknown time zone {shown(timezone, SHOWN_TEXT)!r}") from None


def chart_data(entries: list[RunSummary], timezone: str = DEFAULT_TIMEZONE) -> dict:
    """Return the points of the chart across windows, oldest window first.

    One point per window, from the report generated last for it; the latest :data:`MAX_POINTS`.

    Returns:
        ``x`` (window starts in ``timezone``), ``rate`` (percent, None without sessions),
        ``flagged`` (None when the summary does not say), ``label`` (the hover, escaped for
        plotly) and ``windows`` (distinct windows, before the bound).
    """
    zone = page_zone(timezone)
    latest: dict[tuple[str, str], RunSummary] = {}
    for entry in sorted(entries, key=RunSummary.newest_key):  # oldest first: the newest one stays
        bounds = (_instant(entry.window["start"]), _instant(entry.window["end"]))
        if None not in bounds:
            latest[(bounds[0].isoformat(), bounds[1].isoformat())] = entry
    points = sorted(latest.items())[-MAX_POINTS:]
    data: dict = {"x": [], "rate": [], "flagged": [], "label": [], "windows": len(latest)}
    for _, entry in points:
        start = _instant(entry.window["start"]).astimezone(zone)
        rate = _number(entry.summary.overall_failure_rate)
        flagged = _number(entry.summary.flagged_users)
        data["x"].append(f"{start:%Y-%m-%d %H:%M}")
        data["rate"].append(None if rate is None else round(rate * 100, 4))
        data["flagged"].append(None if flagged is None else round(flagged))
        label = f"{_window_text(entry, zone)} · {shown(entry.title, SHOWN_TEXT)}"
        data["label"].append(plotly_text(label))
    return data


def chart_figure(data: dict, timezone: str = DEFAULT_TIMEZONE) -> dict:
    """Return the plotly figure for :func:`chart_data`: rate line left, flagged bars right."""
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


def render_index(entries: list[RunSummary], timezone: str = DEFAULT_TIMEZONE) -> str:
    """Return the index page for ``entries`` (newest first), every time in ``timezone``.

    The page is ``templates/index/index.html.j2`` (Jinja, autoescape). ConfigError if
    ``timezone`` is not an IANA time zone.
    """
    from markupsafe import Markup

    zone = page_zone(timezone)
    data = chart_data(entries, timezone)
    drawn = data["windows"] >= 2
    return page_template("index/index.html.j2").render(
        zone=shown(timezone, SHOWN_TEXT),
        rows=[_row(entry, zone) for entry in entries[:MAX_ROWS]],
        total=len(entries),
        chart=chart_figure(data, timezone) if drawn else None,
        chart_id=CHART_ID,
        plotlyjs=Markup(plotlyjs()) if drawn else "",  # the installed plotly's own script
        windows=data["windows"],
        points=len(data["x"]),
    )


def _row(entry: RunSummary, zone: ZoneInfo) -> dict:
    summary = entry.summary
    own_zone = str(entry.window["timezone"]) == zone.key
    return {
        "title": shown(entry.title, TITLE_LIMIT),
        "window": _window_text(entry, zone, with_zone=False),
        "local": None if own_zone else _window_text(entry),
        "generated": f"{entry.generated_instant().astimezone(zone):%Y-%m-%d %H:%M}",
        "sessions": _count(summary.total_sessions),
        "rate": _percent(summary.overall_failure_rate),
        "flagged": _count(summary.flagged_users),
        "worsened": _count(summary.worsened_users),
        "report": quote(html_name(entry.stamp)),
        "csv": quote(csv_name(entry.stamp)),
    }


def _instant(text) -> datetime | None:
    """Return an ISO 8601 time with an offset as an aware datetime; None for anything else."""
    try:
        moment = datetime.fromisoformat(str(text))
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _window_text(entry: RunSummary, zone: ZoneInfo | None = None, with_zone: bool = True) -> str:
    """Return the window as ``2025-05-21 00:00 to 2025-05-23 00:00 Asia/Kolkata``, in ``zone``.

    Without ``zone``, as the report set it, in its own zone.
    """
    window = entry.window
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
        text += f" {zone.key if zone is not None else shown(window['timezone'], SHOWN_TEXT)}"
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
