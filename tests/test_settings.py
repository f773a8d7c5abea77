import os
from datetime import date, datetime
from pathlib import Path

import pytest

from user_failure_stats.errors import ConfigError
from user_failure_stats.params import Parameters, load_parameters, resolve_window
from user_failure_stats.settings import Settings, load_settings

SECRET = "s3cr3t-sentinel"


def window(start, end, timezone="UTC", db_timezone="UTC"):
    return resolve_window(Parameters(start=start, end=end, timezone=timezone), db_timezone)


def test_kolkata_days_become_the_seed_window_in_utc():
    w = window("2025-05-21", "2025-05-23", "Asia/Kolkata")
    assert w.db_start == datetime(2025, 5, 20, 18, 30)
    assert w.db_end == datetime(2025, 5, 22, 18, 30)
    assert w.timezone == "Asia/Kolkata"
    assert "created_on >= 2025-05-20 18:30:00 and < 2025-05-22 18:30:00 UTC" in w.describe()


def test_yaml_dates_and_datetimes_are_accepted():
    w = window(date(2025, 5, 21), datetime(2025, 5, 21, 12, 30))
    assert (w.db_start, w.db_end) == (datetime(2025, 5, 21), datetime(2025, 5, 21, 12, 30))


def test_datetime_strings_and_offsets():
    w = window("2025-05-21 01:15", "2025-05-21T08:00:00+05:30", "UTC")
    assert w.db_start == datetime(2025, 5, 21, 1, 15)
    assert w.db_end == datetime(2025, 5, 21, 2, 30)  # the offset is honoured


def test_database_in_another_zone():
    w = window("2025-05-21", "2025-05-22", "UTC", db_timezone="Asia/Kolkata")
    assert w.db_start == datetime(2025, 5, 21, 5, 30)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2025-05-23", "2025-05-21", "end (2025-05-21 00:00:00) must be after start"),
        ("2025-05-21", "2025-05-21", "must be after start"),
        ("21/05/2025", "2025-05-23", "start: '21/05/2025' is not a date"),
        ("2025-05-21", "2025-13-01", "end: '2025-13-01' is not a date"),
        ("", "2025-05-23", "start is missing"),
        (None, "2025-05-23", "start is missing"),
    ],
)
def test_bad_windows_name_the_field(start, end, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        window(start, end)


def test_unknown_timezone_is_rejected():
    with pytest.raises(ConfigError, match="timezone: unknown time zone 'Mars/Base'"):
        window("2025-05-21", "2025-05-22", "Mars/Base")


@pytest.mark.parametrize("top_n", [0, -1, "abc", True, 2.5])
def test_bad_top_n_is_rejected(top_n):
    with pytest.raises(ConfigError, match="top_n must be a whole number"):
        Parameters().updated({"top_n": top_n})


def test_parameters_merge_and_validate():
    params = Parameters().updated({"start": "2025-05-21", "top_n": "5", "title": None})
    assert (params.start, params.top_n, params.title) == ("2025-05-21", 5, "User failure rates")
    with pytest.raises(ConfigError, match="unknown parameter 'db_url'"):
        Parameters().updated({"db_url": "x"})


def test_parameter_file_is_parsed(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("start: 2025-05-21\nend: 2025-05-23\ntimezone: Asia/Kolkata\ntop_n: 3\n")
    values = load_parameters(path)
    assert values == {
        "start": date(2025, 5, 21),
        "end": date(2025, 5, 23),
        "timezone": "Asia/Kolkata",
        "top_n": 3,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('start: "2025-05-21\nend: x\n', "is not valid YAML at line"),
        ("start: [unclosed\n", "each parameter takes one value"),
        ("start: 2025-02-30\n", "holds a date that does not exist"),
        ("start: 0000-01-01\n", "holds a date that does not exist"),
        ("- a\n- b\n", "must hold a mapping"),
        ("start: 2025-05-21\npassword: x\n", "unknown parameter 'password'"),
        ("start: 2025-05-21\n" + "k" * 1000 + ": x\n", "unknown parameter '" + "k" * 39 + "…'"),
    ],
)
def test_bad_parameter_files(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_parameters(path)


def test_missing_parameter_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read parameter file .*missing.yaml"):
        load_parameters(tmp_path / "missing.yaml")


def test_default_parameter_file_is_the_seed_window():
    from user_failure_stats.params import DEFAULT_PARAMETERS_FILE

    params = Parameters().updated(load_parameters(DEFAULT_PARAMETERS_FILE))
    w = resolve_window(params, "UTC")
    assert (w.db_start, w.db_end) == (datetime(2025, 5, 20, 18, 30), datetime(2025, 5, 22, 18, 30))
    assert params.top_n == 10


def test_environment_overrides_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "DB_URL=postgresql://u:p@filehost/db\nDB_TIMEZONE=Asia/Kolkata\nOUTPUT_DIR=out\n"
        "STATEMENT_TIMEOUT_SECONDS=5\nSTART_DATE=2025-05-21\n"
    )
    settings = load_settings(env_file, environ={"DB_URL": "postgresql://u:p@envhost/db"})
    assert settings.db_url == "postgresql://u:p@envhost/db"
    assert settings.db_timezone == "Asia/Kolkata"
    assert settings.output_dir == tmp_path / "out"
    assert settings.statement_timeout_seconds == 5.0
    assert settings.start_date == "2025-05-21"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DB_URL": "mysql://u:p@h/db"}, "DB_URL must point to PostgreSQL"),
        ({"DB_URL": "not a url"}, "DB_URL is not a valid database URL"),
        ({"DB_TIMEZONE": "Nowhere/Land"}, "DB_TIMEZONE: unknown time zone"),
        (
            {"STATEMENT_TIMEOUT_SECONDS": "-3"},
            "STATEMENT_TIMEOUT_SECONDS must be a number of seconds",
        ),
        (
            {"CONNECT_TIMEOUT_SECONDS": "soon"},
            "CONNECT_TIMEOUT_SECONDS must be a whole number of seconds",
        ),
        ({"STATEMENT_TIMEOUT_SECONDS": "nan"}, "STATEMENT_TIMEOUT_SECONDS must be a number"),
        ({"STATEMENT_TIMEOUT_SECONDS": "inf"}, "STATEMENT_TIMEOUT_SECONDS must be a number"),
        ({"STATEMENT_TIMEOUT_SECONDS": "1e400"}, "STATEMENT_TIMEOUT_SECONDS must be a number"),
        ({"CONNECT_TIMEOUT_SECONDS": "9" * 5000}, "CONNECT_TIMEOUT_SECONDS must be a whole number"),
        ({"STATEMENT_TIMEOUT_SECONDS": "٣٠"}, "STATEMENT_TIMEOUT_SECONDS must be a number"),
        ({"STATEMENT_TIMEOUT_SECONDS": "1_0"}, "STATEMENT_TIMEOUT_SECONDS must be a number"),
        ({"STATEMENT_TIMEOUT_SECONDS": "1e3"}, "STATEMENT_TIMEOUT_SECONDS must be a number"),
        ({"CONNECT_TIMEOUT_SECONDS": "１０"}, "CONNECT_TIMEOUT_SECONDS must be a whole number"),
        ({"DB_TIMEZONE": "Asia/Kol kata"}, "DB_TIMEZONE: unknown time zone"),
        ({"DB_TIMEZONE": "../../etc/passwd"}, "DB_TIMEZONE: unknown time zone"),
        ({"DB_TIMEZONE": "localtime"}, "DB_TIMEZONE: unknown time zone 'localtime'"),
        ({"DB_TIMEZONE": "right/UTC"}, "DB_TIMEZONE: unknown time zone 'right/UTC'"),
        ({"REPORT_TIMEZONE": "posix/Asia/Kolkata"}, "REPORT_TIMEZONE: unknown time zone"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(_empty_env(tmp_path), environ=environ)


def _empty_env(tmp_path):
    path = tmp_path / ".env"
    path.write_text("")
    return path


def test_missing_db_url_is_a_clear_error(tmp_path):
    settings = load_settings(_empty_env(tmp_path), environ={})
    with pytest.raises(ConfigError, match="DB_URL is not set"):
        settings.require_db_url()


def _yaml_file(tmp_path, text: str | bytes):
    path = tmp_path / "p.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


BOMB = "\n".join(
    [f'{chr(97)}: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(97 + i)}: &{chr(97 + i)} [{','.join([f'*{chr(96 + i)}'] * 9)}]" for i in range(1, 9)]
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB, "each parameter takes one value"),
        ("start: &s '2025-05-21'\nend: *s\n", "uses a YAML alias"),
        ("title: [a, b]\n", "each parameter takes one value"),
        ("title: {a: b}\n", "each parameter takes one value"),
        ("#" + "x" * 70_000 + "\n", "larger than 64 KiB"),
        ("title: T\n".encode("utf-16"), "is not UTF-8 text"),
        (b"\x00\xff\xfe binary", "is not UTF-8 text"),
    ],
)
def test_parameter_files_that_could_hang_or_crash_are_refused(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_parameters(_yaml_file(tmp_path, text))


def test_a_huge_parameter_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # 50 MB of comments, written sparsely
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(ConfigError, match="larger than 64 KiB"):
        load_parameters(path)


def test_time_zones_with_surrounding_spaces_are_read_by_their_name(tmp_path):
    settings = load_settings(_empty_env(tmp_path), environ={"DB_TIMEZONE": "  Asia/Kolkata "})
    assert settings.db_timezone == "Asia/Kolkata"
    assert Parameters(timezone=" UTC ").validated().timezone == "UTC"


def test_only_the_projects_env_file_is_read(tmp_path, monkeypatch):
    from user_failure_stats import settings as settings_module

    (tmp_path / ".env").write_text("DB_TIMEZONE=Asia/Kolkata\n")
    child = tmp_path / "child"
    child.mkdir()
    monkeypatch.chdir(child)  # a .env in a parent of the working directory is not read
    monkeypatch.setattr(settings_module, "PROJECT_ROOT", tmp_path / "project")
    assert load_settings(environ={}).db_timezone == "UTC"
    assert load_settings(environ={}).env_file is None
    monkeypatch.setattr(settings_module, "PROJECT_ROOT", tmp_path)
    assert load_settings(environ={}).env_file == tmp_path / ".env"
    assert load_settings(environ={}).db_timezone == "Asia/Kolkata"


def test_a_child_given_settings_reads_no_env_file(tmp_path, monkeypatch):
    from user_failure_stats import settings as settings_module

    (tmp_path / ".env").write_text("DB_TIMEZONE=Asia/Kolkata\nREPORT_TIMEZONE=Bad/Zone\n")
    monkeypatch.setattr(settings_module, "PROJECT_ROOT", tmp_path)
    given = Settings(db_url="postgresql://u@h/db", db_timezone="UTC").as_environment()
    settings = load_settings(environ=given)
    assert (settings.db_timezone, settings.env_file) == ("UTC", None)
    assert "u@h" not in repr(settings)


def test_deeply_nested_parameter_files_are_refused_at_once(tmp_path):
    import time

    for text in ("title: " + "[" * 30_000 + "\n", "[" * 32_000):
        path = _yaml_file(tmp_path, text)
        began = time.process_time()
        with pytest.raises(ConfigError, match="each parameter takes one value"):
            load_parameters(path)
        assert time.process_time() - began < 5  # it used to take 50 s; any sane time passes


def test_a_parameter_file_that_is_no_regular_file_is_refused(tmp_path):
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_parameters(fifo)
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_parameters("/dev/zero")


@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000, "0", "-1", "1000001", "1.5", True])
def test_whole_numbers_are_ascii_digits_in_range(value):
    with pytest.raises(ConfigError, match="top_n must be a whole number from 1 to 1,000,000"):
        Parameters(top_n=value).validated()


@pytest.mark.parametrize(
    ("start", "end", "zone", "field"),
    [
        ("0001-01-01", "2025-01-01", "Etc/GMT+12", "start"),
        ("2025-01-01", "9999-12-31", "Etc/GMT+12", "end"),
        ("0001-01-01", "2025-01-01", "Asia/Kolkata", "start"),  # UTC would be year 0
        ("2025-01-01", "9999-12-31 23:00", "Etc/GMT+12", "end"),  # UTC would be year 10000
        ("0001-01-01T00:00+05:00", "2025-01-01", "UTC", "start"),
    ],
)
def test_bounds_outside_the_years_a_report_covers_are_refused(start, end, zone, field):
    params = Parameters(start=start, end=end, timezone=zone)
    with pytest.raises(ConfigError, match=f"{field} .* is outside the years 1900 to 2999") as error:
        resolve_window(params, "UTC")
    assert error.value.field == field


@pytest.mark.parametrize("now", ["0001-01-01", "9999-12-31", "1899-12-31"])
def test_a_now_outside_the_years_is_refused(now):
    with pytest.raises(ConfigError, match="outside the years 1900 to 2999"):
        resolve_window(Parameters(window="yesterday", timezone="Asia/Tokyo"), "UTC", now=now)


def test_the_first_day_of_1900_is_a_window_in_any_zone():
    params = Parameters(start="1900-01-01", end="1900-01-02", timezone="Asia/Kolkata")
    assert resolve_window(params, "UTC").length_text() == "1 day"


def test_a_bound_in_a_spring_forward_gap_is_explained():
    params = Parameters(
        start="2025-03-09 02:30", end="2025-03-09 03:30", timezone="America/New_York"
    )
    with pytest.raises(ConfigError, match="02:30:00 does not exist in America/New_York"):
        resolve_window(params, "UTC")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start: '2025-05-21'\nstart: '2025-05-22'\n", "gives 'start' twice"),
        ("title: !!binary aGVsbG8=\n", "uses a YAML tag"),
        ("title: !!python/object:os.system x\n", "uses a YAML tag"),
    ],
)
def test_duplicate_names_and_tags_in_parameter_files_are_refused(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_parameters(_yaml_file(tmp_path, text))


def test_an_env_file_may_be_a_pipe(tmp_path):
    import os

    read, write = os.pipe()
    os.write(write, b"DB_TIMEZONE=Asia/Kolkata\n")
    os.close(write)
    try:
        settings = load_settings(f"/dev/fd/{read}", environ={})
    finally:
        os.close(read)
    assert settings.db_timezone == "Asia/Kolkata"
    # A pipe's folder (/dev/fd) is no place for reports: a relative one is the command's.
    assert settings.output_dir == Path.cwd() / "reports"
    assert load_settings("/dev/null", environ={}).output_dir == Path.cwd() / "reports"


@pytest.mark.parametrize("folder", ["/dev/fd", "/proc/self/fd", "/dev/../proc/self/fd"])
def test_a_file_given_as_a_descriptor_puts_relative_reports_where_the_command_runs(
    tmp_path, monkeypatch, folder
):
    # --env-file /dev/stdin < file.env: the name leads to a regular file, but its folder is
    # the system's (/dev is lost at reboot, /proc/self/fd cannot hold folders).
    env = tmp_path / "saved.env"
    env.write_text("OUTPUT_DIR=rel-out\n")
    monkeypatch.chdir(tmp_path / "..")
    with env.open() as opened:
        settings = load_settings(f"{folder}/{opened.fileno()}", environ={})
    assert settings.output_dir == tmp_path.parent / "rel-out"


@pytest.mark.parametrize(
    ("end", "text"),
    [
        ("2025-05-21 00:00:30", "30 seconds"),
        ("2025-05-21 00:00:01", "1 second"),
        ("2025-05-21 00:01", "1 minute"),
        ("2025-05-21 00:07", "7 minutes"),
    ],
)
def test_short_windows_are_named_in_the_right_unit(end, text):
    assert window("2025-05-21", end).length_text() == text


@pytest.mark.parametrize(
    "value",
    [
        "https://reports.example.com/r?sig=S3CR3T",
        "https://reports.example.com/r#S3CR3T",
        "https://user:S3CR3T@reports.example.com/r",
        "ftp://reports.example.com/r",
        "reports.example.com/r",
        "https://reports.example.com/\x1b[2J",
        "https://[::1/r",  # urlsplit: "Invalid IPv6 URL"
    ],
)
def test_a_link_url_with_a_secret_or_no_address_is_refused(value, tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(_empty_env(tmp_path), environ={"PUBLISH_LINK_URL": value})
    assert "S3CR3T" not in str(caught.value)
    assert str(caught.value).startswith("PUBLISH_LINK_URL must be the http(s):// address")


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("CONNECT_TIMEOUT_SECONDS", "0.5", "a whole number of seconds from 1 to 86,400, got '0.5'"),
        ("CONNECT_TIMEOUT_SECONDS", "0", "a whole number of seconds from 1 to 86,400, got '0'"),
        ("STATEMENT_TIMEOUT_SECONDS", "0", "a number of seconds above 0, up to 86,400, got '0'"),
    ],
)
def test_a_timeout_out_of_range_says_what_is_allowed(tmp_path, key, value, says):
    with pytest.raises(ConfigError) as caught:
        load_settings(_empty_env(tmp_path), environ={key: value})
    assert str(caught.value) == f"{key} must be {says}"


def test_an_env_file_that_is_a_folder_or_cannot_be_parsed_is_one_line(tmp_path, capfd):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})
    assert str(caught.value) == f"env file {tmp_path} is a folder, not a file"
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "missing.env", environ={})
    assert str(caught.value) == f"env file {tmp_path / 'missing.env'} does not exist"
    broken = tmp_path / "broken.env"
    broken.write_text('DB_TIMEZONE=UTC\nDB_URL="postgresql://u:s3cr3t@h/db\nOUTPUT_DIR=x\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(broken, environ={})
    assert str(caught.value) == (
        f"env file {broken}: line 2 is not KEY=value (an unclosed quote?); nothing of it is used"
    )
    assert capfd.readouterr() == ("", "")  # python-dotenv's own warning is not shown


@pytest.mark.parametrize(
    "line",
    [
        "REPORT_TIMEZONE=${DB_URL}",
        "DB_TIMEZONE=${DB_URL}",
        "DEFAULT_WINDOW=${DB_URL}",
        "START_DATE=${DB_URL}",
        "STATEMENT_TIMEOUT_SECONDS=${DB_URL}",
        "OUTPUT_DIR=/tmp/x_${DB_URL}",
        "OUTPUT_DIR=/srv/Hunter2Pass",
        "PUBLISH_LINK_URL=https://x.example/${ENDPOINT_KEY}",
        "DEFAULT_WINDOW=${AWS_SECRET_ACCESS_KEY}",
        "NOTIFY_URLS=json://127.0.0.1:8/hook/${DB_URL}",  # sent whole to the service
        "NOTIFY_URLS=json://h/a json://h/Hunter2Pass",
        "NOTIFY_URLS=json://h/?key=${ENDPOINT_KEY}",
    ],
)
def test_a_setting_that_holds_another_settings_secret_is_refused_unshown(tmp_path, line):
    # python-dotenv expands ${VAR}; a value pasted on the wrong line does the same. The
    # message that would quote the value would show the secret: it names the key only.
    env = tmp_path / ".env"
    env.write_text(
        "DB_URL=postgresql://sekretrole:Hunter2Pass@db.example.com/calls\n"
        "ENDPOINT_KEY=k3y-0123456789abcdef\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI\n" + line + "\n"
    )
    key = line.partition("=")[0]
    with pytest.raises(ConfigError) as caught:
        load_settings(env, environ={})
    assert str(caught.value) == (
        f"{key} holds a secret of another setting (a password or key): check the .env, where "
        "${NAME} takes another setting's value"
    )
    assert caught.value.field == key


@pytest.mark.parametrize(
    ("url", "line"),
    [
        ("postgresql://u@/db?host=/s&password=Sup3rSecretPw", "OUTPUT_DIR=/tmp/out-${DB_URL}"),
        ("postgresql://reporting_svc_role@/postgres", "REPORT_TIMEZONE=${DB_URL}"),
        ("postgresql://u@h/db", "REPORT_TIMEZONE=${PGPASSWORD}"),
        ("postgresql://u@h/db\nPGPASSWORD=DotenvPassw0rd", "REPORT_TIMEZONE=${PGPASSWORD}"),
        ("postgresql://reporting_svc_role@h/db", "REPORT_TIMEZONE=${PGUSER}"),
        ("postgresql://h/db?user=reporting_svc_role", "DEFAULT_WINDOW=reporting_svc_role"),
    ],
)
def test_a_setting_that_holds_the_urls_whole_password_or_role_is_refused(
    tmp_path, monkeypatch, url, line
):
    # The password in the query, PGPASSWORD (python-dotenv expands the environment's too),
    # the whole URL, or the role's name as the whole value.
    monkeypatch.setenv("PGPASSWORD", "EnvPassword123")
    monkeypatch.setenv("PGUSER", "reporting_svc_role")
    for name in ("DB_URL", "OUTPUT_DIR", "DB_TIMEZONE"):  # the test session's own
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / ".env"
    env.write_text(f"DB_URL={url}\n{line}\n")
    key = line.partition("=")[0]
    with pytest.raises(ConfigError) as caught:
        load_settings(env, environ=dict(os.environ))
    assert caught.value.field == key, str(caught.value)
    for secret in ("Sup3rSecretPw", "EnvPassword123", "reporting_svc_role", "DotenvPassw0rd"):
        assert secret not in str(caught.value)


@pytest.mark.parametrize("key", ["OUTPUT_DIR", "START_DATE", "END_DATE", "DB_TIMEZONE"])
def test_a_nul_in_any_setting_is_one_line(tmp_path, monkeypatch, key):
    # A .env can hold one (the environment cannot): a path or the kernel's environment
    # would fail on it later, as an unexpected error.
    for name in ("DB_URL", "OUTPUT_DIR", "DB_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / ".env"
    env.write_bytes(f"DB_URL=postgresql://u@h/db\n{key}=a\x00b\n".encode())
    with pytest.raises(ConfigError) as caught:
        load_settings(env, environ={})
    assert str(caught.value) == f"{key} must not hold a NUL character"
    assert caught.value.field == key


def test_an_env_file_of_more_than_a_mebibyte_is_refused(tmp_path):
    big = tmp_path / "big.env"
    big.write_text("# padding\n" * 120_000)
    with pytest.raises(ConfigError, match=r"^env file .*big\.env is larger than 1024 KiB"):
        load_settings(big, environ={})


def test_an_env_file_pipe_whose_writer_never_finishes_is_given_up(tmp_path, monkeypatch):
    import os

    from user_failure_stats import env_file as module

    monkeypatch.setattr(module, "ENV_FILE_WAIT_SECONDS", 0.5)
    fifo = tmp_path / "env"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # a writer that never closes (a stuck secrets helper)
    try:
        os.write(writer, b"DB_URL=postgresql://h/db\n")
        with pytest.raises(ConfigError) as caught:
            load_settings(fifo, environ={})
    finally:
        os.close(writer)
    assert str(caught.value) == (
        f"env file {fifo} did not finish within 0.5 s: is it a pipe whose writer is stuck?"
    )
    with pytest.raises(ConfigError, match=r"did not finish within 0\.5 s"):
        load_settings(fifo, environ={})  # no writer ever comes


def test_an_env_file_pipe_is_read_when_its_writer_finishes_and_is_bounded(tmp_path):
    import os
    import threading

    fifo = tmp_path / "env"
    os.mkfifo(fifo)

    def write(data: bytes):
        try:
            with open(fifo, "wb") as handle:
                handle.write(data)
        except BrokenPipeError:
            pass  # the reader gave up at the bound

    feeder = threading.Thread(target=write, args=(b"DB_TIMEZONE=Asia/Kolkata\n",))
    feeder.start()
    assert load_settings(fifo, environ={}).db_timezone == "Asia/Kolkata"
    feeder.join()
    feeder = threading.Thread(target=write, args=(b"# padding\n" * 200_000,))
    feeder.start()
    with pytest.raises(ConfigError, match=r"^env file .*env is larger than 1024 KiB"):
        load_settings(fifo, environ={})
    feeder.join()
    with pytest.raises(ConfigError, match=r"^env file /dev/zero is larger than 1024 KiB"):
        load_settings("/dev/zero", environ={})  # endless


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("postgresql://reader@/db?host=/s", "Report LongPgpassSecret"),  # the password file's
        ("postgresql://reader@/db?service=reports", "Report sv3cretpw"),  # a service file's
        ("postgresql://reader:hunt3r@/db?host=/s", "Report hunt3r"),  # as short as hidden
        ("postgresql://reader:caf%C3%A9secret99@/db", "Report cafe\u0301secret99"),  # NFD
        ("postgresql://reader:caf%C3%A9secret99@/db", "Report caf%C3%A9SECRET99"),
    ],
)
def test_a_title_holding_any_password_libpq_may_send_is_refused(tmp_path, monkeypatch, url, title):
    # Descriptions hide every password libpq may send, from 4 characters: a title, which the
    # report, its index and its messages show, must hold none of them either.
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:*:LongPgpassSecret:x\n")
    passfile.chmod(0o600)
    services = tmp_path / "services"
    services.write_text("[reports]\nhost=/s\npassword=Sv3cretPw\n")
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    settings = Settings(db_url=url, output_dir=tmp_path / "out")
    with pytest.raises(ConfigError) as caught:
        settings.refuse_secrets(title=title, output_dir=tmp_path / "out")
    assert caught.value.field == "title"
    settings.refuse_secrets(title="Report", output_dir=tmp_path / "out")


def test_a_folder_holding_a_password_file_password_is_refused(tmp_path, monkeypatch):
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:*:LongPgpassSecret\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    settings = Settings(db_url="postgresql://reader@/db?host=/s", output_dir=tmp_path / "out")
    with pytest.raises(ConfigError) as caught:
        settings.refuse_secrets(title=None, output_dir=tmp_path / "longpgpasssecret")
    assert caught.value.field == "output_dir"


def test_the_tools_own_title_and_a_home_named_like_a_short_password_are_not_refused(tmp_path):
    # user:user is a common local set-up: the default title ("User failure rates") and a
    # folder in /home/user are the tool's and the machine's words, not the password shown.
    settings = Settings(db_url="postgresql://user:user@/db?host=/s", output_dir=tmp_path)
    params = Parameters(start="2025-05-21", end="2025-05-22")
    settings.refuse_secrets(title=params.given_title, output_dir=Path("/home/user/reports"))
    with pytest.raises(ConfigError):
        settings.refuse_secrets(title=Parameters(title="Calls of user").given_title)


@pytest.mark.parametrize(
    "line",
    [
        "DB_URL=postgresql://u:pw@/${ENDPOINT_KEY}?host=/s",
        "DB_URL=postgresql://u:pw@${AZURE_STORAGE_ACCOUNT_KEY}/db",
        # libpq repeats an option's bad value, or name, in its message
        "DB_URL=postgresql://u:pw@/db?host=/s&sslmode=${ENDPOINT_KEY}",
        "DB_URL=postgresql://u:pw@/db?host=/s&target_session_attrs=${ENDPOINT_KEY}",
        "DB_URL=postgresql://u:pw@/db?host=/s&${ENDPOINT_KEY}=1",
        "DB_URL=postgresql://u:pw@/db?host=/s&service=${AZURE_STORAGE_ACCOUNT_KEY}",
    ],
)
def test_a_database_url_that_shows_another_settings_key_is_refused_unshown(
    tmp_path, monkeypatch, line
):
    # The database, host and port are shown in every message: another key expanded there by
    # python-dotenv would be shown with them.
    for name in ("DB_URL", "OUTPUT_DIR", "DB_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / ".env"
    keys = "ENDPOINT_KEY=KkKkKkKkKkKkKkKk1234\nAZURE_STORAGE_ACCOUNT_KEY=AzAzAzAzKey99\n"
    env.write_text(f"{keys}{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(env, environ={})
    assert caught.value.field == "DB_URL"
    assert "KkKk" not in str(caught.value) and "AzAz" not in str(caught.value)


@pytest.mark.parametrize(
    "line", ["dbname=AzAzAzAzKey99", "host=/s/AzAzAzAzKey99", "options=-c x=1"]
)
def test_a_service_file_that_shows_another_settings_key_is_refused_unshown(
    tmp_path, monkeypatch, line
):
    # The service's database and host are shown as DB_URL's are, and the server names them.
    for name in ("DB_URL", "OUTPUT_DIR", "DB_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    services = tmp_path / "services"
    services.write_text(f"[svc]\n{line}\n")
    env = tmp_path / ".env"
    env.write_text(
        "AZURE_STORAGE_ACCOUNT_KEY=AzAzAzAzKey99\nDB_URL=postgresql://u:pw@/?service=svc\n"
    )
    if "AzAz" not in line:  # an ordinary service file
        assert load_settings(env, environ={"PGSERVICEFILE": str(services)}).db_url
        return
    with pytest.raises(ConfigError) as caught:
        load_settings(env, environ={"PGSERVICEFILE": str(services)})
    assert caught.value.field == "DB_URL"
    assert "AzAz" not in str(caught.value)


@pytest.mark.parametrize("key", ["DB_URL", "OUTPUT_DIR", "NOTIFY_URLS", "REPORT_TIMEZONE"])
def test_a_setting_of_bytes_that_are_no_utf8_is_one_line(tmp_path, monkeypatch, key):
    # DB_URL=$'postgresql://u:\xff@...' in a shell: Python holds the byte as a lone surrogate.
    for name in ("DB_URL", "OUTPUT_DIR", "DB_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    environ = {"DB_URL": "postgresql://u@/db?host=/s", key: "postgresql://u:\udcff@/x"}
    with pytest.raises(ConfigError) as caught:
        load_settings("/dev/null", environ=environ)
    assert str(caught.value) == f"{key} must be UTF-8 text"
    assert caught.value.field == key
