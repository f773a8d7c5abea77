"""The flags' statistics: exact tests, Benjamini-Hochberg, and honesty at many users.

Known answers come from direct implementations written here (sums of binomial and
hypergeometric terms with ``math.comb``, Benjamini-Hochberg by its definition), not from
the library the package uses.
"""

import math

import numpy as np
import pandas as pd
import pytest

from user_failure_stats import significance
from user_failure_stats.analysis import failure_rates, summary_statistics
from user_failure_stats.flags import compare_windows, flagged_users, worsened_users
from user_failure_stats.formats import chance_of_change, chance_text, change_p_value
from user_failure_stats.stats import Statistics


def binomial_tail(f: int, n: int, p: float) -> float:
    """P(X >= f) for X ~ Binomial(n, p), summed term by term."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(f, n + 1))


def fisher_greater(f1: int, n1: int, f0: int, n0: int) -> float:
    """Fisher's exact test, one-sided (more failures now), from the hypergeometric terms."""
    failures, sessions = f1 + f0, n1 + n0
    total = math.comb(sessions, n1)
    return (
        sum(
            math.comb(failures, k) * math.comb(sessions - failures, n1 - k)
            for k in range(f1, min(failures, n1) + 1)
        )
        / total
    )


def bh(p: list[float]) -> list[float]:
    """Benjamini-Hochberg q-values by the definition: min over j >= rank of m * p_(j) / j."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


def frame(failed, total, ids=None) -> pd.DataFrame:
    ids = list(range(len(failed))) if ids is None else ids
    return pd.DataFrame(
        {
            "user_id": ids,
            "name": [f"u{i}" for i in ids],
            "has_user_record": True,
            "total_sessions": total,
            "failed_sessions": failed,
        }
    )


def test_excess_p_value_known_answer():
    # 6 of 10 failed while the others failed 100 of 1,000: P(X >= 6 | 10, 0.1).
    p = significance.excess_p_values([6, 100], [10, 1000], [True, True])
    assert p[0] == pytest.approx(binomial_tail(6, 10, 0.1), rel=1e-9)
    assert round(float(p[0]), 6) == 0.000147
    assert p[1] == pytest.approx(binomial_tail(100, 1000, 6 / 10), abs=1e-12)  # rest at 60%


def test_untested_users_and_a_lone_user_have_no_p_value():
    p = significance.excess_p_values([3, 5], [3, 50], [False, True])
    assert math.isnan(p[0]) and not math.isnan(p[1])
    assert math.isnan(significance.excess_p_values([5], [50], [True])[0])  # no one else


def test_when_the_others_never_fail_one_failure_stands_out():
    p = significance.excess_p_values([1, 0, 0], [10, 10, 10], [True] * 3)
    assert list(p) == [0.0, 1.0, 1.0]


def test_worse_p_value_known_answer():
    p = significance.worse_p_values([5, 1], [10, 10], [1, 5], [10, 10], [True, True])
    assert p[0] == pytest.approx(fisher_greater(5, 10, 1, 10), rel=1e-9)
    assert round(float(p[0]), 4) == 0.0704
    assert p[1] == pytest.approx(fisher_greater(1, 10, 5, 10), rel=1e-9)  # got better: ~1


def test_q_values_match_the_definition_and_skip_untested():
    p = [0.01, 0.04, 0.03, 0.5, float("nan")]
    q = significance.q_values(p)
    assert list(np.round(q[:4], 4)) == [0.04, 0.0533, 0.0533, 0.5]
    assert math.isnan(q[4])
    rng = np.random.default_rng(7)
    many = rng.uniform(0, 1, 500) ** 3
    assert significance.q_values(many) == pytest.approx(bh(list(many)), rel=1e-12)


def test_discoveries_are_at_most_fdr_and_nan_never():
    assert list(significance.discoveries([0.05, 0.0500001, float("nan"), 0.0], 0.05)) == [
        True,
        False,
        False,
        True,
    ]


def test_flags_agree_with_an_independent_computation():
    rng = np.random.default_rng(11)
    total = rng.integers(1, 60, 300)
    rate = np.where(np.arange(300) < 15, 0.6, 0.2)
    failed = rng.binomial(total, rate)
    rates = failure_rates(frame(failed, total), min_sessions=10, fdr=0.05)
    all_failed, all_total = int(failed.sum()), int(total.sum())
    judged = rates[rates["total_sessions"] >= 10]
    p = [
        binomial_tail(f, n, (all_failed - f) / (all_total - n))
        for f, n in zip(judged["failed_sessions"], judged["total_sessions"], strict=True)
    ]
    assert judged["p_value"].tolist() == pytest.approx(p, rel=1e-7, abs=1e-15)
    expected = [q <= 0.05 for q in bh(p)]
    assert judged["flagged"].tolist() == expected
    assert rates.loc[rates["total_sessions"] < 10, "flagged"].sum() == 0
    assert sum(expected) >= 8  # most of the 15 users at 60% are found


def test_worsened_agree_with_an_independent_computation():
    rng = np.random.default_rng(12)
    users = 200
    before_total = rng.integers(5, 60, users)
    now_total = rng.integers(5, 60, users)
    now_rate = np.where(np.arange(users) < 12, 0.6, 0.2)
    before = frame(rng.binomial(before_total, 0.2), before_total)
    now = frame(rng.binomial(now_total, now_rate), now_total)
    rates = compare_windows(failure_rates(now, 10), before, 10, 0.05)
    compared = rates[(rates["total_sessions"] >= 10) & (rates["previous_total_sessions"] >= 10)]
    p = [
        fisher_greater(f1, n1, f0, n0)
        for f1, n1, f0, n0 in compared[
            [
                "failed_sessions",
                "total_sessions",
                "previous_failed_sessions",
                "previous_total_sessions",
            ]
        ].itertuples(index=False)
    ]
    assert compared["change_p_value"].tolist() == pytest.approx(p, rel=1e-7, abs=1e-15)
    expected = [q <= 0.05 for q in bh(p)]
    assert compared["worsened"].tolist() == expected
    assert rates["change_p_value"].notna().sum() == len(compared)


@pytest.mark.parametrize("users", [2_000, 50_000])
def test_one_shared_rate_flags_almost_nobody(users):
    # Every user truly fails 20% of the time: any flag is chance. The old per-user 95% rule
    # (the Wilson interval above the overall rate) flags a few percent of them.
    rng = np.random.default_rng(users)
    total = rng.integers(5, 120, users)
    before_total = rng.integers(5, 120, users)
    now = frame(rng.binomial(total, 0.2), total)
    before = frame(rng.binomial(before_total, 0.2), before_total)
    rates = compare_windows(failure_rates(now, 10, 0.05), before, 10, 0.05)
    summary = summary_statistics(rates, 10)
    assert summary.flagged_users <= 2
    assert summary.worsened_users <= 2
    overall = rates["failed_sessions"].sum() / rates["total_sessions"].sum()
    judged = rates["total_sessions"] >= 10
    old_rule = int(((rates["failure_rate_ci_low"] > overall) & judged).sum())
    assert old_rule > users // 100  # what the per-user rule said: chance, at scale


def test_users_who_truly_fail_more_are_found_and_few_others():
    rng = np.random.default_rng(3)
    users, bad = 2_000, 100
    total = rng.integers(20, 200, users)
    truth = np.arange(users) < bad
    failed = rng.binomial(total, np.where(truth, 0.45, 0.2))
    rates = failure_rates(frame(failed, total), 10, 0.05)
    flagged = set(rates.loc[rates["flagged"], "user_id"])
    found = len(flagged & set(range(bad)))
    assert found >= 0.8 * bad
    assert len(flagged - set(range(bad))) <= 0.1 * len(flagged)


def test_users_who_truly_got_worse_are_found_and_few_others():
    rng = np.random.default_rng(4)
    users, worse = 2_000, 100
    total = rng.integers(20, 200, users)
    before_total = rng.integers(20, 200, users)
    truth = np.arange(users) < worse
    now = frame(rng.binomial(total, np.where(truth, 0.5, 0.2)), total)
    before = frame(rng.binomial(before_total, 0.2), before_total)
    rates = compare_windows(failure_rates(now, 10), before, 10, 0.05)
    marked = set(rates.loc[rates["worsened"], "user_id"])
    assert len(marked & set(range(worse))) >= 0.8 * worse
    assert len(marked - set(range(worse))) <= 0.1 * len(marked)


def test_new_users_and_users_who_got_better_are_never_worse():
    now = frame([1, 40, 30, 9], [50, 50, 50, 9], ids=[1, 2, 3, 4])
    before = frame([40, 5, 30, 0], [50, 50, 50, 50], ids=[1, 2, 5, 4])
    rates = compare_windows(failure_rates(now, 10), before, 10, 0.05).set_index("user_id")
    assert rates.loc[1, "change_points"] == pytest.approx(-78.0)  # got better
    assert not rates.loc[1, "worsened"]
    assert rates.loc[2, "worsened"] and rates.loc[2, "change_points"] == pytest.approx(70.0)
    # User 3 is new: no sessions before. User 4 has too few sessions now to be compared.
    assert rates.loc[3, "previous_total_sessions"] == 0 and not rates.loc[3, "worsened"]
    assert math.isnan(rates.loc[3, "change_points"]) and math.isnan(rates.loc[3, "change_p_value"])
    assert math.isnan(rates.loc[4, "change_p_value"]) and not rates.loc[4, "worsened"]
    summary = summary_statistics(rates.reset_index(), 10)
    assert (summary.compared_users, summary.worsened_users, summary.new_users) == (
        2,
        1,
        1,
    )


def test_users_are_matched_by_id_and_record_and_an_empty_previous_window_is_fine():
    now = pd.DataFrame(
        {
            "user_id": pd.array([7, 7, None], dtype=object),
            "name": ["a", None, None],
            "has_user_record": [True, False, False],
            "total_sessions": [20, 20, 20],
            "failed_sessions": [10, 10, 10],
        }
    )
    before = now.assign(total_sessions=[20, 40, 60], failed_sessions=[1, 2, 3])
    rates = compare_windows(failure_rates(now, 10), before, 10, 0.05)
    got = dict(zip(rates["user_name"], rates["previous_total_sessions"], strict=True))
    assert got == {"a": 20, "unknown user 7": 40, "no user id": 60}
    # A NULL id makes this window's ids Int64; the previous window's are plain int64.
    typed = now.assign(user_id=pd.array([7, 8, None], dtype="Int64"))
    plain_ids = pd.DataFrame(
        {"user_id": [8, 7], "has_user_record": True, "total_sessions": [40, 30]}
    ).assign(failed_sessions=1)
    matched = compare_windows(failure_rates(typed, 10), plain_ids, 10, 0.05)
    assert matched["previous_total_sessions"].tolist() == [30, 0, 0]  # 8 has no record now
    empty = compare_windows(failure_rates(now, 10), before.iloc[:0], 10, 0.05)
    assert empty["previous_total_sessions"].tolist() == [0, 0, 0]
    assert not empty["worsened"].any()


def test_flagged_and_worsened_lists_are_ordered_and_numbered():
    now = frame([30, 45, 20, 2], [50, 50, 100, 50])
    before = frame([5, 40, 2, 2], [50, 50, 100, 50])
    rates = compare_windows(failure_rates(now, 10), before, 10, 0.05)
    flagged = flagged_users(rates, 10)
    assert flagged["user_name"].tolist() == ["u1", "u0"]  # smallest p first
    assert flagged["rank"].tolist() == [1, 2]
    worse = worsened_users(rates, 10)
    assert worse["user_name"].tolist() == ["u0", "u2"]  # +50 pts, then +18 pts
    assert worse["note"].tolist() == ["▲ flagged ↑ worse", "↑ worse"]


def test_flag_line_is_the_lowest_flagged_rate():
    # 1,000 sessions, 200 failed in all. With a cut of 0.001, the line at 20 sessions is the
    # fewest failures f whose p-value is at most the cut, over 20.
    line = significance.flag_line(np.array([20, 1000]), 200, 1000, 0.001)
    f = next(f for f in range(21) if binomial_tail(f, 20, (200 - f) / 980) <= 0.001)
    assert line[0] == f / 20
    assert math.isnan(line[1])  # nobody else: no rest to compare with


def test_change_of_the_overall_rate_says_whether_chance_explains_it():
    assert round(change_p_value(120, 1000, 100, 1000), 4) == 0.1529
    assert math.isnan(change_p_value(1, 10, 0, 0))
    assert change_p_value(0, 10, 0, 10) != change_p_value(0, 10, 0, 10)  # nothing failed: NaN
    now = Statistics(total_failures=120, total_sessions=1000)
    assert chance_of_change(now, Statistics(total_failures=100, total_sessions=1000)) == (
        "within chance"
    )
    assert chance_of_change(now, Statistics(total_failures=60, total_sessions=1000)) == (
        "more than chance"
    )


@pytest.mark.parametrize(
    ("flagged", "fdr", "text"),
    [
        (16, 0.05, "with a 5% false discovery rate, about 1 of them may be chance"),
        (3, 0.05, "with a 5% false discovery rate, fewer than 1 of them may be chance"),
        (200, 0.1, "with a 10% false discovery rate, about 20 of them may be chance"),
        (0, 0.05, "at a 5% false discovery rate"),
    ],
)
def test_chance_text(flagged, fdr, text):
    assert chance_text(flagged, fdr) == text


def test_change_points_are_exact():
    rates = compare_windows(failure_rates(frame([24], [40]), 10), frame([4], [40]), 10, 0.05)
    assert rates.loc[0, "change_points"] == 50.0
    rates = compare_windows(failure_rates(frame([16], [20]), 10), frame([1], [25]), 10, 0.05)
    assert rates.loc[0, "change_points"] == 76.0  # 80% - 4%, not 76.00000000000001


def test_the_p_value_cut_without_discoveries_is_the_first_step_of_the_procedure():
    p = np.array([0.5, 0.7, np.nan])
    assert significance.p_cut(p, np.array([0.7, 0.7, np.nan]), 0.05) == 0.025  # 0.05 / 2 tests
    assert math.isnan(significance.p_cut(np.array([np.nan]), np.array([np.nan]), 0.05))
    assert significance.p_cut(np.array([0.001, 0.5]), np.array([0.002, 0.5]), 0.05) == 0.001


def test_the_flag_line_warns_of_nothing_when_a_user_holds_every_session():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would print into the report's cells
        line = significance.flag_line(np.array([10, 40]), 12, 40, 0.01)
    assert math.isnan(line[1])  # the only user: nobody to compare with
    assert 0 < line[0] <= 1
