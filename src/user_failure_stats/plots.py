"""Figures: pure functions from the per-user table to plotly figures.

Each function returns a ``plotly.graph_objects.Figure`` on plotly's ``plotly_white``
template, to restyle with plotly's API or to show with ``render.show``, which draws it with
plotly's own mimetype in JupyterLab and as HTML (``plotly.io.to_html``) in the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from user_failure_stats.analysis import (
    FLAGGED,
    TOO_FEW,
    Z_95,
    Z_998,
    ci_text,
    ci_texts,
    control_limits,
    format_percent,
    rate_distribution,
)
from user_failure_stats.formats import summary_rows
from user_failure_stats.text import plotly_text, shown, shown_all

HOVER_LIMIT = 15
# Above this many unflagged users, the funnel plot draws them as shading, not dots.
POINT_LIMIT = 5_000
DENSITY_BINS = 40
BAR_COLOUR = "#c0392b"
TEMPLATE = "plotly_white"


def figure(data: list[dict], layout: dict) -> go.Figure:
    """Return a plotly figure of ``data`` (trace dicts) and ``layout`` on :data:`TEMPLATE`."""
    return go.Figure(data=data, layout={"template": TEMPLATE, **layout})


def bracket_hover(members: pd.DataFrame, limit: int = HOVER_LIMIT, total: int | None = None) -> str:
    """Return the hover text for one bracket: its users, worst first, at most ``limit``.

    ``total`` is the number of users in the bracket when ``members`` holds only the first.
    """
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


def _distribution_bar(dist: pd.DataFrame, **where) -> dict:
    return {
        "type": "bar",
        "x": list(dist["bracket"]),
        "y": list(dist["users"]),
        "customdata": [
            bracket_hover(m, total=n) for m, n in zip(dist["members"], dist["users"], strict=True)
        ],
        "marker": {"color": BAR_COLOUR},
        "hovertemplate": "<b>%{x}</b>: %{y} users<br>%{customdata}<extra></extra>",
        "name": "users",
        "showlegend": False,
        **where,
    }


def distribution_figure(rates: pd.DataFrame, title: str = "Failure-rate distribution") -> go.Figure:
    """Return a bar chart of users per 10% failure-rate bracket.

    Hovering a bar lists the users in that bracket with their rate and failed/total
    sessions (the 15 worst, then "and N more").
    """
    dist = rate_distribution(rates, members=HOVER_LIMIT + 1)
    return figure(
        [_distribution_bar(dist)],
        {
            "title": {"text": title},
            "xaxis": {"type": "category", "title": {"text": "Failure rate"}},
            "yaxis": {"rangemode": "tozero", "title": {"text": "Users"}, **_count_ticks(dist)},
            "bargap": 0.1,
            "height": 420,
            "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
        },
    )


def distribution_panel(rates: pd.DataFrame, top: pd.DataFrame, summary: dict) -> go.Figure:
    """Return the distribution with a side panel: the top users and the summary statistics.

    The histogram fills the left half; the right half holds the top-users table above the
    summary statistics, each as tall as its rows.

    Args:
        rates: The per-user table (see ``analysis.failure_rates``).
        top: The ranked top users (see ``analysis.top_users``).
        summary: The summary statistics (see ``analysis.summary_statistics``).
    """
    stats = summary_rows(summary)
    dist = rate_distribution(rates, members=HOVER_LIMIT + 1)
    top_rows = max(len(top), 1)
    left, right = [0.0, 0.47], [0.53, 1.0]
    # Row heights in proportion to the tables' rows, 0.07 of the height between them.
    split = (1 - 0.07) * (len(stats) + 1) / (top_rows + len(stats) + 2)
    top_domain, stats_domain = [split + 0.07, 1.0], [0.0, split]
    top_table = {
        "type": "table",
        "domain": {"x": right, "y": top_domain},
        "columnwidth": [0.5, 2.4, 1.2, 1.0, 1.5, 1.9],
        "header": {"values": ["#", "User", "Failed/total", "Rate", "95% CI", "Note"], **_HEADER},
        "cells": {
            "values": [
                ["–" if pd.isna(r) else str(r) for r in top["rank"]],
                [plotly_text(shown(n)) for n in top["user_name"]],
                [
                    f"{f}/{t}"
                    for f, t in zip(top["failed_sessions"], top["total_sessions"], strict=True)
                ],
                list(top["failure_rate_percent"]),
                [
                    ci_text(lo, hi)
                    for lo, hi in zip(
                        top["failure_rate_ci_low"], top["failure_rate_ci_high"], strict=True
                    )
                ],
                [_note_mark(n) for n in top["note"]],
            ],
            **_CELLS,
        },
    }
    stats_table = {
        "type": "table",
        "domain": {"x": right, "y": stats_domain},
        "columnwidth": [2.6, 1.0],
        "header": {"values": ["Statistic", "Value"], **_HEADER},
        "cells": {"values": [[k for k, _ in stats], [v for _, v in stats]], **_CELLS},
    }
    return figure(
        [_distribution_bar(dist, xaxis="x", yaxis="y"), top_table, stats_table],
        {
            "xaxis": {
                "anchor": "y",
                "domain": left,
                "type": "category",
                "title": {"text": "Failure rate"},
            },
            "yaxis": {
                "anchor": "x",
                "domain": [0.0, 1.0],
                "rangemode": "tozero",
                "title": {"text": "Users"},
                **_count_ticks(dist),
            },
            "annotations": [
                _subplot_title("Users per failure-rate bracket", left, 1.0),
                _subplot_title("Top users", right, top_domain[1]),
                _subplot_title("Summary statistics", right, stats_domain[1]),
            ],
            "height": 140 + 26 * (top_rows + len(stats) + 2),
            "margin": {"l": 50, "r": 10, "t": 40, "b": 50},
            "bargap": 0.1,
            "showlegend": False,
        },
    )


def _subplot_title(text: str, x_domain: list[float], top: float) -> dict:
    return {
        "text": text,
        "x": (x_domain[0] + x_domain[1]) / 2,
        "y": top,
        "xref": "paper",
        "yref": "paper",
        "xanchor": "center",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 16},
    }


def _count_ticks(dist: pd.DataFrame) -> dict:
    # Whole numbers of users only: no 0.5 ticks on a small histogram.
    most = max(int(dist["users"].max()), 1)
    return {"tick0": 0, "dtick": max(1, -(-most // 6)), "tickformat": "d"}


_HEADER = {"fill": {"color": "#f0f0f0"}, "align": "left", "font": {"size": 12}}
_CELLS = {"fill": {"color": "white"}, "align": "left", "font": {"size": 12}, "height": 24}


def _note_mark(note: str) -> str:
    return {FLAGGED: "▲ flagged", TOO_FEW: "○ too few"}.get(note, note)


def funnel_figure(rates: pd.DataFrame, overall_rate: float, min_sessions: int = 1) -> go.Figure:
    """Return a funnel plot: each user's failure rate against their number of sessions.

    Control limits at 95% and 99.8% around the overall rate show how far a rate may stray
    by chance at each volume. Flagged users (``rates["flagged"]``: at least ``min_sessions``
    sessions and above the upper 95% limit) are drawn in red, users with fewer sessions as
    hollow circles (too few to judge), the rest in grey. Users with the same sessions and
    failures share one dot, whose hover names them (the first :data:`HOVER_LIMIT`). Above
    :data:`POINT_LIMIT` unflagged users, those are drawn as a density (see
    :func:`density_trace`), and a caption says so.
    """
    if rates.empty or pd.isna(overall_rate):
        return figure(
            [],
            {
                "annotations": [
                    {
                        "text": "No sessions in this window",
                        "showarrow": False,
                        "x": 0.5,
                        "y": 0.5,
                        "xref": "paper",
                        "yref": "paper",
                    }
                ],
                "height": 300,
            },
        )
    traces = []
    most = max(int(rates["total_sessions"].max()), 2)
    n = np.unique(np.geomspace(1, most * 1.1, 200))
    for z, label, dash in ((Z_998, "99.8% limits", "dot"), (Z_95, "95% limits", "dash")):
        low, high = control_limits(overall_rate, n, z)
        for k, (bound, show) in enumerate(((high, True), (low, False))):
            traces.append(
                {
                    "type": "scatter",
                    "x": n,
                    "y": bound,
                    "mode": "lines",
                    "name": label,
                    "legendgroup": label,
                    "showlegend": show,
                    "line": {"color": "#7f8c8d", "dash": dash, "width": 1},
                    "hoverinfo": "skip",
                    "uid": f"limit-{label}-{k}",
                }
            )
    traces.append(
        {
            "type": "scatter",
            "x": [1, most * 1.1],
            "y": [overall_rate, overall_rate],
            "mode": "lines",
            "name": f"overall {format_percent(overall_rate)}",
            "line": {"color": "#2c3e50", "width": 1},
            "hoverinfo": "skip",
        }
    )
    flagged = rates["flagged"].astype(bool)
    too_few = rates["total_sessions"] < min_sessions
    solid = {"size": 8, "opacity": 0.8, "line": {"width": 0}}
    annotations = []
    x_axis = {"type": "log", "title": {"text": "Sessions (log scale)"}}
    margin_top = 60
    if (~flagged).sum() > POINT_LIMIT:
        # Too many dots to draw or to hover: the unflagged users become shading, below the
        # limits; every flagged user stays a dot.
        traces.insert(0, density_trace(rates[~flagged], most))
        annotations.append(_density_caption(int((~flagged).sum()), int(flagged.sum())))
        x_axis["range"] = [np.log10(0.9), np.log10(most * 1.1)]  # not the cells' half-units
        margin_top = 100  # the title, then the caption's two lines
        # The flagged users as dots, one per distinct (sessions, failures): those users would
        # be drawn on top of each other; the dot's hover names them.
        traces.append(
            _shared_points(
                rates[flagged], "▲ fails significantly more", {"color": BAR_COLOUR, **solid}
            )
        )
        layers = []
    else:
        layers = [
            (~flagged & ~too_few, "users", {"color": "#5d6d7e", **solid}),
            (
                too_few & ~flagged,
                "○ too few to judge",
                {"color": "#5d6d7e", "symbol": "circle-open", "size": 8},
            ),
            (flagged, "▲ fails significantly more", {"color": BAR_COLOUR, **solid}),
        ]
    for mask, name, marker in layers:
        part = rates[mask]
        if part.empty:
            continue
        traces.append(_shared_points(part, name, marker))
    return figure(
        traces,
        {
            "title": {"text": "Funnel plot: failure rate against sessions"},
            "xaxis": x_axis,
            "yaxis": {
                "range": [-0.02, 1.02],
                "tickformat": ".0%",
                "title": {"text": "Failure rate"},
            },
            "height": 460 + margin_top - 60,
            "margin": {"l": 60, "r": 20, "t": margin_top, "b": 50},
            "legend": {"orientation": "h", "y": -0.2},
            "annotations": annotations,
        },
    )


def _shared_points(part: pd.DataFrame, name: str, marker: dict) -> dict:
    """Return one dot per distinct (sessions, failures) of ``part``, naming its users on hover.

    Users with the same counts have the same rate and interval and sit on one spot; the
    hover lists the first :data:`HOVER_LIMIT` in the table's order, then "and N more".
    """
    keys = ["total_sessions", "failed_sessions"]
    labelled = part.assign(label=[plotly_text(n) for n in shown_all(part["user_name"])])
    groups = labelled.groupby(keys, sort=False)
    first = groups.head(1).set_index(keys)
    size = groups.size()
    listed = groups.head(HOVER_LIMIT).groupby(keys, sort=False)["label"].agg("<br>".join)
    first = first.assign(users=size, names=listed).reset_index()
    extra = first["users"] - HOVER_LIMIT
    names = [
        n if u == 1 else f"{u:,} users:<br>{n}" + (f"<br>and {e:,} more" if e > 0 else "")
        for n, u, e in zip(first["names"], first["users"], extra, strict=True)
    ]
    return {
        "type": "scatter",
        "x": first["total_sessions"],
        "y": first["failure_rate"],
        "mode": "markers",
        "name": name,
        "marker": marker,
        "customdata": [
            [n, p, f, t, c]
            for n, p, f, t, c in zip(
                names,
                first["failure_rate_percent"],
                first["failed_sessions"],
                first["total_sessions"],
                ci_texts(first["failure_rate_ci_low"], first["failure_rate_ci_high"]),
                strict=True,
            )
        ],
        "hovertemplate": "<b>%{customdata[0]}</b><br>%{customdata[1]} "
        "(%{customdata[2]}/%{customdata[3]})<br>95% CI %{customdata[4]}<extra></extra>",
    }


def density_trace(part: pd.DataFrame, most: int, bins: int = DENSITY_BINS) -> dict:
    """Return a heatmap of how many of ``part``'s users fall in each cell of the funnel plot.

    Columns are at most ``bins`` ranges of sessions, of equal width on the log scale from 1
    to ``most`` and each holding whole numbers of sessions (1, 2, 3-4, ...); rows are
    ``bins`` equal steps of failure rate from 0 to 1. Empty cells are not drawn. Hovering a
    cell tells its users, sessions and rates.
    """
    # Edges half-way between whole numbers, so no column is empty for want of a number.
    x_edges = np.unique(np.round(np.geomspace(1, most + 1, bins + 1))) - 0.5
    y_edges = np.linspace(0.0, 1.0, bins + 1)
    counts, _, _ = np.histogram2d(
        part["total_sessions"].to_numpy(dtype="float64"),
        part["failure_rate"].to_numpy(dtype="float64"),
        bins=[x_edges, y_edges],
    )
    z = [[int(c) if c else None for c in row] for row in counts.T.tolist()]
    sessions = [
        ("1 session" if lo == 1 else f"{lo:,.0f} sessions")
        if hi - lo == 1
        else f"{lo:,.0f}-{hi - 1:,.0f} sessions"
        for lo, hi in zip(x_edges[:-1] + 0.5, x_edges[1:] + 0.5, strict=True)
    ]
    ranges = [
        [f"{s}, {y_edges[j]:.1%}-{y_edges[j + 1]:.1%} failed" for s in sessions]
        for j in range(bins)
    ]
    return {
        "type": "heatmap",
        "x": x_edges,
        "y": y_edges,
        "z": z,
        "customdata": ranges,
        "zmin": 1,
        "zmax": max(int(counts.max()), 2),  # with zmin: plotly wants both bounds
        "colorscale": [[0.0, "#e5e8e8"], [1.0, "#2c3e50"]],
        "colorbar": {"title": {"text": "users"}, "thickness": 12, "len": 0.6, "tickformat": ",d"},
        "hoverongaps": False,
        "hovertemplate": "%{z:,} users<br>%{customdata}<extra></extra>",
        "name": "users (density)",
    }


def _density_caption(unflagged: int, flagged: int) -> dict:
    # Two short lines: plotly does not wrap an annotation, and a phone is 390 px wide.
    text = (
        f"{unflagged:,} users not flagged: shading (darker: more)<br>"
        f"{flagged:,} flagged: red dots, hover for their names"
    )
    return {
        "text": text,
        "showarrow": False,
        "x": 0,
        "y": 1.0,
        "xref": "paper",
        "yref": "paper",
        "xanchor": "left",
        "align": "left",
        "yanchor": "bottom",
        "font": {"size": 12, "color": "#5d6d7e"},
    }


def trend_figure(trend: pd.DataFrame, unit: str, timezone: str) -> go.Figure:
    """Return sessions (bars) and failure rate (line) per day or hour of the window.

    Args:
        trend: ``bucket, total_sessions, failed_sessions, failure_rate`` (see
            ``analysis.trend``).
        unit: ``"day"`` or ``"hour"``.
        timezone: The report's time zone, named on the axis.
    """
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
            "title": {"text": f"Failure rate and sessions per {unit}"},
            # Room on the right for the second y axis.
            "xaxis": {
                "anchor": "y",
                "domain": [0.0, 0.94],
                "title": {"text": f"{unit.capitalize()} ({timezone})"},
            },
            "yaxis": {"anchor": "x", "rangemode": "tozero", "title": {"text": "Sessions"}},
            "yaxis2": {
                "anchor": "x",
                "overlaying": "y",
                "side": "right",
                "tickformat": ".0%",
                "tickmode": "auto",
                "showgrid": False,
                "rangemode": "tozero",
                "title": {"text": "Failure rate"},
            },
            "height": 420,
            "margin": {"l": 60, "r": 60, "t": 60, "b": 50},
            "legend": {"orientation": "h", "y": -0.2},
            "bargap": 0.15,
        },
    )
