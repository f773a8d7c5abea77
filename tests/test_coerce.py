import pytest

from user_failure_stats import coerce
from user_failure_stats.errors import ConfigError
from user_failure_stats.params import Parameters


@pytest.mark.parametrize(
    ("value", "expected"), [(0.05, 0.05), ("0.1", 0.1), ("5%", 0.05), (" 20% ", 0.2)]
)
def test_fdr_takes_a_rate_or_a_percentage(value, expected):
    assert coerce.fdr_rate(value) == pytest.approx(expected)
    assert Parameters(fdr=value).validated().fdr == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [0, 1, "0%", "100%", "-0.1", "abc", True, "", "9" * 5000, float("nan")]
    + ["٥%", "０.１", "0.0٥", "5_0%", "1e-1", "infinity"],  # ASCII digits, plain decimals only
)
def test_fdr_is_above_0_and_below_1(value):
    with pytest.raises(ConfigError, match="fdr must be a rate above 0 and below 1") as error:
        coerce.fdr_rate(value)
    assert error.value.field == "fdr"
    assert len(str(error.value)) < 200


@pytest.mark.parametrize(
    ("value", "expected"), [("ALWAYS", "always"), (" alert ", "alert"), (None, None), ("", None)]
)
def test_notify_modes_are_read_once_at_the_edge(value, expected):
    assert coerce.notify_mode(value) == expected


@pytest.mark.parametrize("value", ["sometimes", " ", 7, "never!", "x" * 5000])
def test_an_unknown_notify_mode_is_refused(value):
    with pytest.raises(ConfigError, match="notify must be one of always, alert, never") as error:
        coerce.notify_mode(value)
    assert error.value.field == "notify"
    assert len(str(error.value)) < 200
