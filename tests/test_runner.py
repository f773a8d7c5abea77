from datetime import datetime

import pytest

from tests.helpers import kernels_of
from user_failure_stats import runner, store
from user_failure_stats.errors import ConfigError, DatabaseError
from user_failure_stats.params import Parameters

NOW = datetime(2025, 5, 23, 1, 0, 0)


def test_two_runs_in_the_same_second_get_distinct_stamps(tmp_path):
    first = store.reserve_stamp(tmp_path, NOW)
    second = store.reserve_stamp(tmp_path, NOW)
    assert (first.stamp, second.stamp) == ("20250523_010000", "20250523_010000_2")
    first.release()
    second.release()


def test_a_published_name_is_never_reused(tmp_path):
    (tmp_path / "user_failure_stats_20250523_010000.csv").write_text("earlier run")
    claim = store.reserve_stamp(tmp_path, NOW)
    assert claim.stamp == "20250523_010000_2"
    claim.release()


def test_publish_refuses_to_overwrite(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "a.csv").write_text("new")
    (tmp_path / "a.csv").write_text("old")
    with pytest.raises(runner.NotebookError, match="cannot publish"):
        store.commit(tmp_path, [staging / "a.csv"])
    assert (tmp_path / "a.csv").read_text() == "old"


def test_unwritable_output_directory_is_bad_input(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot create output directory"):
        store.prepare(blocker / "reports")


@pytest.mark.parametrize(
    ("title", "folder", "field"),
    [
        ("Calls for Zq9SentinelPw77", "out", "title"),  # --title "$PASSWORD"
        ("Daily", "out-Zq9SentinelPw77", "output_dir"),
        ("Daily", "out-k3y-0123456789abcdef", "output_dir"),  # the endpoint's key
        ("postgresql://reader:Zq9SentinelPw77@127.0.0.1:1/db", "out", "title"),
        ("reader", "out", "title"),  # the role's name, whole
    ],
)
def test_a_title_or_folder_that_holds_a_secret_is_refused_before_anything(
    settings_for, tmp_path, title, folder, field
):
    # What the report, the index and the messages show must hold no password or key.
    settings = settings_for(
        "postgresql://reader:Zq9SentinelPw77@127.0.0.1:1/db", endpoint_key="k3y-0123456789abcdef"
    )
    params = Parameters(start="2025-05-21", end="2025-05-22", title=title)
    with pytest.raises(ConfigError) as caught:
        runner.run_reports(params, settings, tmp_path / folder)
    assert str(caught.value) == (
        f"{field} holds a secret of the settings (a password or key), which the report and "
        "its messages would show: give another"
    )
    assert not (tmp_path / folder).exists()


@pytest.mark.parametrize(
    "url",
    ["file:///srv/out-Zq9SentinelPw77", "file:///srv/k3y-0123456789abcdef/reports"],
)
def test_a_publish_target_that_holds_a_secret_is_refused_before_anything(
    settings_for, tmp_path, url
):
    # --publish, or publish: in a parameter file, is shown on the console and in notices.
    settings = settings_for(
        "postgresql://reader:Zq9SentinelPw77@127.0.0.1:1/db", endpoint_key="k3y-0123456789abcdef"
    )
    params = Parameters(start="2025-05-21", end="2025-05-22").updated({"publish": url})
    with pytest.raises(ConfigError) as caught:
        runner.run_reports(params, settings, tmp_path / "out")
    assert caught.value.field == "publish"
    assert "Zq9" not in str(caught.value) and "k3y" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_failed_notebook_leaves_nothing(settings_for, tmp_path):
    settings = settings_for("postgresql://u:p@127.0.0.1:1/db")
    params = Parameters(start="2025-05-21", end="2025-05-22")
    with pytest.raises(DatabaseError, match="connection refused"):
        runner.run_report(params, settings, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_the_kernel_is_gone_after_a_run(notebook_db_url, settings_for, tmp_path):
    import psutil

    params = Parameters(start="2025-05-21", end="2025-05-23", timezone="Asia/Kolkata")
    result = runner.run_report(params, settings_for(notebook_db_url), tmp_path / "out")
    assert result.summary.total_sessions == 341
    assert (result.summary.tested_users, result.flagged, result.worsened) == (4, [], [])
    assert kernels_of(psutil.Process()) == []


def test_a_signal_just_after_the_stamp_is_reserved_leaves_no_lock(
    monkeypatch, settings_for, tmp_path
):
    # The command line turns SIGTERM and SIGINT into KeyboardInterrupt, wherever the run is.
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.tempfile, "mkdtemp", interrupted)
    params = Parameters(start="2025-05-21", end="2025-05-23")
    with pytest.raises(KeyboardInterrupt):
        runner.run_report(params, settings_for("postgresql://u:p@127.0.0.1:1/db"), tmp_path / "o")
    assert list((tmp_path / "o").iterdir()) == []


def test_a_database_that_cannot_be_reached_fails_before_a_kernel_starts(
    monkeypatch, settings_for, tmp_path
):
    def no_kernel(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(runner.kernel, "execute", no_kernel)
    params = Parameters(start="2025-05-21", end="2025-05-23")
    with pytest.raises(DatabaseError, match="connection refused"):
        runner.run_report(params, settings_for("postgresql://u:p@127.0.0.1:1/db"), tmp_path / "o")
    assert list((tmp_path / "o").iterdir()) == []
