"""Figures: pure functions from the per-user table to plotly figures."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from user_failure_stats.analysis import format_percent, rate_distribution

HOVER_LIMIT = 15
BAR_COLOUR = "#c0392b"


def use_offline_renderer() -> None:
    """Make notebook figures survive nbconvert and work offline.

    From plotly 6.1 the default renderer inside a kernel emits only the plotly mimetype,
    which nbconvert's HTML drops. ``plotly_mimetype+notebook`` keeps the mimetype for
    JupyterLab and adds HTML with plotly.js embedded once, for the rendered report.
    """
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype+notebook"


def bracket_hover(members: pd.DataFrame, limit: int = HOVER_LIMIT) -> str:
    """Return the hover text for one bracket: its users, worst first, at most ``limit``."""
    if members.empty:
        return "no users"
    lines = [
        f"{html.escape(str(row.user_name))}: {row.failure_rate_percent} "
        f"({row.failed_sessions}/{row.total_sessions})"
        for row in members.head(limit).itertuples()
    ]
    if len(members) > limit:
        lines.append(f"and {len(members) - limit} more")
    return "<br>".join(lines)


def distribution_figure(rates: pd.DataFrame, title: str = "Failure-rate distribution") -> go.Figure:
    """Return a bar chart of users per 10% failure-rate bracket.

    Hovering a bar lists the users in that bracket with their rate and failed/total
    sessions (the 15 worst, then "and N more").
    """
    dist = rate_distribution(rates)
    hover = [bracket_hover(m) for m in dist["members"]]
    figure = go.Figure(
        go.Bar(
            x=dist["bracket"],
            y=dist["users"],
            customdata=hover,
            marker_color=BAR_COLOUR,
            hovertemplate="<b>%{x}</b>: %{y} users<br>%{customdata}<extra></extra>",
            name="users",
        )
    )
    figure.update_layout(
        title=title,
        xaxis_title="Failure rate",
        yaxis_title="Users",
        template="plotly_white",
        bargap=0.1,
        height=420,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=list(dist["bracket"]))
    figure.update_yaxes(rangemode="tozero", tickformat="d")
    return figure


def top_users_figure(top: pd.DataFrame) -> go.Figure:
    """Return a horizontal bar chart of the top users' failure rates, worst at the top."""
    labels = [f"{r.rank}. {r.user_name}" for r in top.itertuples()]
    figure = go.Figure(
        go.Bar(
            x=top["failure_rate"],
            y=labels,
            orientation="h",
            marker_color=BAR_COLOUR,
            text=[format_percent(r) for r in top["failure_rate"]],
            customdata=list(zip(top["failed_sessions"], top["total_sessions"], strict=True)),
            hovertemplate="%{y}: %{text} (%{customdata[0]}/%{customdata[1]})<extra></extra>",
        )
    )
    figure.update_layout(
        title="Top users by failure rate",
        template="plotly_white",
        height=max(250, 30 * len(top) + 100),
        margin={"l": 200, "r": 20, "t": 60, "b": 40},
    )
    figure.update_xaxes(tickformat=".0%", range=[0, 1])
    figure.update_yaxes(autorange="reversed")
    return figure
