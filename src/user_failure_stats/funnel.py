"""The funnel plot: each user's failure rate against sessions, with the run's flag rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from user_failure_stats import significance
from user_failure_stats.analysis import ci_texts, format_percent
from user_failure_stats.formats import DEFAULT_FDR
from user_failure_stats.plots import (
    BAR_COLOUR,
    HOVER_LIMIT,
    LEGEND,
    MARGIN,
    RATE_AXIS,
    axis,
    empty_figure,
    figure,
)
from user_failure_stats.text import plotly_text, shown_all

# Above this many unflagged users, the funnel plot draws them as shading, not dots.
POINT_LIMIT = 5_000
DENSITY_BINS = 40


def funnel_figure(
    rates: pd.DataFrame, overall_rate: float, min_sessions: int = 1, fdr: float = DEFAULT_FDR
) -> go.Figure:
    """Return a funnel plot: each user's failure rate against their number of sessions.

    The red dashed line is this run's flag rule (``significance.flag_line``): per number of
    sessions, the lowest flagged rate. Users with the same counts share a dot; above
    :data:`POINT_LIMIT` unflagged users, those are a density (:func:`density_trace`).
    """
    if rates.empty or pd.isna(overall_rate):
        return empty_figure("Funnel plot: failure rate against sessions")
    most = max(int(rates["total_sessions"].max()), 2)
    lines = [flag_rule_trace(rates, min_sessions, fdr, most), _overall_trace(overall_rate, most)]
    behind, users, layout = _user_traces(rates, min_sessions, most)
    traces = [*behind, *(line for line in lines if line is not None), *users]
    margin_top = layout.pop("margin_top")
    return figure(
        traces,
        {
            "title": {"text": "Funnel plot: failure rate against sessions"},
            "yaxis": RATE_AXIS,
            "height": 520 + margin_top - 60,
            "margin": {**MARGIN, "t": margin_top},
            "legend": LEGEND,
            **layout,
        },
    )


def _overall_trace(overall_rate: float, most: int) -> dict:
    return {
        "type": "scatter",
        "x": [1, most * 1.1],
        "y": [overall_rate, overall_rate],
        "mode": "lines",
        "name": f"overall {format_percent(overall_rate)}",
        "line": {"color": "#2c3e50", "width": 1},
        "hoverinfo": "skip",
    }


def _user_traces(rates: pd.DataFrame, min_sessions: int, most: int):
    """Return the users' traces behind the lines, those in front, and the layout's changes."""
    flagged = rates["flagged"].astype(bool)
    too_few = rates["total_sessions"] < min_sessions
    solid = {"size": 8, "opacity": 0.8, "line": {"width": 0}}
    red = (flagged, "flagged: fails significantly more", {"color": BAR_COLOUR, **solid})
    least = int(rates["total_sessions"].min()) if len(rates) else 1
    x_axis = axis("Sessions (log scale)", type="log")
    # Whole numbers at 1, 2, 5, 10, 20, 50...: plotly's own log ticks label 20 to 90 "2" to "9".
    x_axis["tickvals"] = log_ticks(least, most)
    x_axis["ticktext"] = [f"{value:,}" for value in x_axis["tickvals"]]
    x_axis["range"] = [np.log10(least * 0.8), np.log10(most * 1.25)]
    layout = {"xaxis": x_axis, "annotations": [], "margin_top": 60}
    behind = []
    if (~flagged).sum() > POINT_LIMIT:
        # Only the two columns it draws: a copy of every column of a million rows is 150 MB.
        behind.append(density_trace(rates.loc[~flagged, ["total_sessions", "failure_rate"]], most))
        layout["annotations"].append(_density_caption(int((~flagged).sum()), int(flagged.sum())))
        x_axis["range"] = [np.log10(0.9), np.log10(most * 1.1)]  # not the cells' half-units
        layout["margin_top"] = 100  # the title, then the caption's two lines
        layers = [red]
    else:
        hollow = {"color": "#5d6d7e", "symbol": "circle-open", "size": 8}
        layers = [
            (~flagged & ~too_few, "users", {"color": "#5d6d7e", **solid}),
            (too_few & ~flagged, "too few to judge", hollow),
            red,
        ]
    users = [
        _shared_points(rates[mask], name, marker) for mask, name, marker in layers if mask.any()
    ]
    return behind, users, layout


def log_ticks(least: int, most: int) -> list[int]:
    """Return the ticks 1, 2, 5, 10, 20, 50... that fall within ``least`` to ``most`` sessions.

    At least the two around them, so a narrow range still has labels.
    """
    ticks = [step * 10**power for power in range(16) for step in (1, 2, 5)]
    inside = [tick for tick in ticks if least <= tick <= most]
    below = [tick for tick in ticks if tick < least][-1:]
    above = [tick for tick in ticks if tick > most][:1]
    return inside if len(inside) >= 2 else below + inside + above


def flag_rule_sessions(min_sessions: int, most: int, exact: int = 2_000) -> np.ndarray:
    """Return the sessions the flag line is drawn at: each to ``exact``, 200 log steps after."""
    first = max(int(min_sessions), 1)
    whole = np.arange(first, min(most, exact) + 1)
    if most <= exact:
        return whole if len(whole) else np.array([first])
    steps = np.unique(np.round(np.geomspace(exact, most, 200)))
    return np.unique(np.concatenate([whole, steps])).astype("int64")


def flag_rule_trace(rates: pd.DataFrame, min_sessions: int, fdr: float, most: int) -> dict | None:
    """Return the funnel plot's flag rule line; None when no user was tested or can be flagged."""
    if "p_value" not in rates or rates["p_value"].isna().all():
        return None
    cut = significance.p_cut(rates["p_value"], rates["q_value"], fdr)
    sessions = flag_rule_sessions(min_sessions, most)
    rate = significance.flag_line(
        sessions, int(rates["failed_sessions"].sum()), int(rates["total_sessions"].sum()), cut
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


def _shared_points(part: pd.DataFrame, name: str, marker: dict) -> dict:
    """Return one dot per distinct (sessions, failures) of ``part``, naming its users on hover."""
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
    intervals = ci_texts(first["failure_rate_ci_low"], first["failure_rate_ci_high"])
    cells = (first["failure_rate_percent"], first["failed_sessions"], first["total_sessions"])
    return {
        "type": "scatter",
        "x": first["total_sessions"],
        "y": first["failure_rate"],
        "mode": "markers",
        "name": name,
        "marker": marker,
        "customdata": [list(row) for row in zip(names, *cells, intervals, strict=True)],
        "hovertemplate": "<b>%{customdata[0]}</b><br>%{customdata[1]} "
        "(%{customdata[2]}/%{customdata[3]})<br>95% CI %{customdata[4]}<extra></extra>",
    }


def density_trace(part: pd.DataFrame, most: int, bins: int = DENSITY_BINS) -> dict:
    """Return a heatmap of how many of ``part``'s users fall in each cell of the funnel plot.

    Columns: at most ``bins`` log-even ranges of whole sessions (1, 2, 3-4, ...) up to
    ``most``; rows: ``bins`` steps of failure rate.
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
        f"{flagged:,} flagged: red dots, named in the tables"
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
