"""The files libpq reads while connecting are checked first (the hanging cases: test_faults)."""

import os

import pytest
import sqlalchemy as sa

from user_failure_stats import database, libpq_files
from user_failure_stats.errors import ConfigError, DatabaseError
from user_failure_stats.libpq_files import check_files


def names(query, environ, password=False):
    """Return the first refusal's line for this connection, or None."""
    try:
        check_files(query, environ, password)
    except ConfigError as error:
        return str(error)
    return None


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


def test_a_password_file_others_may_read_is_refused_with_how_to_fix(tmp_path):
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:reader:secret\n")
    passfile.chmod(0o644)
    assert names({}, {"PGPASSFILE": str(passfile)}) == (
        f"PGPASSFILE: the password file {passfile} may be read by others, so libpq would "
        "ignore it: make it private (chmod 600)"
    )
    passfile.chmod(0o600)
    assert names({}, {"PGPASSFILE": str(passfile)}) is None


def test_a_password_file_is_not_read_when_a_password_is_given(fifo):
    assert names({}, {"PGPASSFILE": fifo}, password=True) is None
    assert names({"password": "x"}, {"PGPASSFILE": fifo}) is None
    assert names({}, {"PGPASSFILE": fifo, "PGPASSWORD": "x"}) is None
    assert names({}, {"PGPASSFILE": fifo}).startswith("PGPASSFILE: the password file ")


def test_tls_files_are_not_read_when_tls_is_off_and_system_names_no_file(fifo, tmp_path):
    environ = {"HOME": str(tmp_path), "PGSSLKEY": fifo}
    assert names({"sslmode": "disable"}, environ) is None
    assert names({}, {**environ, "PGSSLMODE": "disable"}) is None
    assert names({}, environ).startswith("PGSSLKEY: the TLS file ")
    assert names({"sslrootcert": "system"}, {}) is None


def test_the_url_names_a_file_before_the_environment_does(fifo, tmp_path):
    regular = tmp_path / "root.crt"
    regular.write_text("")
    assert names({"sslrootcert": str(regular)}, {"PGSSLROOTCERT": fifo}) is None
    assert names({"sslrootcert": fifo}, {"PGSSLROOTCERT": str(regular)}).startswith(
        "sslrootcert in DB_URL: the TLS file "
    )


def test_a_large_file_and_hostile_paths_are_refused_in_one_visible_line(tmp_path):
    big = tmp_path / "big\x1b[2J\nname"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    line = names({}, {"KRB5CCNAME": str(big)})
    assert line == (
        f"KRB5CCNAME: the Kerberos ticket cache {tmp_path}/big\\x1b[2J\\nname is not a regular "
        "file of at most 1 MiB, and libpq would wait on it for ever"
    )
    # Missing files, other cache types and odd paths are left to libpq.
    assert names({}, {"KRB5CCNAME": "KEYRING:persistent:1"}) is None
    assert names({}, {"PGSSLCERT": str(tmp_path / "missing"), "KRB5_CONFIG": "\x00"}) is None


def test_kerberos_encryption_is_off_unless_asked_for(pg, settings_for, monkeypatch):
    def mode(url):
        with database.make_engine(settings_for(url)).connect() as conn:
            return conn.connection.dbapi_connection.info.dsn_parameters["gssencmode"]

    monkeypatch.delenv("PGGSSENCMODE", raising=False)
    assert mode(pg.url) == "disable"
    asked = sa.make_url(pg.url).update_query_dict({"gssencmode": "prefer"})
    assert mode(asked.render_as_string(hide_password=False)) == "prefer"
    monkeypatch.setenv("PGGSSENCMODE", "prefer")
    assert mode(pg.url) == "prefer"


def test_an_openssl_configuration_that_would_hang_is_refused_before_ssl_is_imported(
    fifo, cli_env, tmp_path
):
    import subprocess

    from tests.helpers import COMMAND, SEED_WINDOW

    env = cli_env("postgresql://reader@db.example.com/calls", OPENSSL_CONF=fifo)
    done = subprocess.run(
        [*COMMAND, "check", *SEED_WINDOW],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"user-failure-stats: error: OPENSSL_CONF: the OpenSSL configuration {fifo} is not a "
        "regular file of at most 1 MiB, and OpenSSL would wait on it for ever\n"
    )


def test_the_users_libpq_may_connect_as_are_known_before_it_connects(tmp_path, monkeypatch):
    # A server can name the user while refusing the connection: a user from a service file,
    # PGUSER or the operating system's is hidden as one in DB_URL is.
    import getpass

    services = tmp_path / "services.conf"
    services.write_text("[reports]\nhost=db\nuser = sekret_role\n\n[other]\n user=second_role\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.setenv("PGUSER", "env_role")
    users = libpq_files.possible_users({"service": "reports"}, os.environ)
    assert {"sekret_role", "second_role", "env_role", getpass.getuser()} <= users
    with database.database_errors("postgresql:///?service=reports") as roles:
        assert {"sekret_role", "env_role"} <= roles
    assert database.hide_roles("login refused for sekret_role", roles) == (
        "login refused for (role)"
    )


@pytest.mark.parametrize(
    ("line", "password"),
    [
        ("*:*:*:*:Tr0ubadour", "Tr0ubadour"),
        ("*:*:*:*:Tr0ubadour:x", "Tr0ubadour"),  # libpq ends it at the next colon
        ("*:*:*:*:ab\\:cdefgh", "ab:cdefgh"),  # an escaped colon is part of it
        ("*:*:*:u\\\\:Secr3tPwd", "Secr3tPwd"),  # the user ends with an escaped backslash
        ("db\\:1:*:*:*:pass\\\\word\r", "pass\\word"),  # a CR before the newline is no part
        ("*:*:*:*:ends\\", "ends\\"),  # a last backslash stands for itself
        ("#*:*:*:*:commented", None),
        ("*:*:*:no-password", None),
        ("*:*:*:*:", None),
        ("*:*:*:*:Sekr\x00\n3tPw99", "Sekr3tPw99"),  # libpq's fgets: a NUL joins the next line
        ("*:*:*:*:Sekr\x00tail\r\n3tPw99\r", "Sekr3tPw99"),
    ],
)
def test_a_password_files_lines_are_read_as_libpq_reads_them(tmp_path, line, password):
    # The password is what libpq would send, so it is hidden wherever the tool speaks.
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"{line}\nhost:5432:db:user:Zz9Other\n")
    found = libpq_files.possible_passwords({}, {"PGPASSFILE": str(passfile)})
    assert found == {"Zz9Other"} | ({password} if password else set())


def test_a_trial_connection_that_cannot_start_is_one_line(tmp_path, monkeypatch):
    # No process may be left (EAGAIN), or Python's own folder is closed to this user.
    closed = tmp_path / "python"
    closed.write_text("")
    closed.chmod(0o000)
    monkeypatch.setattr(libpq_files.sys, "executable", str(closed))
    with pytest.raises(DatabaseError) as caught:
        libpq_files.probe({"host": "/nowhere", "dbname": "unstartable"}, 5, "db (socket /x)")
    assert str(caught.value).startswith(
        "cannot connect to the database db (socket /x): cannot start a trial connection: "
    )
    assert "\n" not in str(caught.value)


def test_password_and_service_files_reached_through_links_are_read_as_libpq_reads_them(
    tmp_path,
):
    # Dotfiles kept by stow or chezmoi are links: libpq follows them, so the passwords and
    # users they give are hidden too.
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "pgpass").write_text("*:*:*:*:LinkedPassw0rd\n")
    (dotfiles / "pgpass").chmod(0o600)
    (dotfiles / "services").write_text("[s2]\nuser=linked_role\npassword=LinkedServ1ce\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pgpass").symlink_to(dotfiles / "pgpass")
    (home / ".pg_service.conf").symlink_to(dotfiles / "services")
    environ = {"HOME": str(home)}
    found = libpq_files.possible_passwords({"service": "s2"}, environ)
    assert found == {"LinkedPassw0rd", "LinkedServ1ce"}
    assert "linked_role" in libpq_files.possible_users({"service": "s2"}, environ)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert libpq_files.possible_passwords({}, {"PGPASSFILE": str(fifo)}) == set()  # no wait


def test_a_client_keys_passphrase_is_hidden_as_a_password():
    services = {"sslpassword": "KeyPassphrase1"}
    assert libpq_files.possible_passwords(services, {}) == {"KeyPassphrase1"}


@pytest.mark.parametrize(
    ("line", "password"),
    [
        ("password=Secret99\x00xx", "Secret99"),  # libpq sends what comes before the NUL
        ("password=Sec\x00xx\nret99", "Secret99"),  # and joins the next line to it
        ("sslpassword=KeyPass99\x00", "KeyPass99"),
    ],
)
def test_a_service_files_lines_are_read_as_libpq_reads_them(tmp_path, line, password):
    services = tmp_path / "services"
    services.write_bytes(f"[svc]\nuser=u\n{line}\n".encode())
    found = libpq_files.possible_passwords({"service": "svc"}, {"PGSERVICEFILE": str(services)})
    assert found == {password}


def test_passwords_and_users_of_bytes_that_are_no_utf8_are_found_as_python_holds_them(
    tmp_path,
):
    # A password file's b"pw\xffsecret99" is the PGDATABASE=$'pw\xffsecret99' Python holds.
    passfile = tmp_path / "pgpass"
    passfile.write_bytes(b"*:*:*:*:pw\xffsecret99\n")
    services = tmp_path / "services"
    services.write_bytes(b"[svc]\nuser=r\xf6le\npassword=sv\xffsecret99\n")
    environ = {"PGPASSFILE": str(passfile), "PGSERVICEFILE": str(services)}
    found = libpq_files.possible_passwords({"service": "svc"}, environ)
    assert found == {"pw\udcffsecret99", "sv\udcffsecret99"}
    assert "r\udcf6le" in libpq_files.possible_users({"service": "svc"}, environ)
