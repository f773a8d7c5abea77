"""Figures: pure functions from the per-user table to plotly figures (see ``view.show``)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from user_failure_stats.analysis import count_texts, rate_distribution
from user_failure_stats.text import plotly_text, shown, shown_all

HOVER_LIMIT = 15
BAR_COLOUR = "#c0392b"
TEMPLATE = "plotly_white"
# Legends go at the bottom of the figure: plotly makes room for them below the x axis's labels
# (automargin), so a legend of several lines on a narrow screen never covers a title or label.
LEGEND = {
    "orientation": "h",
    "x": 0,
    "xanchor": "left",
    "y": 0,
    "yanchor": "bottom",
    "yref": "container",
}
MARGIN = {"l": 10, "r": 10, "t": 60, "b": 10}  # the axes' labels add what they need
NO_SESSIONS = "No sessions in this window"


def figure(data: list[dict], layout: dict) -> go.Figure:
    """Return a plotly figure of ``data`` (trace dicts) and ``layout`` on :data:`TEMPLATE`."""
    return go.Figure(data=data, layout={"template": TEMPLATE, **layout})


def axis(title: str, **options) -> dict:
    """Return a layout's axis titled ``title``, with room for its labels (automargin)."""
    return {**options, "title": {"text": title}, "automargin": True}


RATE_AXIS = axis("Failure rate", range=[-0.02, 1.02], tickformat=".0%")


def bracket_hover(members: pd.DataFrame, limit: int = HOVER_LIMIT, total: int | None = None) -> str:
    """Return a bracket's hover: its first ``limit`` of ``total`` users (default: all members)."""
    total = len(members) if total is None else total
    if total == 0:
        return "no users"
    lines = [
        f"{plotly_text(shown(row.user_name))}: {row.failure_rate_percent} "
        f"({row.failed_sessions}/{row.total_sessions})"
        for row in members.head(limit).itertuples()
    ]
    if total > limit:
        lines.append(f"and {total - limit:,} more")
    return "<br>".join(lines)


def distribution_figure(rates: pd.DataFrame, title: str = "Failure-rate distribution") -> go.Figure:
    """Return a bar chart of users per 10% failure-rate bracket; a bar's hover lists its users."""
    if rates.empty:
        return empty_figure(title)
    dist = rate_distribution(rates, members=HOVER_LIMIT + 1)
    hover = [bracket_hover(m, total=n) for m, n in zip(dist["members"], dist["users"], strict=True)]
    return figure(
        [
            {
                "type": "bar",
                "x": list(dist["bracket"]),
                "y": list(dist["users"]),
                "customdata": hover,
                "marker": {"color": BAR_COLOUR},
                "hovertemplate": "<b>%{x}</b>: %{y} users<br>%{customdata}<extra></extra>",
                "name": "users",
                "showlegend": False,
            }
        ],
        {
            "title": {"text": title},
            "xaxis": axis("Failure rate", type="category"),
            "yaxis": axis("Users", rangemode="tozero", **_count_ticks(dist)),
            "bargap": 0.1,
            "height": 420,
            "margin": MARGIN,
        },
    )


def _count_ticks(dist: pd.DataFrame) -> dict:
    # Whole numbers of users only: no 0.5 ticks on a small histogram.
    most = max(int(dist["users"].max()), 1)
    return {"tick0": 0, "dtick": nice_step(most / 6), "tickformat": ",d"}


def nice_step(rough: float) -> int:
    """Return the whole step of 1, 2 or 5 times a power of ten at or above ``rough``: 18 -> 20."""
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= rough:
                return step * power
        power *= 10


CHANGE_LIMIT = 30
ROW_NAME = 24  # characters of a name beside its row of the change chart


def change_figure(worsened: pd.DataFrame, length: str, limit: int = CHANGE_LIMIT) -> go.Figure:
    """Return a dumbbell chart of each user who got worse (at most ``limit``): before and now."""
    title = f"Failure rate: the previous {length} and now"
    if worsened.empty:
        return empty_figure(title)
    part = worsened.head(limit)
    if len(worsened) > len(part):
        title += f" ({len(part)} largest changes of {len(worsened):,})"
    names = [plotly_text(n) for n in shown_all(part["user_name"])]
    # Each row: its number in the table and the name, short (the hover has it whole).
    rows = [
        f"#{r} {plotly_text(shown(n, ROW_NAME))}"
        for r, n in zip(part["rank"], part["user_name"], strict=True)
    ]
    before = part["previous_failure_rate"].to_numpy(dtype="float64")
    now = part["failure_rate"].to_numpy(dtype="float64")
    joins_x = [x for b, n in zip(before.tolist(), now.tolist(), strict=True) for x in (b, n, None)]
    joins_y = [y for row in rows for y in (row, row, None)]
    counts_before = count_texts(part["previous_failed_sessions"], part["previous_total_sessions"])
    counts_now = count_texts(part["failed_sessions"], part["total_sessions"])
    change = [f"{c:+.2f} pts" for c in part["change_points"]]
    hover = "<b>%{customdata[0]}</b><br>%{customdata[1]}: %{x:.1%} (%{customdata[2]})"
    hover += "<br>change %{customdata[3]}<extra></extra>"

    def dots(x, label, counts, colour):
        return {
            "type": "scatter",
            "x": x,
            "y": rows,
            "mode": "markers",
            "name": label,
            "marker": {"color": colour, "size": 10},
            "customdata": [[n, label, c, d] for n, c, d in zip(names, counts, change, strict=True)],
            "hovertemplate": hover,
        }

    return figure(
        [
            {
                "type": "scatter",
                "x": joins_x,
                "y": joins_y,
                "mode": "lines",
                "line": {"color": "#aab7b8", "width": 2},
                "hoverinfo": "skip",
                "showlegend": False,
            },
            dots(before, f"previous {length}", counts_before, "#7f8c8d"),
            dots(now, "this window", counts_now, BAR_COLOUR),
        ],
        {
            "title": {"text": title},
            "xaxis": RATE_AXIS,
            "yaxis": {"autorange": "reversed", "type": "category", "automargin": True},
            "height": 160 + 26 * len(part),
            "margin": MARGIN,
            "legend": LEGEND,
        },
    )


def empty_figure(title: str) -> go.Figure:
    """Return a chart with no axes that says there were no sessions in the window."""
    return figure(
        [],
        {
            "title": {"text": title},
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [
                {
                    "text": NO_SESSIONS,
                    "showarrow": False,
                    "x": 0.5,
                    "y": 0.5,
                    "xref": "paper",
                    "yref": "paper",
                    "font": {"size": 16},
                }
            ],
            "height": 240,
            "margin": MARGIN,
        },
    )


def trend_figure(trend: pd.DataFrame, unit: str, timezone: str) -> go.Figure:
    """Return sessions (bars) and failure rate (line) per ``unit`` of ``analysis.trend``'s table."""
    title = f"Failure rate and sessions per {unit}"
    if not trend["total_sessions"].gt(0).any():
        return empty_figure(title)
    return figure(
        [
            {
                "type": "bar",
                "x": trend["bucket"],
                "y": trend["total_sessions"],
                "name": "sessions",
                "marker": {"color": "#aab7b8"},
                "customdata": trend["failed_sessions"],
                "hovertemplate": "%{x}<br>%{y} sessions, %{customdata} failed<extra></extra>",
                "xaxis": "x",
                "yaxis": "y",
            },
            {
                "type": "scatter",
                "x": trend["bucket"],
                "y": trend["failure_rate"],
                "name": "failure rate",
                "mode": "lines+markers",
                "line": {"color": BAR_COLOUR, "width": 2},
                "connectgaps": False,
                "hovertemplate": "%{x}<br>failure rate %{y:.2%}<extra></extra>",
                "xaxis": "x",
                "yaxis": "y2",
            },
        ],
        {
            "title": {"text": title},
            "xaxis": axis(f"{unit.capitalize()} ({timezone})", anchor="y"),
            "yaxis": axis("Sessions", anchor="x", rangemode="tozero", **_session_ticks(trend)),
            "yaxis2": axis(
                "Failure rate",
                anchor="x",
                overlaying="y",
                side="right",
                tickformat=".0%",
                tickmode="auto",
                showgrid=False,
                rangemode="tozero",
            ),
            "height": 440,
            "margin": MARGIN,
            "legend": LEGEND,
            "bargap": 0.15,
        },
    )


def _session_ticks(trend: pd.DataFrame) -> dict:
    # Whole sessions only: below 6, plotly would tick at halves.
    most = int(trend["total_sessions"].max())
    return {"tickformat": ",d", **({"dtick": 1} if most < 6 else {})}
