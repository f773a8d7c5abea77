import os
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from user_failure_stats.errors import ConfigError
from user_failure_stats.params import Parameters, load_parameters, resolve_window
from user_failure_stats.settings import Settings, check_db_url, describe_database, load_settings

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


def test_secrets_stay_out_of_descriptions():
    url = f"postgresql://reader:{SECRET}@db.example.com:5433/telephony"
    assert describe_database(url) == "db.example.com:5433/telephony"
    assert SECRET not in repr(Settings(db_url=url))
    assert "reader" not in repr(Settings(db_url=url))
    with pytest.raises(ConfigError) as error:
        load_settings(None, environ={"DB_URL": f"mysql://reader:{SECRET}@h/db"})
    assert SECRET not in str(error.value)


URLS = [
    "postgresql://u:p@h/db",
    "postgresql+psycopg2://u:p@h:5432/db?sslmode=require",
    "postgresql:///db?host=/var/run/postgresql",
    "postgresql://u:p@[::1]:5432/db",
    "postgresql://u:p%40x@h/db",
    "postgresql://u:p@h:0/tele%20phony",
    "postgresql://u:p@/db?host=",
    "postgresql://h:notaport/db",
    "postgresql://h:/db",
    "postgresql://h: 5432/db",
    "postgresql://h:1_2/db",
    "postgres://u@h/db",
    "PostgreSQL://h/db",
    "mysql://u:p@h/db",
    "sqlite:///x.db",
    "postgresql:/h/db",
    "://h/db",
    "not a url",
    "",
]


def _verdict_of_sqlalchemy(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "invalid"
    if (parsed.host and "@" in parsed.host) or url.count("@") > 1:
        return "ambiguous"
    return "ok" if parsed.get_backend_name() in ("postgresql", "postgres") else "not postgresql"


def _verdict_of_check(url: str) -> str:
    from user_failure_stats.settings import check_db_url

    try:
        check_db_url(url)
    except ConfigError as exc:
        if "must point to PostgreSQL" in str(exc):
            return "not postgresql"
        return "ambiguous" if "ambiguous" in str(exc) else "invalid"
    return "ok"


@pytest.mark.parametrize("url", URLS)
def test_db_url_check_agrees_with_sqlalchemy(url):
    assert _verdict_of_check(url) == _verdict_of_sqlalchemy(url)


def _description_by_sqlalchemy(url: str) -> str:
    from sqlalchemy.engine import make_url

    if url.count("@") > 1:
        scheme, _, rest = url.partition("://")
        url = f"{scheme}://{rest.rsplit('@', 1)[-1]}"
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001
        return "(unparsable DB_URL)"
    host = parsed.host.rsplit("@", 1)[-1] if parsed.host else None
    port = f"{parsed.port}" if parsed.port else ""
    database = parsed.database or ""
    query = {k: (v if isinstance(v, str) else ", ".join(v)) for k, v in parsed.query.items()}
    folder, address, service = query.get("host"), query.get("hostaddr"), query.get("service")
    host = host or folder
    if not host and not address and service:
        return f"service {service}" + (f"/{database}" if database else "")
    if not host and not address:
        return f"{database or '(default)'} (default socket" + (f", port {port})" if port else ")")
    if host and host.startswith("/"):
        return f"{database or '(default)'} (socket {host}" + (f":{port})" if port else ")")
    port = f":{port}" if port else ""
    if host and address:
        return f"{host}{port}/{database} (address {address})"
    return f"{host or address}{port}/{database}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql:///?service=reports", "service reports"),
        ("postgresql://reader:secret@/calls?service=reports", "service reports/calls"),
        ("postgresql:///calls?host=/run/postgresql", "calls (socket /run/postgresql)"),
        ("postgresql://u:secret@:5433/calls?host=/tmp/pg", "calls (socket /tmp/pg:5433)"),
        ("postgresql://u:secret@db.example.com/calls?service=x", "db.example.com/calls"),
        ("postgresql:///calls?host=127.0.0.1&port=1", "127.0.0.1:1/calls"),
        ("postgresql:///calls?hostaddr=10.0.0.7", "10.0.0.7/calls"),
        ("postgresql:///calls?host=/tmp/a&host=/tmp/b", "calls (socket /tmp/a, /tmp/b)"),
        ("postgresql:///calls?host=db1,db2&port=5433", "db1,db2:5433/calls"),
        # No host at all, or an empty one: libpq takes the default socket, not localhost.
        ("postgresql:///calls", "calls (default socket)"),
        ("postgresql://u:secret@/calls?host=", "calls (default socket)"),
        ("postgresql://:5433/calls", "calls (default socket, port 5433)"),
        ("postgresql:///", "(default) (default socket)"),
        # A host and an address: libpq connects to the address.
        ("postgresql://h/db?hostaddr=1.2.3.4", "h/db (address 1.2.3.4)"),
        ("postgresql://u:p@h:5433/db?hostaddr=::1", "h:5433/db (address ::1)"),
        ("postgresql:///db?host=h&hostaddr=1.2.3.4", "h/db (address 1.2.3.4)"),
    ],
)
def test_a_service_or_a_socket_is_named_for_what_it_is(url, shown, monkeypatch):
    for name in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)
    assert describe_database(url) == shown


@pytest.mark.parametrize(
    ("environ", "shown"),
    [
        ({"PGHOST": "db.internal"}, "db.internal/calls"),
        ({"PGHOST": "/run/postgresql", "PGPORT": "5433"}, "calls (socket /run/postgresql:5433)"),
        ({"PGHOSTADDR": "10.0.0.7"}, "10.0.0.7/calls"),
        ({"PGSERVICE": "reports"}, "service reports/calls"),
    ],
)
def test_a_url_without_a_host_is_described_by_libpqs_environment(environ, shown, monkeypatch):
    for name in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert describe_database("postgresql://u:secret@/calls") == shown
    port = ":5433" if "PGPORT" in environ else ""  # libpq's default port, where none is given
    assert describe_database("postgresql://u:secret@elsewhere/calls") == f"elsewhere{port}/calls"


@pytest.mark.parametrize("url", URLS)
def test_db_url_description_agrees_with_sqlalchemy(url):
    from sqlalchemy.engine import make_url

    if url:
        assert describe_database(url) == _description_by_sqlalchemy(url)
    if _verdict_of_sqlalchemy(url) != "invalid":  # the engine's URL object, too
        assert describe_database(make_url(url)) == _description_by_sqlalchemy(url)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="postgresqlmy+:/@[]?=%_ 0123456789.hdbu", max_size=40))
def test_db_url_check_agrees_with_sqlalchemy_on_anything(url):
    assert _verdict_of_check(url) == _verdict_of_sqlalchemy(url)
    if url:
        assert describe_database(url) == _description_by_sqlalchemy(url)


@settings(max_examples=300, deadline=None)
@given(
    user=st.text(alphabet="ab@:%", max_size=6),
    password=st.text(alphabet="xy@:/?#%", max_size=8),
)
def test_nothing_left_of_the_last_at_is_ever_described(user, password):
    url = f"postgresql://{user}:{password}SECRET@db.example.com:5432/telephony"
    assert "SECRET" not in describe_database(url)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://reader:abc@{SECRET}@db.example.com/telephony",
        f"postgresql://reader:abc@{SECRET}@/telephony",
        f"postgresql://reader:{SECRET}@x@db.example.com:5432/telephony",
        f"postgresql://reader:a@b@{SECRET}@db.example.com/telephony",
    ],
)
def test_an_unencoded_at_never_shows_the_password_and_says_how_to_encode(url):
    assert SECRET not in describe_database(url)
    assert describe_database(url) in (
        "db.example.com/telephony",
        "db.example.com:5432/telephony",
        "telephony (default socket)",
    )
    with pytest.raises(ConfigError, match="%40") as error:
        load_settings(None, environ={"DB_URL": url})
    assert SECRET not in str(error.value)


def test_an_encoded_at_is_a_password_like_any_other():
    settings = load_settings(None, environ={"DB_URL": f"postgresql://r:abc%40{SECRET}@h/db"})
    assert describe_database(settings.db_url) == "h/db"


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


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://reader:p@localhost?word@dbhost/analytics",
        "postgresql://reader:p@localhost/x?y=@dbhost",
        "postgresql://reader:p@ss@dbhost/analytics",
    ],
)
def test_every_url_with_two_unencoded_ats_is_refused(url):
    with pytest.raises(ConfigError, match="%40"):
        load_settings(None, environ={"DB_URL": url})
    assert "localhost" not in describe_database(url) and "ss" not in describe_database(url)


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


def test_a_nul_in_db_url_is_refused_as_bad_input(tmp_path):
    for url in (
        "postgresql://u:sec%00ret@localhost/db",
        "postgresql://u:secret@localhost/d%00b",
        "postgresql://u:sec\x00ret@localhost/db",
        "postgresql://u@/db?host=/tmp%00x",
    ):
        with pytest.raises(ConfigError, match="NUL character") as caught:
            check_db_url(url)
        assert caught.value.field == "DB_URL" and "secret" not in str(caught.value)


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


def test_the_database_libpq_connects_to_is_the_one_described(monkeypatch):
    monkeypatch.delenv("PGDATABASE", raising=False)
    assert describe_database("postgresql://u:p@h/calls?dbname=postgres") == "h/postgres"
    monkeypatch.setenv("PGDATABASE", "telephony")
    assert describe_database("postgresql://u:p@h") == "h/telephony"
    assert describe_database("postgresql://u:p@h/calls") == "h/calls"
    # libpq reads the query after the host: its host, port and user win, as its dbname does.
    assert describe_database("postgresql://u:p@h:5432/db?host=h1,h2&port=6543") == "h1,h2:6543/db"
    assert describe_database("postgresql://u:p@h/db?host=/run/pg") == "db (socket /run/pg)"
    assert describe_database("postgresql://db@h/db?user=other") == "h/db"


def test_a_database_named_like_its_role_is_not_named(monkeypatch):
    import getpass

    hidden = "(database named like the role)"
    monkeypatch.delenv("PGUSER", raising=False)
    assert describe_database("postgresql://a4_secret:pw@h/a4_secret") == f"h/{hidden}"
    assert describe_database("postgresql://A4_Secret@h/a4_secret") == f"h/{hidden}"
    assert describe_database("postgresql://h/other?user=other") == f"h/{hidden}"
    assert (
        describe_database(f"postgresql:///{getpass.getuser()}?host=/s") == f"{hidden} (socket /s)"
    )
    monkeypatch.setenv("PGUSER", "a4_secret")
    assert describe_database("postgresql://h/a4_secret") == f"h/{hidden}"
    assert describe_database("postgresql://h/calls") == "h/calls"
    # The default superuser's own database is no secret.
    assert describe_database("postgresql://postgres@h/postgres") == "h/postgres"


def test_several_hosts_before_the_database_are_shown_where_they_go():
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={"DB_URL": "postgresql://u:pw@h1:5433,[::1]:5433/db"})
    assert str(caught.value) == (
        "DB_URL lists several hosts before the database, which SQLAlchemy cannot read: give "
        "them in the query, postgresql://user:password@/db?host=h1:5432&host=h2:5432"
    )
    assert "pw" not in str(caught.value)
