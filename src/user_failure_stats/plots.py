"""Figures: pure functions from the per-user table to plotly figures.

Each function returns a ``plotly.graph_objects.Figure`` on plotly's ``plotly_white``
template, to restyle with plotly's API or to show with ``render.show``, which draws it with
plotly's own mimetype in JupyterLab and as HTML (``plotly.io.to_html``) in the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from user_failure_stats import significance
from user_failure_stats.analysis import ci_texts, format_percent, rate_distribution
from user_failure_stats.formats import DEFAULT_FDR
from user_failure_stats.text import plotly_text, shown, shown_all

HOVER_LIMIT = 15
# Above this many unflagged users, the funnel plot draws them as shading, not dots.
POINT_LIMIT = 5_000
DENSITY_BINS = 40
BAR_COLOUR = "#c0392b"
TEMPLATE = "plotly_white"
# Legends go under the chart, at the bottom of the figure: plotly makes room for them below
# the x axis's labels and title (automargin), so on a narrow screen, where a legend takes
# several lines, it never covers the title or an axis label.
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
    sessions (the 15 worst, then "and N more"). Without users, a chart without axes that
    says there were no sessions.
    """
    if rates.empty:
        return empty_figure(title)
    dist = rate_distribution(rates, members=HOVER_LIMIT + 1)
    return figure(
        [_distribution_bar(dist)],
        {
            "title": {"text": title},
            "xaxis": {"type": "category", "title": {"text": "Failure rate"}, "automargin": True},
            "yaxis": {
                "rangemode": "tozero",
                "title": {"text": "Users"},
                "automargin": True,
                **_count_ticks(dist),
            },
            "bargap": 0.1,
            "height": 420,
            "margin": MARGIN,
        },
    )


def _count_ticks(dist: pd.DataFrame) -> dict:
    # Whole numbers of users only: no 0.5 ticks on a small histogram.
    most = max(int(dist["users"].max()), 1)
    return {"tick0": 0, "dtick": max(1, -(-most // 6)), "tickformat": "d"}


def funnel_figure(
    rates: pd.DataFrame, overall_rate: float, min_sessions: int = 1, fdr: float = DEFAULT_FDR
) -> go.Figure:
    """Return a funnel plot: each user's failure rate against their number of sessions.

    The red dashed line is the flag rule of this run: for each number of sessions, the
    lowest failure rate at which a user is flagged (see ``significance.flag_line``, at the
    p-value cut that Benjamini-Hochberg chose at ``fdr``). Users with at least
    ``min_sessions`` sessions on or above it are flagged and drawn in red; users with fewer
    as hollow circles (too few to judge); the rest in grey. Users with the same sessions and
    failures share one dot, whose hover names them (the first :data:`HOVER_LIMIT`). Above
    :data:`POINT_LIMIT` unflagged users, those are drawn as a density (see
    :func:`density_trace`), and a caption says so.
    """
    if rates.empty or pd.isna(overall_rate):
        return empty_figure("Funnel plot: failure rate against sessions")
    traces = []
    most = max(int(rates["total_sessions"].max()), 2)
    line = flag_rule_trace(rates, min_sessions, fdr, most)
    if line is not None:
        traces.append(line)
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
    x_axis = {"type": "log", "title": {"text": "Sessions (log scale)"}, "automargin": True}
    margin_top = 60
    if (~flagged).sum() > POINT_LIMIT:
        # Too many dots to draw or to hover: the unflagged users become shading, below the
        # line; every flagged user stays a dot.
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
                "automargin": True,
            },
            "height": 520 + margin_top - 60,
            "margin": {**MARGIN, "t": margin_top},
            "legend": LEGEND,
            "annotations": annotations,
        },
    )


def flag_rule_sessions(min_sessions: int, most: int, exact: int = 2_000) -> np.ndarray:
    """Return the numbers of sessions the flag line is drawn at.

    Each whole number from ``min_sessions`` up to ``exact``, then 200 steps even on the log
    scale up to ``most``.
    """
    first = max(int(min_sessions), 1)
    whole = np.arange(first, min(most, exact) + 1)
    if most <= exact:
        return whole if len(whole) else np.array([first])
    steps = np.unique(np.round(np.geomspace(exact, most, 200)))
    return np.unique(np.concatenate([whole, steps])).astype("int64")


def flag_rule_trace(rates: pd.DataFrame, min_sessions: int, fdr: float, most: int) -> dict | None:
    """Return the funnel plot's line of the flag rule (see :func:`funnel_figure`), or None.

    None when no user was tested (every user too few to judge, or only one user).
    """
    if "p_value" not in rates or rates["p_value"].isna().all():
        return None
    cut = significance.p_cut(rates["p_value"], rates["q_value"], fdr)
    sessions = flag_rule_sessions(min_sessions, most)
    rate = significance.flag_line(
        sessions,
        int(rates["failed_sessions"].sum()),
        int(rates["total_sessions"].sum()),
        cut,
    )
    drawn = ~np.isnan(rate)
    if not drawn.any():
        return None
    return {
        "type": "scatter",
        "x": sessions[drawn],
        "y": rate[drawn],
        "mode": "lines",
        "line": {"color": BAR_COLOUR, "dash": "dash", "width": 1.5, "shape": "hv"},
        "name": "flagged on or above this line",
        "hovertemplate": "%{x:,} sessions: flagged from %{y:.1%}<extra></extra>",
        "uid": "flag-rule",
    }


CHANGE_LIMIT = 30


def change_figure(worsened: pd.DataFrame, length: str, limit: int = CHANGE_LIMIT) -> go.Figure:
    """Return a dumbbell chart of the users who got worse: each user's rate before and now.

    One row per user, numbered as the "Got worse" table (``worsened["rank"]``), the largest
    change at the top; a grey dot for the previous window, a red one for this window, joined
    by a line. Hovering a dot names the user. At most ``limit`` users are drawn (the table
    lists them all), and the title says so.
    """
    title = f"Failure rate: the previous {length} and now"
    if worsened.empty:
        return empty_figure(title)
    part = worsened.head(limit)
    if len(worsened) > len(part):
        title += f" ({len(part)} largest changes of {len(worsened):,})"
    rows = [f"#{r}" for r in part["rank"]]
    names = [plotly_text(n) for n in shown_all(part["user_name"])]
    before = part["previous_failure_rate"].to_numpy(dtype="float64")
    now = part["failure_rate"].to_numpy(dtype="float64")
    joins_x, joins_y = [], []
    for row, b, n in zip(rows, before.tolist(), now.tolist(), strict=True):
        joins_x += [b, n, None]
        joins_y += [row, row, None]
    counts_before = [
        f"{f:,}/{n:,}"
        for f, n in zip(
            part["previous_failed_sessions"], part["previous_total_sessions"], strict=True
        )
    ]
    counts_now = [
        f"{f:,}/{n:,}" for f, n in zip(part["failed_sessions"], part["total_sessions"], strict=True)
    ]
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
            "xaxis": {
                "range": [-0.02, 1.02],
                "tickformat": ".0%",
                "title": {"text": "Failure rate"},
                "automargin": True,
            },
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

    A window without sessions is a chart without axes that says so.
    """
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
            "xaxis": {
                "anchor": "y",
                "title": {"text": f"{unit.capitalize()} ({timezone})"},
                "automargin": True,
            },
            "yaxis": {
                "anchor": "x",
                "rangemode": "tozero",
                "title": {"text": "Sessions"},
                "automargin": True,
                **_session_ticks(int(trend["total_sessions"].max())),
            },
            "yaxis2": {
                "automargin": True,
                "anchor": "x",
                "overlaying": "y",
                "side": "right",
                "tickformat": ".0%",
                "tickmode": "auto",
                "showgrid": False,
                "rangemode": "tozero",
                "title": {"text": "Failure rate"},
            },
            "height": 440,
            "margin": MARGIN,
            "legend": LEGEND,
            "bargap": 0.15,
        },
    )


def _session_ticks(most: int) -> dict:
    # Whole sessions only: below 6, plotly would tick at halves.
    return {"tickformat": ",d", **({"dtick": 1} if most < 6 else {})}
