"""`user-failure-stats serve`: the endpoint over real HTTP (waitress), against the test database."""

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.helpers import COMMAND, readme_block, start_cli
from tests.seed import SEED_ORDER
from user_failure_stats import endpoint
from user_failure_stats.settings import Settings

KEY = "test-key-0123456789abcdef"
WINDOW = {"start": "2025-05-21", "end": "2025-05-23", "timezone": "Asia/Kolkata"}


@pytest.fixture
def server(pg, cli_env, tmp_path):
    """A running ``serve --port 0`` on the seeded database; yields its URL and the process."""
    pg.seed()
    env = cli_env(pg.url, ENDPOINT_KEY=KEY)
    process = start_cli(["serve", "--port", "0"], env, tmp_path)
    try:
        first = process.stdout.readline()
        assert first.startswith("Serving http://127.0.0.1:"), first + process.stderr.read()
        yield first.split()[1], process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def call(url, params=None, headers=None, body=None, method=None):
    """Return (status, headers, body text) of one request; errors are answers too."""
    request = urllib.request.Request(
        url + ("?" + urlencode(params) if params else ""),
        data=body,
        headers=headers or {},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def test_the_served_endpoint_answers_as_the_function_does(server, pg):
    url, process = server
    status, headers, body = call(url, WINDOW | {"code": KEY})
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(body)
    assert data["summary"]["total_sessions"] == 341
    assert data["summary"]["total_failures"] == 82
    assert [u["user_name"] for u in data["users"]] == SEED_ORDER
    # The same answer as the function's logic gives in this process.
    direct = endpoint.failure_analysis(WINDOW, Settings(db_url=pg.url, db_timezone="UTC"))
    assert data == direct.json()
    # The key as a header, the parameters as a JSON body; CSV on request.
    status, headers, text = call(
        url,
        headers={"x-functions-key": KEY, "Content-Type": "application/json"},
        body=json.dumps(WINDOW | {"format": "csv"}).encode(),
    )
    assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="user_failure_stats.csv"'
    assert text.splitlines()[0].startswith("user_name,total_sessions,failed_sessions,")
    assert len(text.splitlines()) == 1 + len(SEED_ORDER)
    # Bad parameters are the function's 400, naming the parameter.
    status, _, body = call(url, {"code": KEY, "top_n": "many"})
    assert status == 400 and json.loads(body)["parameter"] == "top_n"


@pytest.mark.parametrize(
    ("path", "params", "headers", "method", "status", "error"),
    [
        ("", WINDOW, {}, None, 401, "a valid key is required"),
        ("", {"code": KEY[:-1] + "X"}, {}, None, 401, "a valid key is required"),
        ("", {}, {"x-functions-key": "wrong"}, None, 401, "a valid key is required"),
        ("/../admin", {"code": KEY}, {}, None, 404, "not found"),
        ("", {"code": KEY}, {}, "PUT", 405, "use GET or POST"),
    ],
)
def test_requests_without_the_key_or_the_route_are_refused(
    server, path, params, headers, method, status, error
):
    url, _ = server
    got, answer_headers, body = call(url + path, params, headers, method=method)
    assert got == status and json.loads(body)["error"].startswith(error)
    assert answer_headers["Cache-Control"] == "no-store"
    if status == 405:
        assert answer_headers["Allow"] == "GET, POST"


def test_a_large_or_broken_body_is_refused(server):
    url, _ = server
    headers = {"x-functions-key": KEY, "Content-Type": "application/json"}
    status, _, body = call(url, headers=headers, body=b"{" * (65 * 1024))
    assert status == 413 and json.loads(body) == {
        "error": "the body is larger than 64 KiB",
        "parameter": "body",
    }
    status, _, body = call(url, headers=headers, body=b"[1, 2]")
    assert status == 400 and json.loads(body)["parameter"] == "body"
    status, _, body = call(f"{url}?start=2025-05-21&end=2025-05-23&start=2025-05-22", None, headers)
    assert status == 400 and json.loads(body) == {
        "error": "start is given twice",
        "parameter": "start",
    }
    # Larger than the server reads at all: refused before the body is read, key or not.
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    connection.putrequest("POST", where.path)
    connection.putheader("Content-Length", str(2 * 1024 * 1024))
    connection.endheaders()  # and not one byte of the body
    assert connection.getresponse().status == 413
    connection.close()


def test_serve_logs_requests_without_their_key_and_stops_on_sigterm(server):
    url, process = server
    call(url, WINDOW | {"code": KEY})
    call(url, {"code": "guess-\x1b[2J"})
    call(url.replace("/api/failure_analysis", "/nope"), {"code": KEY})
    call(url.replace("/api/failure_analysis", f"/api/failure_analysis;code={KEY}"))
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM
    assert out.splitlines() == [
        "GET /api/failure_analysis 200",
        "GET /api/failure_analysis 401",
        "GET (another path) 404",  # never the path asked for (a key put in it), nor the query
        "GET (another path) 404",
    ]
    assert err.splitlines()[-1] == "user-failure-stats: interrupted by SIGTERM: stopped"
    assert KEY not in out + err


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        ({}, "ENDPOINT_KEY is not set: the endpoint answers only requests that give it"),
        ({"ENDPOINT_KEY": "short"}, "ENDPOINT_KEY must be 16 to 512 printable ASCII characters"),
    ],
)
def test_serve_refuses_to_start_without_a_strong_key(pg, cli_env, tmp_path, extra, line):
    done = subprocess.run(
        [*COMMAND, "serve", "--port", "0"],
        env=cli_env(pg.url, **extra),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("user-failure-stats: error: " + line), done.stderr
    assert done.stdout == ""


def test_the_readmes_serve_commands_work_as_written(pg, cli_env, tmp_path):
    import socket

    pg.seed()
    with socket.socket() as probe:  # a free port, for 7071 may be taken here
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lines = readme_block("user-failure-stats serve")
    assert len(lines) == 3 and lines[1].startswith(".venv/bin/user-failure-stats serve &")
    script = "\n".join(lines).replace("serve &", f"serve --port {port} &")
    script = script.replace(":7071/", f":{port}/")
    script = script.replace(".venv/bin/", f"{Path(sys.executable).parent}/")  # floors: theirs
    done = subprocess.run(
        ["bash", "-c", f"{script}\nstatus=$?\nkill %1\nwait\nexit $status"],
        env=cli_env(pg.url, ENDPOINT_KEY=""),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["window"]["length"] == "2 days"
    assert answer["summary"]["total_sessions"] == 341  # the seed's window, as the README asks


def test_a_request_in_flight_is_answered_when_serve_is_stopped(server, pg):
    # SIGTERM (a service manager's stop) lets the requests in flight finish; the ones that
    # come meanwhile are told 503, and the server then stops as before.
    import sqlalchemy as sa

    from user_failure_stats.database import driver_url

    url, process = server
    answers = {}
    locker = sa.create_engine(driver_url(pg.url))
    try:
        with locker.begin() as conn:  # the request's query waits on this lock
            conn.execute(sa.text("LOCK TABLE public.calllog IN ACCESS EXCLUSIVE MODE"))
            waiting = threading.Thread(
                target=lambda: answers.update(first=call(url, WINDOW | {"code": KEY}))
            )
            waiting.start()
            for _ in range(200):
                if pg.rows("SELECT 1 FROM pg_locks WHERE NOT granted"):
                    break
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            for _ in range(50):
                status, headers, body = call(url, WINDOW | {"code": KEY})
                if status == 503:
                    break
                time.sleep(0.1)
            assert (status, json.loads(body)) == (503, {"error": "the server is stopping"})
            assert headers["Retry-After"] == "5"
        waiting.join(60)
    finally:
        locker.dispose()
    assert answers["first"][0] == 200
    assert json.loads(answers["first"][2])["summary"]["total_sessions"] == 341
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert out.splitlines()[-1] == "GET /api/failure_analysis 200"
    assert err.splitlines() == [
        "stopping: answering the 1 request in flight (at most 20 s); a second signal does not wait",
        "user-failure-stats: interrupted by SIGTERM: stopped",
    ]
