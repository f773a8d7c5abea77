import pandas as pd
import pytest

from tests.seed import SEED_USERS
from user_failure_stats import console, outputs, render
from user_failure_stats.analysis import failure_rates, summary_statistics, top_users
from user_failure_stats.params import Parameters, resolve_window
from user_failure_stats.settings import Settings

SECRET = "s3cr3t-sentinel"


def seed_rates():
    return failure_rates(
        pd.DataFrame(
            [
                {"user_id": i, "name": n, "failed_sessions": f, "total_sessions": t}
                for i, n, f, t in SEED_USERS
            ]
        )
    )


def window():
    return resolve_window(
        Parameters(start="2025-05-21", end="2025-05-23", timezone="Asia/Kolkata"), "UTC"
    )


def test_console_summary_has_the_true_numbers_and_ranked_table():
    rates = seed_rates()
    lines = console.summary_lines(summary_statistics(rates), window(), top_users(rates, 10))
    text = "\n".join(lines)
    assert lines[1] == "USER FAILURE RATE ANALYSIS SUMMARY"
    for expected in (
        "Total Users:          6",
        "Total Sessions:       341",
        "Total Failures:       82",
        "Overall Failure Rate: 24.05%",
        "Average: 30.14%",
        "Median:  26.80%",
        "Maximum: 50.00%",
        "Minimum: 18.92%",
        "Top 6 Users by Failure Rate:",
    ):
        assert expected in text
    ranked = [line.split()[1] for line in lines if line.strip()[:1].isdigit()]
    assert ranked == ["Anushka", "Jahanvi", "Vishnu", "Akhilesh", "Adit", "Ayush"]
    assert "no user record" not in text


def test_console_summary_mentions_sessions_without_user_record():
    rates = seed_rates()
    rates.loc[0, "has_user_record"] = False
    assert "  Sessions with no user record: 8" in console.summary_lines(summary_statistics(rates))


def test_console_summary_of_an_empty_window():
    empty = seed_rates().iloc[0:0]
    text = "\n".join(console.summary_lines(summary_statistics(empty), None, top_users(empty, 10)))
    assert "Overall Failure Rate: n/a" in text
    assert "(no sessions in this window)" in text


def test_csv_has_the_seed_columns_first_and_no_temporary_left(tmp_path):
    path = outputs.export_csv(seed_rates(), tmp_path, "20250523_010203")
    assert path.name == "user_failure_stats_20250523_010203.csv"
    assert path.read_text().splitlines()[0] == (
        "user_name,total_sessions,failed_sessions,success_sessions,failure_rate,"
        "failure_rate_percent,user_id,has_user_record,failure_rate_ci_low,failure_rate_ci_high,"
        "flagged"
    )
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_csv_keeps_awkward_names_intact(tmp_path):
    rates = failure_rates(
        pd.DataFrame(
            [
                {
                    "user_id": 1,
                    "name": 'Ravi, "RK"\nKumar',
                    "failed_sessions": 1,
                    "total_sessions": 2,
                },
                {"user_id": 2, "name": "Zoë Ångström", "failed_sessions": 0, "total_sessions": 2},
            ]
        )
    )
    path = outputs.export_csv(rates, tmp_path, "x")
    back = pd.read_csv(path)
    assert list(back["user_name"]) == ['Ravi, "RK"\nKumar', "Zoë Ångström"]


def test_header_shows_host_but_never_credentials():
    settings = Settings(db_url=f"postgresql://reader:{SECRET}@db.example.com/telephony")
    text = render.header_html(Parameters(title="Weekly"), window(), settings, "now")
    assert text.startswith("<h1>Weekly</h1>")
    assert "db.example.com/telephony" in text
    assert "2025-05-20 18:30:00" in text
    assert SECRET not in text and "reader" not in text


def test_notes_for_empty_window_and_orphans():
    assert "no sessions" in render.notes_html(
        {"total_sessions": 0, "sessions_without_user_record": 0}
    )
    assert "3 sessions point to a user id" in render.notes_html(
        {"total_sessions": 5, "sessions_without_user_record": 3}
    )
    assert render.notes_html({"total_sessions": 5, "sessions_without_user_record": 0}) == ""


def test_display_table_shows_intervals_and_flags():
    rates = seed_rates()
    rates.loc[0, "flagged"] = True
    table = render.display_table(rates)
    assert list(table.index[:2]) == [1, 2]
    assert list(table.columns) == [
        "User",
        "Sessions",
        "Failed",
        "Succeeded",
        "Failure rate",
        "95% CI",
        "Flagged",
        "User id",
    ]
    assert table.iloc[0]["95% CI"] == "21.5-78.5%"
    assert list(table["Flagged"][:2]) == ["▲", ""]


def test_run_summary_round_trips_through_json_with_nan_as_null():
    import json
    import math

    summary = outputs.RunSummary(
        stamp="20250523_010000",
        title="Daily",
        generated="2025-05-23 01:00:00 IST",
        window={
            "start": "2025-05-21T00:00:00+05:30",
            "end": "2025-05-23T00:00:00+05:30",
            "timezone": "Asia/Kolkata",
        },
        parameters={"top_n": 10},
        summary={"total_sessions": 0, "overall_failure_rate": float("nan")},
        previous={"total_sessions": 3, "overall_failure_rate": 0.5},
        files={
            "html": "user_failure_rates_20250523_010000.html",
            "csv": "user_failure_stats_20250523_010000.csv",
        },
        notes=("a bound repeats",),
        top=({"rank": 1, "user_name": "A"},),
    )
    text = summary.to_json()
    assert json.loads(text)["summary"]["overall_failure_rate"] is None
    again = outputs.RunSummary.from_json(text)
    assert math.isnan(again.summary["overall_failure_rate"])
    assert again.previous == summary.previous and again.notes == summary.notes
    assert again.top == summary.top and again.files == summary.files


def test_a_file_that_is_not_a_run_summary_is_refused():
    for text in ("[]", '{"stamp": "x"}', '{"summary": 1}'):
        with pytest.raises(ValueError, match="not a run summary"):
            outputs.RunSummary.from_json(text)
