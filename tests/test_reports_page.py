import html
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import COMMAND, SEED_WINDOW, run_cli
from user_failure_stats import reports_page, store, view
from user_failure_stats.errors import ConfigError
from user_failure_stats.names import html_name, summary_name


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
        report = f"<html><head><title>Report {record['stamp']}</title></head></html>"
        (folder / record["files"]["html"]).write_text(report)


def test_entries_are_newest_first_and_need_their_report(tmp_path):
    publish(tmp_path, entry("20250523_010000"))
    publish(tmp_path, entry("20250524_010000"))
    publish(tmp_path, entry("20250524_010000_2"))
    publish(tmp_path, entry("20250525_010000"), with_html=False)  # report deleted
    (tmp_path / ".user_failure_rates_broken.json").write_text("{not json")
    stamps = [e.stamp for e in store.entries(tmp_path)]
    assert stamps == ["20250524_010000_2", "20250524_010000", "20250523_010000"]


def test_index_page_links_reports_and_escapes_titles(tmp_path):
    publish(
        tmp_path,
        entry("20250523_010000", sessions=6652, rate=0.164, flagged=24, title="<b>Ops</b>"),
    )
    page = store.update_index(tmp_path)[0].read_text()
    assert "<td class='n'>6,652</td>" in page
    assert "<td class='n'>16.40%</td>" in page
    assert "<td class='n'>24</td>" in page
    assert "href='user_failure_rates_20250523_010000.html'" in page
    assert "href='user_failure_stats_20250523_010000.csv'" in page
    assert "2025-05-21 00:00 to 2025-05-23 00:00 Asia/Kolkata" in page
    assert "&lt;b&gt;Ops&lt;/b&gt;" in page and "<b>Ops</b>" not in page


def test_empty_index(tmp_path):
    assert "No reports yet." in store.update_index(tmp_path)[0].read_text()


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
    assert before.count("<tr><td class='t'>") == 1


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
        "20250524_010006": {"generated_at": "2025-05-24T01:00:00"},  # no offset
        "20250524_010007": {"generated_at": 5},
        "20250524_010008": {"generated_at": "0001-01-01T00:00:00+05:00"},  # before year 1 UTC
        "20251399_010000": {},  # a stamp that is no date
    }
    for stamp, change in bad.items():
        # Never write through a planted name: each file is made here, under its real name.
        (tmp_path / summary_name(stamp)).write_text(json.dumps(entry(stamp) | change))
        (tmp_path / html_name(stamp)).write_text("<html></html>")
    (tmp_path / ".user_failure_rates_deep.json").write_text("[" * 200_000)
    os.mkfifo(tmp_path / ".user_failure_rates_fifo.json")
    (tmp_path / ".user_failure_rates_zero.json").symlink_to("/dev/zero")
    (tmp_path / ".user_failure_rates_big.json").write_text(" " * 2_000_000 + "{}")
    assert [e.stamp for e in store.entries(tmp_path)] == ["20250523_010000"]
    page = store.update_index(tmp_path)[0].read_text()
    assert "javascript:" not in page and "/etc/passwd" not in page
    assert page.count("<tr><td class='t'>") == 1


def test_the_newest_report_is_first_whatever_zone_it_was_generated_in(tmp_path):
    # 10:00 IST is 04:30 UTC: the report generated at 05:00 UTC the same day is newer, though
    # its stamp (the host's local clock) and its own "Generated" text say otherwise.
    ist = entry("20250523_100000", title="Kolkata")
    ist |= {"generated": "2025-05-23 10:00:00 IST", "generated_at": "2025-05-23T04:30:00+00:00"}
    utc = entry("20250523_050000", title="London")
    utc |= {"generated": "2025-05-23 05:00:00 UTC", "generated_at": "2025-05-23T05:00:00+00:00"}
    publish(tmp_path, ist)
    publish(tmp_path, utc)
    assert [e.stamp for e in store.entries(tmp_path)] == [
        "20250523_050000",
        "20250523_100000",
    ]
    page = store.update_index(tmp_path)[0].read_text()
    assert "<th>Generated (UTC)</th>" in page
    assert page.index("2025-05-23 05:00") < page.index("2025-05-23 04:30")
    assert "10:00:00 IST" not in page


def test_a_summary_generated_in_the_future_is_not_what_a_run_wrote(tmp_path):
    # It would top the index for ever: a run writes the time it ran, never a later one.
    future = entry("20250523_050000", title="Planted") | {"generated_at": "2099-01-01T00:00:00Z"}
    now = datetime.now(UTC).replace(microsecond=0)
    soon = (now + timedelta(hours=2)).isoformat()  # a clock a little ahead
    ahead = entry(f"{now:%Y%m%d_%H%M%S}", title="Ahead") | {"generated_at": soon}
    publish(tmp_path, future)
    publish(tmp_path, ahead)
    publish(tmp_path, entry("20250522_050000", title="Real"))
    assert [e.stamp for e in store.entries(tmp_path)] == [ahead["stamp"], "20250522_050000"]
    assert "Planted" not in store.update_index(tmp_path)[0].read_text()


def test_old_summaries_without_generated_at_are_read_from_their_generated_text(tmp_path):
    # Written by older versions: "generated" in the report's zone, with its abbreviation.
    ist = entry("20250523_100000") | {"generated": "2025-05-23 10:00:00 IST"}
    utc = entry("20250523_050000") | {"generated": "2025-05-23 05:00:00 UTC"}
    utc["window"] = utc["window"] | {"timezone": "UTC"}
    odd = entry("20250522_230000") | {"generated": "sometime"}  # the stamp, on this host's clock
    for record in (ist, utc, odd):
        publish(tmp_path, record)
    entries = store.entries(tmp_path)
    assert [e.stamp for e in entries] == ["20250523_050000", "20250523_100000", "20250522_230000"]
    assert [e.generated_instant().isoformat() for e in entries[:2]] == [
        "2025-05-23T05:00:00+00:00",
        "2025-05-23T04:30:00+00:00",
    ]
    local = datetime(2025, 5, 22, 23, 0).astimezone(UTC)  # naive: this host's zone
    assert entries[2].generated_instant() == local


def test_a_repeated_hour_is_told_apart_by_its_abbreviation(tmp_path):
    # 01:30 happens twice in New York on 2 Nov 2025: EDT (05:30 UTC), then EST (06:30 UTC).
    for stamp, text in (("20251102_013000", "EDT"), ("20251102_013000_2", "EST")):
        record = entry(stamp) | {"generated": f"2025-11-02 01:30:00 {text}"}
        record["window"] = record["window"] | {"timezone": "America/New_York"}
        publish(tmp_path, record)
    entries = store.entries(tmp_path)
    assert [(e.stamp, e.generated_instant().hour) for e in entries] == [
        ("20251102_013000_2", 6),
        ("20251102_013000", 5),
    ]


def test_ties_are_ordered_by_stamp(tmp_path):
    for stamp in ("20250523_010000", "20250523_010000_2", "20250523_010000_10"):
        publish(tmp_path, entry(stamp) | {"generated_at": "2025-05-23T01:00:00+00:00"})
    stamps = [e.stamp for e in store.entries(tmp_path)]
    assert stamps == ["20250523_010000_10", "20250523_010000_2", "20250523_010000"]


def chart_of(page: str) -> dict:
    (data,) = re.findall(
        r'<script type="application/json" id="ufs-index-chart-data">(.*?)</script>', page
    )
    return json.loads(data)


def window(start, end, timezone="UTC"):
    return {"start": start, "end": end, "timezone": timezone}


def dashboard(folder):
    """Three daily reports in Kolkata (one of them run twice) and one in UTC."""
    days = [
        ("20250522_010000", "2025-05-21", 0.25, 2, "2025-05-22T01:00:00+00:00"),
        ("20250523_010000", "2025-05-22", 0.10, 0, "2025-05-23T01:00:00+00:00"),
        ("20250523_020000", "2025-05-22", 0.125, 1, "2025-05-23T02:00:00+00:00"),  # rerun
        ("20250524_010000", "2025-05-23", None, 0, "2025-05-24T01:00:00+00:00"),  # no sessions
    ]
    for stamp, day, rate, flagged, at in days:
        record = entry(stamp, rate=rate, flagged=flagged) | {"generated_at": at}
        end = f"{day[:8]}{int(day[8:]) + 1:02d}"
        record["window"] = window(f"{day}T00:00:00+05:30", f"{end}T00:00:00+05:30", "Asia/Kolkata")
        publish(folder, record)
    utc = entry("20250525_010000", rate=0.5, flagged=7) | {"generated_at": "2025-05-25T01:00:00Z"}
    utc["window"] = window("2025-05-24T00:00:00+00:00", "2025-05-25T00:00:00+00:00")
    publish(folder, utc)


def test_the_chart_has_one_point_per_window_in_the_page_zone(tmp_path):
    dashboard(tmp_path)
    page = store.update_index(tmp_path)[0].read_text()
    figure = chart_of(page)
    flagged, rate = figure["data"]
    assert rate["x"] == [
        "2025-05-20 18:30",
        "2025-05-21 18:30",
        "2025-05-22 18:30",
        "2025-05-24 00:00",
    ]
    assert rate["y"] == [25.0, 12.5, None, 50.0]  # the rerun of 22 May stands for it
    assert flagged["y"] == [2, 1, 0, 7]
    assert flagged["yaxis"] == "y2" and "title" not in figure["layout"]["xaxis"]
    assert "by when the window starts (UTC)" in page  # said above the chart, not under it
    assert figure["config"]["displaylogo"] is False


def test_the_page_can_show_another_zone_and_names_it(tmp_path):
    dashboard(tmp_path)
    page = store.update_index(tmp_path, timezone="Asia/Kolkata")[0].read_text()
    assert "<th>Generated (Asia/Kolkata)</th>" in page
    assert "<td>2025-05-25 06:30</td>" in page  # 01:00 UTC
    assert chart_of(page)["data"][1]["x"][0] == "2025-05-21 00:00"
    with pytest.raises(ConfigError, match="unknown time zone"):
        store.update_index(tmp_path, timezone="Mars/Olympus")


@pytest.mark.parametrize("count", [0, 1])
def test_with_fewer_than_two_windows_the_page_says_so_instead_of_a_chart(tmp_path, count):
    for stamp in ("20250523_010000", "20250524_010000")[:count]:
        publish(tmp_path, entry(stamp))
    publish(tmp_path, entry("20250524_010000_2"))  # the same window again: still one window
    if count == 0:
        (tmp_path / summary_name("20250524_010000_2")).unlink()
    page = store.update_index(tmp_path)[0].read_text()
    assert "id='ufs-index-chart'" not in page and "Plotly" not in page
    so_far = "One window reported so far" if count else "No reports yet"
    assert f"{so_far}: the chart of the failure rate across windows appears" in page


def test_hundreds_of_reports_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(reports_page, "MAX_ROWS", 5)
    monkeypatch.setattr(reports_page, "MAX_POINTS", 3)
    for day in range(1, 10):
        record = entry(f"202505{day:02d}_010000")
        record["window"] = window(f"2025-05-{day:02d}T00:00:00+00:00", "2025-06-01T00:00:00Z")
        publish(tmp_path, record)
    page = store.update_index(tmp_path)[0].read_text()
    assert page.count("<tr><td class='t'>") == 5
    assert "The 5 newest of 9 reports are listed." in page
    lines = [trace for trace in chart_of(page)["data"] if trace["type"] == "scatter"]
    assert sorted(x for line in lines for x in line["x"]) == [
        "2025-05-07 00:00",
        "2025-05-08 00:00",
        "2025-05-09 00:00",
    ]
    assert "The latest 3 of 9 windows are drawn." in page


HOSTILE = "</script><script>alert(1)</script>\"'\r\n\x1b[2J\u202e" + "😀" * 10_000


def test_hostile_texts_from_summaries_are_escaped_and_bounded(tmp_path):
    record = entry("20250523_010000", title=HOSTILE) | {"generated": HOSTILE}
    record["window"] = window("2025-05-22T00:00:00+00:00", "2025-05-23T00:00:00+00:00", HOSTILE)
    publish(tmp_path, record)
    bad_bounds = entry("20250524_010000", title=HOSTILE)
    bad_bounds["window"] = window("<img src=x onerror=alert(1)>", HOSTILE, "UTC")
    publish(tmp_path, bad_bounds)
    publish(tmp_path, entry("20250525_010000"))
    page = store.update_index(tmp_path)[0].read_text()
    # What the page says, without plotly.js (plotly 5.20's holds an ESC of its own).
    ours = page.replace(view.plotlyjs(), "")
    assert len(ours) < len(page) - 1_000_000
    found = [bad for bad in ("<script>alert", "<img", "</script><script>") if bad in ours]
    assert found == []  # (a list, not `in` on 4 MB: pytest's diff of that takes minutes)
    assert [c for c in ("\x1b", "\r", "\u202e") if c in ours] == []
    shown = "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;\\r\\n\\x1b[2J\\u202e😀"
    assert page.count(shown) == 4  # two titles, a zone, a window's end
    assert "&lt;img src=x onerror=alert(1)&gt; to" in page
    assert page.count("😀") < 1000  # each text cut to its bound, never 10,000 emoji
    titles = [
        html.unescape(t) for t in re.findall(r"<td class='t'><a href='[^']*'>(.*?)</a>", page)
    ]
    assert [len(t) for t in titles] == [5, 200, 200]
    assert titles[0] == "Daily" and titles[1].endswith("😀…")
    lines = [trace for trace in chart_of(page)["data"] if trace["type"] == "scatter"]
    labels = sorted(label for line in lines for label in line["customdata"])
    assert len(labels) == 2  # the window whose bounds are no times is not drawn
    assert labels[0] == "2025-05-20 18:30 to 2025-05-22 18:30 UTC · Daily · 2 days"
    assert labels[1].startswith("2025-05-22 00:00 to 2025-05-23 00:00 UTC · &lt;/script&gt;")
    assert labels[1].endswith("😀… · 1 day")  # the series: the title, bounded, and the length


CHART_DRAWN = "() => !!document.querySelector('#ufs-index-chart .main-svg')"


def test_the_index_draws_its_chart_offline_and_reads_on_a_phone(tmp_path, browser):
    from tests.helpers import open_offline

    dashboard(tmp_path)
    publish(
        tmp_path, entry("20250526_010000", title=HOSTILE) | {"generated_at": "2025-05-26T01:00:00Z"}
    )
    index, _ = store.update_index(tmp_path)
    page, external, errors, dialogs = open_offline(browser, index.as_uri(), 390, CHART_DRAWN)
    assert (external, errors, dialogs) == ([], [], [])
    assert page.locator("#ufs-index-chart .trace.bars .point").count() == 5
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
        " document.querySelector('.box').scrollWidth > document.querySelector('.box').clientWidth]"
    )
    assert widths == [390, 390, True]  # the page fits the phone; the table scrolls in its box
    # Each report's links are in its first cell: on the screen without scrolling sideways.
    links = page.locator("tbody a")
    assert links.count() == 12 and links.nth(3).text_content() == "CSV"  # 6 reports
    for i in range(links.count()):
        box = links.nth(i).bounding_box()  # (a long title wraps in its cell)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (i, box)
    page.screenshot(path=str(tmp_path / "index-390.png"), full_page=True)
    page.close()


def test_links_are_relative_and_work_from_a_copy_of_the_folder(tmp_path, browser):
    from tests.helpers import open_offline

    folder = tmp_path / "reports"
    folder.mkdir()
    dashboard(folder)
    store.update_index(folder)
    page_text = (folder / "index.html").read_text()
    hrefs = re.findall(r"<a href='([^']*)'", page_text.split("<tbody>")[1])
    assert hrefs[:2] == [
        "user_failure_rates_20250525_010000.html",
        "user_failure_stats_20250525_010000.csv",
    ]
    assert all("/" not in href and ":" not in href for href in hrefs)
    copy = tmp_path / "elsewhere" / "copied reports"
    shutil.copytree(folder, copy)
    shutil.rmtree(folder)
    page, external, errors, _ = open_offline(
        browser, (copy / "index.html").as_uri(), 1300, CHART_DRAWN
    )
    page.locator("tbody a").first.click()  # the newest report's title
    page.wait_for_load_state()
    assert page.url == (copy / "user_failure_rates_20250525_010000.html").as_uri()
    assert page.title() == "Report 20250525_010000"
    assert (external, errors) == ([], [])
    page.close()


def test_the_charts_json_cannot_end_its_script_and_reads_back_the_same(tmp_path):
    # Jinja's tojson, through the macro the report's figures use too.
    title = "</script><!--<script>&\u2028\u2029'"
    for stamp, day in (("20250522_010000", "21"), ("20250523_010000", "22")):
        record = entry(stamp, title=title) | {"generated_at": f"2025-05-{day}T01:00:00+00:00"}
        record["window"] = window(f"2025-05-{day}T00:00:00+00:00", f"2025-05-{day}T12:00:00+00:00")
        publish(tmp_path, record)
    entries = store.entries(tmp_path)
    page = reports_page.render_index(entries)
    (text,) = re.findall(
        r'<script type="application/json" id="ufs-index-chart-data">(.*?)</script>', page
    )
    assert not any(c in text for c in "<>&'")
    figure = reports_page.chart_figure(reports_page.chart_data(entries))
    assert chart_of(page) == json.loads(json.dumps(figure))
    assert (
        "· &lt;/script&gt;&lt;!--&lt;script&gt;&amp;" in chart_of(page)["data"][0]["customdata"][0]
    )


def daily(folder, day: str, title="Daily", zone="UTC", days=1, rate=0.2):
    """Publish a report of the window starting at local midnight on ``day``, ``days`` long."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone))
    end = start + timedelta(days=days)
    stamp = f"{(end + timedelta(hours=1)):%Y%m%d_%H%M%S}"
    while (folder / summary_name(stamp)).exists():
        stamp = stamp[:15] + f"_{int(stamp[16:] or 1) + 1}"
    record = entry(stamp, rate=rate, title=title) | {"generated_at": f"{end:%Y-%m-%dT%H:%M%z}"}
    record["window"] = window(start.isoformat(), end.isoformat(), zone)
    publish(folder, record)


def test_each_title_and_window_length_is_a_line_of_its_own(tmp_path):
    for day in ("2025-05-01", "2025-05-02", "2025-05-03"):
        daily(tmp_path, day)
        daily(tmp_path, day, title="Escalations")
    daily(tmp_path, "2025-05-01", days=7, rate=0.3)
    daily(tmp_path, "2025-05-08", days=7, rate=0.4)
    # Daily in New York across the change of clocks (9 March 2025: a day of 23 hours).
    for day in ("2025-03-08", "2025-03-09", "2025-03-10"):
        daily(tmp_path, day, title="New York", zone="America/New_York")
    figure = chart_of(store.update_index(tmp_path)[0].read_text())
    lines = {t["name"]: t["x"] for t in figure["data"] if t["type"] == "scatter"}
    assert sorted(lines) == [
        "Daily · 1 day",
        "Daily · 7 days",
        "Escalations · 1 day",
        "New York · 1 day",
    ]
    assert lines["Daily · 7 days"] == ["2025-05-01 00:00", "2025-05-08 00:00"]
    assert lines["Escalations · 1 day"] == [
        "2025-05-01 00:00",
        "2025-05-02 00:00",
        "2025-05-03 00:00",
    ]
    assert lines["New York · 1 day"] == ["2025-03-08 05:00", "2025-03-09 05:00", "2025-03-10 04:00"]
    # Colours go in the order the series began: a series added later takes a new one.
    order = [t["name"] for t in figure["data"] if t["type"] == "scatter"]
    assert order == ["New York · 1 day", "Daily · 1 day", "Daily · 7 days", "Escalations · 1 day"]
    assert figure["data"][1]["line"]["color"] == reports_page.PALETTE[0]
    # A series' bars share its line's colour and legend entry.
    bars = {t["legendgroup"]: t["marker"]["color"] for t in figure["data"] if t["type"] == "bar"}
    colours = {t["name"]: t["line"]["color"] for t in figure["data"] if t["type"] == "scatter"}
    assert bars == colours and len(set(colours.values())) == 4


def test_an_outlying_window_cannot_squeeze_the_recent_ones(tmp_path):
    daily(tmp_path, "2024-01-15")  # a backfill of an old window
    for day in range(1, 41):
        daily(tmp_path, f"2025-04-{day:02d}" if day <= 30 else f"2025-05-{day - 30:02d}")
    page = store.update_index(tmp_path)[0].read_text()
    xaxis = chart_of(page)["layout"]["xaxis"]
    # The latest 30 windows, half a day either side; the rest one button away.
    assert xaxis["range"] == ["2025-04-10 12:00", "2025-05-10 12:00"]
    assert [b["label"] for b in xaxis["rangeselector"]["buttons"]][-1] == "all windows"
    assert "to see every one since 2024-01-15 00:00." in page
    # Without the old window, the 10 windows of May are all shown: no range is set.
    for path in tmp_path.iterdir():
        path.unlink()
    daily(tmp_path, "2024-01-15")
    for day in range(1, 11):
        daily(tmp_path, f"2025-05-{day:02d}")
    page = store.update_index(tmp_path)[0].read_text()
    assert chart_of(page)["layout"]["xaxis"]["range"] == ["2025-04-30 12:00", "2025-05-10 12:00"]
    for path in tmp_path.iterdir():
        path.unlink()
    for day in range(1, 11):
        daily(tmp_path, f"2025-05-{day:02d}")
    page = store.update_index(tmp_path)[0].read_text()
    assert "range" not in chart_of(page)["layout"]["xaxis"] and "choose" not in page


def test_the_window_shows_the_reports_own_zone_first(tmp_path):
    dashboard(tmp_path)
    page = store.update_index(tmp_path)[0].read_text()
    assert (
        "<td>2025-05-21 00:00 to 2025-05-22 00:00 Asia/Kolkata<br>"
        "<small>2025-05-20 18:30 to 2025-05-21 18:30 UTC</small></td>"
    ) in page
    assert "<td>2025-05-24 00:00 to 2025-05-25 00:00 UTC</td>" in page  # the page's zone: once


def test_a_missing_window_breaks_its_series_line(tmp_path):
    for day in ("2025-05-01", "2025-05-02", "2025-05-03", "2025-05-06", "2025-05-07"):
        daily(tmp_path, day)
    figure = chart_of(store.update_index(tmp_path)[0].read_text())
    (line,) = [t for t in figure["data"] if t["type"] == "scatter"]
    assert line["x"] == [
        "2025-05-01 00:00",
        "2025-05-02 00:00",
        "2025-05-03 00:00",
        "2025-05-04 12:00",  # the gap: no line over 4 and 5 May
        "2025-05-06 00:00",
        "2025-05-07 00:00",
    ]
    assert line["y"] == [20.0, 20.0, 20.0, None, 20.0, 20.0]


@pytest.mark.parametrize(
    ("start", "end", "zone"),
    [
        ("0001-01-01T00:00:00+00:00", "0001-01-02T00:00:00+00:00", "Etc/GMT+12"),  # year 0
        ("9999-12-30T00:00:00+00:00", "9999-12-31T23:59:59+00:00", "Etc/GMT-14"),  # year 10000
        ("2025-05-23T00:00:00+00:00", "2025-05-21T00:00:00+00:00", "UTC"),  # ends first
    ],
)
def test_a_window_no_call_log_has_is_listed_as_text_and_never_drawn(tmp_path, start, end, zone):
    publish(tmp_path, entry("20250523_010000"))
    publish(tmp_path, entry("20250524_010000") | {"window": window(start, end, zone)})
    publish(tmp_path, entry("20250525_010000", title="Other"))
    page = store.update_index(tmp_path)[0].read_text()
    assert page.count("<tr><td class='t'>") == 3  # listed
    lines = [t for t in chart_of(page)["data"] if t["type"] == "scatter"]
    assert sorted(line["name"] for line in lines) == ["Daily · 2 days", "Other · 2 days"]
