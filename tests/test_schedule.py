"""Scheduled use of the command line: relative windows, backfills, alerts, quiet, signals."""

import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from tests.helpers import COMMAND, SEED_WINDOW, kernels_of, run_cli
from user_failure_stats import outputs, pipeline
from user_failure_stats.arguments import build_parser, choose_parameters
from user_failure_stats.errors import EXIT_ALERT, EXIT_BAD_INPUT
from user_failure_stats.params import Parameters, resolve_window
from user_failure_stats.settings import Settings
from user_failure_stats.verdict import verdict

RUN = [*COMMAND, "run"]


def cli(args, env, cwd):
    return run_cli(["run", *args], env, cwd)


def csv_rows(folder):
    (path,) = folder.glob("user_failure_stats_*.csv")
    return path.read_text()


def test_backfill_reproduces_the_scheduled_report(pg, cli_env, tmp_path):
    pg.seed()
    # A run at 01:00 on 23 May in Kolkata for "yesterday" covers 22 May.
    scheduled = cli(
        [
            "--window",
            "yesterday",
            "--now",
            "2025-05-23 01:00",
            "--timezone",
            "Asia/Kolkata",
            "--output-dir",
            str(tmp_path / "a"),
        ],
        cli_env(pg.url),
        tmp_path,
    )
    assert scheduled.returncode == 0, scheduled.stderr
    # The same CSV as the explicit window's, 22 to 23 May in Kolkata.
    params = Parameters(start="2025-05-22", end="2025-05-23", timezone="Asia/Kolkata").validated()
    window = resolve_window(params, "UTC")
    explicit = pipeline.compute(Settings(db_url=pg.url), window, params)
    assert csv_rows(tmp_path / "a") == outputs.csv_text(explicit.rates).replace("\r\n", "\n")
    assert len(explicit.rates) == 2  # two users called on 22 May
    assert "2025-05-22 00:00:00 to 2025-05-23 00:00:00 Asia/Kolkata" in scheduled.stdout


def test_window_from_a_parameter_file(pg, cli_env, tmp_path):
    pg.seed()
    params = tmp_path / "daily.yaml"
    params.write_text("window: yesterday\ntimezone: Asia/Kolkata\nfail_above: 90%\n")
    result = cli(
        ["-f", str(params), "--now", "2025-05-22", "--output-dir", str(tmp_path / "o")],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "2025-05-21 00:00:00 to 2025-05-22 00:00:00 Asia/Kolkata" in result.stdout


def test_each_day_writes_one_report_per_day(pg, cli_env, tmp_path):
    pg.seed()
    out = tmp_path / "out"
    result = cli(
        [
            *SEED_WINDOW,
            "--each",
            "day",
            "--quiet",
            "--output-dir",
            str(out),
        ],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2  # --quiet: one line per report
    reports = sorted(out.glob("user_failure_stats_*.csv"))
    assert len(reports) == 2
    totals = [
        sum(int(row.split(",")[1]) for row in r.read_text().splitlines()[1:]) for r in reports
    ]
    assert sum(totals) == 341 and all(totals)
    assert all(str(out) in line and line.count(".html") == 2 for line in lines)  # report, index


def test_fail_above_writes_the_report_then_alerts(pg, cli_env, tmp_path):
    from user_failure_stats.stats import Statistics

    pg.seed()
    out = tmp_path / "out"
    result = cli(
        [
            *SEED_WINDOW,
            "--fail-above",
            "0.2",
            "--output-dir",
            str(out),
        ],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == EXIT_ALERT
    assert result.stderr.splitlines() == [
        "user-failure-stats: alert: overall failure rate 24.05% is above 20.00% for "
        "2025-05-21 00:00:00 to 2025-05-23 00:00:00 Asia/Kolkata (created_on >= "
        "2025-05-20 18:30:00 and < 2025-05-22 18:30:00 UTC)"
    ]
    assert len(list(out.glob("user_failure_rates_*.html"))) == 1
    # 25% is above the rate: no alert (the verdict's other cases: tests/test_verdict.py).
    settings = Settings(db_url=pg.url)
    args = build_parser().parse_args(["run", *SEED_WINDOW, "--fail-above", "25%"])
    threshold = choose_parameters(args, settings).policy.fail_above
    assert threshold == 0.25
    assert not verdict(
        Statistics(total_sessions=341, overall_failure_rate=82 / 341), threshold
    ).above


def test_bad_schedule_input_is_one_line(pg, cli_env, tmp_path):
    both = cli(["--window", "yesterday", "--start", "2025-05-01"], cli_env(pg.url), tmp_path)
    assert both.returncode == EXIT_BAD_INPUT
    assert both.stderr == (
        "user-failure-stats: error: give either --window or --start/--end, not both\n"
    )
    unknown = cli(["--window", "fortnight"], cli_env(pg.url), tmp_path)
    assert unknown.returncode == EXIT_BAD_INPUT
    assert len(unknown.stderr.splitlines()) == 1
    assert "invalid choice: 'fortnight'" in unknown.stderr
    rate = cli(["--window", "yesterday", "--fail-above", "2"], cli_env(pg.url), tmp_path)
    assert rate.returncode == EXIT_BAD_INPUT
    assert "fail_above must be a rate from 0 to 1" in rate.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])  # SIGHUP: a closed terminal
def test_sigterm_mid_run_leaves_nothing(pg, cli_env, tmp_path, stop):
    pg.seed()
    out = tmp_path / "out"
    run = subprocess.Popen(
        [*RUN, "--start", "2025-05-21", "--end", "2025-05-23", "--output-dir", str(out)],
        env=cli_env(pg.url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Mid-run: the notebook's kernel is running (the staging folder exists, nothing is
    # published yet).
    deadline = time.monotonic() + 60
    parent = psutil.Process(run.pid)
    while time.monotonic() < deadline and not kernels_of(parent):
        time.sleep(0.02)
    assert list(out.glob(".run-*")), "the run never started executing"
    assert not list(out.glob("user_failure_rates_*.html"))
    run.send_signal(stop)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + stop
    assert err.strip().splitlines() == [
        f"user-failure-stats: interrupted by {stop.name}: the unfinished report was not published"
    ]
    assert sorted(p.name for p in out.iterdir()) == []


def test_sigterm_after_the_report_was_written_says_so(pg, cli_env, tmp_path):
    # The report is written and the run is announcing it to a receiver that never answers:
    # the signal stops the announcement, and the line says the report stands.
    pg.seed()
    out = tmp_path / "out"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = cli_env(pg.url) | {"NOTIFY_URLS": f"json://127.0.0.1:{silent.getsockname()[1]}/x"}
        command = [*RUN, *SEED_WINDOW, "--output-dir", str(out), "--notify", "always"]
        run = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not list(out.glob("index.html")):
            time.sleep(0.05)
        time.sleep(0.5)  # announcing now: the receiver holds it for up to 20 s
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
    (html,) = out.glob("user_failure_rates_*.html")
    assert run.returncode == 128 + signal.SIGTERM
    assert err.decode().splitlines() == [
        f"user-failure-stats: interrupted by SIGTERM: the report was written ({html}) but may "
        "not be published or announced"
    ]
    shown = sorted(p.suffix for p in out.iterdir() if not p.name.startswith("."))
    assert shown == [".csv", ".html", ".html", ".ipynb"]  # the report and the index stand


def test_an_interrupted_prune_or_check_says_what_it_leaves(tmp_path):
    from user_failure_stats.cli import _stopped
    from user_failure_stats.errors import Interrupted

    parser = build_parser()
    prune = parser.parse_args(["prune", "--keep-days", "3"])
    assert _stopped(prune, KeyboardInterrupt()) == (
        "the reports removed so far are gone; run prune again to finish"
    )
    assert _stopped(parser.parse_args(["check"]), KeyboardInterrupt()) == "stopped"
    run = parser.parse_args(["run"])
    assert _stopped(run, KeyboardInterrupt()) == "the unfinished report was not published"
    earlier = Interrupted(None, None, (tmp_path / "a.html", tmp_path / "b.html"))
    assert _stopped(run, earlier) == (
        f"2 reports before it stand (the last: {tmp_path / 'b.html'}); the unfinished report "
        "was not published"
    )
    one = Interrupted(tmp_path / "b.html", None, (tmp_path / "a.html",))
    assert _stopped(run, one) == (
        f"1 report before it stands (the last: {tmp_path / 'a.html'}); the report was written "
        f"({tmp_path / 'b.html'}) but may not be published or announced"
    )
    assert _stopped(run, Interrupted(tmp_path / "r.html", "https://x.example/r.html")) == (
        f"the report was written ({tmp_path / 'r.html'}) and published "
        "(https://x.example/r.html) but may not be announced"
    )


def test_a_signal_while_a_finished_run_shuts_down_changes_nothing(tmp_path):
    # Python gives SIGTERM its default action back while it shuts down: a finished run would
    # end "killed by SIGTERM", silently, as if it had failed.
    # The signal comes from an object collected at the very end (after Python reset them).
    script = (
        "import os, signal, sys, time\n"
        "class Late:\n"
        "    def __del__(self):\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(0.3)\n"
        "keeper = Late()\n"
        "sys.argv = ['user-failure-stats', 'prune', '--keep-days', '30', '--output-dir', '.']\n"
        "from user_failure_stats.cli import entry\n"
        "entry()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("No reports generated more than 30 days ago")
