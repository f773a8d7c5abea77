import json
import subprocess

import pytest

from tests.helpers import COMMAND, SEED_WINDOW, run_cli
from user_failure_stats import reports_page
from user_failure_stats.outputs import html_name, summary_name


def entry(stamp, sessions=100, rate=0.25, flagged=2, title="Daily"):
    return {
        "stamp": stamp,
        "title": title,
        "generated": f"{stamp} IST",
        "window": {
            "start": "2025-05-21T00:00:00+05:30",
            "end": "2025-05-23T00:00:00+05:30",
            "timezone": "Asia/Kolkata",
        },
        "summary": {
            "total_sessions": sessions,
            "overall_failure_rate": rate,
            "flagged_users": flagged,
        },
        "parameters": {},
        "previous": {},
        "files": {"html": html_name(stamp), "csv": f"user_failure_stats_{stamp}.csv"},
    }


def publish(folder, record, with_html=True):
    (folder / summary_name(record["stamp"])).write_text(json.dumps(record))
    if with_html:
        (folder / record["files"]["html"]).write_text("<html></html>")


def test_entries_are_newest_first_and_need_their_report(tmp_path):
    publish(tmp_path, entry("20250523_010000"))
    publish(tmp_path, entry("20250524_010000"))
    publish(tmp_path, entry("20250524_010000_2"))
    publish(tmp_path, entry("20250525_010000"), with_html=False)  # report deleted
    (tmp_path / ".user_failure_rates_broken.json").write_text("{not json")
    stamps = [e.stamp for e in reports_page.read_entries(tmp_path)]
    assert stamps == ["20250524_010000_2", "20250524_010000", "20250523_010000"]


def test_index_page_links_reports_and_escapes_titles(tmp_path):
    publish(
        tmp_path,
        entry("20250523_010000", sessions=6652, rate=0.164, flagged=24, title="<b>Ops</b>"),
    )
    page = reports_page.update_index(tmp_path).read_text()
    assert "<td class='n'>6,652</td>" in page
    assert "<td class='n'>16.40%</td>" in page
    assert "<td class='n'>24</td>" in page
    assert "href='user_failure_rates_20250523_010000.html'" in page
    assert "href='user_failure_stats_20250523_010000.csv'" in page
    assert "2025-05-21 00:00 to 2025-05-23 00:00 Asia/Kolkata" in page
    assert "&lt;b&gt;Ops&lt;/b&gt;" in page and "<b>Ops</b>" not in page


def test_empty_index(tmp_path):
    assert "No reports yet." in reports_page.update_index(tmp_path).read_text()


def test_a_failed_run_leaves_the_index_as_it_was(pg, cli_env, tmp_path):
    pg.seed()
    out = tmp_path / "out"
    run = ["run", *SEED_WINDOW, "--output-dir", str(out)]
    ok = run_cli(run, cli_env(pg.url), tmp_path)
    assert ok.returncode == 0, ok.stderr
    before = (out / "index.html").read_text()
    failed = run_cli(run, cli_env("postgresql://u:p@127.0.0.1:1/db"), tmp_path)
    assert failed.returncode == 3
    assert (out / "index.html").read_text() == before
    assert before.count("<tr><td>") == 1


def test_concurrent_runs_both_complete_and_both_are_indexed(pg, cli_env, tmp_path):
    pg.seed()
    out = tmp_path / "out"
    command = [*COMMAND, "run", *SEED_WINDOW, "--output-dir", str(out)]
    runs = [
        subprocess.Popen(
            command,
            env=cli_env(pg.url),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    reports = sorted(out.glob("user_failure_rates_*.html"))
    assert len(reports) == 2
    page = (out / "index.html").read_text()
    for report in reports:
        assert f"href='{report.name}'" in page
    assert not list(out.glob(".run-*"))
    assert [p.name for p in out.glob(".*.lock")] == [".index.lock"]  # stamp claims released


@pytest.mark.timeout(60)
def test_planted_summaries_are_skipped_and_never_break_or_hang_the_index(tmp_path):
    import os

    publish(tmp_path, entry("20250523_010000"))
    bad = {
        "20250524_010000": {"window": 5},
        "20250524_010001": {"summary": {"total_sessions": "many"}},
        "20250524_010002": {"summary": {}},
        "20250524_010003": {"files": {"html": "index.html", "csv": "javascript:alert(1)"}},
        "20250524_010004": {"files": {"html": "/etc/passwd", "csv": "x.csv"}},
        "20250524_010005": {"stamp": "../../x"},
    }
    for stamp, change in bad.items():
        # Never write through a planted name: each file is made here, under its real name.
        (tmp_path / summary_name(stamp)).write_text(json.dumps(entry(stamp) | change))
        (tmp_path / html_name(stamp)).write_text("<html></html>")
    (tmp_path / ".user_failure_rates_deep.json").write_text("[" * 200_000)
    os.mkfifo(tmp_path / ".user_failure_rates_fifo.json")
    (tmp_path / ".user_failure_rates_zero.json").symlink_to("/dev/zero")
    (tmp_path / ".user_failure_rates_big.json").write_text(" " * 2_000_000 + "{}")
    assert [e.stamp for e in reports_page.read_entries(tmp_path)] == ["20250523_010000"]
    page = reports_page.update_index(tmp_path).read_text()
    assert "javascript:" not in page and "/etc/passwd" not in page
    assert page.count("<tr><td>") == 1
