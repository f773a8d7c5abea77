import csv
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import SEED_WINDOW, docs_text
from tests.helpers import run_cli as cli
from tests.seed import SEED_DB_START, SEED_ORDER
from user_failure_stats.arguments import build_parser, choose_parameters
from user_failure_stats.database import driver_url
from user_failure_stats.errors import EXIT_BAD_INPUT, EXIT_DATABASE
from user_failure_stats.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-sentinel"


def params_file(tmp_path, text="start: 2025-05-21\nend: 2025-05-23\ntimezone: Asia/Kolkata\n"):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_run_writes_csv_html_and_notebook(pg, cli_env, tmp_path):
    pg.seed()
    out = tmp_path / "out"
    result = cli(
        ["run", "-f", str(params_file(tmp_path)), "--top-n", "3", "--output-dir", str(out)],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert len(files) == 4, files
    stamp = files[1].removeprefix("user_failure_rates_").removesuffix(".html")
    assert files == [
        "index.html",
        f"user_failure_rates_{stamp}.html",
        f"user_failure_rates_{stamp}.ipynb",
        f"user_failure_stats_{stamp}.csv",
    ]
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert hidden == [".index.lock", f".user_failure_rates_{stamp}.json"]

    # The CSV equals an independent count in SQL.
    with (out / f"user_failure_stats_{stamp}.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = pg.rows(
        """SELECT u.name, count(*) AS total, count(*) - count(c.exotel_call_sid) AS failed
           FROM public.calllog c JOIN public."user" u USING (user_id)
           WHERE c.session_id IS NOT NULL
             AND c.created_on >= '2025-05-20 18:30' AND c.created_on < '2025-05-22 18:30'
           GROUP BY u.name"""
    )
    assert {
        (r["user_name"], int(r["total_sessions"]), int(r["failed_sessions"])) for r in rows
    } == {tuple(e) for e in expected}
    assert [r["user_name"] for r in rows] == SEED_ORDER
    assert rows[0]["failure_rate_percent"] == "50.00%"

    # The console summary tells the truth and names the files.
    assert "USER FAILURE RATE ANALYSIS SUMMARY" in result.stdout
    assert "Total Sessions:       341" in result.stdout
    assert "Total Failures:       82" in result.stdout
    assert "Overall Failure Rate: 24.05%" in result.stdout
    # The seed's users all lie within chance of the rest: nobody is flagged or listed.
    assert (
        "Users failing significantly more than the rest: 0 of 4 judged (at a 5% false "
        "discovery rate)" in result.stdout
    )
    assert "Got worse since the previous 2 days: 0 of 0 compared" in result.stdout
    assert "2 users had too few sessions to judge (listed in the CSV)." in result.stdout
    assert "Flagged users" not in result.stdout and "Anushka" not in result.stdout
    assert "+0.00 pts" not in result.stdout  # no previous window in the seed data
    assert "no sessions in the previous 2 days" in result.stdout
    assert str(out / f"user_failure_rates_{stamp}.html") in result.stdout

    # The HTML holds the chart with plotly.js, no code, and no secrets.
    html = (out / f"user_failure_rates_{stamp}.html").read_text()
    assert "plotly-graph-div" in html
    # The histogram's hover text.
    assert html.count("Vishnu Vardhan: 27.42% (34/124)") == 1  # the figure's JSON, once
    assert "fetch_user_counts" not in html
    assert "Asia/Kolkata" in html


def test_bad_window_exits_2_and_writes_nothing(pg, cli_env, tmp_path):
    out = tmp_path / "out"
    result = cli(
        ["run", "--start", "2025-05-23", "--end", "2025-05-21", "--output-dir", str(out)],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == EXIT_BAD_INPUT
    assert result.stderr.strip().splitlines() == [
        "user-failure-stats: error: end (2025-05-21 00:00:00) must be after start "
        "(2025-05-23 00:00:00)"
    ]
    assert not out.exists() or list(out.iterdir()) == []


def test_unreachable_database_exits_3_and_writes_nothing(cli_env, tmp_path):
    out = tmp_path / "out"
    url = f"postgresql://reader:{SECRET}@127.0.0.1:1/telephony"
    result = cli(
        ["run", "-f", str(params_file(tmp_path)), "--output-dir", str(out)], cli_env(url), tmp_path
    )
    assert result.returncode == EXIT_DATABASE, result.stderr
    assert result.stderr.strip().splitlines() == [
        "user-failure-stats: error: cannot connect to the database 127.0.0.1:1/telephony: "
        "connection refused"
    ]
    assert SECRET not in result.stdout + result.stderr
    assert [p for p in out.iterdir() if not p.name.startswith(".")] == []
    assert list(out.iterdir()) == []  # no staging folder or lock left behind either


def test_missing_db_url_exits_2(cli_env, tmp_path):
    env = cli_env("")
    del env["DB_URL"]
    result = cli(["run", "-f", str(params_file(tmp_path))], env, tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    assert "DB_URL is not set" in result.stderr


def line_of(stdout: str, step: str) -> str:
    """The line ``check`` printed for ``step``."""
    (line,) = [x for x in stdout.splitlines() if x[7:].startswith(f"{step}:")]
    return line


def test_check_reports_each_step(pg, cli_env, tmp_path):
    pg.seed()
    result = cli(["check", "-f", str(params_file(tmp_path))], cli_env(pg.url), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "[ok]   configuration",
        "[ok]   output directory",
        "[ok]   database reachable",
        "[ok]   tables and columns",
        "[warn] read-only role",  # the test server's role is a superuser
        "[ok]   index",
        "[ok]   window query",
        "[ok]   data quality",
        "[ok]   analysis",
        "[ok]   publish target",
        "[ok]   notifications",
    ]
    assert line_of(result.stdout, "publish target") == (
        "[ok]   publish target: none: reports stay in the output directory (see --publish)"
    )
    assert line_of(result.stdout, "notifications") == (
        "[ok]   notifications: no services (NOTIFY_URLS is not set)"
    )
    assert line_of(result.stdout, "read-only role").startswith(
        "[warn] read-only role: the role can INSERT, UPDATE, DELETE, TRUNCATE on public.calllog"
        ', INSERT, UPDATE, DELETE, TRUNCATE on public."user"; '
    )
    assert line_of(result.stdout, "index") == (
        "[ok]   index: calllog_created_on_idx on public.calllog (created_on)"
    )
    assert "341 sessions from 6 users" in line_of(result.stdout, "window query")
    assert "plan: " in line_of(result.stdout, "window query")
    assert "overall failure rate 24.05%" in line_of(result.stdout, "analysis")


def test_check_refuses_a_title_that_run_would_refuse(cli_env, tmp_path):
    env = cli_env("postgresql://reader:Hunter2pwXY@127.0.0.1:1/calls")
    result = cli(["check", "--title", "Calls Hunter2pwXY"], env, tmp_path)
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        "[FAIL] configuration: title holds a secret of the settings (a password or key), which "
        "the report and its messages would show: give another"
    ]
    assert "Hunter2pwXY" not in result.stdout + result.stderr
    result = cli(["check", "--publish", "file:///srv/Hunter2pwXY"], env, tmp_path)
    assert (result.returncode, result.stdout.splitlines()) == (
        2,
        [
            "[FAIL] configuration: publish holds a secret of the settings (a password or key), "
            "which the report and its messages would show: give another"
        ],
    )


def test_check_is_quiet_about_a_role_that_can_only_read(pg, cli_env, tmp_path):
    # The README's read-only role: SELECT on the two tables, nothing else.
    pg.seed()
    role = "ufs_reader_test"
    admin = sa.create_engine(driver_url(pg.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in (role, f"{role}_writer"):
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(sa.text(f'GRANT SELECT ON public.calllog, public."user" TO {role}'))
    try:
        url = driver_url(pg.url).set(username=role).render_as_string(hide_password=False)
        result = cli(["check", "-f", str(params_file(tmp_path))], cli_env(url), tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert line_of(result.stdout, "read-only role") == (
            '[ok]   read-only role: the role can only read public.calllog and public."user"'
        )
        with admin.connect() as conn:  # a right on one column is a right to write
            conn.execute(sa.text(f'GRANT UPDATE (name) ON public."user" TO {role}'))
        result = cli(["check", "-f", str(params_file(tmp_path))], cli_env(url), tmp_path)
        assert line_of(result.stdout, "read-only role").startswith(
            '[warn] read-only role: the role can UPDATE on public."user"; '
        )
        with admin.connect() as conn:  # so is a role it may SET ROLE to
            conn.execute(sa.text(f'REVOKE UPDATE (name) ON public."user" FROM {role}'))
            conn.execute(sa.text(f"CREATE ROLE {role}_writer NOLOGIN"))
            conn.execute(sa.text(f"GRANT DELETE ON public.calllog TO {role}_writer"))
            conn.execute(sa.text(f"GRANT {role}_writer TO {role} WITH INHERIT FALSE"))
        result = cli(["check", "-f", str(params_file(tmp_path))], cli_env(url), tmp_path)
        assert line_of(result.stdout, "read-only role").startswith(
            "[warn] read-only role: the role can DELETE on public.calllog; "
        )
    finally:
        with admin.connect() as conn:
            for name in (role, f"{role}_writer"):
                conn.execute(sa.text(f"DROP OWNED BY {name}"))
                conn.execute(sa.text(f"DROP ROLE {name}"))
        admin.dispose()


def test_check_warns_about_empty_sids(pg, cli_env, tmp_path):
    pg.seed()
    pg.calls([{"user_id": 1, "created_on": SEED_DB_START, "exotel_call_sid": ""}])
    result = cli(["check", "-f", str(params_file(tmp_path))], cli_env(pg.url), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    warning = line_of(result.stdout, "data quality")
    assert warning.startswith("[warn] data quality: 0 rows without session_id")
    assert "1 sessions with an empty exotel_call_sid" in warning


def test_check_stops_at_an_empty_window(pg, cli_env, tmp_path):
    result = cli(
        ["check", "--start", "2020-01-01", "--end", "2020-01-02"], cli_env(pg.url), tmp_path
    )
    assert result.returncode == EXIT_BAD_INPUT
    assert result.stdout.splitlines()[-1].startswith("[FAIL] window query: no sessions")


def test_help_lists_commands_and_exit_codes():
    help_text = build_parser().format_help()
    for word in ("run", "check", "demo", "exit codes", "3    database error", "5    alert"):
        assert word in help_text


def args_for(*argv):
    return build_parser().parse_args(["run", *argv])


def test_flags_override_the_parameter_file(tmp_path):
    path = params_file(tmp_path, "start: 2025-05-01\nend: 2025-05-08\ntop_n: 4\n")
    params = choose_parameters(
        args_for("-f", str(path), "--end", "2025-05-03"), Settings(db_url=None)
    )
    assert (params.start.isoformat(), params.end, params.top_n) == ("2025-05-01", "2025-05-03", 4)


def test_env_window_is_used_only_without_file_or_flags(tmp_path):
    settings = Settings(
        db_url=None, start_date="2025-05-20 18:30:00", end_date="2025-05-22 18:29:59"
    )
    params = choose_parameters(args_for(), settings)
    assert (params.start, params.end, params.timezone) == (
        "2025-05-20 18:30:00",
        "2025-05-22 18:29:59",
        "UTC",
    )
    params = choose_parameters(args_for("--start", "2025-01-01", "--end", "2025-01-02"), settings)
    assert params.start == "2025-01-01"
    path = params_file(tmp_path)
    assert choose_parameters(args_for("-f", str(path)), settings).timezone == "Asia/Kolkata"


def test_default_parameter_file_when_nothing_is_given():
    params = choose_parameters(args_for(), Settings(db_url=None))
    assert (str(params.start), str(params.end), params.timezone) == (
        "2025-05-21",
        "2025-05-23",
        "Asia/Kolkata",
    )


@pytest.mark.parametrize("argv", [["run", "--top-n", "0"], ["run", "--top-n", "x"]])
def test_bad_flags_are_rejected_by_the_parser(argv):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2


def test_empty_window_is_a_report_that_says_so(pg, cli_env, tmp_path):
    # A scheduled job notices a dead feed: the report is written all the same, a warning line
    # says so, and --fail-empty exits 6 (which exit wins over which: tests/test_verdict.py).
    pg.seed()
    out = tmp_path / "out"
    args = ["run", "--start", "2020-01-01", "--end", "2020-01-02", "--output-dir", str(out)]
    result = cli([*args, "--fail-empty"], cli_env(pg.url), tmp_path)
    assert result.returncode == 6, result.stderr
    assert "Total Sessions:       0" in result.stdout
    assert "Users failing significantly more than the rest: 0 of 0 judged" in result.stdout
    html = next(out.glob("user_failure_rates_*.html")).read_text()
    assert "There were no sessions in this window." in html
    csv_lines = next(out.glob("*.csv")).read_text().splitlines()
    assert len(csv_lines) == 1 and csv_lines[0].startswith("user_name,total_sessions")
    assert result.stderr.splitlines() == [
        "user-failure-stats: warning: no sessions in 2020-01-01 00:00:00 to 2020-01-02 00:00:00 "
        "UTC (created_on >= 2020-01-01 00:00:00 and < 2020-01-02 00:00:00 UTC): is the call log "
        "still being written?"
    ]


def test_fail_empty_comes_from_the_flag_or_the_parameter_file(tmp_path):
    from user_failure_stats.arguments import choose_parameters
    from user_failure_stats.settings import Settings

    settings = Settings(db_url="postgresql://u@h/db")
    (tmp_path / "p.yaml").write_text("start: '2020-01-01'\nend: '2020-01-02'\nfail_empty: true\n")

    def chosen(*argv):
        return choose_parameters(
            build_parser().parse_args(["run", *argv]), settings
        ).policy.fail_empty

    assert chosen("-f", str(tmp_path / "p.yaml")) is True
    assert chosen("--start", "2020-01-01", "--end", "2020-01-02", "--fail-empty") is True
    assert not chosen("--start", "2020-01-01", "--end", "2020-01-02")


@pytest.mark.parametrize(
    "extra",
    [
        ["--start", "2025-05-21", "--end", "2025-05-23", "--now", "2025-05-22"],
        ["--now", "2025-05-22"],
    ],
)
def test_now_without_a_relative_window_is_refused(extra, cli_env, tmp_path):
    for command in ("run", "check"):
        result = cli([command, *extra], cli_env("postgresql://u@h/db"), tmp_path)
        assert result.returncode == 2
        assert "--now only resolves a relative window" in result.stderr


def test_every_option_is_documented_in_the_docs():
    readme = docs_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        assert f"user-failure-stats {name}" in readme, name
        for action in command._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert re.search(rf"(?<![\w-]){option}(?![\w-])", readme), (name, option)


def test_check_warns_with_the_index_to_create(pg, cli_env, tmp_path):
    pg.seed()
    with pg.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX public.calllog_created_on_idx")
    try:
        result = cli(["check", "-f", str(params_file(tmp_path))], cli_env(pg.url), tmp_path)
    finally:
        with pg.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE INDEX calllog_created_on_idx ON public.calllog (created_on)"
            )
    assert result.returncode == 0, result.stdout + result.stderr
    assert line_of(result.stdout, "index") == (
        "[warn] index: no index on public.calllog (created_on), so every report reads the "
        "whole table; create one: CREATE INDEX CONCURRENTLY calllog_created_on_idx ON "
        "public.calllog (created_on);"
    )
    plan = line_of(result.stdout, "window query")
    assert "plan: Seq Scan" in plan or "plan: Parallel Seq Scan" in plan


def test_awkward_names_survive_the_whole_run(pg, cli_env, tmp_path):
    names = ['Ravi, "RK" Kumar', "Line\nBreak", "Zoë Ångström", "<script>alert(1)</script>"]
    pg.users([(i + 1, n) for i, n in enumerate(names)] + [(5, None)])
    pg.calls(
        [{"user_id": u, "created_on": SEED_DB_START} for u in (1, 2, 3, 4, 5, None)]
        + [{"user_id": 1, "created_on": SEED_DB_START, "exotel_call_sid": ""}]
    )
    out = tmp_path / "out"
    result = cli(
        ["run", "-f", str(params_file(tmp_path)), "--output-dir", str(out)],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (path,) = out.glob("user_failure_stats_*.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["user_name"] for r in rows) == sorted([*names, "user 5", "no user id"])
    ravi = next(r for r in rows if r["user_name"].startswith("Ravi"))
    assert (ravi["total_sessions"], ravi["failed_sessions"]) == ("2", "1")  # "" SID succeeded
    html = next(out.glob("user_failure_rates_*.html")).read_text()
    assert "<script>alert(1)</script>" not in html


def test_verbose_tracebacks_are_escaped_too(cli_env, tmp_path):
    name = "\x1b]0;PWN\x07\x1b[31mevil\u202e.yaml"
    result = cli(["check", "-v", "-f", name], cli_env("postgresql://u@h/db"), tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert (
        "\x1b" not in result.stderr
        and "\u202e" not in result.stderr
        and "\x07" not in result.stderr
    )
    assert "\\x1b]0;PWN\\x07" in result.stderr


def test_a_reader_that_goes_away_stops_check_quietly(notebook_db_url, cli_env, tmp_path):
    import subprocess

    from tests.helpers import COMMAND, SEED_WINDOW

    command = " ".join([*COMMAND, "check", *SEED_WINDOW]) + ' | head -c 1; echo " ${PIPESTATUS[0]}"'
    done = subprocess.run(
        ["bash", "-c", command],
        env=cli_env(notebook_db_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout == "[ 141\n", done.stdout + done.stderr  # 128 + SIGPIPE, like other tools
    assert done.stderr == ""


def standard_streams_run(args, env, cwd, shell_redirects):
    """Run the command with ``shell_redirects`` (``>/dev/full``, ``2>&-``...) applied by sh."""
    import shlex
    import subprocess

    from tests.helpers import COMMAND

    line = " ".join(shlex.quote(part) for part in [*COMMAND, *args]) + " " + shell_redirects
    return subprocess.run(
        ["sh", "-c", line], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_an_output_that_cannot_be_written_keeps_the_runs_exit_code(
    notebook_db_url, cli_env, tmp_path
):
    # A cron job whose log's disk is full: the report is written, the alert still exits 5,
    # and stderr says in one line why the console summary is missing.
    out = tmp_path / "out"
    args = ["run", *SEED_WINDOW, "--output-dir", str(out), "--fail-above", "1%"]
    result = standard_streams_run(args, cli_env(notebook_db_url), tmp_path, ">/dev/full")
    assert result.returncode == 5, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == (
        "user-failure-stats: error: cannot write to the standard output: No space left on device"
    )
    assert lines[-2].startswith("user-failure-stats: alert: overall failure rate 24.05% is above")
    assert len(list(out.glob("user_failure_rates_*.html"))) == 1
    # When all went well, the missing output is the failure: exit 2.
    check = standard_streams_run(
        ["check", *SEED_WINDOW], cli_env(notebook_db_url), tmp_path, ">/dev/full"
    )
    assert (check.returncode, check.stderr) == (
        2,
        "user-failure-stats: error: cannot write to the standard output: No space left on device\n",
    )


def test_closed_standard_streams_are_no_failure(notebook_db_url, cli_env, tmp_path):
    out = tmp_path / "out"
    args = ["run", *SEED_WINDOW, "--output-dir", str(out), "-q"]
    result = standard_streams_run(args, cli_env(notebook_db_url), tmp_path, "2>&- <&-")
    assert result.returncode == 0
    (html,) = out.glob("user_failure_rates_*.html")
    assert str(html) in result.stdout
    result = standard_streams_run(args, cli_env(notebook_db_url), tmp_path, ">&-")
    assert (result.returncode, result.stderr) == (0, "")
    assert len(list(out.glob("user_failure_rates_*.html"))) == 2
