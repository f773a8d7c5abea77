import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.seed import SEED_ORDER, SEED_USERS
from user_failure_stats.analysis import (
    bracket_index,
    failure_rates,
    rate_distribution,
    summary_statistics,
    trend,
    user_label,
    wilson_interval,
    window_change,
)
from user_failure_stats.flags import top_users
from user_failure_stats.seed_api import analyze_failure_data
from user_failure_stats.stats import Statistics


def counts(rows):
    """Per-user counts from (user_id, name, failed, total) tuples."""
    return pd.DataFrame(
        [
            {
                "user_id": i,
                "name": n,
                "has_user_record": True,
                "failed_sessions": f,
                "total_sessions": t,
            }
            for i, n, f, t in rows
        ]
    )


def test_seed_users_are_ordered_by_rate_then_failures():
    table = failure_rates(counts(SEED_USERS))
    assert list(table["user_name"]) == SEED_ORDER
    assert list(table.columns[:7]) == [
        "user_name",
        "total_sessions",
        "failed_sessions",
        "success_sessions",
        "failure_rate",
        "failure_rate_percent",
        "user_id",
    ]
    first = table.iloc[0]
    assert (first.total_sessions, first.failed_sessions, first.success_sessions) == (8, 4, 4)
    assert first.failure_rate == 0.5
    assert list(table["failure_rate_percent"]) == [
        "50.00%",
        "33.33%",
        "27.42%",
        "26.19%",
        "25.00%",
        "18.92%",
    ]


def test_seed_summary_has_the_true_values():
    summary = summary_statistics(failure_rates(counts(SEED_USERS)))
    assert summary.total_users == 6
    assert summary.total_sessions == 341
    assert summary.total_failures == 82
    assert round(summary.overall_failure_rate * 100, 2) == 24.05
    assert round(summary.average_failure_rate * 100, 2) == 30.14
    # (11/42 + 34/124) / 2 = 26.8049%; the 26.81% in the issue is the mean of 26.19% and 27.42%.
    assert round(summary.median_failure_rate * 100, 2) == 26.80
    assert summary.max_failure_rate == 0.5
    assert round(summary.min_failure_rate * 100, 2) == 18.92
    rates = [f / t for _, _, f, t in SEED_USERS]
    mean = sum(rates) / 6
    sample_std = math.sqrt(sum((r - mean) ** 2 for r in rates) / 5)
    assert summary.std_failure_rate == pytest.approx(sample_std, rel=1e-12)
    assert summary.sessions_without_user_record == 0


def test_empty_input_gives_empty_table_and_undefined_rates():
    table = failure_rates(
        counts([]).reindex(
            columns=["user_id", "name", "has_user_record", "failed_sessions", "total_sessions"]
        )
    )
    assert table.empty
    assert list(table.columns[:6]) == [
        "user_name",
        "total_sessions",
        "failed_sessions",
        "success_sessions",
        "failure_rate",
        "failure_rate_percent",
    ]
    summary = summary_statistics(table)
    assert (summary.total_users, summary.total_sessions, summary.total_failures) == (
        0,
        0,
        0,
    )
    assert math.isnan(summary.overall_failure_rate)
    assert math.isnan(summary.median_failure_rate)


def test_one_user_has_no_standard_deviation():
    summary = summary_statistics(failure_rates(counts([(9, "Solo", 3, 4)])))
    assert summary.average_failure_rate == 0.75
    assert summary.median_failure_rate == 0.75
    assert math.isnan(summary.std_failure_rate)


@pytest.mark.parametrize(
    ("failed", "expected_rate", "expected_percent"),
    [
        (5, 1.0, "100.00%"),
        (0, 0.0, "0.00%"),
    ],
)
def test_all_or_no_failures(failed, expected_rate, expected_percent):
    table = failure_rates(counts([(1, "A", failed, 5), (2, "B", failed, 5)]))
    assert list(table["failure_rate"]) == [expected_rate, expected_rate]
    assert list(table["failure_rate_percent"]) == [expected_percent] * 2
    assert summary_statistics(table).overall_failure_rate == expected_rate


def test_null_and_repeated_names_stay_separate_users():
    table = failure_rates(
        counts(
            [
                (1, "Ravi", 1, 2),
                (2, "Ravi", 1, 4),
                (3, None, 2, 2),
            ]
        )
    )
    assert list(table["user_name"]) == ["user 3", "Ravi", "Ravi"]
    assert list(table["user_id"]) == [3, 1, 2]


def test_users_without_a_record_are_labelled_and_counted():
    frame = counts([(1, "Known", 1, 10)])
    frame.loc[1] = {
        "user_id": 99,
        "name": None,
        "has_user_record": False,
        "failed_sessions": 2,
        "total_sessions": 3,
    }
    table = failure_rates(frame)
    assert list(table["user_name"]) == ["unknown user 99", "Known"]
    assert summary_statistics(table).sessions_without_user_record == 3


def test_ties_break_on_failures_then_name_then_id():
    table = failure_rates(
        counts(
            [
                (4, "Bea", 1, 2),
                (3, "Al", 2, 4),
                (2, "Al", 1, 2),
                (1, "Cy", 1, 2),
            ]
        )
    )
    # All 50%: most failures first, then by name, then by user_id.
    assert list(zip(table["user_name"], table["user_id"], strict=True)) == [
        ("Al", 3),
        ("Al", 2),
        ("Bea", 4),
        ("Cy", 1),
    ]


def test_user_label_rules():
    assert user_label(5, "Asha", True) == "Asha"
    assert user_label(5, None, True) == "user 5"
    assert user_label(5, "", True) == "user 5"  # an empty name is no name
    assert user_label(5, " \t ", True) == "user 5"
    assert user_label(5, " Asha ", True) == " Asha "
    assert user_label(5, None, False) == "unknown user 5"
    assert user_label(None, None, False) == "no user id"


@pytest.mark.parametrize(
    ("failed", "total", "bracket"),
    [
        (0, 10, 0),
        (999, 10000, 0),
        (1, 10, 1),
        (3, 10, 3),
        (7, 10, 7),
        (29, 100, 2),
        (9, 10, 9),
        (10, 10, 9),
        (1, 3, 3),
        (2, 3, 6),
    ],
)
def test_bracket_boundaries_are_exact(failed, total, bracket):
    assert bracket_index(failed, total) == bracket


def test_distribution_counts_users_per_bracket():
    dist = rate_distribution(failure_rates(counts(SEED_USERS)))
    assert list(dist["bracket"])[:3] == ["0-10%", "10-20%", "20-30%"]
    assert list(dist["users"]) == [0, 1, 3, 1, 0, 1, 0, 0, 0, 0]
    assert list(dist.loc[2, "members"]["user_name"]) == ["Vishnu Vardhan", "Akhilesh", "Adit Lal"]


def test_top_users_ranks_from_one():
    top = top_users(failure_rates(counts(SEED_USERS)), 2)
    assert list(top["rank"]) == [1, 2]
    assert list(top["note"]) == ["", ""]
    assert list(top["user_name"]) == ["Anushka", "Jahanvi"]


def seed_calls_frame():
    rows = []
    for _, name, failed, total in SEED_USERS:
        for i in range(total):
            rows.append(
                {
                    "session_id": f"{name}-{i}",
                    "name": name,
                    "exotel_call_sid": None if i < failed else f"CA{i}",
                }
            )
    rows.append({"session_id": None, "name": "Anushka", "exotel_call_sid": None})
    return pd.DataFrame(rows)


def test_seed_api_keeps_working(tmp_path):
    analyzer = analyze_failure_data(seed_calls_frame(), tmp_path)
    rates = analyzer.calculate_failure_rates()
    assert list(rates["user_name"])[:3] == SEED_ORDER[:3]
    assert rates.iloc[0]["total_sessions"] == 8  # the row without a session id is not counted
    summary = analyzer.get_summary_statistics()
    assert (summary["total_sessions"], summary["total_failures"]) == (341, 82)
    path = analyzer.export_to_csv()
    assert path.parent == tmp_path
    assert path.name.startswith("user_failure_stats_") and path.suffix == ".csv"
    written = pd.read_csv(path)
    assert list(written["failed_sessions"]) == [4, 1, 34, 11, 4, 28]
    figure = analyzer.create_interactive_bar_plot()
    assert list(figure.data[0].y) == [0, 1, 3, 1, 0, 1, 0, 0, 0, 0]


def test_wilson_interval_known_answer():
    low, high = wilson_interval(4, 8)
    assert (round(float(low), 4), round(float(high), 4)) == (0.2152, 0.7848)
    low, high = wilson_interval(0, 10)
    assert float(low) == 0.0 and round(float(high), 4) == 0.2775
    low, high = wilson_interval(10, 10)
    assert round(float(low), 4) == 0.7225 and float(high) == 1.0


def test_table_carries_intervals_and_flags():
    # Overall 40/200 = 20%. A: 30/50 has a lower bound of 46.2%: flagged.
    # B: 4/10 has 16.8%, below 20%: a high rate on too little data is not flagged.
    table = failure_rates(counts([(1, "A", 30, 50), (2, "B", 4, 10), (3, "C", 6, 140)]))
    assert list(table["user_name"]) == ["A", "B", "C"]
    assert list(table["flagged"]) == [True, False, False]
    assert round(table.loc[0, "failure_rate_ci_low"], 4) == 0.4618
    assert summary_statistics(table).flagged_users == 1


def test_window_change_against_the_previous_window():
    now = Statistics(
        total_sessions=110,
        total_failures=33,
        total_users=7,
        overall_failure_rate=0.30,
    )
    before = Statistics(
        total_sessions=100,
        total_failures=20,
        total_users=9,
        overall_failure_rate=0.20,
    )
    change = window_change(now, before)
    assert change["sessions"] == pytest.approx(0.10)
    assert change["failures"] == pytest.approx(0.65)
    assert change["users"] == -2
    assert change["overall_failure_rate"] == pytest.approx(10.0)
    empty = Statistics(
        total_sessions=0,
        total_failures=0,
        total_users=0,
        overall_failure_rate=float("nan"),
    )
    change = window_change(now, empty)
    assert math.isnan(change["sessions"]) and math.isnan(change["overall_failure_rate"])


def test_top_users_ranks_only_users_with_enough_sessions():
    table = failure_rates(
        counts(
            [
                (1, "tiny", 1, 1),
                (2, "big", 40, 50),
                (3, "small", 3, 4),
                (4, "mid", 10, 20),
                (5, "low", 1, 30),
            ]
        ),
        min_sessions=10,
    )
    top = top_users(table, 2, min_sessions=10)
    # Never a "too few to judge" user in a ranked table: 1 of 1 does not come first.
    assert list(top["user_name"]) == ["big", "mid"]
    assert list(top["rank"]) == [1, 2]
    assert list(top["note"]) == ["▲ flagged", ""]


def test_trend_fills_every_day_of_the_window():
    from datetime import datetime

    from user_failure_stats.params import Parameters, resolve_window

    window = resolve_window(
        Parameters(start="2025-05-21", end="2025-05-24", timezone="Asia/Kolkata"), "UTC"
    )
    # 15-minute bins in UTC: 18:15 UTC on the 20th is still the 20th in Kolkata (23:45),
    # 18:30 is the 21st. A bin before the window start is not counted in the 21st.
    buckets = pd.DataFrame(
        {
            "bucket": [
                datetime(2025, 5, 20, 18, 30),
                datetime(2025, 5, 21, 18, 15),
                datetime(2025, 5, 22, 18, 30),
            ],
            "total_sessions": [4, 1, 2],
            "failed_sessions": [1, 0, 2],
        }
    )
    table = trend(buckets, window)
    assert [str(b.date()) for b in table["bucket"]] == ["2025-05-21", "2025-05-22", "2025-05-23"]
    assert list(table["total_sessions"]) == [5, 0, 2]
    assert table["failure_rate"].iloc[0] == 0.2
    assert math.isnan(table["failure_rate"].iloc[1])
    assert table["failure_rate"].iloc[2] == 1.0


def test_trend_by_hour_starts_at_the_hour_of_the_window_start():
    from user_failure_stats.params import Parameters, resolve_window

    window = resolve_window(Parameters(start="2025-05-21 10:30", end="2025-05-21 13:00"), "UTC")
    empty = pd.DataFrame(columns=["bucket", "total_sessions", "failed_sessions"])
    table = trend(empty, window)
    assert [b.hour for b in table["bucket"]] == [10, 11, 12]
    assert list(table["total_sessions"]) == [0, 0, 0]


def test_trend_regroups_bins_across_a_dst_change():
    from datetime import datetime

    from user_failure_stats.params import Parameters, resolve_window

    window = resolve_window(
        Parameters(start="2025-03-30", end="2025-03-31", timezone="Europe/Berlin"), "UTC"
    )
    assert window.trend_unit == "hour"
    # 00:45 UTC is 01:45 CET; 01:00 UTC is 03:00 CEST (02:00 does not exist that night).
    buckets = pd.DataFrame(
        {
            "bucket": [datetime(2025, 3, 30, 0, 45), datetime(2025, 3, 30, 1, 0)],
            "total_sessions": [1, 2],
            "failed_sessions": [0, 1],
        }
    )
    table = trend(buckets, window).set_index("bucket")
    assert table.loc[datetime(2025, 3, 30, 1), "total_sessions"] == 1
    assert table.loc[datetime(2025, 3, 30, 3), "total_sessions"] == 2
    assert table["total_sessions"].sum() == 3


def test_a_user_below_min_sessions_is_never_flagged_anywhere():
    from user_failure_stats.analysis import failure_rates, summary_statistics

    counts = pd.DataFrame(
        [
            {"user_id": 1, "name": "few", "failed_sessions": 3, "total_sessions": 3},
            {"user_id": 2, "name": "many", "failed_sessions": 40, "total_sessions": 50},
            {"user_id": 3, "name": "fine", "failed_sessions": 10, "total_sessions": 400},
        ]
    )
    rates = failure_rates(counts, min_sessions=10)
    assert dict(zip(rates["user_name"], rates["flagged"], strict=True)) == {
        "few": False,  # 3 of 3 failed: its interval is above the overall rate, but too few
        "many": True,
        "fine": False,
    }
    assert summary_statistics(rates).flagged_users == 1
    top = top_users(rates, 10, 10)
    assert list(top["user_name"]) == ["many", "fine"]
    assert list(top["note"]) == ["▲ flagged", ""]
    assert failure_rates(counts)["flagged"].tolist() == [True, True, False]  # min_sessions 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 500), st.floats(0, 1)).map(lambda t: (round(t[0] * t[1]), t[0])),
        min_size=2,
        max_size=30,
    ),
    st.integers(1, 20),
)
def test_flagged_means_on_or_above_the_funnels_flag_line(users, min_sessions):
    # One rule for the flag, the red dots and the line the funnel plot draws: a judged user
    # is flagged exactly when their rate is on or above the line at their number of sessions.
    from user_failure_stats import significance

    counts = pd.DataFrame(
        [
            {"user_id": i, "name": f"u{i}", "failed_sessions": f, "total_sessions": t}
            for i, (f, t) in enumerate(users)
        ]
    )
    rates = failure_rates(counts, min_sessions, fdr=0.05)
    cut = significance.p_cut(rates["p_value"], rates["q_value"], 0.05)
    line = significance.flag_line(
        rates["total_sessions"].to_numpy(),
        int(rates["failed_sessions"].sum()),
        int(rates["total_sessions"].sum()),
        cut,
    )
    judged = rates["p_value"].notna().to_numpy()
    on_or_above = rates["failure_rate"].to_numpy() >= line - 1e-12  # NaN line: never
    assert (rates["flagged"].to_numpy() == (judged & on_or_above)).all()


def test_min_sessions_is_the_first_number_of_sessions_judged():
    # The boundary itself: 10 sessions with min_sessions=10 are judged, 9 are too few.
    from user_failure_stats.analysis import summary_statistics
    from user_failure_stats.flags import compare_windows

    counts = pd.DataFrame(
        [
            {"user_id": 1, "name": "ten", "failed_sessions": 10, "total_sessions": 10},
            {"user_id": 2, "name": "nine", "failed_sessions": 9, "total_sessions": 9},
            *(
                {"user_id": i, "name": f"ok{i}", "failed_sessions": 1, "total_sessions": 100}
                for i in range(3, 13)
            ),
        ]
    )
    rates = failure_rates(counts, min_sessions=10)
    by_name = rates.set_index("user_name")
    assert by_name.loc["ten", "flagged"]
    assert not by_name.loc["nine", "flagged"]
    assert math.isnan(by_name.loc["nine", "p_value"])
    assert not math.isnan(by_name.loc["ten", "p_value"])
    summary = summary_statistics(rates, 10)
    assert (summary.tested_users, summary.too_few_users, summary.flagged_users) == (
        11,
        1,
        1,
    )
    assert list(top_users(rates, 2, 10)["user_name"]) == ["ten", "ok10"]  # then by name
    # The comparison with the previous window asks for min_sessions in both windows.
    previous = counts.assign(failed_sessions=0)
    compared = compare_windows(rates, previous, min_sessions=10).set_index("user_name")
    assert compared.loc["ten", "worsened"]
    assert not compared.loc["nine", "worsened"]
    assert math.isnan(compared.loc["nine", "change_p_value"])
