"""Hostile text from outside: names, a title and a database name built to break the outputs.

One database named ``<img src=x onerror=alert(7)>`` holds users whose names carry markup,
script, quotes, CR/LF, terminal escape sequences, bidi overrides, spreadsheet formulas, emoji
and 10,000 characters. The report made from it (with a hostile title) goes through the real
command line, the CSV is read back, the console is read for raw control characters, the
endpoint answers, and the HTML is opened in Chromium. A sentinel password rides along.
"""

import csv
import io
import json
import logging
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.conftest import Loader
from tests.helpers import CHROMIUM
from tests.helpers import run_cli as cli
from user_failure_stats import endpoint
from user_failure_stats.database import driver_url
from user_failure_stats.db_url import describe_database
from user_failure_stats.demo import SCHEMA_SQL

SENTINEL = "SENTINEL-pw-7f3a"
DB_NAME = "<img src=x onerror=alert(7)>"
TITLE = '[t](javascript:alert(1)) ![i](http://evil.example/p.png) <b onclick=alert(2)>"T"</b>'
QUOTED = "\"RK\" & 'single' <i>"
NAMES = [
    QUOTED,  # 19 of 20 failed: alone in the 90-100% bracket
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<a href='javascript:alert(3)'>click</a>",
    "[t](javascript:alert(4))",
    "![i](http://evil.example/p.png)",
    "evil\rOVERWRITTEN",
    "line\nbreak",
    "=cmd|' /C calc'!A0",
    "+SUM(1,1)",
    "-2+3",
    "@SUM(A1)",
    "\tTab first",
    "\rCR first",
    "\x1b[2J\x1b]0;pwned\x07clear",
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "\x1b[8mhidden\x1b[0m",
    "bell\x07",
    "rtl\u202eevil",
    "%{x} {{7*7}} ${x}",
    "😀 emoji 👨\u200d👩\u200d👧",
    "x" * 10_000,
]
RAW_CONTROLS = {chr(c) for c in range(32) if c != 10} | {chr(c) for c in range(0x7F, 0xA0)}
RAW_CONTROLS |= set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")


def failed_of(index: int) -> int:
    return 19 if index == 0 else index % 16


@pytest.fixture(scope="module")
def hostile_url(admin_url):
    """A database named like markup, holding the hostile users; its URL has the sentinel."""
    admin = sa.create_engine(driver_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    url = driver_url(admin_url).set(database=DB_NAME)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(SCHEMA_SQL))
    loader = Loader(engine, url)
    loader.users([(i + 1, name) for i, name in enumerate(NAMES)])
    loader.calls(
        {
            "session_id": f"s{i}-{k}",
            "user_id": i + 1,
            "exotel_call_sid": None if k < failed_of(i) else f"CA{i}-{k}",
            "created_on": f"2025-05-21 0{k % 10}:00:00",
        }
        for i in range(len(NAMES))
        for k in range(20)
    )
    engine.dispose()
    yield url.set(password=SENTINEL).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    admin.dispose()


ARGS = ["--start", "2025-05-21", "--end", "2025-05-22", "--top-n", "30", "--min-sessions", "1"]


@pytest.fixture(scope="module")
def hostile_run(hostile_url, tmp_path_factory):
    """``run`` over the hostile database with the hostile title; returns (result, out dir)."""
    import os

    folder = tmp_path_factory.mktemp("hostile")
    env = {k: v for k, v in os.environ.items() if k not in ("OUTPUT_DIR", "START_DATE")}
    env.update({"DB_URL": hostile_url, "DB_TIMEZONE": "UTC"})
    result = cli(["run", *ARGS, "--title", TITLE, "--output-dir", "out"], env, folder)
    return result, folder / "out", env, folder


def test_the_hostile_run_succeeds_and_its_console_has_no_raw_control_character(hostile_run):
    result, _, _, _ = hostile_run
    assert result.returncode == 0, result.stderr
    console = result.stdout + result.stderr
    assert RAW_CONTROLS.isdisjoint(console), sorted(RAW_CONTROLS & set(console))
    # The console lists flagged users only; any hostile name it shows is escaped.
    if "pwned" in result.stdout:
        assert "\\x1b[2J\\x1b]0;pwned\\x07clear" in result.stdout
    assert "Users failing significantly more than the rest:" in result.stdout


def test_the_hostile_csv_reads_back_exactly_with_formulas_neutralised(hostile_run):
    _, out, _, _ = hostile_run
    (path,) = out.glob("user_failure_stats_*.csv")
    expected = sorted("'" + n if n[0] in "=+-@\t\r" else n for n in NAMES)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["user_name"] for r in rows) == expected
    assert len(rows) == len(NAMES)
    back = pd.read_csv(path, keep_default_na=False)
    assert sorted(back["user_name"]) == expected
    quoted = next(r for r in rows if r["user_name"] == QUOTED)
    assert (quoted["failed_sessions"], quoted["total_sessions"]) == ("19", "20")


def test_check_over_the_hostile_database_escapes_everything(hostile_run):
    _, _, env, folder = hostile_run
    result = cli(["check", *ARGS[:4]], env, folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"database {describe_database(env['DB_URL'])};" in result.stdout
    assert DB_NAME in describe_database(env["DB_URL"])
    assert RAW_CONTROLS.isdisjoint(result.stdout + result.stderr)
    assert SENTINEL not in result.stdout + result.stderr


def test_no_output_holds_the_sentinel(hostile_run):
    result, out, _, _ = hostile_run
    assert SENTINEL not in result.stdout + result.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path


def test_the_report_heading_shows_title_and_database_as_text(hostile_run):
    _, out, _, _ = hostile_run
    page = next(p for p in out.glob("user_failure_rates_*.html")).read_text()
    assert "&lt;img src=x onerror=alert(7)&gt;" in page
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)  # plotly.js, data
    # Hostile text is only ever text: no tag of it, and no link or image to anywhere.
    assert (
        re.search(r"<(a|img|b|i|script)\b[^>]*(javascript:|onerror|onclick|evil)", markup, re.I)
        is None
    )
    assert "<script>alert" not in page and "alert(1)</script>" not in page


@pytest.mark.parametrize("password", [f"abc@{SENTINEL}", f"{SENTINEL}@x"])
def test_an_unencoded_at_in_the_password_is_refused_without_showing_it(
    hostile_run, password, caplog, monkeypatch
):
    _, _, env, folder = hostile_run
    url = env["DB_URL"].replace(f":{SENTINEL}@", f":{password}@")
    for args in (["check", *ARGS[:4]], ["run", *ARGS[:4], "--output-dir", "o2"]):
        result = cli(args, {**env, "DB_URL": url}, folder)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "%40" in result.stderr
        assert SENTINEL not in result.stdout + result.stderr
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DB_URL", url)
    answer = endpoint.failure_analysis({"start": "2025-05-21", "end": "2025-05-22"})
    assert answer.status == 500
    assert SENTINEL not in answer.body + caplog.text
    assert "%40" in caplog.text


def test_the_endpoint_keeps_raw_names_in_json_and_neutralises_its_csv(
    hostile_url, monkeypatch, tmp_path, caplog
):
    monkeypatch.setenv("DB_URL", hostile_url)
    monkeypatch.setenv("DB_TIMEZONE", "UTC")
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "api"))
    caplog.set_level(logging.DEBUG)
    window = {"start": "2025-05-21", "end": "2025-05-22"}
    answer = endpoint.failure_analysis(window)
    assert answer.status == 200
    assert sorted(u["user_name"] for u in answer.json()["users"]) == sorted(NAMES)
    text = endpoint.failure_analysis(window | {"format": "csv"}).body
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert "'=cmd|' /C calc'!A0" in [r["user_name"] for r in rows]
    assert "evil\rOVERWRITTEN" in [r["user_name"] for r in rows]
    assert SENTINEL not in answer.body + text + caplog.text
    assert json.loads(answer.body)["users"][0]["user_name"] == QUOTED


def test_demo_takes_a_hostile_title_as_text(cli_env, tmp_path, demo_dir):
    result = cli(
        ["demo", "--data-dir", str(demo_dir / "pg"), "--output-dir", "o", "--title", TITLE, "-q"],
        cli_env("postgresql://unused@127.0.0.1:1/x"),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    page = next((tmp_path / "o").glob("user_failure_rates_*.html")).read_text()
    assert "<title>[t](javascript:alert(1)) ![i](http://evil.example/p.png) &lt;b" in page
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)
    assert re.search(r"<(a|img|b)\b[^>]*(javascript:|onclick|evil)", markup, re.I) is None


@pytest.mark.parametrize(
    "title",
    ["x" * 201, "two\nlines", "esc\x1b[2J", "rtl\u202e"],
)
def test_titles_that_are_not_one_short_line_are_refused(title, cli_env, tmp_path):
    result = cli(["check", "--title", title], cli_env("postgresql://u@h/db"), tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("user-failure-stats: error: title must be one line")
    assert result.stderr.count("\n") == 1


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def test_names_are_control_free_in_every_displayed_place(hostile_run):
    # The executed notebook's outputs and the report show names on one line, escaped, bounded.
    _, out, _, _ = hostile_run
    notebook = json.loads(next(out.glob("user_failure_rates_*.ipynb")).read_text())
    outputs = "".join(
        text for cell in notebook["cells"] for text in _strings(cell.get("outputs", []))
    )
    page = next(out.glob("user_failure_rates_*.html")).read_text()
    assert "x" * 101 not in outputs and "x" * 101 not in page
    for char in RAW_CONTROLS:
        assert char not in outputs.replace("\n", ""), hex(ord(char))
    assert "\\x1b[8mhidden" in outputs
    assert unicodedata.lookup("GRINNING FACE") in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium")
def test_the_hostile_report_in_chromium_runs_nothing_and_sends_nothing(hostile_run, browser):
    from tests.helpers import hover_text, modebar_titles, open_offline

    _, out, _, _ = hostile_run
    report = next(out.glob("user_failure_rates_*.html"))
    page, external, errors, dialogs = open_offline(browser, report.as_uri(), 1400)
    assert page.title().startswith("[t](javascript:alert(1))")
    links = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
    csv = next(out.glob("user_failure_stats_*.csv")).as_uri()  # the one link: the CSV beside it
    assert [h for h in links if not h.startswith(report.as_uri())] == [csv]
    assert page.locator("img").count() == 0
    assert page.locator("[onerror], [onclick], [onload]").count() == 0
    buttons = modebar_titles(page)
    assert buttons and not [b for b in buttons if any(w in b for w in ("share", "cloud", "studio"))]
    body = page.locator("body").inner_text()
    assert "<script>alert(1)</script>" in body  # shown as text in the table
    assert "\\x1b[2J" in body
    top = page.locator(".ufs-top-users tbody tr").evaluate_all(
        "rows => rows.map(r => r.cells[1].textContent)"
    )
    assert top[0] == QUOTED  # once escaped: no &quot; or &amp; shown
    assert "<script>alert(1)</script>" in top and "x" * 99 + "…" in top
    assert page.title().endswith(" · 2025-05-21 to 2025-05-22 (UTC)")
    plots = page.locator(".js-plotly-plot")
    bar = plots.nth(0).locator(".barlayer .point path").nth(9)
    hover = hover_text(page, bar)
    assert QUOTED in hover and "&quot;" not in hover
    page.mouse.move(1, 1)
    for _ in range(3):  # every chart's hover layer, with the pointer swept over it
        page.mouse.wheel(0, 600)
    assert dialogs == []
    assert external == []
    assert errors == []
    page.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium")
def test_the_hostile_report_fits_a_phone(hostile_run, browser):
    from tests.helpers import assert_chart_readable, open_offline

    _, out, _, _ = hostile_run
    report = next(out.glob("user_failure_rates_*.html"))
    page, external, errors, dialogs = open_offline(browser, report.as_uri(), 390)
    artifacts = Path(__file__).resolve().parents[1] / "test-artifacts" / "layout"
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / "report-hostile-390.png"), full_page=True)
    # The title, 10,000 characters and names without spaces wrap: the page is as wide as
    # the phone, and every top user's row shows whole in its table's box.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    rows = page.locator(".ufs-top-users tbody tr")
    assert rows.count() == len(NAMES)
    box = page.locator(".ufs-top-users").evaluate(
        "t => { const b = t.closest('.ufs-table-box'); return [b.scrollWidth, b.clientWidth]; }"
    )
    assert box[0] <= box[1] + 1, box
    plots = page.locator(".js-plotly-plot")
    for i in range(plots.count()):
        assert_chart_readable(plots.nth(i), 390)
    assert external == [] and errors == [] and dialogs == []
    page.close()
