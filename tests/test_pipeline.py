"""The report's data from a real database: one query, then the pure computations."""

from datetime import datetime, timedelta

import pytest

from user_failure_stats import console, pipeline
from user_failure_stats.errors import ConfigError
from user_failure_stats.params import Parameters, resolve_window
from user_failure_stats.verdict import verdict


def test_a_window_where_nobody_fails(pg, settings_for):
    # Overall rate 0 in both windows: nobody flagged or worse, every judged p-value 1, 0.00%.
    pg.users([(1, "A"), (2, "B")])
    day = datetime(2025, 5, 21)
    pg.calls(
        [
            {
                "user_id": user,
                "created_on": day + timedelta(hours=h, days=d),
                "exotel_call_sid": "C",
            }
            for user in (1, 2)
            for d in (-1, 0)
            for h in range(12)
        ]
    )
    params = Parameters(start="2025-05-21", end="2025-05-22", timezone="UTC").validated()
    window = resolve_window(params, "UTC")
    data = pipeline.compute(settings_for(pg.url), window, params)
    summary = data.summary
    assert (summary.total_sessions, summary.total_failures) == (24, 0)
    assert summary.overall_failure_rate == 0.0
    assert (summary.flagged_users, summary.worsened_users) == (0, 0)
    assert (summary.tested_users, summary.compared_users) == (2, 2)
    assert data.rates["p_value"].tolist() == [1.0, 1.0]
    assert data.rates["change_points"].tolist() == [0.0, 0.0]
    assert data.flagged.empty and data.worsened.empty
    assert list(data.top["user_name"]) == ["A", "B"]
    assert data.previous.overall_failure_rate == 0.0
    assert data.trend["failure_rate"].dropna().eq(0.0).all()
    judged = verdict(summary, fail_above=0.0)
    assert (judged.empty, judged.above, judged.alert) == (False, False, None)
    lines = console.summary_lines(summary, window, data.flagged, data.previous, data.worsened)
    assert (
        "  Overall Failure Rate: 0.00% (failures / sessions), +0.00 pts vs the previous 1 day "
        "(within chance)" in lines
    )
    assert "  Maximum: 0.00%" in lines
    assert (
        "Users failing significantly more than the rest: 0 of 2 judged (at a 5% false "
        "discovery rate)" in lines
    )


def test_a_very_long_name_is_whole_in_the_csv_and_cut_in_the_summary(pg, settings_for):
    from user_failure_stats import outputs
    from user_failure_stats.summary import NAME_LIMIT, RunSummary

    long_name = "<script>" + "😀" * 510_000  # 2 MB in the database: the summary's limit is 1 MB
    pg.users([(1, long_name), (2, "B")])
    day = datetime(2025, 5, 21)
    pg.calls(
        [
            {"user_id": 1, "created_on": day + timedelta(minutes=m), "exotel_call_sid": None}
            for m in range(40)
        ]
        + [
            {"user_id": 2, "created_on": day + timedelta(minutes=m), "exotel_call_sid": "C"}
            for m in range(40)
        ]
    )
    params = Parameters(start="2025-05-21", end="2025-05-22", timezone="UTC").validated()
    data = pipeline.compute(settings_for(pg.url), resolve_window(params, "UTC"), params)
    assert list(data.flagged["user_name"]) == [long_name]
    assert long_name in outputs.csv_text(data.rates)
    read = RunSummary.from_json(RunSummary.of("20250522_000000", params, data, "now").to_json())
    name = read.flagged[0]["user_name"]
    assert len(name) == NAME_LIMIT and name == long_name[: NAME_LIMIT - 1] + "…"


def one_failed_session(pg, settings_for):
    """The parameters and computed data of a day with one user's one failed session."""
    pg.users([(1, "A")])
    pg.calls([{"user_id": 1, "created_on": datetime(2025, 5, 21, 10), "exotel_call_sid": None}])
    params = Parameters(start="2025-05-21", end="2025-05-22", timezone="UTC").validated()
    return params, pipeline.compute(settings_for(pg.url), resolve_window(params, "UTC"), params)


@pytest.mark.parametrize("stamp", ["../../x", "20250521_093000/../x", "20250521_0930", " ", 7])
def test_a_notebook_stamp_that_is_no_stamp_writes_nothing(pg, settings_for, tmp_path, stamp):
    from user_failure_stats import names, outputs

    params, data = one_failed_session(pg, settings_for)
    out = tmp_path / "a" / "b"
    with pytest.raises(ConfigError, match=r"^stamp .* is not YYYYMMDD_HHMMSS") as caught:
        outputs.export_report(True, data, out, stamp, params, "now")
    assert caught.value.field == "stamp"
    with pytest.raises(ConfigError):
        names.stamp_or_now(stamp)
    assert not (tmp_path / "a").exists() and not (tmp_path / "x").exists()
    # A good stamp: the folder is made, relative to where the notebook runs.
    written = outputs.export_report(True, data, out, "20250521_093000_2", params, "now")
    assert written == out / "user_failure_stats_20250521_093000_2.csv"
    assert sorted(p.name for p in out.iterdir()) == [
        ".user_failure_rates_20250521_093000_2.json",
        "user_failure_stats_20250521_093000_2.csv",
    ]
    assert names.stamp_or_now("") != ""


def test_the_notebooks_export_output_dir_and_title_are_checked_as_given(pg, settings_for, tmp_path):
    from user_failure_stats import coerce, outputs

    params, data = one_failed_session(pg, settings_for)
    out = tmp_path / "out"
    stamp = "20250521_093000"
    # papermill -p export no: the text "no", which Python would take for true.
    assert outputs.export_report("no", data, out, stamp, params, "now") is None
    assert not out.exists()
    with pytest.raises(ConfigError, match=r"^export must be true or false, got '2'$"):
        outputs.export_report(2, data, out, stamp, params, "now")
    for bad in (5, ["a"]):
        with pytest.raises(ConfigError, match=r"^output_dir must be a folder's path") as caught:
            outputs.export_report(True, data, bad, stamp, params, "now")
        assert caught.value.field == "output_dir"
    for bad in (["a", "b"], {"a": 1}, 2025):
        with pytest.raises(ConfigError, match=r"^title must be text"):
            coerce.title_text(bad)
    assert not out.exists()


def test_the_notebook_never_writes_over_a_report_of_its_stamp(pg, settings_for, tmp_path):
    # papermill ... -r stamp <an existing report's> -p export true: nothing is replaced.
    from user_failure_stats import outputs, store
    from user_failure_stats.names import csv_name, html_name, summary_name

    params, data = one_failed_session(pg, settings_for)
    out = tmp_path / "out"
    out.mkdir()
    for number, name in enumerate([html_name, csv_name, summary_name, store.stamp_lock_name]):
        stamp = f"20250521_09300{number}"
        (out / name(stamp)).write_text("the report's own")
        with pytest.raises(ConfigError) as caught:
            outputs.export_report(True, data, out, stamp, params, "now")
        assert str(caught.value) == (
            f"stamp {stamp} is taken in {out}: a report of that stamp is there, or a run is "
            "writing it; leave stamp empty (now) or give another"
        )
        assert caught.value.field == "stamp"
        assert sorted(p.name for p in out.iterdir() if stamp in p.name) == [name(stamp)]
        assert (out / name(stamp)).read_text() == "the report's own"


def test_the_notebooks_title_and_folder_may_hold_no_secret(monkeypatch, tmp_path):
    # papermill -p output_dir /srv/x-<password>: the folder's name would show the password.
    monkeypatch.setenv("DB_URL", "postgresql://reader:Hunter2pwXY@db.example.com/calls")
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path))
    args = ("2025-05-21", "2025-05-22", "UTC", 10)
    with pytest.raises(ConfigError, match="^output_dir holds a secret of the settings"):
        pipeline.setup(*args, "Daily", output_dir=str(tmp_path / "x-Hunter2pwXY"))
    with pytest.raises(ConfigError, match="^title holds a secret of the settings"):
        pipeline.setup(*args, "HUNTER2PWXY calls", output_dir="")
    assert pipeline.setup(*args, "Daily", output_dir=str(tmp_path))[1].title == "Daily"


def test_a_notebook_stamp_must_be_a_real_time_near_now():
    # The index and prune read a report only within two days of its stamp: others would stay
    # for ever, unlisted and never removed.
    from datetime import datetime, timedelta

    from user_failure_stats import names

    for stamp, says in [
        ("20250230_000000", "is no real time"),
        ("20250521_246000", "is no real time"),
        ("99991231_235959", "more than two days from now"),
        ("19000101_000000", "more than two days from now"),
    ]:
        with pytest.raises(ConfigError, match=says) as caught:
            names.stamp_or_now(stamp)
        assert caught.value.field == "stamp"
    yesterday = names.new_stamp(datetime.now() - timedelta(days=1)) + "_2"
    assert names.stamp_or_now(yesterday) == yesterday
