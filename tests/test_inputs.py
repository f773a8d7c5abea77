"""Bad input, tried on purpose: one line naming the field, exit 2, nothing written."""

import pytest

from tests.helpers import run_cli
from user_failure_stats.errors import EXIT_BAD_INPUT

GOOD = "start: '2025-05-21'\nend: '2025-05-23'\n"


def run(args, env, cwd):
    return run_cli(["run", *args], env, cwd)


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--start", "2025-02-30", "--end", "2025-03-02"], "start: '2025-02-30' is not a date"),
        (
            ["--start", "yesterday-ish", "--end", "2025-03-02"],
            "start: 'yesterday-ish' is not a date",
        ),
        (
            ["--start", "2025-03-02", "--end", "2025-03-01"],
            "end (2025-03-01 00:00:00) must be after",
        ),
        (
            ["--start", "2025-03-01", "--end", "2025-03-02", "--timezone", "Asia/Bangalore"],
            "timezone: unknown time zone 'Asia/Bangalore'",
        ),
        (["--window", "fortnight"], "argument --window: invalid choice: 'fortnight'"),
        (["--window", "yesterday", "--end", "2025-03-02"], "give either --window or --start/--end"),
        (["--top-n", "-3"], "argument --top-n: must be at least 1"),
        (["--top-n", "ten"], "argument --top-n: must be a whole number"),
        (["--fail-above", "120%"], "fail_above must be a rate from 0 to 1"),
        (["--fdr", "0"], "fdr must be a rate above 0 and below 1"),
        (["--fdr", "1"], "fdr must be a rate above 0 and below 1"),
    ],
)
def test_bad_flags(flags, field, pg, cli_env, tmp_path):
    out = tmp_path / "out"
    result = run([*flags, "--output-dir", str(out)], cli_env(pg.url), tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    (line,) = result.stderr.splitlines()
    assert line.startswith("user-failure-stats: error: ") and field in line, line
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('start: "2025\nend: x\n', "is not valid YAML at line"),
        ("start: [2025\n", "each parameter takes one value"),
        ("window: yesterday\nstart: '2025-05-21'\n", "give either window or start/end"),
        (GOOD + "db_password: x\n", "unknown parameter 'db_password'"),
        (GOOD + "top_n: abc\n", "top_n must be a whole number"),
        (GOOD + "top_n: -2\n", "top_n must be a whole number"),
        (GOOD + "min_sessions: 0\n", "min_sessions must be a whole number"),
        (GOOD + "fdr: 0%\n", "fdr must be a rate above 0 and below 1"),
        (GOOD + "fdr: yes\n", "fdr must be a rate above 0 and below 1"),
        ("- start\n", "must hold a mapping"),
        ("window: fortnight\n", "window: unknown window 'fortnight'"),
    ],
)
def test_bad_parameter_files(text, field, pg, cli_env, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(text)
    out = tmp_path / "out"
    result = run(["-f", str(params), "--output-dir", str(out)], cli_env(pg.url), tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    (line,) = result.stderr.splitlines()
    assert field in line, line
    assert not out.exists()


def test_unreadable_parameter_file(pg, cli_env, tmp_path):
    folder = tmp_path / "params.yaml"
    folder.mkdir()  # readable by nobody as a file, even root
    result = run(["-f", str(folder)], cli_env(pg.url), tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    assert (
        result.stderr
        == f"user-failure-stats: error: parameter file {folder} is not a regular file\n"
    )
    missing = run(["-f", str(tmp_path / "nope.yaml")], cli_env(pg.url), tmp_path)
    assert missing.stderr.startswith("user-failure-stats: error: cannot read parameter file")


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("", "DB_URL is not set"),
        ("mysql://reader:pw@db/telephony", "DB_URL must point to PostgreSQL"),
        ("not a url at all", "DB_URL is not a valid database URL"),
    ],
)
def test_bad_database_settings(url, field, cli_env, tmp_path):
    env = cli_env(url)
    if not url:
        del env["DB_URL"]
    result = run(["--start", "2025-05-21", "--end", "2025-05-23"], env, tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    (line,) = result.stderr.splitlines()
    assert field in line
    assert "pw@" not in line


def test_output_directory_that_cannot_be_written(pg, cli_env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run(
        ["--start", "2025-05-21", "--end", "2025-05-23", "--output-dir", str(blocker / "reports")],
        cli_env(pg.url),
        tmp_path,
    )
    assert result.returncode == EXIT_BAD_INPUT
    assert result.stderr.startswith("user-failure-stats: error: cannot create output directory")


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["-f", "p.yaml"], "title must be one line of at most"),  # "\ud800" escaped in YAML
        ([b"--title", b"bad\xffbyte"], "title must be one line of at most"),  # argv's byte
        ([], "OUTPUT_DIR must be UTF-8 text"),  # OUTPUT_DIR with a byte not UTF-8
    ],
)
def test_text_that_is_not_utf8_is_refused_by_check_and_run_alike(
    notebook_db_url, cli_env, tmp_path, arguments, says
):
    import subprocess

    from tests.helpers import COMMAND, SEED_WINDOW

    (tmp_path / "p.yaml").write_text('title: "Rates \\ud800 x"\n', encoding="utf-8")
    folder = "reports" if arguments else "reports\udcff"  # the byte 0xff, as Python reads it
    env = cli_env(notebook_db_url, OUTPUT_DIR=str(tmp_path / folder))
    for command in ("check", "run"):
        done = subprocess.run(
            [*COMMAND, command, *SEED_WINDOW, *arguments],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=300,
        )
        err = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 2, (command, done.stdout, err)
        assert says in err.splitlines()[-1] and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]  # nothing made
