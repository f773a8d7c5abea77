from dataclasses import replace

import pandas as pd
import pytest

from tests.seed import SEED_USERS
from user_failure_stats import console, outputs, sections, users_table
from user_failure_stats.analysis import failure_rates, summary_statistics
from user_failure_stats.db_url import describe_database
from user_failure_stats.flags import compare_windows, flagged_users, worsened_users
from user_failure_stats.params import Parameters, resolve_window
from user_failure_stats.settings import Settings
from user_failure_stats.summary import RunSummary, Statistics

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


def test_console_summary_has_the_true_numbers_and_the_flag_counts():
    rates = seed_rates()
    lines = console.summary_lines(summary_statistics(rates, 1), window(), flagged_users(rates))
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
        # The seed's six users all lie within chance of the rest.
        "Users failing significantly more than the rest: 0 of 6 judged (at a 5% false "
        "discovery rate)",
    ):
        assert expected in text
    assert "Flagged users" not in text and "no user record" not in text


def test_console_lists_the_flagged_and_the_worse_users_not_the_highest_rates():
    now = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4],
            "name": ["tiny", "big", "worse", "fine"],
            "total_sessions": [1, 50, 100, 400],
            "failed_sessions": [1, 40, 40, 40],
        }
    )
    before = now.assign(failed_sessions=[0, 38, 10, 44])
    rates = compare_windows(failure_rates(now, 10), before, 10, 0.05)
    summary = replace(summary_statistics(rates, 10), fdr=0.05)
    lines = console.summary_lines(
        summary, window(), flagged_users(rates, 10), None, worsened_users(rates, 10)
    )
    text = "\n".join(lines)
    assert (
        "Users failing significantly more than the rest: 2 of 3 judged (with a 5% false "
        "discovery rate, fewer than 1 of them may be chance)" in text
    )
    flagged = lines[lines.index("Flagged users, most significant first:") + 2 :][:2]
    assert [line.split()[:3] for line in flagged] == [
        ["1", "big", "40/50"],
        ["2", "worse", "40/100"],
    ]
    assert "Got worse since the previous 2 days: 1 of 3 compared" in text
    worse = lines[lines.index("Users who got worse, largest change first:") + 2]
    assert worse.split()[:2] == ["1", "worse"] and "+30.00 pts" in worse
    assert worse.endswith("▲ flagged ↑ worse")
    assert "1 user had too few sessions to judge (listed in the CSV)." in text
    assert "tiny" not in text  # 1 of 1 is never listed as a flagged user


def test_console_summary_mentions_sessions_without_user_record():
    rates = seed_rates()
    rates.loc[0, "has_user_record"] = False
    assert "  Sessions with no user record: 8" in console.summary_lines(summary_statistics(rates))


def test_console_summary_of_an_empty_window():
    empty = seed_rates().iloc[0:0]
    text = "\n".join(console.summary_lines(summary_statistics(empty), None, flagged_users(empty)))
    assert "Overall Failure Rate: n/a" in text
    assert "Users failing significantly more than the rest: 0 of 0 judged" in text


def test_csv_has_the_seed_columns_first_and_no_temporary_left(tmp_path):
    path = outputs.export_csv(seed_rates(), tmp_path, "20250523_010203")
    assert path.name == "user_failure_stats_20250523_010203.csv"
    assert path.read_text().splitlines()[0] == (
        "user_name,total_sessions,failed_sessions,success_sessions,failure_rate,"
        "failure_rate_percent,user_id,has_user_record,failure_rate_ci_low,failure_rate_ci_high,"
        "flagged,p_value,q_value"
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
    text = sections.header_html(
        Parameters(title="Weekly"), window(), describe_database(settings.db_url), "now"
    )
    assert text.startswith("<h1>Weekly</h1>")
    assert "db.example.com/telephony" in text
    assert "2025-05-20 18:30:00" in text
    assert SECRET not in text and "reader" not in text


def test_notes_for_empty_window_and_orphans():
    assert "no sessions" in sections.notes_html(
        Statistics(total_sessions=0, sessions_without_user_record=0)
    )
    assert "3 sessions point to a user id" in sections.notes_html(
        Statistics(total_sessions=5, sessions_without_user_record=3)
    )
    assert sections.notes_html(Statistics(total_sessions=5)) == ""


def test_display_table_shows_intervals_and_flags():
    rates = seed_rates()
    rates.loc[0, "flagged"] = True
    table = users_table.display_table(rates, min_sessions=5)
    assert list(table.index[:2]) == [1, 2]
    assert list(table.columns) == [
        "User",
        "Sessions",
        "Failed",
        "Succeeded",
        "Failure rate",
        "95% CI",
        "Marks",
        "User id",
    ]
    assert table.iloc[0]["95% CI"] == "21.5-78.5%"
    # The same marks as every other table: Jahanvi's 3 sessions are too few to judge.
    assert list(table["Marks"][:3]) == ["▲ flagged", "○ too few", ""]


def test_run_summary_round_trips_through_json_with_nan_as_null():
    import json
    import math

    summary = RunSummary(
        stamp="20250523_010000",
        title="Daily",
        generated="2025-05-23 01:00:00 IST",
        window={
            "start": "2025-05-21T00:00:00+05:30",
            "end": "2025-05-23T00:00:00+05:30",
            "timezone": "Asia/Kolkata",
        },
        parameters={"top_n": 10},
        summary=Statistics(total_sessions=0),
        previous=Statistics(total_sessions=3, overall_failure_rate=0.5),
        files={
            "html": "user_failure_rates_20250523_010000.html",
            "csv": "user_failure_stats_20250523_010000.csv",
        },
        notes=("a bound repeats",),
        flagged=({"rank": 1, "user_name": "A"},),
        worsened=({"rank": 1, "user_name": "B", "change_points": 12.5},),
    )
    text = summary.to_json()
    assert json.loads(text)["summary"]["overall_failure_rate"] is None
    again = RunSummary.from_json(text)
    assert math.isnan(again.summary.overall_failure_rate)
    assert again.previous == summary.previous and again.notes == summary.notes
    assert again.flagged == summary.flagged and again.worsened == summary.worsened
    assert again.files == summary.files


def test_a_file_that_is_not_a_run_summary_is_refused():
    for text in ("[]", '{"stamp": "x"}', '{"summary": 1}'):
        with pytest.raises(ValueError, match="not a run summary"):
            RunSummary.from_json(text)


def test_console_shows_hostile_flagged_names_escaped_on_one_line():
    rows = [
        {"rank": 1, "user_name": "\x1b[2J\x1b]0;pwned\x07clear", "note": "▲ flagged"},
        {"rank": 2, "user_name": "rtl\u202eevil\r\nnext", "note": "▲ flagged"},
    ]
    for row in rows:
        row.update(failed_sessions=9, total_sessions=10, failure_rate_percent="90.00%")
    summary = replace(summary_statistics(seed_rates(), 1), flagged_users=2)
    lines = console.summary_lines(summary, None, rows)
    text = "\n".join(lines)
    assert "\\x1b[2J\\x1b]0;pwned\\x07clear" in text and "rtl\\u202eevil\\r\\nnext" in text
    assert not any(ch in text for ch in "\x1b\x07\u202e\r")


def test_no_users_before_reads_like_no_sessions_before():
    from user_failure_stats.formats import change_texts

    empty = summary_statistics(
        failure_rates(
            pd.DataFrame(columns=["user_id", "name", "failed_sessions", "total_sessions"])
        )
    )
    seeded = summary_statistics(seed_rates())
    texts = change_texts(seeded, empty, "1 day")
    assert (texts["users"], texts["sessions"]) == (
        "none in the previous 1 day",
        "none in the previous 1 day",
    )
    assert change_texts(empty, empty, "1 day")["users"] == "none in the previous 1 day"
    assert change_texts(seeded, seeded, "1 day")["users"] == "+0 vs the previous 1 day"
