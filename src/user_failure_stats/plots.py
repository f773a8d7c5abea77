"""Figures: pure functions from the per-user table to plotly figures."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.io.base_renderers import MimetypeRenderer

from user_failure_stats.analysis import (
    FLAGGED,
    TOO_FEW,
    Z_95,
    Z_998,
    ci_text,
    control_limits,
    format_percent,
    rate_distribution,
)
from user_failure_stats.report import PLOTLYJS_FROM_TEMPLATE, PLOTLYJS_MARK, summary_rows

HOVER_LIMIT = 15
BAR_COLOUR = "#c0392b"


OFFLINE_RENDERER = "user_failure_stats_offline"


class OfflineHtmlRenderer(MimetypeRenderer):
    """A plotly renderer for reports: HTML figures with no network requests.

    plotly's own ``notebook`` renderer adds a MathJax ``<script>`` from a CDN to every
    figure; this one embeds plotly.js once, when it is activated, and each figure as a
    ``<div>`` that draws itself with it.
    """

    def activate(self) -> None:
        """Display plotly.js once, inline, for the figures that follow.

        Skipped when the runner's report template embeds plotly.js instead.
        """
        import os

        if os.environ.get(PLOTLYJS_FROM_TEMPLATE):
            return
        from IPython.display import display_html
        from plotly.offline import get_plotlyjs

        display_html(
            f'<script type="text/javascript" {PLOTLYJS_MARK}>{get_plotlyjs()}</script>', raw=True
        )

    def to_mimebundle(self, fig_dict: dict) -> dict:
        """Return the figure as ``text/html`` that relies on the embedded plotly.js."""
        from plotly.io import to_html

        html_text = to_html(
            fig_dict,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=525,
            validate=False,
            config={"displaylogo": False, "responsive": True},
        )
        return {"text/html": html_text}


def use_offline_renderer() -> None:
    """Make notebook figures survive nbconvert and work offline.

    From plotly 6.1 the default renderer inside a kernel emits only the plotly mimetype,
    which nbconvert's HTML drops. ``plotly_mimetype`` stays for JupyterLab; the
    :class:`OfflineHtmlRenderer` adds HTML for the rendered report, with plotly.js embedded
    once and nothing fetched from a CDN.
    """
    import plotly.io as pio

    pio.renderers[OFFLINE_RENDERER] = OfflineHtmlRenderer()
    pio.renderers.default = f"plotly_mimetype+{OFFLINE_RENDERER}"


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


def _distribution_bar(rates: pd.DataFrame) -> go.Bar:
    dist = rate_distribution(rates)
    return go.Bar(
        x=list(dist["bracket"]),
        y=list(dist["users"]),
        customdata=[bracket_hover(m) for m in dist["members"]],
        marker_color=BAR_COLOUR,
        hovertemplate="<b>%{x}</b>: %{y} users<br>%{customdata}<extra></extra>",
        name="users",
        showlegend=False,
    )


def distribution_figure(rates: pd.DataFrame, title: str = "Failure-rate distribution") -> go.Figure:
    """Return a bar chart of users per 10% failure-rate bracket.

    Hovering a bar lists the users in that bracket with their rate and failed/total
    sessions (the 15 worst, then "and N more").
    """
    figure = go.Figure(_distribution_bar(rates))
    figure.update_layout(
        title=title,
        xaxis_title="Failure rate",
        yaxis_title="Users",
        template="plotly_white",
        bargap=0.1,
        height=420,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(rangemode="tozero", **_count_ticks(rates))
    return figure


def distribution_panel(rates: pd.DataFrame, top: pd.DataFrame, summary: dict) -> go.Figure:
    """Return the distribution with a side panel: the top users and the summary statistics.

    Args:
        rates: The per-user table (see ``analysis.failure_rates``).
        top: The ranked top users (see ``analysis.top_users``).
        summary: The summary statistics (see ``analysis.summary_statistics``).
    """
    from plotly.subplots import make_subplots

    stats = summary_rows(summary)
    top_rows = max(len(top), 1)
    figure = make_subplots(
        rows=2,
        cols=2,
        column_widths=[0.5, 0.5],
        row_heights=[top_rows + 1, len(stats) + 1],
        specs=[[{"type": "xy", "rowspan": 2}, {"type": "table"}], [None, {"type": "table"}]],
        subplot_titles=("Users per failure-rate bracket", "Top users", "Summary statistics"),
        horizontal_spacing=0.06,
        vertical_spacing=0.07,
    )
    figure.add_trace(_distribution_bar(rates), row=1, col=1)
    figure.add_trace(
        go.Table(
            columnwidth=[0.5, 2.4, 1.2, 1.0, 1.5, 1.9],
            header={
                "values": ["#", "User", "Failed/total", "Rate", "95% CI", "Note"],
                **_TABLE_HEADER,
            },
            cells={
                "values": [
                    ["–" if pd.isna(r) else str(r) for r in top["rank"]],
                    [html.escape(_one_line(n)) for n in top["user_name"]],
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
                **_TABLE_CELLS,
            },
        ),
        row=1,
        col=2,
    )
    figure.add_trace(
        go.Table(
            columnwidth=[2.6, 1.0],
            header={"values": ["Statistic", "Value"], **_TABLE_HEADER},
            cells={"values": [[k for k, _ in stats], [v for _, v in stats]], **_TABLE_CELLS},
        ),
        row=2,
        col=2,
    )
    figure.update_layout(
        template="plotly_white",
        height=140 + 26 * (top_rows + len(stats) + 2),
        margin={"l": 50, "r": 10, "t": 40, "b": 50},
        bargap=0.1,
        showlegend=False,
    )
    figure.update_xaxes(type="category", title_text="Failure rate", row=1, col=1)
    figure.update_yaxes(rangemode="tozero", title_text="Users", row=1, col=1, **_count_ticks(rates))
    return figure


def _count_ticks(rates: pd.DataFrame) -> dict:
    # Whole numbers of users only: no 0.5 ticks on a small histogram.
    most = int(rate_distribution(rates)["users"].max()) if len(rates) else 1
    return {"tick0": 0, "dtick": max(1, -(-most // 6)), "tickformat": "d"}


_TABLE_HEADER = {"fill_color": "#f0f0f0", "align": "left", "font": {"size": 12}}
_TABLE_CELLS = {"fill_color": "white", "align": "left", "font": {"size": 12}, "height": 24}


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _note_mark(note: str) -> str:
    return {FLAGGED: "▲ flagged", TOO_FEW: "○ too few"}.get(note, note)


def funnel_figure(rates: pd.DataFrame, overall_rate: float) -> go.Figure:
    """Return a funnel plot: each user's failure rate against their number of sessions.

    Control limits at 95% and 99.8% around the overall rate show how far a rate may stray
    by chance at each volume; users outside the outer limits stand out for real. Hovering a
    point names the user. Flagged users are drawn in red.
    """
    figure = go.Figure()
    if rates.empty or pd.isna(overall_rate):
        figure.add_annotation(
            text="No sessions in this window",
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
        )
        figure.update_layout(template="plotly_white", height=300)
        return figure
    most = max(int(rates["total_sessions"].max()), 2)
    n = np.unique(np.geomspace(1, most * 1.1, 200))
    for z, label, dash in ((Z_998, "99.8% limits", "dot"), (Z_95, "95% limits", "dash")):
        low, high = control_limits(overall_rate, n, z)
        for k, (bound, show) in enumerate(((high, True), (low, False))):
            figure.add_trace(
                go.Scatter(
                    x=n,
                    y=bound,
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=show,
                    line={"color": "#7f8c8d", "dash": dash, "width": 1},
                    hoverinfo="skip",
                    uid=f"limit-{label}-{k}",
                )
            )
    figure.add_trace(
        go.Scatter(
            x=[1, most * 1.1],
            y=[overall_rate, overall_rate],
            mode="lines",
            name=f"overall {format_percent(overall_rate)}",
            line={"color": "#2c3e50", "width": 1},
            hoverinfo="skip",
        )
    )
    flagged = rates["flagged"].astype(bool)
    for mask, name, colour in (
        (~flagged, "users", "#5d6d7e"),
        (flagged, "fails significantly more", BAR_COLOUR),
    ):
        part = rates[mask]
        if part.empty:
            continue
        figure.add_trace(
            go.Scatter(
                x=part["total_sessions"],
                y=part["failure_rate"],
                mode="markers",
                name=name,
                marker={"color": colour, "size": 8, "opacity": 0.8, "line": {"width": 0}},
                customdata=[
                    (html.escape(_one_line(u)), p, f, t, ci_text(lo, hi))
                    for u, p, f, t, lo, hi in zip(
                        part["user_name"],
                        part["failure_rate_percent"],
                        part["failed_sessions"],
                        part["total_sessions"],
                        part["failure_rate_ci_low"],
                        part["failure_rate_ci_high"],
                        strict=True,
                    )
                ],
                hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]} "
                "(%{customdata[2]}/%{customdata[3]})<br>95% CI %{customdata[4]}<extra></extra>",
            )
        )
    figure.update_layout(
        title="Funnel plot: failure rate against sessions",
        template="plotly_white",
        height=460,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    figure.update_xaxes(type="log", title_text="Sessions (log scale)")
    figure.update_yaxes(range=[-0.02, 1.02], tickformat=".0%", title_text="Failure rate")
    return figure


def trend_figure(trend: pd.DataFrame, unit: str, timezone: str) -> go.Figure:
    """Return sessions (bars) and failure rate (line) per day or hour of the window.

    Args:
        trend: ``bucket, total_sessions, failed_sessions, failure_rate`` (see
            ``analysis.trend``).
        unit: ``"day"`` or ``"hour"``.
        timezone: The report's time zone, named on the axis.
    """
    from plotly.subplots import make_subplots

    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Bar(
            x=trend["bucket"],
            y=trend["total_sessions"],
            name="sessions",
            marker_color="#aab7b8",
            customdata=trend["failed_sessions"],
            hovertemplate="%{x}<br>%{y} sessions, %{customdata} failed<extra></extra>",
        ),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(
            x=trend["bucket"],
            y=trend["failure_rate"],
            name="failure rate",
            mode="lines+markers",
            line={"color": BAR_COLOUR, "width": 2},
            connectgaps=False,
            hovertemplate="%{x}<br>failure rate %{y:.2%}<extra></extra>",
        ),
        secondary_y=True,
    )
    figure.update_layout(
        title=f"Failure rate and sessions per {unit}",
        template="plotly_white",
        height=420,
        margin={"l": 60, "r": 60, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.2},
        bargap=0.15,
    )
    figure.update_xaxes(title_text=f"{unit.capitalize()} ({timezone})")
    figure.update_yaxes(title_text="Sessions", rangemode="tozero", secondary_y=False)
    figure.update_yaxes(
        title_text="Failure rate", tickformat=".0%", rangemode="tozero", secondary_y=True
    )
    return figure
