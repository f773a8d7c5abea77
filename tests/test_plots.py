import pandas as pd

from tests.seed import SEED_USERS
from user_failure_stats.analysis import failure_rates, top_users
from user_failure_stats.plots import distribution_figure, top_users_figure


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
    bar = figure.data[0]
    assert list(bar.x) == [f"{10 * i}-{10 * (i + 1)}%" for i in range(10)]
    assert list(bar.y) == [0, 1, 3, 1, 0, 1, 0, 0, 0, 0]


def test_hover_lists_the_users_of_a_bracket_worst_first():
    hover = distribution_figure(rates_for(SEED_USERS)).data[0].customdata
    assert hover[2] == (
        "Vishnu Vardhan: 27.42% (34/124)<br>Akhilesh: 26.19% (11/42)<br>Adit Lal: 25.00% (4/16)"
    )
    assert hover[0] == "no users"


def test_hover_shows_fifteen_and_counts_the_rest():
    rows = [(i, f"user{i:02d}", 1, 2) for i in range(20)]
    hover = distribution_figure(rates_for(rows)).data[0].customdata[5]
    lines = hover.split("<br>")
    assert len(lines) == 16
    assert lines[0] == "user00: 50.00% (1/2)"
    assert lines[-1] == "and 5 more"


def test_hover_escapes_markup_in_names():
    hover = distribution_figure(rates_for([(1, "<b>x</b>", 1, 2)])).data[0].customdata[5]
    assert hover.startswith("&lt;b&gt;x&lt;/b&gt;")


def test_top_users_figure_keeps_rank_order():
    figure = top_users_figure(top_users(rates_for(SEED_USERS), 3))
    assert list(figure.data[0].y) == ["1. Anushka", "2. Jahanvi", "3. Vishnu Vardhan"]
    assert list(figure.data[0].x) == [0.5, 1 / 3, 34 / 124]
