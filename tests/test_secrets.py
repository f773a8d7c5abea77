"""A sentinel password in DB_URL never appears in anything the tool prints, writes or logs."""

import json
import logging
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.helpers import SEED_WINDOW
from tests.helpers import run_cli as cli
from user_failure_stats import endpoint
from user_failure_stats.database import driver_url

SECRET = "s3cr3t-sentinel"
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "user_failure_rates.ipynb"


def secret_url(url: str) -> str:
    """The test database's URL with the sentinel as password (trust auth ignores it)."""
    return driver_url(url).set(password=SECRET).render_as_string(hide_password=False)


REFUSED = f"postgresql://reader:{SECRET}@127.0.0.1:1/telephony"
# A database named like the password: check's first line describes it before connecting.
NAMED_LIKE_IT = f"postgresql://reader:{SECRET}@127.0.0.1:1/x{SECRET}"


def leaks(folder: Path) -> list[str]:
    """Every file below ``folder`` that holds the sentinel."""
    return [str(p) for p in folder.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def test_run_and_check_never_show_the_password(pg, cli_env, tmp_path):
    pg.seed()
    out = tmp_path / "out"
    # --verbose adds a traceback on failure only: a run that succeeds is tried once.
    for url, expected in ((secret_url(pg.url), 0), (REFUSED, 3), (NAMED_LIKE_IT, 3)):
        env = cli_env(url)
        for args in (
            ["run", *SEED_WINDOW, "--output-dir", str(out)],
            ["run", *SEED_WINDOW, "--output-dir", str(out), "--verbose"],
            ["check", *SEED_WINDOW],
            ["check", *SEED_WINDOW, "--verbose"],
        ):
            if expected == 0 and args[0] == "run" and "--verbose" in args:
                continue
            result = cli(args, env, tmp_path)
            assert result.returncode == expected, (args, result.stderr)
            assert SECRET not in result.stdout + result.stderr, args
    assert len(list(out.glob("user_failure_rates_*.html"))) == 1
    assert leaks(tmp_path) == []


def test_demo_never_shows_the_password(cli_env, tmp_path, demo_dir):
    result = cli(
        [
            "demo",
            "--data-dir",
            str(demo_dir / "pg"),
            "--output-dir",
            str(tmp_path / "o"),
            "--quiet",
        ],
        cli_env(REFUSED),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert leaks(tmp_path / "o") == []


def execute_notebook(env_url: str, monkeypatch, tmp_path):
    monkeypatch.setenv("DB_URL", env_url)
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "nb-out"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = exc
    executed = tmp_path / "executed.ipynb"
    nbformat.write(notebook, executed)
    return executed, error


def test_the_notebook_run_directly_never_shows_the_password(pg, monkeypatch, tmp_path):
    pg.seed()
    executed, error = execute_notebook(secret_url(pg.url), monkeypatch, tmp_path)
    assert error is None
    assert "Anushka" in executed.read_text()
    executed, error = execute_notebook(REFUSED, monkeypatch, tmp_path)
    assert error is not None and "connection refused" in str(error)
    assert SECRET not in str(error)
    assert leaks(tmp_path) == []


def test_the_endpoint_never_shows_the_password(pg, tmp_path, monkeypatch, caplog):
    pg.seed()
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "api-out"))
    caplog.set_level(logging.DEBUG)
    for url, status in ((secret_url(pg.url), 200), (REFUSED, 503)):
        monkeypatch.setenv("DB_URL", url)
        for extra, expected in (
            ({}, status),
            ({"include_details": "true"}, status),
            ({"format": "csv"}, status),
            ({"limit": "x"}, 400),  # a bad parameter is refused before the database is asked
        ):
            answer = endpoint.failure_analysis({"start": "2025-05-21", "end": "2025-05-23"} | extra)
            assert answer.status == expected, (extra, answer.body)
            assert SECRET not in answer.body + json.dumps(answer.headers)
    assert SECRET not in caplog.text
    assert leaks(tmp_path) == []
