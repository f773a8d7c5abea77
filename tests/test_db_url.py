"""DB_URL: checked as SQLAlchemy and libpq read it, described without its user or password."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from user_failure_stats.db_url import check_db_url, describe_database, url_passwords
from user_failure_stats.errors import ConfigError
from user_failure_stats.settings import Settings, load_settings

SECRET = "s3cr3t-sentinel"


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
    from user_failure_stats.db_url import check_db_url

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


@pytest.mark.parametrize(
    ("url", "environ", "shown"),
    [
        (
            "postgresql://u:Zq9Sentinel@/xZq9Sentinel?host=/run/pg",
            {},
            "x(password) (socket /run/pg)",
        ),
        ("postgresql://u:Zq9%53entinel@h/Zq9Sentinel", {}, "h/(password)"),
        ("postgresql://u@h/Zq9Sentinel?password=Zq9Sentinel", {}, "h/(password)"),
        (
            "postgresql://u:Zq9Sentinel@/db?host=/tmp/emptyZq9Sentinel",
            {},
            "db (socket /tmp/empty(password))",
        ),
        (
            "postgresql://u@/db",
            {"PGPASSWORD": "Zq9Sentinel", "PGHOST": "/s/Zq9Sentinel"},
            "db (socket /s/(password))",
        ),
        ("postgresql://u@h/db", {"PGPASSWORD": "Zq9Sentinel", "PGDATABASE": "x"}, "h/db"),
        ("postgresql://u:Zq9Sentinel@h/?dbname=Zq9Sentinel", {}, "h/(password)"),
    ],
)
def test_a_database_or_folder_named_like_the_password_is_never_described(
    monkeypatch, url, environ, shown
):
    for key in ("PGPASSWORD", "PGHOST", "PGDATABASE", "PGUSER", "PGSERVICE", "PGPORT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert describe_database(url) == shown
    assert repr(Settings(db_url=url)).startswith(f"Settings(database={shown!r}")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # The tool's own words stay: a password that is one of them hides only the URL's parts.
        ("postgresql://u:database@h/nodb", "h/nodb"),
        ("postgresql://u:socket@/db?host=/run/pg", "db (socket /run/pg)"),
        ("postgresql://u:default@/?host=/run/socket", "(default) (socket /run/socket)"),
        # Near the password: in another case, percent-encoded, or decomposed (NFD).
        ("postgresql://u:Hunter2pw@h/HUNTER2PW", "h/(password)"),
        ("postgresql://u:Hunter2pw@h/?dbname=Hunter%2532pw", "h/(password)"),
        ("postgresql://u:S%C3%A9cr%C3%A9t99@h/Se%CC%81cre%CC%81t99", "h/(password)"),
    ],
)
def test_only_the_urls_parts_are_hidden_and_near_forms_too(monkeypatch, url, shown):
    for key in ("PGPASSWORD", "PGHOST", "PGDATABASE", "PGUSER", "PGSERVICE", "PGPORT"):
        monkeypatch.delenv(key, raising=False)
    assert describe_database(url) == shown


def test_a_password_the_caller_knows_is_hidden_too(monkeypatch):
    # From a password or service file: the database adapter passes them on.
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = "postgresql://u@/Pgp4ssSecret?host=/tmp/Pgp4ssSecret"
    assert describe_database(url, {"Pgp4ssSecret"}) == "(password) (socket /tmp/(password))"


def test_the_client_keys_passphrase_is_hidden_as_a_password():
    # ?sslpassword= unlocks the client's key: a database named like it shows no part of it.
    url = "postgresql://reader@/KeyPassphrase1?host=/s&sslpassword=KeyPassphrase1"
    assert url_passwords(url) == {"KeyPassphrase1"}
    assert describe_database(url) == "(password) (socket /s)"


def test_a_password_of_bytes_that_are_no_utf8_is_hidden_in_every_form():
    # PGPASSWORD=$'ab\xffcd': a lone surrogate in Python, %FF once percent-encoded.
    from user_failure_stats.db_url import shown_forms

    assert {"ab\udcffcd", "ab%FFcd", "ab\\udcffcd"} <= shown_forms({"ab\udcffcd"})


def test_a_password_of_bytes_is_hidden_as_libpq_and_a_server_show_it():
    # libpq's words keep the byte, which the driver shows escaped: "pw\xffsecret99".
    from user_failure_stats.database import Hidden, hide_roles
    from user_failure_stats.db_url import shown_forms

    hidden = Hidden({"r\udcf6le"}, shown_forms({"pw\udcffsecret99"}))
    words = "auth failed for r\\xf6le with pw\\xffsecret99, db pw\\udcffsecret99"
    assert hide_roles(words, hidden) == ("auth failed for (role) with (password), db (password)")
