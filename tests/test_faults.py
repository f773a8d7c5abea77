"""Database faults, tried on purpose: each is one clear line, a distinct exit code, no files."""

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import COMMAND, SEED_WINDOW, run_cli
from user_failure_stats.database import driver_url
from user_failure_stats.db_url import describe_database
from user_failure_stats.errors import EXIT_DATABASE

SECRET = "s3cr3t-sentinel"
PREFIX = "user-failure-stats: error: "

USERS = """
CREATE TABLE public."user" (user_id bigint PRIMARY KEY, name text);
INSERT INTO public."user" VALUES (1, 'A');
"""
SCHEMAS = {
    "no_column": USERS
    + """
        CREATE TABLE public.calllog (session_id text, user_id bigint, created_on timestamp);
        """,
    "wrong_type": USERS
    + """
        CREATE TABLE public.calllog (session_id text, user_id bigint, exotel_call_sid text,
                                     created_on text);
        INSERT INTO public.calllog VALUES ('s', 1, NULL, '2025-05-21');
        """,
    "slow": USERS
    + """
        CREATE TABLE public.calllog_data (session_id text, user_id bigint, exotel_call_sid text,
                                          created_on timestamp);
        INSERT INTO public.calllog_data VALUES ('s', 1, NULL, '2025-05-21 10:00');
        CREATE VIEW public.calllog AS
            SELECT d.* FROM public.calllog_data d, LATERAL (SELECT pg_sleep(3)) AS pause;
        """,
}


def run(env, cwd, *extra):
    out = Path(cwd) / "out"
    return run_cli(["run", *SEED_WINDOW, "--output-dir", str(out), *extra], env, cwd), out


def assert_fault(result, out, message):
    assert result.returncode == EXIT_DATABASE, result.stderr
    assert result.stderr.splitlines() == [PREFIX + message]
    assert SECRET not in result.stdout + result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def with_password(url: str, password: str = SECRET, **changes) -> str:
    parsed = driver_url(url).set(password=password, **changes)
    return parsed.render_as_string(hide_password=False)


def test_unresolvable_host(cli_env, tmp_path):
    result, out = run(
        cli_env(f"postgresql://reader:{SECRET}@no-such-host.invalid/telephony"), tmp_path
    )
    assert_fault(
        result,
        out,
        "cannot connect to the database no-such-host.invalid/telephony: host name not found",
    )


def test_refused_port(cli_env, tmp_path):
    result, out = run(cli_env(f"postgresql://reader:{SECRET}@127.0.0.1:1/telephony"), tmp_path)
    assert_fault(
        result, out, "cannot connect to the database 127.0.0.1:1/telephony: connection refused"
    )


def test_a_stopped_server_on_a_socket_names_the_folder_and_the_demo(cli_env, tmp_path):
    # What .env holds after `demo --serve`, once that server has stopped.
    folder = tmp_path / "pgdata"
    folder.mkdir()
    result, out = run(cli_env(f"postgresql://postgres:{SECRET}@/postgres?host={folder}"), tmp_path)
    assert_fault(
        result,
        out,
        f"cannot connect to the database postgres (socket {folder}): no server is listening on "
        "that socket (for the demo's database, start it with user-failure-stats demo --serve)",
    )


def test_connect_timeout_on_a_socket_that_never_answers(cli_env, tmp_path):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections into the backlog, never answers
        port = silent.getsockname()[1]
        env = cli_env(
            f"postgresql://reader:{SECRET}@127.0.0.1:{port}/telephony", CONNECT_TIMEOUT_SECONDS="1"
        )
        began = time.monotonic()
        result, out = run(env, tmp_path)
    assert_fault(
        result,
        out,
        f"cannot connect to the database 127.0.0.1:{port}/telephony: "
        "connection timed out (CONNECT_TIMEOUT_SECONDS)",
    )
    assert time.monotonic() - began < 60


def test_a_server_that_answers_in_latin1_is_one_line(cli_env, tmp_path):
    # Before the session's encoding is set, a server speaks its locale's: a LATIN1 server's
    # German "wrong password" is no UTF-8.
    import struct
    import threading

    message = b"SFATAL\0VFATAL\0C28P01\0MPasswort-Authentifizierung f\xfcr Benutzer\0\0"

    def serve(listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with client:
                length = struct.unpack("!I", client.recv(4))[0]
                client.recv(length - 4)
                client.sendall(b"E" + struct.pack("!I", len(message) + 4) + message)

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        threading.Thread(target=serve, args=(listener,), daemon=True).start()
        url = f"postgresql://reader:{SECRET}@127.0.0.1:{port}/db?sslmode=disable"
        result, out = run(cli_env(url), tmp_path)
    assert_fault(
        result,
        out,
        f"cannot connect to the database 127.0.0.1:{port}/db: "
        "Passwort-Authentifizierung f\\xfcr Benutzer",
    )


def test_a_service_name_of_bytes_that_are_no_utf8_is_one_line(cli_env, tmp_path):
    # PGSERVICE=$'x\xff': libpq's "definition of service ... not found" repeats the byte.
    env = cli_env(f"postgresql://reader:{SECRET}@/db?host=/nowhere", PGSERVICE="x\udcff")
    result, out = run(env, tmp_path)
    assert_fault(
        result,
        out,
        'cannot connect to the database db (socket /nowhere): definition of service "x\\xff" '
        "not found",
    )


@pytest.fixture
def password_user(admin_url):
    """A role that must give its password, on a server whose pg_hba.conf we may change."""
    engine = sa.create_engine(driver_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        hba = Path(conn.execute(sa.text("SHOW hba_file")).scalar())
        if not hba.exists() or not hba.stat().st_mode:
            pytest.skip("pg_hba.conf of the test server is not reachable")
        original = hba.read_text()
        conn.execute(sa.text("DROP ROLE IF EXISTS ufs_pw"))
        conn.execute(sa.text("CREATE ROLE ufs_pw LOGIN PASSWORD 'the-right-one'"))
        hba.write_text(
            "local all ufs_pw scram-sha-256\nhost all ufs_pw 127.0.0.1/32 "
            "scram-sha-256\n" + original
        )
        conn.execute(sa.text("SELECT pg_reload_conf()"))
        try:
            yield "ufs_pw"
        finally:
            hba.write_text(original)
            conn.execute(sa.text("SELECT pg_reload_conf()"))
            conn.execute(sa.text("DROP ROLE IF EXISTS ufs_pw"))
    engine.dispose()


def test_wrong_password_against_a_server_that_checks(password_user, db_url, cli_env, tmp_path):
    url = with_password(db_url, SECRET, username=password_user)
    result, out = run(cli_env(url), tmp_path)
    assert_fault(
        result,
        out,
        f"cannot connect to the database {describe_database(db_url)}: "
        "authentication failed (check the user and password in DB_URL, or PGUSER, PGPASSWORD "
        "or PGPASSFILE when DB_URL leaves them out)",
    )


def test_statement_timeout(scratch_db, cli_env, tmp_path):
    url = scratch_db("ufs_fault_slow", SCHEMAS["slow"])
    result, out = run(cli_env(with_password(url), STATEMENT_TIMEOUT_SECONDS="0.5"), tmp_path)
    assert_fault(
        result,
        out,
        f"query on {describe_database(url)} cancelled by the statement "
        "timeout (STATEMENT_TIMEOUT_SECONDS)",
    )


def test_server_stops_the_query(scratch_db, admin_url, cli_env, tmp_path):
    url = scratch_db("ufs_fault_kill", SCHEMAS["slow"])
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*COMMAND, "run", *SEED_WINDOW, "--output-dir", str(out)],
        env=cli_env(with_password(url)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    admin = sa.create_engine(driver_url(admin_url), isolation_level="AUTOCOMMIT")
    killed = 0
    deadline = time.monotonic() + 60
    with admin.connect() as conn:
        while not killed and time.monotonic() < deadline:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'user-failure-stats' AND datname = :db "
                    "AND state = 'active'"
                ),
                {"db": "ufs_fault_kill"},
            ).scalar()
            time.sleep(0.1)
    admin.dispose()
    assert killed, "the report's query was never seen running"
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_DATABASE, err
    assert err.splitlines() == [
        PREFIX + f"the database {describe_database(url)} ended the connection during the "
        "query (server stopped, or a timeout set for the role or database?)"
    ]
    assert SECRET not in err
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_table(scratch_db, cli_env, tmp_path):
    url = scratch_db("ufs_fault_no_table", USERS)
    result, out = run(cli_env(with_password(url)), tmp_path)
    assert_fault(
        result,
        out,
        f'query on {describe_database(url)} failed: relation "public.calllog" does not exist',
    )


def test_missing_column(scratch_db, cli_env, tmp_path):
    url = scratch_db("ufs_fault_no_column", SCHEMAS["no_column"])
    result, out = run(cli_env(with_password(url)), tmp_path)
    assert_fault(
        result,
        out,
        f"query on {describe_database(url)} failed: column calllog.exotel_call_sid does not exist",
    )


def test_column_of_the_wrong_type(scratch_db, cli_env, tmp_path):
    url = scratch_db("ufs_fault_type", SCHEMAS["wrong_type"])
    result, out = run(cli_env(with_password(url)), tmp_path)
    assert_fault(
        result,
        out,
        "public.calllog.created_on is text: it must be timestamp or timestamptz (date and "
        "time of the call)",  # said before any query, not as the server's operator error
    )


def test_a_hung_server_ends_the_run_after_the_timeout_and_a_margin(
    scratch_db, admin_url, cli_env, tmp_path
):
    # SIGSTOP freezes the report's backend: its statement timeout can never fire.
    import os
    import signal

    url = scratch_db("ufs_fault_hung", SCHEMAS["slow"])
    out = tmp_path / "out"
    began = time.monotonic()
    process = subprocess.Popen(
        [*COMMAND, "run", *SEED_WINDOW, "--output-dir", str(out)],
        env=cli_env(with_password(url), STATEMENT_TIMEOUT_SECONDS="2"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    admin = sa.create_engine(driver_url(admin_url), isolation_level="AUTOCOMMIT")
    stopped = None
    try:
        with admin.connect() as conn:
            # The backend sleeping in the report's query (the catalog's come and go before it).
            while stopped is None and time.monotonic() < began + 60:
                stopped = conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = "
                        "'user-failure-stats' AND datname = 'ufs_fault_hung' AND state = 'active'"
                        " AND wait_event = 'PgSleep'"
                    )
                ).scalar()
                try:
                    if stopped:
                        os.kill(stopped, signal.SIGSTOP)
                except ProcessLookupError:  # it ended in between: the next one
                    stopped = None
                time.sleep(0.05)
        assert stopped, "the report's query was never seen running"
        frozen_at = time.monotonic()
        _, err = process.communicate(timeout=60)
        waited = time.monotonic() - frozen_at
    finally:
        if stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stopped, signal.SIGCONT)
        process.kill()
        admin.dispose()
    assert process.returncode == EXIT_DATABASE, err
    assert err.splitlines() == [
        PREFIX + f"the database {describe_database(url)} did not answer within the timeout "
        "(STATEMENT_TIMEOUT_SECONDS plus 5 s): the server may be hung or overloaded"
    ]
    assert waited < 2 + 5 + 10  # the timeout, the margin, and the kernel's start and stop
    assert not out.exists() or list(out.iterdir()) == []


# (URL, environment, where the file is named, what it is): each file libpq reads as it
# connects, before any timeout applies. HOME is the test's folder, so ~ is tmp_path.
HANGING_FILES = [
    ("postgresql:///", {"PGSERVICE": "r", "PGSERVICEFILE": "{f}"}, "PGSERVICEFILE", "service file"),
    ("postgresql:///", {"PGSERVICE": "r", "PGSYSCONFDIR": "{d}"}, "PGSYSCONFDIR", "service file"),
    ("postgresql://h/db", {"PGPASSFILE": "{f}"}, "PGPASSFILE", "password file"),
    ("postgresql://h/db?passfile={f}", {}, "passfile in DB_URL", "password file"),
    ("postgresql://h/db?sslrootcert={f}", {}, "sslrootcert in DB_URL", "TLS file"),
    ("postgresql://h/db", {"PGSSLCERT": "{f}"}, "PGSSLCERT", "TLS file"),
    ("postgresql://h/db", {}, "~/.postgresql/root.crt", "TLS file"),
    ("postgresql://h/db", {"KRB5CCNAME": "FILE:{f}"}, "KRB5CCNAME", "Kerberos ticket cache"),
    ("postgresql://h/db", {"KRB5_CONFIG": "/etc/hosts:{f}"}, "KRB5_CONFIG", "Kerberos file"),
]


@pytest.mark.parametrize(("url", "extra", "source", "what"), HANGING_FILES)
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_file_libpq_would_hang_on_is_refused_before_connecting(
    cli_env, tmp_path, url, extra, source, what, kind
):
    import os

    home = tmp_path / "home"
    (home / ".postgresql").mkdir(parents=True)
    path = home / ".postgresql" / "root.crt" if source.startswith("~") else tmp_path / "f"
    if source == "PGSYSCONFDIR":
        path = tmp_path / "pg_service.conf"
    if kind == "fifo":
        os.mkfifo(path)  # no writer: libpq's read would wait for ever
    else:
        path.symlink_to("/dev/zero")  # endless: libpq spins, even through SIGTERM
    env = cli_env(url.format(f=path), HOME=str(home))
    env.update({k: v.format(f=path, d=tmp_path) for k, v in extra.items()})
    env["OUTPUT_DIR"] = str(tmp_path / "o")
    for command in ("check", "run") if kind == "fifo" and what == "service file" else ("check",):
        done = subprocess.run(
            [*COMMAND, command, *SEED_WINDOW],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.splitlines()[-1] == (
            f"user-failure-stats: error: {source}: the {what} {path} is not a regular file of "
            "at most 1 MiB, and libpq would wait on it for ever"
        )


def test_a_file_a_service_file_names_is_caught_by_the_trial_connection(pg, cli_env, tmp_path):
    # The service file is a regular file; the password file it names is not what it seems:
    # libpq would read a terabyte of nothing (libpq 16 at a few GB/s, libpq 17 for ever),
    # before any timeout applies.
    passfile = tmp_path / "pass"
    with passfile.open("wb") as handle:
        handle.truncate(1024**4)
    passfile.chmod(0o600)
    host = driver_url(pg.url).query["host"]
    services = tmp_path / "services"
    services.write_text(
        f"[evil]\nhost={host}\ndbname=postgres\nuser=postgres\npassfile={passfile}\n"
    )
    env = cli_env("postgresql:///?service=evil", PGSERVICEFILE=str(services))
    env["CONNECT_TIMEOUT_SECONDS"] = "1"
    began = time.monotonic()
    done = run_cli(["run", *SEED_WINDOW, "--output-dir", str(tmp_path / "out")], env, tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        PREFIX + "cannot connect to the database service evil: libpq did not return within 26 s: "
        "the servers are slower than CONNECT_TIMEOUT_SECONDS allows, or libpq waits on a file "
        "it reads (a service, password, TLS, Kerberos or OpenSSL file, named in DB_URL, a "
        "service file or PG*, KRB5* or OPENSSL_* variables), which must be a small regular file"
    ]
    # The deadline (4 hosts a service file may list, each 2 s and 2 more, and 10), and Python.
    assert time.monotonic() - began < 26 + 20
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_libpqs_own_warnings_reach_the_terminal_escaped(pg, cli_env, tmp_path):
    import os

    # A password file that is a FIFO named with escape sequences: libpq warns on stderr by
    # itself, naming it, and goes on without it.
    passfile = tmp_path / "x\x1b]0;PWNED\x07\x1b[31mred"
    os.mkfifo(passfile)
    host = driver_url(pg.url).query["host"]
    services = tmp_path / "services"
    services.write_text(
        f"[evil]\nhost={host}\ndbname=postgres\nuser=postgres\npassfile={passfile}\n"
    )
    env = cli_env("postgresql:///?service=evil", PGSERVICEFILE=str(services))
    done = subprocess.run(
        [*COMMAND, "check", *SEED_WINDOW], env=env, cwd=tmp_path, capture_output=True, timeout=120
    )
    err = done.stderr.decode()
    assert "\x1b" not in err and "\x07" not in err
    assert (
        f'warning: libpq: WARNING: password file "{tmp_path}/x\\x1b]0;PWNED\\x07\\x1b[31mred" '
        "is not a plain file"
    ) in err.splitlines()


def test_an_empty_home_is_read_as_libpq_reads_it(tmp_path):
    import pwd

    from user_failure_stats.libpq_files import home_folder

    assert home_folder({"HOME": ""}) == pwd.getpwuid(os.getuid()).pw_dir
    assert home_folder({"HOME": str(tmp_path)}) == str(tmp_path)


def test_a_module_planted_where_the_command_starts_never_runs(pg, cli_env, tmp_path):
    # Python imports from the current folder first: the trial connection (which holds the
    # password) and the notebook's kernel must not, or a planted json.py would read it.
    import sys

    pg.seed()
    marker = tmp_path / "ran"
    (tmp_path / "json.py").write_text(f"open({str(marker)!r}, 'a').write('x')\nraise SystemExit\n")
    command = str(Path(sys.executable).parent / "user-failure-stats")  # as a user runs it
    env = cli_env(with_password(pg.url), OUTPUT_DIR=str(tmp_path / "out"))
    done = run_cli(["run", *SEED_WINDOW, "-q"], env, tmp_path, command=[command])
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert len(list((tmp_path / "out").glob("user_failure_rates_*.html"))) == 1
