"""The psycopg2 connection every engine makes, and the waits for its server.

Each wait has a deadline, libpq's own warnings are escaped, and the session has no
transaction timeout from the moment it opens.
"""

from __future__ import annotations

import os
import re
import select
import sys
import threading
import time
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions

from user_failure_stats.text import bounded, visible


def pin_session(dbapi_connection, session: dict[str, str]) -> None:
    """Set the session's settings again once it is open, and switch off ``transaction_timeout``.

    The startup options set ``session`` first, but a login event trigger (PostgreSQL 17+) runs
    after them and may change any of them (``search_path`` to look-alike operators, the time
    zone, read-only): they are set again here, through ``pg_catalog.set_config`` named whole,
    before any query of the report. A role's or database's transaction timeout, which the
    startup options cannot name on older servers, would end the report's reads with no reason
    given: it is switched off.
    """
    dbapi_connection.autocommit = True  # outside the report's transaction
    with dbapi_connection.cursor() as cursor:
        if session:
            calls = ", ".join(["pg_catalog.set_config(%s, %s, false)"] * len(session))
            cursor.execute(f"SELECT {calls}", [item for pair in session.items() for item in pair])
        if dbapi_connection.server_version >= 170000:
            cursor.execute("SET transaction_timeout = 0")
    dbapi_connection.autocommit = False


class NoAnswer(psycopg2.OperationalError):
    """The server did not answer within the client's deadline; ``connecting`` says when."""

    def __init__(self, message: str, connecting: bool):
        super().__init__(message)
        self.connecting = connecting


def deadline_connection(
    connect_seconds: float, query_seconds: float, session: dict[str, str] | None = None
) -> type:
    """Return a psycopg2 connection class whose waits for the server have deadlines.

    :func:`wait_with_deadline`, which keeps them, becomes psycopg2's wait callback (its
    documented hook) for the process. Each connection's settings are ``session``, set again
    once it is open (:func:`pin_session`).
    """
    psycopg2.extensions.set_wait_callback(wait_with_deadline)
    attributes = {
        "connect_deadline": connect_seconds,
        "query_deadline": query_seconds,
        "session": dict(session or {}),
    }
    return type("DeadlineConnection", (ReportConnection,), attributes)


class ReportConnection(psycopg2.extensions.connection):
    """A psycopg2 connection whose session settings hold from the moment it opens."""

    session: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        with libpq_warnings():
            try:
                super().__init__(*args, **kwargs)
            except UnicodeDecodeError as exc:  # libpq's words about a name that is no UTF-8
                raise undecodable(exc) from None
        pin_session(self, self.session)


def undecodable(exc: UnicodeDecodeError) -> psycopg2.OperationalError:
    """Return libpq's or a server's words that are no UTF-8 as an error, bytes escaped.

    Before the session's encoding is set, a server speaks its locale's (a LATIN1 server's
    German "wrong password"), and libpq repeats names given to it as bytes.
    """
    words = exc.object.decode("utf-8", "backslashreplace").strip()
    return psycopg2.OperationalError(SEVERITY.sub("", words))


SEVERITY = re.compile(r"^(?:FATAL|ERROR|PANIC):\s+")  # libpq's prefix to a server's words
WARNINGS_LIMIT = 5  # lines of libpq's own warnings passed on, each bounded
# File descriptor 2 is the process's: one connection at a time borrows it (serve's threads).
_STDERR = threading.Lock()


@contextmanager
def libpq_warnings():
    """Catch what libpq writes to stderr itself meanwhile, and pass it on escaped and bounded.

    libpq prints some warnings (``password file "..." is not a plain file``) straight to file
    descriptor 2, with whatever a path holds: escape sequences would reach the terminal.
    """
    import tempfile

    sys.stderr.flush()
    try:
        caught = tempfile.TemporaryFile()
    except OSError:  # no room for it: libpq's words, if any, go out as they are
        yield
        return
    with _STDERR, caught:
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read(64 * 1024).decode("utf-8", "replace").splitlines()
            for line in [line for line in lines if line.strip()][:WARNINGS_LIMIT]:
                print(f"warning: libpq: {bounded(visible(line.strip()), 300)}", file=sys.stderr)


@contextmanager
def blocking_waits():
    """Wait for the server the ordinary, blocking way meanwhile.

    psycopg2 refuses ``COPY`` under a wait callback (:func:`deadline_connection`); it is put back.
    """
    saved = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(saved)


def wait_with_deadline(conn) -> None:
    """Wait for the server as psycopg2 asks, within the connection's deadline, if it has one.

    Raises:
        NoAnswer: The deadline passed (psycopg2 then closes the connection).
    """
    connecting = conn.status == psycopg2.extensions.STATUS_SETUP
    limit = getattr(conn, "connect_deadline" if connecting else "query_deadline", None)
    ends = None if limit is None else time.monotonic() + limit
    while True:
        try:
            state = conn.poll()
        except UnicodeDecodeError as exc:  # a server's words in its locale's encoding
            raise undecodable(exc) from None
        if state == psycopg2.extensions.POLL_OK:
            return
        left = None if ends is None else ends - time.monotonic()
        if left is not None and left <= 0:  # psycopg2 then closes the connection
            raise NoAnswer(f"no answer within {limit:g} s", connecting)
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [], left)
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [], left)
        else:  # pragma: no cover - psycopg2 knows no other state
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
