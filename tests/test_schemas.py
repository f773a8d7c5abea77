"""Databases as they are in the wild: timestamptz, duplicate users, old servers, Citus, URLs."""

import csv
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import Loader
from tests.helpers import SEED_WINDOW
from tests.helpers import run_cli as cli
from tests.seed import SEED_USERS, seed_calls
from user_failure_stats import database, inspection, outputs, pipeline, queries
from user_failure_stats.db_url import check_db_url
from user_failure_stats.errors import DatabaseError
from user_failure_stats.params import Parameters, resolve_window
from user_failure_stats.settings import Settings

TIMESTAMPTZ_SCHEMA = """
CREATE TABLE public."user" (user_id bigint, name text);
CREATE TABLE public.calllog (session_id text, user_id bigint, exotel_call_sid text,
                             created_on timestamptz NOT NULL);
CREATE INDEX ON public.calllog (created_on);
"""


def read_csv(folder):
    (path,) = folder.glob("user_failure_stats_*.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            (r["user_name"], r["failed_sessions"], r["total_sessions"])
            for r in csv.DictReader(handle)
        ]


@pytest.fixture
def timestamptz_url(scratch_db):
    url = scratch_db("ufs_timestamptz", TIMESTAMPTZ_SCHEMA)
    engine = sa.create_engine(url)
    loader = Loader(engine, url)
    loader.users([(i, n) for i, n, *_ in SEED_USERS])
    loader.calls(
        [{**row, "created_on": row["created_on"].replace(tzinfo=UTC)} for row in seed_calls()]
    )
    engine.dispose()
    return url


def csv_of(url: str, window_args: dict, db_timezone: str = "UTC") -> str:
    """The per-user CSV a run would write, from the report's data (no notebook)."""
    params = Parameters(**window_args).validated()
    window = resolve_window(params, db_timezone)
    data = pipeline.compute(Settings(db_url=url, db_timezone=db_timezone), window, params)
    return outputs.csv_text(data.rates)


SEED = {"start": "2025-05-21", "end": "2025-05-23", "timezone": "Asia/Kolkata"}


def test_a_timestamptz_call_log_gives_the_same_report(
    timestamptz_url, notebook_db_url, cli_env, tmp_path
):
    # Instants need no DB_TIMEZONE: any value gives the same counts, byte for byte.
    plain = csv_of(notebook_db_url, SEED)
    assert plain.count("\r\n") == 7
    for zone in ("UTC", "America/New_York", "Asia/Kolkata"):
        assert csv_of(timestamptz_url, SEED, zone) == plain, zone
    # End to end, once: the run's CSV and check.
    env = cli_env(timestamptz_url, DB_TIMEZONE="America/New_York")
    aware = cli(["run", *SEED_WINDOW, "--output-dir", "b", "-q"], env, tmp_path)
    assert aware.returncode == 0, aware.stderr
    (written,) = (tmp_path / "b").glob("user_failure_stats_*.csv")
    assert written.read_bytes() == plain.encode()
    check = cli(["check", *SEED_WINDOW], env, tmp_path)
    assert check.returncode == 0, check.stdout
    assert "created_on is timestamptz: instants, DB_TIMEZONE does not apply" in check.stdout
    assert "341 sessions from 6 users" in check.stdout


FIVE_UTC = datetime(2025, 11, 2, 5, 0, tzinfo=UTC)


def test_timestamptz_instants_need_no_widening_around_a_fall_back(scratch_db):
    # 01:30 EDT to 01:40 EST is 70 real minutes: a timestamptz log holds exactly the calls in
    # it, whatever DB_TIMEZONE says, and no repeated hour is reported.
    url = scratch_db("ufs_tstz_dst", TIMESTAMPTZ_SCHEMA)
    engine = sa.create_engine(url)
    loader = Loader(engine, url)
    loader.users([(1, "A")])
    loader.calls(
        {"session_id": f"s{m}", "user_id": 1, "created_on": FIVE_UTC + timedelta(minutes=m)}
        for m in range(0, 180, 5)
    )
    engine.dispose()
    params = Parameters(
        start="2025-11-02 01:30-04:00", end="2025-11-02 01:40-05:00", timezone="America/New_York"
    ).validated()
    for zone in ("UTC", "America/New_York"):
        window = resolve_window(params, zone)
        data = pipeline.compute(Settings(db_url=url, db_timezone=zone), window, params)
        assert data.notes == ()  # no warning about a repeated hour
        # 05:30Z to 06:40Z: the calls at 05:30, 05:35 ... 06:35 UTC
        rows = data.rates[["user_name", "failed_sessions", "total_sessions"]]
        assert rows.values.tolist() == [["A", 14, 14]]
        quality = queries.fetch_data_quality(Settings(db_url=url, db_timezone=zone), window)
        assert quality["rows_in_window"] == 14


def test_the_trend_of_a_timestamptz_call_log_is_in_local_hours(timestamptz_url):
    from user_failure_stats import analysis

    window = resolve_window(
        Parameters(start="2025-05-21", end="2025-05-22", timezone="Asia/Kolkata"), "UTC"
    )
    counts = queries.fetch_window_counts(Settings(db_url=timestamptz_url), window)
    trend = analysis.trend(counts.trend, window)
    assert len(trend) == 24
    assert str(trend["bucket"].iloc[0]) == "2025-05-21 00:00:00"
    assert trend["total_sessions"].sum() == counts.current["total_sessions"].sum()


@pytest.mark.parametrize("kind", ["date", "text"])
def test_check_and_run_refuse_a_created_on_that_is_no_timestamp_alike(
    scratch_db, cli_env, tmp_path, kind
):
    # date compares with the window's bounds, so a run could count whole days silently.
    url = scratch_db(f"ufs_created_on_{kind}", TIMESTAMPTZ_SCHEMA.replace("timestamptz", kind))
    line = (
        f"public.calllog.created_on is {kind}: it must be timestamp or timestamptz "
        "(date and time of the call)"
    )
    check = cli(["check", *SEED_WINDOW], cli_env(url), tmp_path)
    assert check.returncode == 3, check.stdout + check.stderr
    assert check.stdout.splitlines()[-1] == f"[FAIL] tables and columns: {line}"
    out = tmp_path / "out"
    run = cli(["run", *SEED_WINDOW, "--output-dir", str(out)], cli_env(url), tmp_path)
    assert (run.returncode, run.stderr) == (3, f"user-failure-stats: error: {line}\n")
    assert not out.exists() or not list(out.iterdir())


def test_check_and_run_agree_on_a_missing_table_and_a_role_that_cannot_read(pg, cli_env, tmp_path):
    pg.seed()
    missing = sa.make_url(pg.url).set(database="postgres").render_as_string(hide_password=False)
    check = cli(["check", *SEED_WINDOW], cli_env(missing), tmp_path)
    assert check.returncode == 3
    assert check.stdout.splitlines()[-1] == (
        '[FAIL] tables and columns: missing in the database: public.calllog, public."user"'
    )
    role = "ufs_no_select"
    admin = sa.create_engine(database.driver_url(pg.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"GRANT SELECT (user_id) ON public.calllog TO {role}"))
    try:
        url = database.driver_url(pg.url).set(username=role).render_as_string(hide_password=False)
        check = cli(["check", *SEED_WINDOW], cli_env(url), tmp_path)
        assert check.returncode == 3
        assert check.stdout.splitlines()[-1] == (
            "[FAIL] tables and columns: permission denied: the role cannot read "
            "public.calllog.session_id, public.calllog.exotel_call_sid, "
            'public.calllog.created_on, public."user".user_id, public."user".name'
        )
        run = cli(["run", *SEED_WINDOW, "--output-dir", str(tmp_path)], cli_env(url), tmp_path)
        assert run.returncode == 3
        assert "permission denied" in run.stderr
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


def test_duplicate_user_rows_count_each_session_once(scratch_db, cli_env, tmp_path):
    # Real user tables are not always keyed by user_id.
    url = scratch_db("ufs_duplicates", TIMESTAMPTZ_SCHEMA.replace("timestamptz", "timestamp"))
    engine = sa.create_engine(url)
    pg = Loader(engine, url)
    pg.seed()
    pg.users([(5, "Ayush again"), (5, "Aardvark"), (6, None)])  # 3 extra rows for 2 users
    engine.dispose()
    window = resolve_window(Parameters(**SEED).validated(), "UTC")
    assert queries.fetch_window_counts(Settings(db_url=url), window).duplicate_users == 2
    (tmp_path / "p.yaml").write_text(
        "start: '2025-05-21'\nend: '2025-05-23'\ntimezone: Asia/Kolkata\ntop_n: 10\n"
    )
    result = cli(["run", "-f", "p.yaml", "--output-dir", "o", "-q"], cli_env(pg.url), tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_csv(tmp_path / "o")
    assert sum(int(t) for _, _, t in rows) == 341
    assert ("Aardvark", "28", "148") in rows  # the first name in sort order, deterministic
    assert ("Vishnu Vardhan", "34", "124") in rows  # a NULL duplicate does not hide the name
    check = cli(["check", *SEED_WINDOW], cli_env(pg.url), tmp_path)
    quality = next(line for line in check.stdout.splitlines() if "data quality" in line)
    assert quality.startswith("[warn] data quality:")
    assert '2 user ids with more than one row in public."user"' in quality
    (page,) = (tmp_path / "o").glob("user_failure_rates_*.html")
    assert '2 users have more than one row in <code>public."user"</code>' in page.read_text()


def test_an_old_server_is_named_at_the_connection_step():
    with pytest.raises(DatabaseError, match=r"PostgreSQL 14 or newer is required, found 13\.4"):
        database.require_version(130004, "13.4")
    database.require_version(140000, "14.0")


def test_this_server_passes_the_version_check(pg, settings_for):
    version = database.server_version(database.make_engine(settings_for(pg.url)))
    assert version.startswith("PostgreSQL ")
    assert int(version.split()[1].split(".")[0]) >= 14


# The shape of Citus's EXPLAIN (FORMAT JSON) for the report's query with calllog distributed
# by user_id into 32 shards: a "Citus Adaptive" custom scan whose distributed job has tasks.
CITUS_PLAN = {
    "Node Type": "Append",
    "Plans": [
        {
            "Node Type": "Custom Scan",
            "Custom Plan Provider": "Citus Adaptive",
            "Distributed Query": {
                "Job": {
                    "Task Count": 32,
                    "Tasks Shown": "One of 32",
                    "Tasks": [
                        {
                            "Node": "host=worker1 port=5432 dbname=telephony",
                            "Remote Plan": [
                                [
                                    {
                                        "Plan": {
                                            "Node Type": "Seq Scan",
                                            "Relation Name": "calllog_102008",
                                        }
                                    }
                                ]
                            ],
                        }
                    ],
                }
            },
        }
    ],
}


def citus_scan(tasks: int, subplans=()) -> dict:
    query = {"Job": {"Task Count": tasks, "Tasks Shown": "All"}}
    if subplans:
        query["Subplans"] = list(subplans)
    return {
        "Node Type": "Custom Scan",
        "Custom Plan Provider": "Citus Adaptive",
        "Distributed Query": query,
    }


def subplan(tasks: int) -> dict:
    # Citus 12-13: each subplan's PlannedStmt holds the plan of its own distributed scan.
    return {"PlannedStmt": [{"Plan": citus_scan(tasks)}]}


def test_a_citus_plan_is_described_by_its_shard_tasks():
    assert inspection.describe_scan(CITUS_PLAN) == "Citus: 32 shard tasks"
    assert inspection.describe_scan(citus_scan(1)) == "Citus: 1 shard task"
    # The report's UNION ALL: two subplans read the shards, the top job reads their results.
    plan = {"Node Type": "Aggregate", "Plans": [citus_scan(1, [subplan(32), subplan(32)])]}
    assert inspection.describe_scan(plan) == (
        "Citus: 2 subplans of 32 shard tasks each, then 1 task on their results"
    )
    older = citus_scan(1, [{"Plan": citus_scan(32)}, {"Plan": citus_scan(16)}])  # Citus 9-11
    assert inspection.describe_scan(older) == (
        "Citus: 2 subplans of 32 and 16 shard tasks, then 1 task on their results"
    )


@pytest.mark.parametrize(
    "url", ["postgres://u:p@h/db", "postgres://u@h:5432/db?sslmode=require", "postgresql://h/db"]
)
def test_postgres_urls_as_hosting_providers_give_them_are_accepted(url):
    check_db_url(url)
    assert database.driver_url(url).drivername == "postgresql+psycopg2"


def test_a_postgres_url_connects(pg, settings_for):
    url = pg.url.replace("postgresql+psycopg2://", "postgres://")
    assert url.startswith("postgres://")
    assert database.server_version(database.make_engine(settings_for(url))).startswith("PostgreSQL")


def test_a_created_on_domain_over_timestamptz_is_read_as_its_base(scratch_db, cli_env, tmp_path):
    schema = "CREATE DOMAIN public.moment AS timestamptz NOT NULL;\n" + TIMESTAMPTZ_SCHEMA.replace(
        "created_on timestamptz NOT NULL", "created_on public.moment"
    )
    url = scratch_db("ufs_created_on_domain", schema)
    check = cli(["check", *SEED_WINDOW], cli_env(url), tmp_path)
    assert "created_on is timestamptz: instants" in check.stdout, check.stdout + check.stderr


def test_a_created_on_domain_over_a_domain_is_read_as_its_innermost_base(
    scratch_db, cli_env, tmp_path
):
    schema = (
        "CREATE DOMAIN public.moment AS timestamptz;\n"
        "CREATE DOMAIN public.call_time AS public.moment NOT NULL;\n"
    ) + TIMESTAMPTZ_SCHEMA.replace("created_on timestamptz NOT NULL", "created_on public.call_time")
    url = scratch_db("ufs_created_on_domains", schema)
    engine = sa.create_engine(url)
    loader = Loader(engine, url)
    loader.users([(i, n) for i, n, *_ in SEED_USERS])
    loader.calls(
        [{**row, "created_on": row["created_on"].replace(tzinfo=UTC)} for row in seed_calls()]
    )
    engine.dispose()
    check = cli(["check", *SEED_WINDOW], cli_env(url), tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "created_on is timestamptz: instants" in check.stdout
    out = tmp_path / "out"
    run = cli(["run", *SEED_WINDOW, "--output-dir", str(out), "-q"], cli_env(url), tmp_path)
    assert run.returncode == 0, run.stderr
    assert sum(int(total) for _, _, total in read_csv(out)) == 341


@pytest.mark.parametrize(
    ("table", "declared", "shown"),
    [
        ("calllog", "numeric", "numeric"),  # 259.5, 1e30 and NaN are no ids
        ("user", "double precision", "double precision"),
        ("calllog", "public.user_key", "numeric"),  # a domain over a domain over numeric
        ("user", "real", "real"),
        ("calllog", "jsonb", "jsonb"),
        ("user", "text", "text"),  # the query's UNION of ids would fail on the server
    ],
)
def test_check_and_run_refuse_a_user_id_that_is_no_id(
    scratch_db, cli_env, tmp_path, table, declared, shown
):
    domains = (
        "CREATE DOMAIN public.amount AS numeric;\nCREATE DOMAIN public.user_key AS public.amount;\n"
    )
    where = (
        'public."user" (user_id bigint' if table == "user" else "(session_id text, user_id bigint"
    )
    schema = domains + TIMESTAMPTZ_SCHEMA.replace(where, where.replace("bigint", declared))
    url = scratch_db(f"ufs_user_id_{table}_{shown.replace(' ', '_')}", schema)
    name = 'public."user"' if table == "user" else "public.calllog"
    line = f"{name}.user_id is {shown}: it must be an integer type (smallint, integer or bigint)"
    check = cli(["check", *SEED_WINDOW], cli_env(url), tmp_path)
    assert check.returncode == 3, check.stdout + check.stderr
    assert check.stdout.splitlines()[-1] == f"[FAIL] tables and columns: {line}"
    out = tmp_path / "out"
    run = cli(["run", *SEED_WINDOW, "--output-dir", str(out)], cli_env(url), tmp_path)
    assert (run.returncode, run.stderr) == (3, f"user-failure-stats: error: {line}\n")
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize(
    ("calllog_id", "user_id"),
    [("integer", "bigint"), ("public.user_key", "smallint")],
)
def test_user_ids_of_any_integer_type_are_counted(
    scratch_db, cli_env, tmp_path, calllog_id, user_id
):
    schema = "CREATE DOMAIN public.user_key AS bigint;\n" + TIMESTAMPTZ_SCHEMA.replace(
        'public."user" (user_id bigint', f'public."user" (user_id {user_id}'
    ).replace("(session_id text, user_id bigint", f"(session_id text, user_id {calllog_id}")
    url = scratch_db(f"ufs_user_id_{calllog_id[:4]}_{user_id[:4]}", schema)
    engine = sa.create_engine(url)
    loader = Loader(engine, url)
    loader.users([(i, n) for i, n, *_ in SEED_USERS])
    loader.calls(
        [{**row, "created_on": row["created_on"].replace(tzinfo=UTC)} for row in seed_calls()]
    )
    engine.dispose()
    out = tmp_path / "out"
    run = cli(["run", *SEED_WINDOW, "--output-dir", str(out), "-q"], cli_env(url), tmp_path)
    assert run.returncode == 0, run.stderr
    rows = read_csv(out)
    assert sum(int(total) for _, _, total in rows) == 341
    assert ("Vishnu Vardhan", "34", "124") in rows


def test_an_sql_ascii_database_reports_utf8_names_and_names_other_bytes(
    admin_url, cli_env, tmp_path
):
    name = "ufs_sql_ascii"
    admin = sa.create_engine(database.driver_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(
            sa.text(
                f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0 "
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        )
    url = sa.make_url(database.driver_url(admin_url)).set(database=name)
    url = url.render_as_string(hide_password=False)
    try:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(TIMESTAMPTZ_SCHEMA))
            conn.execute(sa.text("INSERT INTO public.\"user\" VALUES (1, E'Zo\\xc3\\xab')"))
            conn.execute(
                sa.text(
                    "INSERT INTO public.calllog VALUES "
                    "('s1', 1, NULL, '2025-05-21 10:00+05:30'), "
                    "('s2', 1, 'c', '2025-05-21 11:00+05:30')"
                )
            )
        out = tmp_path / "out"
        run = cli(["run", *SEED_WINDOW, "--output-dir", str(out), "-q"], cli_env(url), tmp_path)
        assert run.returncode == 0, run.stderr
        assert read_csv(out) == [("Zoë", "1", "2")]
        with engine.begin() as conn:  # Latin-1, which no UTF-8 reader can take
            conn.execute(sa.text("UPDATE public.\"user\" SET name = E'Zo\\xeb'"))
        engine.dispose()
        line = 'failed: invalid byte sequence for encoding "UTF8": 0xeb'  # the server's words
        check = cli(["check", *SEED_WINDOW], cli_env(url), tmp_path)
        assert check.returncode == 3, check.stdout + check.stderr
        assert check.stdout.splitlines()[-1].endswith(line)
        again = ["run", *SEED_WINDOW, "--output-dir", str(tmp_path / "o2")]
        run = cli(again, cli_env(url), tmp_path)
        assert run.returncode == 3 and run.stderr.strip().endswith(line), run.stderr
        assert len(run.stderr.splitlines()) == 1
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_roles_client_encoding_and_session_timeouts_do_not_reach_the_report(
    pg, cli_env, tmp_path
):
    pg.seed()
    role = "ufs_odd_settings"
    admin = sa.create_engine(database.driver_url(pg.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f'GRANT SELECT ON public.calllog, public."user" TO {role}'))
        conn.execute(sa.text(f"ALTER ROLE {role} SET client_encoding = 'SJIS'"))
        conn.execute(sa.text(f"ALTER ROLE {role} SET idle_in_transaction_session_timeout = '1ms'"))
    try:
        url = database.driver_url(pg.url).set(username=role).render_as_string(hide_password=False)
        out = tmp_path / "out"
        run = cli(["run", *SEED_WINDOW, "--output-dir", str(out), "-q"], cli_env(url), tmp_path)
        assert run.returncode == 0, run.stderr
        assert sum(int(total) for _, _, total in read_csv(out)) == 341
        assert ("Vishnu Vardhan", "34", "124") in read_csv(out)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


@pytest.mark.parametrize(
    "answer",
    ['{"not": "a plan"}', '"hello"', "[" * 5000, [{"Plan": {"Node Type": 5}}], None, 7, "[]"],
)
def test_an_explain_answer_that_is_not_postgresqls_is_described_as_unreadable(answer):
    text = inspection.plan_text(answer)
    assert text in ("unreadable (the server's EXPLAIN is not PostgreSQL's JSON)", "unknown")


def test_a_plan_description_is_one_bounded_line():
    node = {"Relation Name": "calllog", "Node Type": "Seq\x1b[31m Scan" + "v" * 5000}
    text = inspection.plan_text([{"Plan": node}])
    assert len(text) <= 200 and "\x1b" not in text and text.startswith("Seq\\x1b[31m Scan")


@pytest.mark.parametrize(
    ("number", "text"),
    [("abc", "18.1"), (None, "18.1"), (180001, ""), (180001, None), (True, "18.1")],
)
def test_a_version_the_server_cannot_say_is_unreadable(number, text):
    with pytest.raises(DatabaseError, match=r"^the server's version is unreadable: is it"):
        database.require_version(number, text)


def test_an_old_version_is_named_in_one_short_line():
    with pytest.raises(DatabaseError) as caught:
        database.require_version("90000", "9.0\x1b[31m<b>" + "v" * 5000)
    assert len(str(caught.value)) < 100  # one short line (the console escapes what it prints)
    assert database.require_version("180001", "18.1 (Debian 18.1-1)") == "18.1"


@pytest.mark.parametrize(
    ("total", "failed"),
    [([2**64], [1]), ([-1], [0]), ([3], [4]), ([3], [-1]), (["x"], [1]), ([None], [0])],
)
def test_counts_no_postgresql_would_send_are_refused(total, failed):
    import numpy as np

    with pytest.raises(DatabaseError, match="the server's answer is not the report's counts"):
        queries.check_counts(np.array(total, dtype=object), np.array(failed, dtype=object))
    queries.check_counts(np.array([3, 0], dtype=object), np.array([3, 0], dtype=object))


def test_a_roles_transaction_timeout_does_not_end_the_report(pg, cli_env, tmp_path):
    pg.seed()
    role = "ufs_transaction_timeout"
    admin = sa.create_engine(database.driver_url(pg.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(sa.text("SHOW server_version_num")).scalar_one() < "170000":
            pytest.skip("transaction_timeout came with PostgreSQL 17")
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f'GRANT SELECT ON public.calllog, public."user" TO {role}'))
        conn.execute(sa.text(f"ALTER ROLE {role} SET transaction_timeout = '5ms'"))
    try:
        url = database.driver_url(pg.url).set(username=role).render_as_string(hide_password=False)
        out = tmp_path / "out"
        run = cli(["run", *SEED_WINDOW, "--output-dir", str(out), "-q"], cli_env(url), tmp_path)
        assert run.returncode == 0, run.stderr
        assert sum(int(total) for _, _, total in read_csv(out)) == 341
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


def test_check_warns_of_row_level_security_and_knows_a_view_has_no_index(
    scratch_db, cli_env, tmp_path
):
    schema = (
        TIMESTAMPTZ_SCHEMA.replace("public.calllog (", "public.calls (").replace(
            "ON public.calllog", "ON public.calls"
        )
        + "CREATE VIEW public.calllog AS SELECT * FROM public.calls;\n"
    )
    url = scratch_db("ufs_view_rls", schema)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO public.\"user\" VALUES (1, 'A'), (2, 'B')"))
        conn.execute(
            sa.text(
                "INSERT INTO public.calls VALUES ('s1', 1, NULL, '2025-05-21 10:00+05:30'), "
                "('s2', 2, 'c', '2025-05-21 11:00+05:30')"
            )
        )
    engine.dispose()
    check = cli(["check", *SEED_WINDOW], cli_env(url), tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert (
        "[ok]   index: public.calllog is a view: indexes belong on the tables it reads"
        in "\n".join(lines)
    )
    assert "CREATE INDEX" not in check.stdout and "row-level security" not in check.stdout
    role = "ufs_rls_reader"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(
            sa.text(f'GRANT SELECT ON public.calls, public.calllog, public."user" TO {role}')
        )
        conn.execute(sa.text('ALTER TABLE public."user" ENABLE ROW LEVEL SECURITY'))
        conn.execute(sa.text(f'CREATE POLICY one ON public."user" TO {role} USING (user_id = 1)'))
    try:
        reader = sa.make_url(url).set(username=role).render_as_string(hide_password=False)
        check = cli(["check", *SEED_WINDOW], cli_env(reader), tmp_path)
        assert check.returncode == 0, check.stdout + check.stderr
        assert (
            '[warn] row-level security: on for public."user": the counts cover only the rows '
            "this role may see; use a role that bypasses it (BYPASSRLS) to count every call"
        ) in check.stdout.splitlines()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


@pytest.mark.parametrize("kind", ["bigint", "json", "uuid"])
def test_a_call_id_of_another_type_is_checked_and_counted_alike(
    scratch_db, cli_env, tmp_path, kind
):
    values = {"bigint": "'42'", "json": """'"x"'""", "uuid": "gen_random_uuid()::text"}[kind]
    schema = TIMESTAMPTZ_SCHEMA.replace("exotel_call_sid text", f"exotel_call_sid {kind}") + (
        "INSERT INTO public.\"user\" VALUES (1, 'A');\n"
        "INSERT INTO public.calllog VALUES "
        f"('s1', 1, {values}::{kind}, '2025-01-01 10:00+00'), "
        "('s2', 1, NULL, '2025-01-01 11:00+00'), (NULL, 1, NULL, '2025-01-01 12:00+00');\n"
    )
    url = scratch_db(f"ufs_sid_{kind}", schema)
    window = ["--start", "2025-01-01", "--end", "2025-01-02"]
    check = cli(["check", *window], cli_env(url), tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (
        "[ok]   data quality: 1 rows without session_id (not sessions), 0 sessions" in check.stdout
    )
    out = tmp_path / "out"
    run = cli(["run", *window, "--output-dir", str(out), "-q"], cli_env(url), tmp_path)
    assert run.returncode == 0, run.stderr
    assert read_csv(out) == [("A", "1", "2")]


def test_check_counts_the_indexes_of_a_partitioned_calllog_and_advises_what_works(
    scratch_db, cli_env, tmp_path
):
    schema = """
CREATE TABLE public."user" (user_id bigint, name text);
CREATE TABLE public.calllog (session_id text, user_id bigint, exotel_call_sid text,
                             created_on timestamptz NOT NULL) PARTITION BY RANGE (created_on);
CREATE TABLE public.calllog_2025 PARTITION OF public.calllog
    FOR VALUES FROM ('2025-01-01 00:00+00') TO ('2026-01-01 00:00+00');
CREATE TABLE public.calllog_other PARTITION OF public.calllog DEFAULT;
CREATE INDEX ON public.calllog_2025 (created_on);
INSERT INTO public."user" VALUES (1, 'A');
INSERT INTO public.calllog VALUES ('s1', 1, NULL, '2025-05-21 10:00+05:30');
"""
    url = scratch_db("ufs_partitioned", schema)

    def index_line():
        check = cli(["check", *SEED_WINDOW], cli_env(url), tmp_path)
        assert check.returncode == 0, check.stdout + check.stderr
        return next(line for line in check.stdout.splitlines() if "index:" in line)

    assert index_line() == (
        "[warn] index: 1 of the 2 partitions of public.calllog have no index on created_on, so "
        "reports read them whole; create one on the partitioned table, which reaches every "
        "partition: CREATE INDEX calllog_created_on_idx ON public.calllog (created_on);"
    )
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(inspection.CREATE_PARTITIONED_INDEX_SQL))  # the advice works
    admin.dispose()
    assert index_line() == "[ok]   index: calllog_created_on_idx on public.calllog (created_on)"
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("DROP INDEX public.calllog_created_on_idx"))
        conn.execute(sa.text("CREATE INDEX ON public.calllog_2025 (created_on)"))
        conn.execute(sa.text("CREATE INDEX ON public.calllog_other (created_on, user_id)"))
    assert index_line() == (
        "[ok]   index: each of the 2 partitions of public.calllog has an index on created_on"
    )


@pytest.mark.parametrize("column", ["session_id", "exotel_call_sid"])
def test_a_row_typed_session_or_call_id_is_refused_by_check_and_run(
    scratch_db, cli_env, tmp_path, column
):
    # (web, NULL) IS NOT NULL is false, and (NULL, NULL) IS NULL is true: counts would be wrong.
    schema = "CREATE TYPE public.pair AS (provider text, id text);\n" + (
        TIMESTAMPTZ_SCHEMA.replace(f"{column} text", f"{column} public.pair")
    )
    url = scratch_db(f"ufs_row_{column}", schema)
    line = (
        f"user-failure-stats: error: public.calllog.{column} is the composite public.pair "
        "type: a row is NULL only when all its fields are, so sessions and failures cannot be "
        "counted; it must be a plain type such as text"
    )
    env = cli_env(url, OUTPUT_DIR=str(tmp_path / "o"))
    for command in ("check", "run"):
        done = cli([command, *SEED_WINDOW], env, tmp_path)
        assert done.returncode == 3, done.stdout + done.stderr
        assert done.stderr.splitlines()[-1] == line
