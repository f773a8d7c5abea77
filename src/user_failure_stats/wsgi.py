"""The HTTP endpoint anywhere: a WSGI app over :mod:`endpoint`, served by waitress.

Same route, parameters and answers as the Azure Function (docs/endpoint.md); the key is
``ENDPOINT_KEY``, given as ``?code=`` or the ``x-functions-key`` header, as Azure takes a
function key. Nothing of a request's query string (which holds the key) is logged.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from urllib.parse import parse_qsl

from user_failure_stats.endpoint import BadParameter, Response, failure_analysis, request_values
from user_failure_stats.errors import ConfigError
from user_failure_stats.formats import plural
from user_failure_stats.settings import Settings
from user_failure_stats.text import visible

log = logging.getLogger(__name__)

ROUTE = "/api/failure_analysis"
METHODS = ("GET", "POST")
BODY_LIMIT = 64 * 1024  # a request's parameters fit in far less
SERVER_BODY_LIMIT = 1024 * 1024  # what waitress reads of a body at most (its default: 1 GiB)
KEY_HEADER = "HTTP_X_FUNCTIONS_KEY"
HEADERS = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
# Stopped (SIGTERM, Ctrl-C), the server answers the requests in flight for this long at most,
# then a moment to send them; waitress then waits 5 s for its threads: under the 30 s a
# container platform waits before it kills.
DRAIN_SECONDS = 20.0
SEND_SECONDS = 0.5


class Flight:
    """The requests being answered, and whether the server is stopping (thread-safe)."""

    def __init__(self):
        self.changed = threading.Condition()
        self.count = 0
        self.stopping = False

    def begin(self) -> bool:
        """Count a request in, unless the server is stopping (then False)."""
        with self.changed:
            if self.stopping:
                return False
            self.count += 1
            return True

    def end(self) -> None:
        """Count a request out, its answer written."""
        with self.changed:
            self.count -= 1
            self.changed.notify_all()

    def stop(self) -> int:
        """Take no more requests; return how many are in flight."""
        with self.changed:
            self.stopping = True
            return self.count

    def wait(self, timeout: float) -> None:
        """Wait until no request is in flight, for ``timeout`` seconds at most."""
        with self.changed:
            self.changed.wait_for(lambda: self.count == 0, timeout)


class _Written(list):
    """A WSGI answer whose ``close`` (called once it is written) runs ``done``."""

    def __init__(self, body: bytes, done: Callable[[], None]):
        super().__init__([body])
        self.done = done

    def close(self) -> None:
        self.done()


def make_app(settings: Settings, flight: Flight | None = None) -> Callable:
    """Return the WSGI app answering ``GET`` and ``POST`` on :data:`ROUTE` with ``settings``.

    With ``flight``, requests are counted in it, and answered 503 once it is stopping.

    Raises:
        ConfigError: ``ENDPOINT_KEY`` is not set: the endpoint never runs without a key.
    """
    settings.require_db_url()
    if not settings.endpoint_key:
        raise ConfigError(
            "ENDPOINT_KEY is not set: the endpoint answers only requests that give it "
            "(?code= or the x-functions-key header); put it in .env or the environment",
            field="ENDPOINT_KEY",
        )
    key = settings.endpoint_key.encode()

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        counted = flight is not None and flight.begin()
        if flight is not None and not counted:
            answer = _error(503, "the server is stopping", {"Retry-After": "5"})
        else:
            try:
                answer = _answer(environ, settings, key)
            except BaseException:
                if counted:
                    flight.end()
                raise
        method = visible(str(environ.get("REQUEST_METHOD", ""))[:20])
        path = str(environ.get("PATH_INFO", ""))
        path = ROUTE if path.rstrip("/") == ROUTE else "(another path)"  # a key put in it
        log.info("%s %s %d", method, path, answer.status)  # never the query: it holds the key
        body = answer.body.encode("utf-8")
        headers = [
            ("Content-Type", f"{answer.mimetype}; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *HEADERS,
            *answer.headers.items(),
        ]
        status = HTTPStatus(answer.status)
        start_response(f"{status.value} {status.phrase}", headers)
        return _Written(body, flight.end) if counted else [body]

    return app


def _answer(environ: dict, settings: Settings, key: bytes) -> Response:
    """Answer one request: the route, method, key and body checked, then the endpoint's answer."""
    if environ.get("PATH_INFO", "").rstrip("/") != ROUTE:
        return _error(404, f"not found: the endpoint is {ROUTE}")
    method = environ.get("REQUEST_METHOD", "")
    if method not in METHODS:
        return _error(405, "use GET or POST", {"Allow": ", ".join(METHODS)})
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    given = dict(pairs).get("code") or environ.get(KEY_HEADER) or ""
    if not secrets.compare_digest(given.encode("utf-8", "replace"), key):
        return _error(401, "a valid key is required: ?code= or the x-functions-key header")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "Content-Length is not a number", parameter="body")
    if length > BODY_LIMIT:
        return _error(413, f"the body is larger than {BODY_LIMIT // 1024} KiB", parameter="body")
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        values = request_values(pairs, body)
    except BadParameter as exc:
        return _error(400, str(exc), parameter=exc.parameter)
    return failure_analysis(values, settings)


def _error(status: int, message: str, headers: dict | None = None, parameter: str = "") -> Response:
    payload = {"error": message} | ({"parameter": parameter} if parameter else {})
    return Response(status, json.dumps(payload), headers=headers or {})


def serve(settings: Settings, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve the endpoint on ``host:port`` with waitress until interrupted (Ctrl-C, SIGTERM).

    ``announce`` is told the endpoint's URL once it listens (port 0: the one chosen).
    """
    try:
        from waitress import create_server
    except ImportError:
        raise ConfigError(
            "serve needs waitress: pip install -c requirements.lock '.[serve]'"
        ) from None
    flight = Flight()
    app = make_app(settings, flight)
    try:
        server = create_server(
            app,
            host=host,
            port=port,
            threads=4,
            ident="user-failure-stats",
            # A body larger than this is refused (413) before it is read, key or not; the app's
            # own limit is lower. An idle connection is closed after 30 s (waitress: 120 s).
            max_request_body_size=SERVER_BODY_LIMIT,
            channel_timeout=30,
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    where = f"[{server.effective_host}]" if ":" in server.effective_host else server.effective_host
    announce(f"http://{where}:{server.effective_port}{ROUTE}")
    if threading.current_thread() is threading.main_thread():
        _drain_when_stopped(flight)
    try:
        server.run()
    finally:
        server.close()


def _drain_when_stopped(flight: Flight) -> None:
    """On SIGTERM, SIGINT or SIGHUP, answer the requests in flight, then pass the signal on.

    The signals' handlers before this one (the command line's) take it from there; a second
    signal goes straight to them.
    """
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    def stop(signum, frame):
        for sig, handler in before.items():
            signal.signal(sig, handler)
        busy = flight.stop()
        if busy:
            log.warning(
                "stopping: answering the %s in flight (at most %g s); "
                "a second signal does not wait",
                plural(busy, "request"),
                DRAIN_SECONDS,
            )
        threading.Thread(target=finish, args=(signum, busy), daemon=True).start()

    def finish(signum: int, busy: int) -> None:
        if busy:
            flight.wait(DRAIN_SECONDS)
            time.sleep(SEND_SECONDS)  # the last answer leaves waitress's buffer
        os.kill(os.getpid(), signum)

    for sig in before:
        signal.signal(sig, stop)
