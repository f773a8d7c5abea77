import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.seed import SEED_DB_END, SEED_DB_START, SEED_USERS
from user_failure_stats import analysis, database, inspection, queries
from user_failure_stats.errors import ConfigError, DatabaseError
from user_failure_stats.params import Parameters, resolve_window

US = timedelta(microseconds=1)
SECRET = "s3cr3t-sentinel"


def kolkata_window():
    return resolve_window(
        Parameters(start="2025-05-21", end="2025-05-23", timezone="Asia/Kolkata"), "UTC"
    )


def fetch(pg, settings_for, window=None):
    return db_counts(settings_for(pg.url), window or kolkata_window())


def db_counts(settings, window):
    return queries.fetch_user_counts(settings, window).sort_values("user_id").reset_index(drop=True)


def test_seed_users_come_back_one_row_each(pg, settings_for):
    pg.seed()
    counts = fetch(pg, settings_for)
    assert list(counts["user_id"]) == [1, 2, 3, 4, 5, 6]
    assert list(counts["total_sessions"]) == [t for *_, t in SEED_USERS]
    assert list(counts["failed_sessions"]) == [f for _, _, f, _ in SEED_USERS]
    summary = analysis.summary_statistics(analysis.failure_rates(counts))
    assert (summary.total_sessions, summary.total_failures) == (341, 82)


def test_window_is_half_open_to_the_microsecond(pg, settings_for):
    pg.users([(1, "Edge")])
    pg.calls(
        [
            {"user_id": 1, "created_on": SEED_DB_START - US},  # before: out
            {"user_id": 1, "created_on": SEED_DB_START},  # at start: in
            {"user_id": 1, "created_on": SEED_DB_END - US},  # last microsecond: in
            {"user_id": 1, "created_on": SEED_DB_END},  # at end: out
            {"user_id": 1, "created_on": SEED_DB_END + timedelta(seconds=1)},
        ]
    )
    counts = fetch(pg, settings_for)
    assert counts["total_sessions"].tolist() == [2]


def test_time_zone_conversion_moves_the_window(pg, settings_for):
    pg.users([(1, "A")])
    # 2025-05-21 00:30 in Kolkata is 2025-05-20 19:00 UTC: inside the IST window,
    # outside the same dates read as UTC.
    pg.calls([{"user_id": 1, "created_on": datetime(2025, 5, 20, 19, 0)}])
    assert fetch(pg, settings_for)["total_sessions"].tolist() == [1]
    utc = resolve_window(Parameters(start="2025-05-21", end="2025-05-23"), "UTC")
    assert fetch(pg, settings_for, utc).empty


def test_database_in_kolkata_time(pg, settings_for):
    pg.users([(1, "A")])
    pg.calls([{"user_id": 1, "created_on": datetime(2025, 5, 21, 0, 0)}])
    window = resolve_window(
        Parameters(start="2025-05-21", end="2025-05-22", timezone="Asia/Kolkata"), "Asia/Kolkata"
    )
    assert db_counts(settings_for(pg.url, db_timezone="Asia/Kolkata"), window)[
        "total_sessions"
    ].tolist() == [1]


def test_null_sessions_are_not_counted_and_empty_sids_succeed(pg, settings_for):
    pg.users([(1, "A")])
    at = SEED_DB_START + timedelta(hours=1)
    pg.calls(
        [
            {"user_id": 1, "created_on": at, "session_id": None},  # not a session
            {"user_id": 1, "created_on": at, "exotel_call_sid": None},  # failed
            {"user_id": 1, "created_on": at, "exotel_call_sid": ""},  # success
            {"user_id": 1, "created_on": at, "exotel_call_sid": "CA1"},  # success
        ]
    )
    row = fetch(pg, settings_for).iloc[0]
    assert (row.total_sessions, row.failed_sessions) == (3, 1)


def test_users_without_a_record_are_kept_and_labelled(pg, settings_for):
    pg.users([(1, "Known"), (2, None)])
    at = SEED_DB_START + timedelta(hours=1)
    pg.calls(
        [
            {"user_id": 1, "created_on": at, "exotel_call_sid": "CA"},
            {"user_id": 2, "created_on": at},
            {"user_id": 42, "created_on": at},
            {"user_id": 42, "created_on": at, "exotel_call_sid": "CA"},
            {"user_id": None, "created_on": at},
        ]
    )
    rates = analysis.failure_rates(fetch(pg, settings_for))
    assert dict(zip(rates["user_name"], rates["total_sessions"], strict=True)) == {
        "user 2": 1,
        "no user id": 1,
        "unknown user 42": 2,
        "Known": 1,
    }
    assert analysis.summary_statistics(rates).sessions_without_user_record == 3


def test_empty_window_gives_an_empty_frame_with_columns(pg, settings_for):
    counts = fetch(pg, settings_for)
    assert counts.empty
    assert list(counts.columns) == [
        "user_id",
        "name",
        "has_user_record",
        "total_sessions",
        "failed_sessions",
    ]


def test_query_binds_values_and_groups_in_the_database():
    from sqlalchemy.dialects import postgresql

    sql = str(queries.window_counts_query().compile(dialect=postgresql.dialect()))
    for name in ("previous_start", "start", "end"):
        assert f"%({name})s" in sql
    assert "2025" not in sql
    assert "GROUP BY 1, public.calllog.user_id" in sql
    assert "UNION ALL" in sql
    assert "date_bin(interval '15 minutes', public.calllog.created_on" in sql
    assert "count(*) FILTER (WHERE public.calllog.exotel_call_sid IS NULL)" in sql
    # Aggregate first, join names after.
    assert sql.index("GROUP BY 1") < sql.index("LEFT OUTER JOIN")


def test_previous_window_and_trend_come_from_the_same_query(pg, settings_for):
    pg.users([(1, "A"), (2, "B")])
    # Kolkata window 21-23 May (3 days, so daily trend); the previous window is 18-20 May.
    pg.calls(
        [
            {
                "user_id": 1,
                "created_on": datetime(2025, 5, 18, 18, 30),
            },  # first instant of previous
            {"user_id": 2, "created_on": datetime(2025, 5, 19, 6, 0), "exotel_call_sid": "CA"},
            {"user_id": 1, "created_on": SEED_DB_START - US},  # last instant of previous
            {"user_id": 1, "created_on": datetime(2025, 5, 17, 18, 30) - US},  # before both: out
            # 2025-05-20 18:29 UTC is 23:59 IST on the 20th; 18:30 UTC is 00:00 IST on the 21st.
            {"user_id": 1, "created_on": datetime(2025, 5, 20, 18, 30), "exotel_call_sid": "CA"},
            {"user_id": 2, "created_on": datetime(2025, 5, 21, 18, 29)},
            {"user_id": 2, "created_on": datetime(2025, 5, 21, 18, 30), "exotel_call_sid": "CA"},
        ]
    )
    window = resolve_window(
        Parameters(start="2025-05-21", end="2025-05-24", timezone="Asia/Kolkata"), "UTC"
    )
    counts = queries.fetch_window_counts(settings_for(pg.url), window)
    previous = counts.previous.sort_values("user_id")
    assert previous[["user_id", "total_sessions", "failed_sessions"]].values.tolist() == [
        [1, 2, 2],
        [2, 1, 0],
    ]
    current = counts.current.sort_values("user_id")
    assert current[["user_id", "total_sessions", "failed_sessions"]].values.tolist() == [
        [1, 1, 0],
        [2, 2, 1],
    ]
    # Per local day in Kolkata: the 21st holds 18:30 UTC on the 20th and 18:29 on the 21st.
    trend = analysis.trend(counts.trend, window)
    assert trend[["bucket", "total_sessions", "failed_sessions"]].values.tolist() == [
        [datetime(2025, 5, 21), 2, 1],
        [datetime(2025, 5, 22), 1, 0],
        [datetime(2025, 5, 23), 0, 0],
    ]


def test_short_windows_trend_by_hour(pg, settings_for):
    pg.users([(1, "A")])
    pg.calls(
        [
            {"user_id": 1, "created_on": SEED_DB_START},
            {"user_id": 1, "created_on": SEED_DB_START + timedelta(minutes=59)},
            {"user_id": 1, "created_on": SEED_DB_START + timedelta(minutes=60)},
        ]
    )
    counts = queries.fetch_window_counts(settings_for(pg.url), kolkata_window())
    trend = analysis.trend(counts.trend, kolkata_window())
    assert len(trend) == 48
    assert trend[["bucket", "total_sessions", "failed_sessions"]].values.tolist()[:3] == [
        [datetime(2025, 5, 21, 0, 0), 2, 2],
        [datetime(2025, 5, 21, 1, 0), 1, 1],
        [datetime(2025, 5, 21, 2, 0), 0, 0],
    ]


def test_connections_are_read_only_and_labelled(pg, settings_for):
    engine = database.make_engine(settings_for(pg.url, statement_timeout_seconds=7))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "on"
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "7s"
        assert conn.execute(sa.text("SELECT current_setting('application_name')")).scalar() == (
            "user-failure-stats"
        )
        with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
            conn.execute(sa.text("INSERT INTO public.\"user\" VALUES (1, 'x')"))


def test_statement_timeout_is_a_database_error(pg, settings_for):
    engine = database.make_engine(settings_for(pg.url, statement_timeout_seconds=0.2))
    with pytest.raises(DatabaseError, match="cancelled by the statement timeout"):
        with database.database_errors(engine), engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_sleep(2)"))


def test_a_query_cancelled_by_the_server_is_not_called_the_statement_timeout(pg, settings_for):
    # SQLSTATE 57014 is any cancel: a server function's, an administrator's, or the timeout.
    engine = database.make_engine(settings_for(pg.url, statement_timeout_seconds=30))
    with pytest.raises(DatabaseError) as caught:
        with database.database_errors(engine), engine.connect() as conn:
            conn.execute(
                sa.text(
                    "DO $$ BEGIN RAISE EXCEPTION 'stopped for the nightly maintenance' "
                    "USING ERRCODE = '57014'; END $$"
                )
            )
    assert re.fullmatch(
        r"query on ufs_test\w* \(socket \S+\) was cancelled on the server: "
        r"stopped for the nightly maintenance",
        str(caught.value),
    )


def test_unreachable_database_is_one_line_without_secrets(settings_for):
    settings = settings_for(f"postgresql://reader:{SECRET}@127.0.0.1:1/telephony")
    with pytest.raises(DatabaseError) as error:
        queries.fetch_user_counts(settings, kolkata_window())
    message = str(error.value)
    assert message == "cannot connect to the database 127.0.0.1:1/telephony: connection refused"
    assert SECRET not in message


@pytest.mark.parametrize(
    ("query", "line"),
    [
        (
            {"service": "nope"},
            'cannot connect to the database {t}: definition of service "nope" not found',
        ),
        (
            {"sslmode": "bogus\x1b[2J"},
            'cannot connect to the database {t}: invalid sslmode value: "bogus\\x1b[2J"',
        ),
        ({"frobnicate": "1"}, 'cannot use DB_URL for {t}: invalid connection option "frobnicate"'),
    ],
)
def test_a_connection_libpq_refuses_says_why_in_its_words(
    settings_for, db_url, tmp_path, monkeypatch, query, line
):
    from user_failure_stats.db_url import describe_database

    (tmp_path / "services").write_text("[other]\nhost=nowhere\n")
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "services"))
    url = sa.make_url(db_url).update_query_dict(query).render_as_string(hide_password=False)
    with pytest.raises(DatabaseError) as error:
        queries.fetch_user_counts(settings_for(url), kolkata_window())
    assert str(error.value) == line.format(t=describe_database(url))


def test_missing_table_is_named(pg, settings_for, db_url):
    url = sa.make_url(db_url).set(database="postgres").render_as_string(hide_password=False)
    with pytest.raises(DatabaseError, match='relation "public.calllog" does not exist'):
        queries.fetch_user_counts(settings_for(url), kolkata_window())
    assert inspection.missing_columns(database.make_engine(settings_for(url))) == [
        "public.calllog",
        'public."user"',
    ]
    assert inspection.missing_columns(database.make_engine(settings_for(db_url))) == []


def test_a_window_in_the_repeated_hour_of_a_dst_database_counts_that_hour(pg, cli_env, tmp_path):
    # created_on in New York wall time; clocks fall back at 02:00 EDT on 2 November 2025.
    pg.users([(1, "A")])
    pg.calls(
        {"session_id": f"s{i}", "user_id": 1, "created_on": datetime(2025, 11, 2, *hm)}
        for i, hm in enumerate([(0, 59), (1, 5), (1, 45), (2, 0)])
    )
    args = ["run", "--start", "2025-11-02 01:30-04:00", "--end", "2025-11-02 01:10-05:00"]
    args += ["--timezone", "America/New_York", "--output-dir", "o", "-q"]
    from tests.helpers import run_cli

    result = run_cli(args, cli_env(pg.url, DB_TIMEZONE="America/New_York"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: the window's") == 2
    assert "occur twice in DB_TIMEZONE America/New_York" in result.stderr
    (path,) = (tmp_path / "o").glob("user_failure_stats_*.csv")
    assert path.read_text().splitlines()[1].startswith("A,2,2,0,")  # 01:05 and 01:45
    (page,) = (tmp_path / "o").glob("user_failure_rates_*.html")
    assert "wall times that occur twice" in page.read_text()


def test_bounds_off_the_15_minute_grid_cut_the_trend_and_the_data_quality_exactly(pg, settings_for):
    # 10:07 to 12:52 UTC: the first and last 15-minute bins are cut by the window's bounds.
    pg.users([(1, "A")])
    start, end = datetime(2025, 5, 21, 10, 7), datetime(2025, 5, 21, 12, 52)
    inside = [start, start + timedelta(minutes=3), end - US]
    outside = [start - US, datetime(2025, 5, 21, 10, 0), end, datetime(2025, 5, 21, 12, 59)]
    pg.calls(
        [{"user_id": 1, "created_on": t} for t in inside + outside]
        + [{"user_id": 1, "created_on": t, "exotel_call_sid": ""} for t in (start, end)]
        + [{"user_id": None, "created_on": t} for t in (end - US, end)]
        + [{"session_id": None, "user_id": 1, "created_on": t} for t in (start, start - US)]
        # Not a session: neither an empty SID nor a missing user id counts as a session's.
        + [{"session_id": None, "user_id": None, "exotel_call_sid": "", "created_on": start}]
    )
    window = resolve_window(
        Parameters(start="2025-05-21 10:07", end="2025-05-21 12:52", timezone="UTC"), "UTC"
    )
    counts = queries.fetch_window_counts(settings_for(pg.url), window)
    assert counts.current["total_sessions"].sum() == 5  # 3 inside, 1 empty SID, 1 no user id
    trend = analysis.trend(counts.trend, window)
    assert trend[["bucket", "total_sessions", "failed_sessions"]].values.tolist() == [
        [datetime(2025, 5, 21, 10, 0), 3, 2],  # 10:07, 10:07 (empty SID), 10:10
        [datetime(2025, 5, 21, 11, 0), 0, 0],
        [datetime(2025, 5, 21, 12, 0), 2, 2],  # 12:51:59.999999 twice
    ]
    quality = queries.fetch_data_quality(settings_for(pg.url), window)
    assert quality == {
        "rows_in_window": 7,
        "rows_without_session_id": 2,
        "sessions_with_empty_sid": 1,
        "sessions_without_user_id": 1,
    }


def test_data_quality_of_a_database_without_the_call_log_is_a_database_error(admin_url):
    from user_failure_stats.settings import Settings

    window = resolve_window(Parameters(start="2025-05-21", end="2025-05-22"), "UTC")
    with pytest.raises(DatabaseError, match="calllog"):
        queries.fetch_data_quality(Settings(db_url=admin_url), window)


def test_session_details_are_the_window_s_sessions_in_time_order_up_to_the_limit(pg, settings_for):
    pg.users([(1, "A")])
    at = datetime(2025, 5, 21, 10, 0)
    pg.calls(
        [
            {"session_id": "b", "user_id": 1, "created_on": at},  # a tie: by session id
            {"session_id": "a", "user_id": 1, "created_on": at},
            {"session_id": "c", "user_id": 1, "created_on": at - timedelta(hours=1)},
            {"session_id": None, "user_id": 1, "created_on": at - timedelta(hours=2)},  # no session
            {"session_id": "z", "user_id": 1, "created_on": datetime(2025, 5, 22)},  # after the end
        ]
    )
    window = resolve_window(Parameters(start="2025-05-21", end="2025-05-22"), "UTC")
    settings = settings_for(pg.url)
    rows, truncated = queries.fetch_session_details(settings, window, 3)
    assert [row["session_id"] for row in rows] == ["c", "a", "b"] and truncated is False
    rows, truncated = queries.fetch_session_details(settings, window, 2)
    assert [row["session_id"] for row in rows] == ["c", "a"] and truncated is True


HOSTILE_ROLE = "ufs_hostile_path"
HOSTILE_SCHEMA = """
DROP SCHEMA IF EXISTS evil CASCADE;
CREATE SCHEMA evil;
-- Every timestamp is "before" and "at or after" every other: all rows fall in any window.
CREATE FUNCTION evil.always(timestamp, timestamp) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.< (LEFTARG = timestamp, RIGHTARG = timestamp, FUNCTION = evil.always);
CREATE OPERATOR evil.>= (LEFTARG = timestamp, RIGHTARG = timestamp, FUNCTION = evil.always);
-- Every user is called the same, and every date_bin lands on one bin.
CREATE FUNCTION evil.pick(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT ''Mallory''';
CREATE AGGREGATE evil.min(text) (SFUNC = evil.pick, STYPE = text);
CREATE FUNCTION evil.date_bin(interval, timestamp, timestamp) RETURNS timestamp
    LANGUAGE sql IMMUTABLE AS 'SELECT timestamp ''2000-01-01''';
CREATE FUNCTION evil.current_setting(text) RETURNS text LANGUAGE sql AS 'SELECT ''999999''';
"""


@pytest.fixture
def hostile_role(pg):
    """A login role whose default search_path puts a schema of look-alikes before pg_catalog."""
    admin = sa.create_engine(database.driver_url(pg.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {HOSTILE_ROLE} LOGIN"))
        conn.exec_driver_sql(HOSTILE_SCHEMA)
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public, evil TO {HOSTILE_ROLE}"))
        conn.execute(sa.text(f'GRANT SELECT ON public.calllog, public."user" TO {HOSTILE_ROLE}'))
        conn.execute(
            sa.text(f"ALTER ROLE {HOSTILE_ROLE} SET search_path = evil, pg_catalog, public")
        )
    url = database.driver_url(pg.url).set(username=HOSTILE_ROLE)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS evil CASCADE"))
            conn.execute(sa.text(f"DROP OWNED BY {HOSTILE_ROLE}"))
            conn.execute(sa.text(f"DROP ROLE {HOSTILE_ROLE}"))
        admin.dispose()


def test_a_role_search_path_cannot_change_what_is_counted(pg, settings_for, hostile_role):
    pg.seed()
    pg.calls(
        [
            {"user_id": 1, "created_on": SEED_DB_END},
            {"user_id": 2, "created_on": datetime(2020, 1, 1)},
        ]
    )
    expected = fetch(pg, settings_for)
    settings = settings_for(hostile_role)
    counts = db_counts(settings, kolkata_window())
    assert counts.equals(expected)
    assert list(counts["name"]) == [n for _, n, *_ in SEED_USERS]
    assert int(counts["total_sessions"].sum()) == 341
    window = queries.fetch_window_counts(settings, kolkata_window())
    assert window.trend["total_sessions"].sum() == 341
    assert len(window.trend) > 1
    assert queries.fetch_data_quality(settings, kolkata_window())["rows_in_window"] == 341
    rows, _ = queries.fetch_session_details(settings, kolkata_window(), 1_000)
    assert len(rows) == 341
    assert database.server_version(database.make_engine(settings)) != "999999"


def test_a_login_trigger_cannot_undo_what_the_session_pins(pg, settings_for, hostile_role):
    # PostgreSQL 17's login event triggers run after the startup options: one that puts the
    # look-alikes first again, moves the time zone and allows writes changes nothing.
    admin = sa.create_engine(database.driver_url(pg.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.dialect.server_version_info < (17,):
            pytest.skip("login event triggers need PostgreSQL 17")
        conn.execute(sa.text(f"ALTER ROLE {HOSTILE_ROLE} RESET search_path"))
        conn.exec_driver_sql(
            f"""
            CREATE FUNCTION evil.on_login() RETURNS event_trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF session_user = '{HOSTILE_ROLE}' THEN
                    PERFORM set_config('search_path', 'evil, pg_catalog, public', false);
                    PERFORM set_config('TimeZone', 'Pacific/Kiritimati', false);
                    PERFORM set_config('default_transaction_read_only', 'off', false);
                END IF;
            END $$;
            CREATE EVENT TRIGGER ufs_hostile_login ON login EXECUTE FUNCTION evil.on_login();
            """
        )
    try:
        pg.seed()
        expected = fetch(pg, settings_for)
        settings = settings_for(hostile_role)
        assert db_counts(settings, kolkata_window()).equals(expected)
        engine = database.make_engine(settings)
        with engine.connect() as conn:
            shown = conn.exec_driver_sql(
                "SELECT current_setting('search_path'), current_setting('TimeZone'), "
                "current_setting('transaction_read_only')"
            ).one()
        engine.dispose()
        assert tuple(shown) == ("pg_catalog,pg_temp", "UTC", "on")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP EVENT TRIGGER IF EXISTS ufs_hostile_login")
        admin.dispose()


ROLE_IN_MESSAGE = """
CREATE TABLE public."user" (user_id bigint PRIMARY KEY, name text);
CREATE FUNCTION public.remote_calls() RETURNS TABLE (
    session_id text, user_id bigint, exotel_call_sid text, created_on timestamp
) LANGUAGE plpgsql AS $$
BEGIN
    -- What postgres_fdw says when the role has no user mapping on the remote server.
    RAISE EXCEPTION 'user mapping not found for user "%", server "calls"', current_user;
END $$;
CREATE VIEW public.calllog AS SELECT * FROM public.remote_calls();
"""


@pytest.mark.parametrize(
    "raised",
    [
        'user mapping not found for user "%", server "calls"',
        'role "%" does not exist',
        "permission denied for %",
        "%: not allowed",
        'must be member of role "%"',
        "denied for % in any case",
        "line one\nline two for % " + "x" * 10_000,
    ],
)
def test_a_server_message_never_names_the_role(scratch_db, settings_for, raised):
    sql = ROLE_IN_MESSAGE.replace('user mapping not found for user "%", server "calls"', raised)
    if "any case" in raised:
        sql = sql.replace("', current_user", "', upper(current_user)")
    url = scratch_db("ufs_role_in_message", sql.replace("%", "%%"))  # the driver's escape
    role = sa.make_url(url).username
    with pytest.raises(DatabaseError) as caught:
        queries.fetch_user_counts(settings_for(url), kolkata_window())
    message = str(caught.value)
    assert message.startswith("query on ")
    assert role.lower() not in message.lower()
    fixed = raised.replace("%", "").strip('" :,')
    assert fixed.split()[0] in message  # the rest of the server's words stay
    assert "\n" not in message and len(message) < 400  # one bounded line


@pytest.mark.parametrize("zone", ["right/UTC", "Mars/Olympus_Mons"])
def test_a_zone_the_server_does_not_know_is_a_bad_setting_not_a_lost_connection(
    pg, settings_for, zone
):
    # Settings built directly skip the tool's own check: this is the server's answer.
    with pytest.raises(ConfigError) as caught:
        queries.fetch_user_counts(settings_for(pg.url, db_timezone=zone), kolkata_window())
    assert str(caught.value) == (
        "DB_TIMEZONE: the database server does not know this time zone (its names are in "
        "pg_timezone_names): use an IANA name such as Asia/Kolkata"
    )
    assert caught.value.field == "DB_TIMEZONE"


def test_the_role_is_hidden_however_the_url_names_it(scratch_db, settings_for, monkeypatch):
    # The user in the query (?user=), or in PGUSER, or switched to by the role's settings.
    sql = ROLE_IN_MESSAGE.replace(
        'user mapping not found for user "%", server "calls"', "calls are closed to %"
    )
    url = sa.make_url(scratch_db("ufs_role_elsewhere", sql.replace("%", "%%")))
    role = url.username
    bare = sa.URL.create(url.drivername, database=url.database, query=dict(url.query))
    in_query = bare.update_query_dict({"user": role})
    for given in (in_query, bare):
        monkeypatch.setenv("PGUSER", role)
        with pytest.raises(DatabaseError) as caught:
            queries.fetch_user_counts(
                settings_for(given.render_as_string(hide_password=False)), kolkata_window()
            )
        assert role not in str(caught.value), str(caught.value)
        assert str(caught.value).endswith("failed: calls are closed to (role)")


def test_a_password_in_the_servers_words_is_hidden(scratch_db, settings_for, tmp_path, monkeypatch):
    # A hostile server (or a pooler in front of it) sees the password with pg_hba's
    # "password" method: its message never passes it on, from the URL (decoded or not),
    # PGPASSWORD, a service file or the password file.
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:*:Pass\\:File9\n")
    passfile.chmod(0o600)
    services = tmp_path / "services"
    services.write_text(f"[calls]\npassword=Service_Pw7\npassfile={passfile}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.setenv("PGPASSWORD", "Env_Pw_55")
    sql = """
    CREATE FUNCTION public.evil_rows() RETURNS TABLE (session_id text, user_id bigint,
        exotel_call_sid text, created_on timestamp) LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'boom: Url/Pw%%%%1 Url%%%%2FPw%%%%251 Env_Pw_55 Service_Pw7 Pass:File9';
    END $$;
    CREATE VIEW public.calllog AS SELECT * FROM public.evil_rows();
    CREATE TABLE public."user" (user_id bigint, name text);
    """
    url = sa.make_url(scratch_db("ufs_password_echo", sql))
    given = url.set(password="Url/Pw%1").update_query_dict({"service": "calls"})
    with pytest.raises(DatabaseError) as caught:
        queries.fetch_user_counts(
            settings_for(given.render_as_string(hide_password=False)), kolkata_window()
        )
    assert str(caught.value).endswith(
        "failed: boom: (password) (password) (password) (password) (password)"
    ), str(caught.value)


def test_a_password_with_control_characters_is_hidden_as_it_is_shown():
    from user_failure_stats.db_url import parse_db_url

    url = "postgresql://u:Pa%09ss%E2%80%AEw%1B%5B31m@h/db"
    hidden = database.Hidden((), database.passwords(url, parse_db_url(url)))
    said = 'connection to server at "h" failed: bad password Pa\tss\u202ew\x1b[31m was given'
    assert database.libpq_words(Exception(said), hidden) == "bad password (password) was given"


def test_a_password_in_the_tools_own_words_is_hidden_too(monkeypatch):
    # A database or socket folder named like the password: the description shows neither.
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = "postgresql://u:S3cretPassw0rd@/S3cretPassw0rd?host=/nonexistent/S3cretPassw0rd"
    with pytest.raises(DatabaseError) as caught:
        with database.database_errors(url):
            sa.create_engine(database.driver_url(url)).connect()
    assert "S3cretPassw0rd" not in str(caught.value)
    assert "(password)" in str(caught.value)


def test_a_password_like_the_tools_words_leaves_them_and_a_files_password_is_hidden(
    monkeypatch, tmp_path
):
    # Hiding "database" in the whole line would tell the password by the words it took.
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    url = "postgresql://u:database@127.0.0.1:1/nodb"
    with pytest.raises(DatabaseError) as caught:
        with database.database_errors(url):
            sa.create_engine(database.driver_url(url)).connect()
    assert str(caught.value).startswith("cannot connect to the database 127.0.0.1:1/nodb: ")
    # A password file's password: the description hides it as the server's words do.
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:*:Pgp4ssSecret\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    url = "postgresql://u@/Pgp4ssSecret?host=/nonexistent/Pgp4ssSecret"
    assert database.describe(url) == "(password) (socket /nonexistent/(password))"
