"""Property-based tests: for random call logs, the database agrees with pandas."""

from datetime import timedelta

import pandas as pd
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.seed import SEED_DB_END, SEED_DB_START
from user_failure_stats import analysis, queries
from user_failure_stats.params import Parameters, resolve_window

WINDOW = resolve_window(
    Parameters(start="2025-05-21", end="2025-05-23", timezone="Asia/Kolkata"), "UTC"
)
SPAN = int((SEED_DB_END - SEED_DB_START).total_seconds())

calls = st.lists(
    st.fixed_dictionaries(
        {
            # users 1-4 exist (3 has no name), 9 has no user record, None is a NULL user_id
            "user_id": st.sampled_from([1, 2, 3, 4, 9, None]),
            "session_id": st.sampled_from(["s", None]),
            "exotel_call_sid": st.sampled_from([None, "", "CA1"]),
            # from an hour before the window to an hour after, to the second, bounds included
            "offset": st.one_of(st.integers(-3600, SPAN + 3600), st.sampled_from([0, SPAN, -1])),
        }
    ),
    max_size=40,
)


def independent_counts(rows):
    """The same counts, computed in pandas from the rows themselves."""
    frame = pd.DataFrame(rows, columns=["user_id", "session_id", "exotel_call_sid", "offset"])
    inside = frame[
        (frame["session_id"].notna()) & (frame["offset"] >= 0) & (frame["offset"] < SPAN)
    ]
    result = {}
    for user_id, group in inside.groupby(inside["user_id"].astype("object"), dropna=False):
        key = None if pd.isna(user_id) else int(user_id)
        result[key] = (len(group), int(group["exotel_call_sid"].isna().sum()))
    return result


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=calls)
def test_database_aggregate_equals_pandas(pg, settings_for, rows):
    with pg.engine.begin() as conn:
        conn.execute(sa.text('TRUNCATE public.calllog, public."user"'))
        conn.execute(
            sa.text("INSERT INTO public.\"user\" VALUES (1, 'A'), (2, 'B'), (3, NULL), (4, 'A')")
        )
    if rows:
        pg.calls(
            [
                {
                    **{k: v for k, v in r.items() if k != "offset"},
                    "created_on": SEED_DB_START + timedelta(seconds=r["offset"]),
                }
                for r in rows
            ]
        )
    counts = queries.fetch_window_counts(settings_for(pg.url), WINDOW).current
    got = {
        (None if pd.isna(u) else int(u)): (t, f)
        for u, t, f in zip(
            counts["user_id"], counts["total_sessions"], counts["failed_sessions"], strict=True
        )
    }
    assert got == independent_counts(rows)

    rates = analysis.failure_rates(counts)
    summary = analysis.summary_statistics(rates)
    assert summary.total_sessions == sum(t for t, _ in got.values())
    assert summary.total_failures == sum(f for _, f in got.values())
    assert (rates["success_sessions"] + rates["failed_sessions"] == rates["total_sessions"]).all()
    assert rates["failure_rate"].between(0, 1).all()
    assert (rates["failure_rate_ci_low"] <= rates["failure_rate"] + 1e-12).all()
    assert (rates["failure_rate"] <= rates["failure_rate_ci_high"] + 1e-12).all()
    # The documented order: rate down, failures down, name up, user_id up.
    keys = list(
        zip(
            -rates["failure_rate"],
            -rates["failed_sessions"],
            rates["user_name"],
            [-1 if pd.isna(u) else u for u in rates["user_id"]],
            strict=True,
        )
    )
    assert keys == sorted(keys)


ids = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8), st.floats(allow_nan=True)
)
names = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["", " \t ", "\u3000", " A "]))


@given(st.lists(st.tuples(ids, names, st.booleans()), max_size=30))
@settings(max_examples=200, deadline=None)
def test_vectorised_labels_equal_one_by_one(rows):
    frame = pd.DataFrame(rows, columns=["user_id", "name", "has_user_record"], dtype=object)
    labels = analysis.user_labels(frame["user_id"], frame["name"], frame["has_user_record"])
    assert list(labels) == [analysis.user_label(*row) for row in rows]


rates = st.one_of(st.floats(0, 1), st.just(float("nan")), st.sampled_from([0.125, 0.00125, 1.0]))


@given(st.lists(st.tuples(rates, rates), max_size=30))
@settings(max_examples=200, deadline=None)
def test_vectorised_percentages_and_intervals_equal_one_by_one(pairs):
    low = pd.Series([lo for lo, _ in pairs], dtype="float64")
    high = pd.Series([hi for _, hi in pairs], dtype="float64")
    assert analysis.percent_texts(low) == [analysis.format_percent(v) for v in low]
    assert analysis.ci_texts(low, high) == [analysis.ci_text(a, b) for a, b in pairs]
