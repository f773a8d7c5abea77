"""The reports index page: a small dashboard of the reports, rendered from their summaries.

It lists the reports newest first, every time in one zone it names, under a chart of the
failure rate and flagged users across windows (plotly.js embedded, its data in a JSON
``<script>`` that cannot be broken out of, nothing loaded from the network). Links are
relative, so the folder can be served anywhere. Every text from a summary is escaped and bounded.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
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
    """Return the chart's series across windows: one per title and window length.

    One point per window of a series, from the report generated last for it; the latest
    :data:`MAX_POINTS` windows in all.

    Returns:
        ``series`` (each: ``name``, and per point ``x``, window starts in ``timezone``,
        ``rate``, percent or None without sessions, ``flagged``, None when the summary does
        not say, and ``label``, the hover, escaped for plotly), ``windows`` (distinct windows,
        before the bound) and ``range`` (:func:`recent_range` of the starts drawn).
    """
    zone = page_zone(timezone)
    latest: dict[tuple[str, str, str], RunSummary] = {}
    for entry in sorted(entries, key=RunSummary.newest_key):  # oldest first: the newest one stays
        bounds = (_instant(entry.window["start"]), _instant(entry.window["end"]))
        if None not in bounds and bounds[0] < bounds[1]:  # a window that ends first is none
            key = (bounds[0].isoformat(), bounds[1].isoformat(), series_name(entry))
            latest[key] = entry
    points = sorted(latest.items())[-MAX_POINTS:]
    series: dict[str, dict] = {}
    for (_, _, name), entry in points:
        start = _instant(entry.window["start"]).astimezone(zone)
        rate = _number(entry.summary.overall_failure_rate)
        flagged = _number(entry.summary.flagged_users)
        one = series.setdefault(
            name, {"name": name, "x": [], "rate": [], "flagged": [], "label": []}
        )
        one["x"].append(f"{start:%Y-%m-%d %H:%M}")
        one["rate"].append(None if rate is None else round(rate * 100, 4))
        one["flagged"].append(None if flagged is None else round(flagged))
        one["label"].append(plotly_text(f"{_window_text(entry, zone)} · {name}"))
    starts = sorted({x for one in series.values() for x in one["x"]})
    for one in series.values():
        with_gaps(one)
    return {
        # In the order each series began: a new series takes a new colour, the others keep theirs.
        "series": sorted(series.values(), key=lambda one: (one["x"][0], one["name"])),
        "windows": len(latest),
        "points": len(points),
        "range": recent_range(starts),
        "first": starts[0] if starts else None,
    }


def series_name(entry: RunSummary) -> str:
    """Return the series a report belongs to: its title and its window's length.

    The length is counted in the report's own zone, so a daily window across a change of
    clocks (23 or 25 hours) is still ``1 day``.
    """
    start, end = _instant(entry.window["start"]), _instant(entry.window["end"])
    try:
        zone = ZoneInfo(str(entry.window["timezone"]))
    except (ValueError, OSError, LookupError):
        zone = UTC
    start, end = start.astimezone(zone), end.astimezone(zone)
    if (start.hour, start.minute, start.second) == (end.hour, end.minute, end.second):
        days = (end.date() - start.date()).days
        length = f"{days:,} day{'' if days == 1 else 's'}"
    else:
        hours = round((end - start).total_seconds() / 3600, 2)
        length = f"{hours:,g} hour{'' if hours == 1 else 's'}"
    return f"{shown(entry.title, SHOWN_TEXT)} · {length}"


def usual_gap(moments: list[datetime]) -> timedelta:
    """Return the median gap between consecutive ``moments`` (sorted, at least two)."""
    gaps = sorted(b - a for a, b in zip(moments, moments[1:], strict=False))
    return gaps[len(gaps) // 2]


def with_gaps(one: dict) -> None:
    """Break a series' line where windows are missing: a point of None in each long gap.

    A gap is long when it is more than one and a half times the series' usual one (a day
    not reported in a daily series), so the line does not pass over it as if it were there.
    """
    moments = [datetime.fromisoformat(x) for x in one["x"]]
    if len(moments) < 3:
        return
    usual = usual_gap(moments)
    for i in range(len(moments) - 1, 0, -1):
        if moments[i] - moments[i - 1] > usual * 1.5:
            middle = moments[i - 1] + (moments[i] - moments[i - 1]) / 2
            one["x"].insert(i, f"{middle:%Y-%m-%d %H:%M}")
            for key in ("rate", "flagged", "label"):
                one[key].insert(i, None)


RECENT_POINTS = 30  # windows the chart opens on, at most
OUTLYING_GAP = 10  # a gap this many times the usual one sets older windows apart


def recent_range(starts: list[str]) -> list[str] | None:
    """Return the range the chart opens on, or None for all of ``starts`` (sorted, text).

    The recent windows: the latest :data:`RECENT_POINTS`, back to the first gap more than
    :data:`OUTLYING_GAP` times the usual one (a backfill of an old window), so that an
    outlying window cannot squeeze the others into a few pixels. The rest stay reachable.
    """
    if len(starts) < 3:
        return None
    moments = [datetime.fromisoformat(x) for x in starts]
    usual = usual_gap(moments)
    first = len(moments) - 1
    while first > 0 and len(moments) - first < RECENT_POINTS:
        if moments[first] - moments[first - 1] > usual * OUTLYING_GAP:
            break
        first -= 1
    if first == 0:
        return None
    pad = max(usual / 2, timedelta(hours=1))
    return [f"{moments[first] - pad:%Y-%m-%d %H:%M}", f"{moments[-1] + pad:%Y-%m-%d %H:%M}"]


# Okabe and Ito's colours, told apart by colour-blind readers too (yellow left out: on white).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000")


def chart_figure(data: dict) -> dict:
    """Return the plotly figure for :func:`chart_data`, one colour per series.

    Each series has its rate as a line (left axis) and its flagged users as bars (right axis).
    """
    flagged = [n for one in data["series"] for n in one["flagged"] if n is not None]
    traces = []
    for k, one in enumerate(data["series"]):
        colour = PALETTE[k % len(PALETTE)]
        name = plotly_text(one["name"])
        traces += [
            {
                "type": "bar",
                "name": f"{name}: flagged users",
                "legendgroup": name,
                "showlegend": False,
                "x": one["x"],
                "y": one["flagged"],
                "yaxis": "y2",
                "marker": {"color": colour, "opacity": 0.45},
                "customdata": one["label"],
                "hovertemplate": "%{customdata}<br>%{y} flagged users<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "legendgroup": name,
                "x": one["x"],
                "y": one["rate"],
                "line": {"color": colour},
                "customdata": one["label"],
                "hovertemplate": "%{customdata}<br>%{y:.2f}% of sessions failed<extra></extra>",
            },
        ]
    xaxis = {
        "type": "date",  # the window's start, in the page's zone (the caption says so)
        "automargin": True,
        "rangeselector": {
            "buttons": [
                {"count": 1, "label": "1 month", "step": "month", "stepmode": "backward"},
                {"count": 1, "label": "1 year", "step": "year", "stepmode": "backward"},
                {"step": "all", "label": "all windows"},
            ],
            "x": 0,
            "y": 1.0,
            "yanchor": "bottom",
        },
    }
    if data["range"] is not None:
        xaxis["range"] = data["range"]
    return {
        "data": traces,
        "layout": {
            "height": 460,
            "margin": {"l": 56, "r": 56, "t": 88, "b": 48},
            "xaxis": xaxis,
            "yaxis": {"title": {"text": "Overall failure rate (%)"}, "rangemode": "tozero"},
            "yaxis2": {
                "title": {"text": "Flagged users (bars)"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
                "showgrid": False,
                "dtick": max(1, math.ceil(max(flagged, default=0) / 5)),  # whole users
                "tickformat": ",d",
            },
            "barmode": "group",
            # Under the plot: one entry per series, on as many lines as a phone needs.
            "legend": {"orientation": "h", "x": 0, "y": -0.25, "yanchor": "top"},
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
    drawn = data["points"] >= 2
    return page_template("index/index.html.j2").render(
        zone=shown(timezone, SHOWN_TEXT),
        rows=[_row(entry, zone) for entry in entries[:MAX_ROWS]],
        total=len(entries),
        chart=chart_figure(data) if drawn else None,
        chart_id=CHART_ID,
        plotlyjs=Markup(plotlyjs()) if drawn else "",  # the installed plotly's own script
        windows=data["windows"],
        points=data["points"],
        recent=data["range"],
        first=data["first"],
    )


def _row(entry: RunSummary, zone: ZoneInfo) -> dict:
    summary = entry.summary
    own_zone = str(entry.window["timezone"]) == zone.key
    return {
        "title": shown(entry.title, TITLE_LIMIT),
        "window": _window_text(entry),  # as the report set it, in its own zone
        "in_page_zone": None if own_zone else _window_text(entry, zone),
        "generated": f"{entry.generated_instant().astimezone(zone):%Y-%m-%d %H:%M}",
        "sessions": _count(summary.total_sessions),
        "rate": _percent(summary.overall_failure_rate),
        "flagged": _count(summary.flagged_users),
        "worsened": _count(summary.worsened_users),
        "report": quote(html_name(entry.stamp)),
        "csv": quote(csv_name(entry.stamp)),
    }


YEARS = (1900, 2200)  # a window outside these is no call log's: shown as text, never drawn


def _instant(text) -> datetime | None:
    """Return an ISO 8601 time with an offset as an aware datetime; None for anything else.

    A time outside :data:`YEARS` is None too: shifted to a zone, year 1 or 9999 overflows.
    """
    try:
        moment = datetime.fromisoformat(str(text))
        moment = moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None
    return moment if moment is not None and YEARS[0] <= moment.year < YEARS[1] else None


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
