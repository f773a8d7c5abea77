"""The files libpq reads while it connects, checked before it does.

libpq opens service, password, TLS and Kerberos files before any timeout applies and cannot be
interrupted while it reads them: a FIFO in their place waits for ever, ``/dev/zero`` spins even
through SIGTERM. Each one libpq would read must be a regular file of at most 1 MiB; a password
file must also be private, or libpq ignores it with a raw warning on stderr.

The files named here are checked by name (:func:`check_files`). Those no list can hold (the
ones a service file, a Kerberos configuration or OpenSSL's names in turn) are caught by a
trial connection in a child process, stopped at a deadline (:func:`probe`).
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from user_failure_stats.errors import ConfigError, DatabaseError
from user_failure_stats.files import read_regular
from user_failure_stats.text import visible

FILE_LIMIT = 1024 * 1024
# Bytes that are no UTF-8 are held as Python holds them from the environment (PGDATABASE).
BYTES = "surrogateescape"
# The connection parameters that are secrets: the password, and the client key's passphrase.
SECRET_PARAMETERS = ("password", "sslpassword")
# psycopg2-binary's libpq looks for pg_service.conf here when PGSYSCONFDIR is not set.
SYSCONFDIR = "/etc/postgresql-common"
KERBEROS_CONFIG = "/etc/krb5.conf"
# (connection parameter, environment variable, file in ~/.postgresql) for TLS.
TLS_FILES = (
    ("sslrootcert", "PGSSLROOTCERT", "root.crt"),
    ("sslcert", "PGSSLCERT", "postgresql.crt"),
    ("sslkey", "PGSSLKEY", "postgresql.key"),
    ("sslcrl", "PGSSLCRL", "root.crl"),
)


def check_files(query: Mapping, environ: Mapping | None = None, password: bool = False) -> None:
    """Raise ConfigError if a file libpq would read for this connection is unsafe to read.

    Args:
        query: The URL's query parameters (``service``, ``sslmode``, ``sslrootcert``...).
        environ: The environment libpq reads (``PGSERVICE``, ``PGSSLCERT``...); os.environ.
        password: Whether the URL or PGPASSWORD gives a password, so no password file is read.
    """
    environ = os.environ if environ is None else environ
    for source, what, path in candidates(query, environ, password):
        check_file(source, what, path, private=what == "password file")


def possible_users(query: Mapping, environ: Mapping) -> set[str]:
    """Return the names libpq may connect as, known before it connects: to hide them.

    ``PGUSER``, the operating system's user (libpq's default) and every ``user`` in the
    service files that apply (read only if small regular files, as :func:`check_files` asks).
    """
    users = {environ.get("PGUSER") or "", _system_user()}
    users |= {value for key, value in service_values(query, environ) if key == "user"}
    return {user for user in users if user}


def service_values(query: Mapping, environ: Mapping) -> Iterator[tuple[str, str]]:
    """Yield ``(key, value)`` of every line of the service files that apply (small files)."""
    for _, what, path in candidates(query, environ, password=True):
        data = read_libpq_file(path) if what == "service file" else None
        for line in file_lines(data or b""):
            key, equals, value = line.decode("utf-8", BYTES).rstrip("\r").partition("=")
            if equals:
                yield key.strip(), value.strip()


def possible_passwords(query: Mapping, environ: Mapping) -> set[str]:
    """Return the passwords libpq may send, known before it connects: to hide them.

    ``password`` in the URL's query, ``PGPASSWORD``, every ``password`` in the service files
    that apply, and every password in the password files (``passfile``, ``PGPASSFILE``,
    ``~/.pgpass``, or one a service file names), each read only if a small regular file.
    """
    found = {environ.get("PGPASSWORD") or ""}
    found |= {query[key] for key in SECRET_PARAMETERS if isinstance(query.get(key), str)}
    given = query.get("passfile") if isinstance(query.get("passfile"), str) else None
    passfiles = [
        given or environ.get("PGPASSFILE") or os.path.join(home_folder(environ), ".pgpass")
    ]
    for key, value in service_values(query, environ):
        if key in SECRET_PARAMETERS:
            found.add(value)
        elif key == "passfile":
            passfiles.append(value)
    for path in passfiles:
        for line in file_lines(read_libpq_file(path) or b"", passwords=True):
            found.add(passfile_password(line.decode("utf-8", BYTES).rstrip("\r")))
    return {password for password in found if password}


def read_libpq_file(path: str) -> bytes | None:
    """Return what libpq would read of the file ``path`` (through links, as it follows them).

    None unless a regular file of at most 1 MiB (a FIFO is never waited on).
    """
    return read_regular(Path(path), FILE_LIMIT, follow=True) if path else None


def file_lines(data: bytes, *, passwords: bool = False) -> Iterator[bytes]:
    """Yield a service or password file's lines as libpq reads them (with ``fgets``).

    A NUL ends what is read of a line, and the next line is joined to it. At the end of the
    file, a line so joined is read for a service file, and dropped for a password file
    (``passwords``), as libpq reads no more.
    """
    pieces = data.split(b"\n")
    pending = b""
    for number, piece in enumerate(pieces):
        final = number == len(pieces) - 1  # no newline after it
        if final and not piece:
            if pending and not passwords:
                yield pending
            return
        if b"\x00" in piece:
            pending += piece[: piece.index(b"\x00")]
            if not final:
                continue
        yield pending + (b"" if b"\x00" in piece else piece)
        pending = b""


def passfile_password(line: str) -> str:
    """Return the password of a password file's line as libpq reads it ("" for none).

    ``host:port:database:user:password``: a backslash takes the next character as it is, an
    unescaped colon ends a field (and the password: libpq sends no more), ``#`` a comment.
    """
    if line.startswith("#"):
        return ""
    fields = [""]
    characters = iter(line)
    for character in characters:
        if character == "\\":
            character = next(characters, "\\")  # a last backslash stands for itself
        elif character == ":":
            if len(fields) == 5:
                break
            fields.append("")
            continue
        fields[-1] += character
    return fields[4] if len(fields) == 5 else ""


def _system_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return ""


def check_openssl(environ: Mapping | None = None) -> None:
    """Raise ConfigError if ``OPENSSL_CONF`` names a file that is no small regular file.

    OpenSSL reads it as soon as Python's ``ssl`` or ``hashlib`` is first imported (psycopg2
    does), before any check of a connection: call this first.
    """
    environ = os.environ if environ is None else environ
    check_file("OPENSSL_CONF", "OpenSSL configuration", environ.get("OPENSSL_CONF") or "")


def candidates(query: Mapping, environ: Mapping, password: bool) -> Iterator[tuple[str, str, str]]:
    """Yield ``(where it was named, what it is, path)`` for each file libpq may read."""
    home = home_folder(environ)

    def given(parameter: str, variable: str) -> tuple[str, str] | None:
        if isinstance(query.get(parameter), str) and query[parameter]:
            return f"{parameter} in DB_URL", query[parameter]
        if environ.get(variable):
            return variable, environ[variable]
        return None

    if query.get("service") or environ.get("PGSERVICE"):
        source, path = given("servicefile", "PGSERVICEFILE") or (
            "~/.pg_service.conf",
            os.path.join(home, ".pg_service.conf"),
        )
        yield source, "service file", path
        sysconfdir = environ.get("PGSYSCONFDIR") or SYSCONFDIR
        yield "PGSYSCONFDIR", "service file", os.path.join(sysconfdir, "pg_service.conf")
    if not password and not query.get("password") and not environ.get("PGPASSWORD"):
        source, path = given("passfile", "PGPASSFILE") or (
            "~/.pgpass",
            os.path.join(home, ".pgpass"),
        )
        yield source, "password file", path
    if (query.get("sslmode") or environ.get("PGSSLMODE")) != "disable":
        for parameter, variable, default in TLS_FILES:
            source, path = given(parameter, variable) or (
                f"~/.postgresql/{default}",
                os.path.join(home, ".postgresql", default),
            )
            if path != "system":  # sslrootcert=system: the operating system's store
                yield source, "TLS file", path
    yield from kerberos_files(environ)


def home_folder(environ: Mapping) -> str:
    """Return the folder libpq takes for ``~``: ``HOME``, else the password database's."""
    if environ.get("HOME"):
        return environ["HOME"]
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return "/nonexistent"


def kerberos_files(environ: Mapping) -> Iterator[tuple[str, str, str]]:
    """Yield the Kerberos configuration and credential cache files, as GSSAPI would read them."""
    configs = environ.get("KRB5_CONFIG")
    for path in (configs or KERBEROS_CONFIG).split(":"):
        yield ("KRB5_CONFIG" if configs else KERBEROS_CONFIG), "Kerberos file", path
    cache = environ.get("KRB5CCNAME") or f"FILE:/tmp/krb5cc_{os.getuid()}"
    kind, _, rest = cache.partition(":")
    if not rest:  # no type: a file's path
        yield "KRB5CCNAME", "Kerberos ticket cache", cache
    elif kind == "FILE":
        source = "KRB5CCNAME" if environ.get("KRB5CCNAME") else "default"
        yield source, "Kerberos ticket cache", rest


def check_file(source: str, what: str, path: str, private: bool = False) -> None:
    """Raise ConfigError unless ``path`` is missing, or a regular file of at most 1 MiB.

    A missing or unreadable path is left alone: libpq skips it, or says so itself. With
    ``private``, a file that its group or others may read is refused too.
    """
    if not path:
        return
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return
    field = source.split()[0]
    reader = "OpenSSL" if source.startswith("OPENSSL") else "libpq"
    if not stat.S_ISREG(info.st_mode) or info.st_size > FILE_LIMIT:
        raise ConfigError(
            f"{source}: the {what} {visible(path)} is not a regular file of at most 1 MiB, "
            f"and {reader} would wait on it for ever",
            field=field,
        )
    if private and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{source}: the {what} {visible(path)} may be read by others, so libpq would "
            "ignore it: make it private (chmod 600)",
            field=field,
        )


# The child's whole program: connect with the parent's arguments (read from stdin, never the
# command line, which others may see), then say how it went.
PROBE = """
import json, sys
import psycopg2
try:
    psycopg2.connect(**json.load(sys.stdin)).close()
    print("ok")
except psycopg2.OperationalError as error:
    print("timeout" if "timeout expired" in str(error) else "failed")
except Exception:
    print("failed")
"""
_probed: dict[str, str] = {}  # what each set of arguments gave, once per process


def probe(arguments: dict, seconds: float, target: str) -> str:
    """Try the connection in a child process, stopped after ``seconds``; return how it went.

    ``ok``, ``failed`` (the real connection says why) or ``timeout`` (the connect timeout).
    Once per process for the same ``arguments``.

    Raises:
        DatabaseError: libpq did not return in time: it waits on a file it reads, or on
            servers slower than its connect timeout says; or the child could not be started.
    """
    key = json.dumps(arguments, sort_keys=True, default=str)
    if key in _probed:
        return _probed[key]
    try:
        done = subprocess.run(
            # -I: isolated, so no module in the current folder (a planted json.py) or from
            # PYTHON* variables runs in the child, which holds the password.
            [sys.executable, "-I", "-c", PROBE],
            input=key,
            capture_output=True,
            text=True,
            timeout=seconds,
        )
    except subprocess.TimeoutExpired:  # the child is killed: nothing of it is left
        raise DatabaseError(
            f"cannot connect to the database {visible(target)}: libpq did not return within "
            f"{seconds:g} s: the servers are slower than CONNECT_TIMEOUT_SECONDS allows, or "
            "libpq waits on a file it reads (a service, password, TLS, Kerberos or OpenSSL "
            "file, named in DB_URL, a service file or PG*, KRB5* or OPENSSL_* variables), "
            "which must be a small regular file"
        ) from None
    except OSError as error:  # no process may be made, or Python cannot be run by this user
        raise DatabaseError(
            f"cannot connect to the database {visible(target)}: cannot start a trial "
            f"connection: {visible(error.strerror or type(error).__name__)}"
        ) from None
    outcome = done.stdout.strip() or "failed"
    _probed[key] = outcome
    return outcome
