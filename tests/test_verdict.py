import math

import pytest

from user_failure_stats.errors import EXIT_ALERT, EXIT_DELIVERY, EXIT_EMPTY, EXIT_OK
from user_failure_stats.stats import Statistics
from user_failure_stats.verdict import Verdict, exit_code, verdict

SUMMARY = Statistics(total_sessions=80, overall_failure_rate=0.125)


@pytest.mark.parametrize(
    ("fail_above", "above", "alert"),
    [
        (0.1, True, "overall failure rate 12.50% is above 10.00%"),
        (0.125, False, None),  # equal is not above
        (0.2, False, None),
        (0.0, True, "overall failure rate 12.50% is above 0.00%"),
        (None, False, None),
    ],
)
def test_a_rate_above_the_threshold_alerts(fail_above, above, alert):
    judged = verdict(SUMMARY, fail_above)
    assert (judged.above, judged.alert, judged.empty) == (above, alert, False)


@pytest.mark.parametrize("rate", [float("nan"), None])
def test_an_empty_window_alerts_whatever_the_threshold(rate):
    judged = verdict(Statistics(total_sessions=0, overall_failure_rate=rate), fail_above=0.0)
    assert judged == Verdict(empty=True, rate=None, fail_above=0.0)
    assert not judged.above
    assert judged.alert == "no sessions in the window"


def test_a_window_where_nobody_fails_is_not_empty_and_not_above_zero():
    judged = verdict(Statistics(total_sessions=5, overall_failure_rate=0.0), fail_above=0.0)
    assert (judged.empty, judged.above, judged.alert) == (False, False, None)
    assert verdict(Statistics(total_sessions=5, overall_failure_rate=0.0)).rate == 0.0
    assert not math.isnan(judged.rate)


ABOVE = Verdict(empty=False, rate=0.5, fail_above=0.1)
EMPTY = Verdict(empty=True, rate=None, fail_above=0.1)
FINE = Verdict(empty=False, rate=0.05, fail_above=0.1)


@pytest.mark.parametrize(
    ("verdicts", "failures", "fail_empty", "code"),
    [
        ([FINE], 0, False, EXIT_OK),
        ([FINE], 0, True, EXIT_OK),
        ([ABOVE], 0, False, EXIT_ALERT),
        ([EMPTY], 0, False, EXIT_OK),  # an empty window only warns without --fail-empty
        ([EMPTY], 0, True, EXIT_EMPTY),
        ([ABOVE, EMPTY], 0, True, EXIT_EMPTY),  # 6 wins over 5
        ([EMPTY, ABOVE], 0, False, EXIT_ALERT),
        ([FINE], 1, False, EXIT_DELIVERY),
        ([ABOVE], 2, False, EXIT_DELIVERY),  # 7 wins over 5
        ([EMPTY], 1, True, EXIT_DELIVERY),  # 7 wins over 6
        ([ABOVE, EMPTY, FINE], 1, True, EXIT_DELIVERY),
        ([], 0, True, EXIT_OK),
    ],
)
def test_exit_code_precedence(verdicts, failures, fail_empty, code):
    assert exit_code(verdicts, failures, fail_empty) == code
    assert exit_code(iter(verdicts), failures, fail_empty) == code  # any iterable
