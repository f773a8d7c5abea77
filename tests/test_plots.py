import json
import math

import pandas as pd
import pytest

from tests.seed import SEED_USERS
from user_failure_stats import funnel, plots, view
from user_failure_stats.analysis import failure_rates
from user_failure_stats.analysis import rate_distribution as analysis_rate_distribution


def spec(figure):
    """The figure as the plain JSON data plotly.js receives."""
    return json.loads(figure.to_json())


def distribution_figure(*args, **kwargs):
    return spec(plots.distribution_figure(*args, **kwargs))


def funnel_figure(*args, **kwargs):
    return spec(funnel.funnel_figure(*args, **kwargs))


def trend_figure(*args, **kwargs):
    return spec(plots.trend_figure(*args, **kwargs))


def rates_for(rows):
    return failure_rates(
        pd.DataFrame(
            [
                {"user_id": i, "name": n, "failed_sessions": f, "total_sessions": t}
                for i, n, f, t in rows
            ]
        )
    )


def test_distribution_has_ten_brackets_in_order():
    figure = distribution_figure(rates_for(SEED_USERS))
    bar = figure["data"][0]
    assert bar["x"] == [f"{10 * i}-{10 * (i + 1)}%" for i in range(10)]
    assert bar["y"] == [0, 1, 3, 1, 0, 1, 0, 0, 0, 0]


def test_hover_lists_the_users_of_a_bracket_worst_first():
    hover = distribution_figure(rates_for(SEED_USERS))["data"][0]["customdata"]
    assert hover[2] == (
        "Vishnu Vardhan: 27.42% (34/124)<br>Akhilesh: 26.19% (11/42)<br>Adit Lal: 25.00% (4/16)"
    )
    assert hover[0] == "no users"


def test_hover_shows_fifteen_and_counts_the_rest():
    rows = [(i, f"user{i:02d}", 1, 2) for i in range(20)]
    hover = distribution_figure(rates_for(rows))["data"][0]["customdata"][5]
    lines = hover.split("<br>")
    assert len(lines) == 16
    assert lines[0] == "user00: 50.00% (1/2)"
    assert lines[-1] == "and 5 more"


def test_hover_escapes_markup_in_names():
    hover = distribution_figure(rates_for([(1, "<b>x</b>", 1, 2)]))["data"][0]["customdata"][5]
    assert hover.startswith("&lt;b&gt;x&lt;/b&gt;")


def test_funnel_draws_the_flag_rule_overall_and_users_with_names():
    from user_failure_stats import significance

    rows = [(1, "Big", 30, 50), (2, "Mid", 4, 10), (3, "Low", 6, 140)]
    rates = rates_for(rows)
    figure = funnel_figure(rates, 40 / 200)
    names = [trace["name"] for trace in figure["data"]]
    assert names.count("flagged on or above this line") == 1
    assert "overall 20.00%" in names
    flagged = next(t for t in figure["data"] if t["name"] == "flagged: fails significantly more")
    assert [c[0] for c in flagged["customdata"]] == ["Big"]
    users = next(t for t in figure["data"] if t["name"] == "users")
    assert sorted(c[0] for c in users["customdata"]) == ["Low", "Mid"]
    assert figure["layout"]["xaxis"]["type"] == "log"
    # The line is the rule: at 50 sessions it starts at the fewest failures that are flagged.
    from user_failure_stats.funnel import flag_rule_trace

    line = flag_rule_trace(rates, 1, 0.05, 140)
    x, y = [int(v) for v in line["x"]], [float(v) for v in line["y"]]
    cut = significance.p_cut(rates["p_value"], rates["q_value"], 0.05)
    at_50 = y[x.index(50)]
    assert at_50 == 30 / 50  # Big sits on the line: the most significant flagged user
    p = significance.excess_p_values([at_50 * 50 - 1, 10], [50, 150], [True, True])[0]
    assert p > cut  # one failure fewer than the line is not flagged


def test_funnel_draws_users_below_min_sessions_hollow_and_never_red():
    from user_failure_stats.analysis import failure_rates

    rows = [(1, "Big", 30, 50), (2, "Few", 3, 3), (3, "Low", 6, 140)]
    counts = pd.DataFrame(
        [
            {"user_id": i, "name": n, "failed_sessions": f, "total_sessions": t}
            for i, n, f, t in rows
        ]
    )
    figure = funnel_figure(failure_rates(counts, 10), 39 / 193, min_sessions=10)
    by_name = {t["name"]: [c[0] for c in t.get("customdata", [])] for t in figure["data"]}
    assert by_name["flagged: fails significantly more"] == ["Big"]
    assert by_name["too few to judge"] == ["Few"]
    assert by_name["users"] == ["Low"]
    hollow = next(t for t in figure["data"] if t["name"] == "too few to judge")
    assert hollow["marker"]["symbol"] == "circle-open"


def test_funnel_of_an_empty_window_says_so_without_axes():
    empty = pd.DataFrame(columns=["user_id", "name", "failed_sessions", "total_sessions"])
    figure = funnel_figure(failure_rates(empty), float("nan"))
    assert figure["layout"]["annotations"][0]["text"] == "No sessions in this window"
    assert figure["layout"]["title"]["text"] == "Funnel plot: failure rate against sessions"
    assert figure["layout"]["xaxis"]["visible"] is False
    assert figure["layout"]["yaxis"]["visible"] is False
    assert figure["data"] == []


def empty_trend(days=3):
    return pd.DataFrame(
        {
            "bucket": pd.date_range("2025-05-21", periods=days, freq="D"),
            "total_sessions": [0] * days,
            "failed_sessions": [0] * days,
            "failure_rate": [float("nan")] * days,
        }
    )


def test_trend_and_histogram_of_an_empty_window_say_so_without_axes():
    no_users = failure_rates(
        pd.DataFrame(columns=["user_id", "name", "failed_sessions", "total_sessions"])
    )
    for figure, title in (
        (trend_figure(empty_trend(), "day", "UTC"), "Failure rate and sessions per day"),
        (distribution_figure(no_users, "Users per bracket"), "Users per bracket"),
    ):
        assert figure["layout"]["annotations"][0]["text"] == "No sessions in this window"
        assert figure["layout"]["title"]["text"] == title
        assert figure["layout"]["xaxis"]["visible"] is False
        assert figure["layout"]["yaxis"]["visible"] is False
        assert figure["data"] == []


def test_trend_counts_a_few_sessions_in_whole_numbers():
    trend = empty_trend().assign(total_sessions=[2, 0, 1], failed_sessions=[1, 0, 0])
    axis = trend_figure(trend, "day", "UTC")["layout"]["yaxis"]
    assert (axis["dtick"], axis["tickformat"]) == (1, ",d")
    busy = empty_trend().assign(total_sessions=[200, 0, 100])
    assert "dtick" not in trend_figure(busy, "day", "UTC")["layout"]["yaxis"]


def test_legends_sit_at_the_bottom_below_the_axis_labels():
    # Under the chart, in the figure's coordinates: plotly makes room for them below the x
    # axis's labels and title, so on a phone a legend of several lines covers neither.
    rates = rates_for(SEED_USERS)
    trend = empty_trend().assign(total_sessions=[4, 0, 2], failed_sessions=[1, 0, 2])
    for figure in (funnel_figure(rates, 0.2), trend_figure(trend, "day", "UTC")):
        legend = figure["layout"]["legend"]
        assert (legend["yref"], legend["y"], legend["yanchor"]) == ("container", 0, "bottom")
        assert legend["orientation"] == "h"
        axes = [k for k in figure["layout"] if k.startswith(("xaxis", "yaxis"))]
        assert axes and all(figure["layout"][k]["automargin"] is True for k in axes)


def all_figures(rows=SEED_USERS):
    from user_failure_stats.analysis import summary_statistics

    rates = rates_for(rows)
    summary = summary_statistics(rates)
    trend = pd.DataFrame(
        {
            "bucket": pd.date_range("2025-05-21", periods=3, freq="D"),
            "total_sessions": [4, 0, 2],
            "failed_sessions": [1, 0, 2],
            "failure_rate": [0.25, float("nan"), 1.0],
        }
    )
    return {
        "distribution": plots.distribution_figure(rates),
        "bracket": plots.distribution_figure(rates, "Users per failure-rate bracket"),
        "empty trend": plots.trend_figure(trend.assign(total_sessions=0), "day", "UTC"),
        "funnel": funnel.funnel_figure(rates, summary.overall_failure_rate),
        "empty funnel": funnel.funnel_figure(rates.iloc[0:0], float("nan")),
        "trend": plots.trend_figure(trend, "day", "Asia/Kolkata"),
    }


def test_every_figure_is_on_plotlys_white_template_and_validates():
    import plotly.graph_objects as go

    for name, figure in all_figures().items():
        assert figure.layout.template.layout.paper_bgcolor == "white", name
        assert go.Figure(figure.to_dict()).to_json() == figure.to_json(), name


def test_figures_are_strict_json_with_nan_as_null():
    trend = all_figures()["trend"]
    bundle = view.figure_bundle(trend)
    data = bundle["application/vnd.plotly.v1+json"]
    json.dumps(data, allow_nan=False)  # NaN travels inside plotly's typed array
    assert [v if v == v else None for v in trend.data[1].y] == [0.25, None, 1.0]
    assert [x[:19] for x in data["data"][0]["x"]] == [
        "2025-05-21T00:00:00",
        "2025-05-22T00:00:00",
        "2025-05-23T00:00:00",
    ]
    assert data["config"]["displaylogo"] is False


def test_names_are_escaped_once_for_plotly_and_shown_on_one_line():
    rows = [(1, '"RK" & <b>x</b>\r\x1b[2J', 1, 2), (2, "y" * 500, 1, 2)]
    rates = rates_for(rows)
    hover = distribution_figure(rates)["data"][0]["customdata"][5]
    assert hover.startswith('"RK" &amp; &lt;b&gt;x&lt;/b&gt;\\r\\x1b[2J: 50.00% (1/2)<br>')
    assert "y" * 99 + "…" in hover and "y" * 100 not in hover
    name = '"RK" &amp; &lt;b&gt;x&lt;/b&gt;\\r\\x1b[2J'
    dots = funnel_figure(rates, 0.5)["data"][-1]["customdata"]  # both on one spot: one dot
    assert dots[0][0] == f"2 users:<br>{name}<br>" + "y" * 99 + "…"


def many_users(n):
    """``n`` users with 20 sessions each; one in 500 fails 19 of them, one in 1,000 all 20."""
    rows = [
        (i, f"u{i}", 20 if i % 1000 == 0 else 19 if i % 500 == 0 else i % 3, 20)
        for i in range(1, n + 1)
    ]
    return rates_for(rows)


def test_the_funnel_draws_every_user_as_a_dot_up_to_the_limit():
    rates = many_users(funnel.POINT_LIMIT + 10)  # 10 flagged: the rest are exactly the limit
    assert int((~rates["flagged"]).sum()) == funnel.POINT_LIMIT
    figure = funnel_figure(rates, rates["failed_sessions"].sum() / rates["total_sessions"].sum())
    assert [t["type"] for t in figure["data"]].count("heatmap") == 0
    dots = [t for t in figure["data"] if t.get("mode") == "markers"]
    # A dot per (sessions, failures), whose hover names its users, worst first.
    shown = [d[0] for t in dots for d in t["customdata"]]
    counts = [int(h.split(" users:")[0].replace(",", "")) if " users:" in h else 1 for h in shown]
    assert sum(counts) == funnel.POINT_LIMIT + 10 and len(shown) == 5  # 20 of 0, 1, 2, 19, 20
    assert figure["layout"].get("annotations", []) == []


def test_above_the_limit_the_unflagged_users_are_density_and_every_flagged_user_a_dot():
    rates = many_users(40_000)  # 80 flagged, 39,920 not
    overall = rates["failed_sessions"].sum() / rates["total_sessions"].sum()
    figure = funnel.funnel_figure(rates, overall)
    kinds = [t.type for t in figure.data]
    assert kinds[0] == "heatmap" and kinds.count("heatmap") == 1  # under everything else
    density = figure.data[0]
    cells = [c for row in density.z for c in row if c is not None]
    assert sum(cells) == 39_920 and min(cells) >= 1
    dots = [t for t in figure.data if t.type == "scatter" and t.mode == "markers"]
    assert [t.name for t in dots] == ["flagged: fails significantly more"]
    # One dot per spot: 40 users fail 20 of 20, 40 fail 19 of 20; the hover names them.
    assert list(dots[0].x) == [20, 20] and list(dots[0].y) == [1.0, 0.95]
    (everyone, n1, n2, n3, c), (_, *rest) = dots[0].customdata
    assert everyone.startswith("40 users:<br>u1000<br>u10000<br>u11000<br>")
    assert everyone.count("<br>u") == plots.HOVER_LIMIT and everyone.endswith("<br>and 25 more")
    assert (n1, n2, n3, c) == ("100.00%", 20, 20, "83.9-100.0%")
    assert rest == ["95.00%", 19, 20, "76.4-99.1%"]
    caption = figure.layout.annotations[0].text
    assert caption == (
        "39,920 users not flagged: shading (darker: more)<br>"
        "80 flagged: red dots, named in the tables"
    )
    assert (
        density.zmax == 13_307 and density.customdata[0][-1] == "19-20 sessions, 0.0%-2.5% failed"
    )
    # The figure's size does not grow with the users: 40 x at most 40 cells and the dots.
    assert len(density.z) == funnel.DENSITY_BINS and len(density.z[0]) <= funnel.DENSITY_BINS


def test_a_brackets_hover_counts_all_its_users_but_lists_fifteen():
    rates = many_users(3000)
    dist = analysis_rate_distribution(rates, members=16)
    # 6 fail all their sessions; of the rest, 998 fail 10% (2 of 20), 1,996 fewer.
    assert list(dist["users"]) == [1996, 998, 0, 0, 0, 0, 0, 0, 0, 6]
    assert [len(m) for m in dist["members"]] == [16, 16] + [0] * 7 + [6]
    hover = distribution_figure(rates)["data"][0]["customdata"][0]
    assert hover.count("<br>") == 15 and hover.endswith("<br>and 1,981 more")


def test_the_change_chart_names_each_row_and_shows_both_windows():
    from user_failure_stats.flags import compare_windows, worsened_users

    def frame(rows):
        return pd.DataFrame(rows, columns=["user_id", "name", "failed_sessions", "total_sessions"])

    now = frame([(1, "<b>Asha</b> " + "x" * 40, 30, 50), (2, "Bo", 20, 50), (3, "Cy", 5, 50)])
    before = frame([(1, "", 5, 50), (2, "Bo", 2, 50), (3, "Cy", 5, 50)])
    worse = worsened_users(compare_windows(failure_rates(now), before, 10, 0.05), 10)
    figure = plots.change_figure(worse, "2 days")
    joins, before_dots, now_dots = figure["data"]
    assert list(now_dots["y"]) == ["#1 &lt;b&gt;Asha&lt;/b&gt; " + "x" * 11 + "…", "#2 Bo"]
    assert list(before_dots["x"]) == [0.1, 0.04] and list(now_dots["x"]) == [0.6, 0.4]
    assert [c[3] for c in now_dots["customdata"]] == ["+50.00 pts", "+36.00 pts"]
    assert figure["layout"]["title"]["text"] == "Failure rate: the previous 2 days and now"
    few = plots.change_figure(worse, "2 days", limit=1)
    assert few["layout"]["title"]["text"].endswith("(1 largest changes of 2)")


def test_the_funnels_log_axis_is_labelled_in_whole_numbers_from_its_least_user():
    from user_failure_stats.funnel import log_ticks

    assert log_ticks(5, 60) == [5, 10, 20, 50]
    assert log_ticks(1, 2_500) == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]
    assert log_ticks(3, 4) == [2, 5]  # none inside: the two around
    assert log_ticks(12, 18) == [10, 20]
    rates = failure_rates(
        pd.DataFrame(
            {
                "user_id": [1, 2, 3],
                "name": ["A", "B", "C"],
                "failed_sessions": [1, 5, 30],
                "total_sessions": [5, 20, 60],
            }
        )
    )
    xaxis = funnel.funnel_figure(rates, 0.4, 10, 0.05).layout.xaxis
    assert list(xaxis.tickvals) == [5, 10, 20, 50] and list(xaxis.ticktext) == [
        "5",
        "10",
        "20",
        "50",
    ]
    assert xaxis.range[0] == pytest.approx(math.log10(4))


def test_the_distributions_count_axis_steps_by_1_2_or_5():
    from user_failure_stats.plots import nice_step

    assert [nice_step(x) for x in (0.2, 1, 1.5, 3, 18, 45, 101)] == [1, 1, 2, 5, 20, 50, 200]
    rates = failure_rates(
        pd.DataFrame(
            {
                "user_id": range(108),
                "name": [f"U{i}" for i in range(108)],
                "failed_sessions": [0] * 108,
                "total_sessions": [10] * 108,
            }
        )
    )
    axis = plots.distribution_figure(rates, "t").layout.yaxis
    assert (axis.dtick, axis.tickformat) == (20, ",d")  # 108 users: 0, 20 ... 100, not 18s
