"""The answer the report leads with: the flagged users and the users who got worse.

HTML fragments, checked cell by cell; then one run whose every output (CSV, console, report,
index, endpoint, notification) must give the same two counts.
"""

import csv
import io
import re
from contextlib import redirect_stdout
from dataclasses import replace
from html.parser import HTMLParser

import pandas as pd
import pytest

from user_failure_stats import answer, endpoint, messages, runner
from user_failure_stats.analysis import failure_rates, summary_statistics
from user_failure_stats.demo import SCHEMA_SQL
from user_failure_stats.flags import compare_windows, flagged_users, worsened_users
from user_failure_stats.params import Parameters
from user_failure_stats.settings import Settings


class Cells(HTMLParser):
    """The text of each cell of each table row, and every paragraph's text."""

    def __init__(self):
        super().__init__()
        self.rows, self.text, self._row, self._cell = [], [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        (self._cell if self._cell is not None else self.text).append(data)


def parsed(html: str) -> Cells:
    cells = Cells()
    cells.feed(html)
    cells.plain = re.sub(r"\s+", " ", "".join(cells.text))
    return cells


def table(now_rows, before_rows):
    def frame(rows):
        return pd.DataFrame(
            rows, columns=["user_id", "name", "failed_sessions", "total_sessions"]
        ).assign(has_user_record=True)

    rates = compare_windows(failure_rates(frame(now_rows), 10), frame(before_rows), 10, 0.05)
    return rates, summary_statistics(rates, 10)


HOSTILE = "<script>alert(1)</script> \"q\" 'q' 😀"
NOW = [(1, HOSTILE, 40, 50), (2, "worse", 40, 100), (3, "fine", 40, 400), (4, "tiny", 1, 1)]
BEFORE = [(1, HOSTILE, 38, 50), (2, "worse", 10, 100), (3, "fine", 44, 400)]


def test_flagged_users_come_first_with_every_cell_and_the_chance_line():
    rates, summary = table(NOW, BEFORE)
    page = parsed(answer.flagged_html(flagged_users(rates, 10), summary, 10, 0.05))
    assert page.rows == [
        ["1", HOSTILE, "40/50", "80.00%", "67.0-88.8%", "<0.0001", "▲ flagged"],
        ["2", "worse", "40/100", "40.00%", "30.9-49.8%", "<0.0001", "▲ flagged ↑ worse"],
    ]
    assert (
        "2 users fail significantly more than the rest, of 3 users with at least 10 sessions; "
        "with a 5% false discovery rate, fewer than 1 of them may be chance." in page.plain
    )
    assert "○ 1 user had fewer than 10 sessions: too few to judge" in page.plain
    html = answer.flagged_html(flagged_users(rates, 10), summary, 10, 0.05)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_who_got_worse_shows_both_windows_and_the_change():
    rates, summary = table(NOW, BEFORE)
    page = parsed(answer.worsened_html(worsened_users(rates, 10), summary, 10, 0.05, "2 days"))
    assert page.rows == [
        [
            "1",
            "worse",
            "10/100 (10.00%)",
            "40/100 (40.00%)",
            "+30.00 pts",
            "<0.0001",
            "▲ flagged ↑ worse",
        ],
    ]
    assert "1 user fails significantly more often than in the previous 2 days, of 3 users" in (
        page.plain
    )


def test_without_flags_or_comparisons_one_line_says_so():
    rates, summary = table([(1, "a", 2, 20), (2, "b", 3, 20)], [])
    flagged = parsed(answer.flagged_html(flagged_users(rates, 10), summary, 10, 0.05))
    assert flagged.rows == []
    assert "No user fails significantly more than the rest (2 users with at least 10 " in (
        flagged.plain
    )
    worse = parsed(answer.worsened_html(worsened_users(rates, 10), summary, 10, 0.05, "1 day"))
    assert "No user had 10 or more sessions in both windows: nobody can be compared." in (
        worse.plain
    )
    assert "2 users had no sessions in the previous 1 day: new, so never marked worse." in (
        worse.plain
    )
    nobody = replace(summary, tested_users=0)
    page = parsed(answer.flagged_html(flagged_users(rates, 50), nobody, 50, 0.05))
    assert "No user had 50 or more sessions in this window: nobody can be judged." in page.plain


@pytest.mark.parametrize(
    ("q", "text"), [(0.01234, "0.0123"), (0.00001, "<0.0001"), (float("nan"), "n/a")]
)
def test_q_text(q, text):
    assert answer.q_text(q) == text


# 30 users over 1 to 3 May 2025 (UTC) and the window before, 29 April to 1 May: users 1-3 fail
# far more than the rest in both windows, users 4-6 only now; everyone else fails 1 in 10.
AGREE_SQL = (
    SCHEMA_SQL
    + """
INSERT INTO public."user" SELECT i, 'Agent ' || i FROM generate_series(1, 30) AS i;
INSERT INTO public.calllog (session_id, user_id, exotel_call_sid, created_on)
SELECT 's' || i || '-' || w || '-' || k, i,
       CASE WHEN k <= (CASE WHEN i <= 3 OR (i <= 6 AND w = 0) THEN 24 ELSE 4 END)
            THEN NULL ELSE 'CA' || k END,
       timestamp '2025-05-01' - w * interval '2 days' + k * interval '17 minutes'
FROM generate_series(1, 30) AS i, generate_series(0, 1) AS w, generate_series(1, 40) AS k;
"""
)


def test_every_output_gives_the_same_two_counts(module_db, tmp_path):
    url = module_db("ufs_agree", AGREE_SQL)
    settings = Settings(db_url=url, db_timezone="UTC")
    params = Parameters(start="2025-05-01", end="2025-05-03", timezone="UTC").validated()
    result = runner.run_report(params, settings, tmp_path / "out")
    flagged, worse = result.summary.flagged_users, result.summary.worsened_users
    assert (flagged, worse) == (6, 3)  # users 1-6 fail more now; 4-6 got worse
    with result.csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(r["flagged"] == "True" for r in rows) == flagged
    assert {r["user_id"] for r in rows if r["worsened"] == "True"} == {"4", "5", "6"}
    console = io.StringIO()
    with redirect_stdout(console):
        runner.print_result(result)
    assert f"Users failing significantly more than the rest: {flagged} of 30 judged" in (
        console.getvalue()
    )
    assert f"Got worse since the previous 2 days: {worse} of 30 compared" in console.getvalue()
    report = parsed(result.html.read_text(encoding="utf-8"))
    assert f"{flagged} users fail significantly more than the rest" in report.plain
    assert f"{worse} users fail significantly more often than in the previous 2 days" in (
        report.plain
    )
    index = parsed(result.index.read_text(encoding="utf-8"))
    assert index.rows[0][5:7] == [str(flagged), str(worse)]
    answered = endpoint.failure_analysis(
        {"start": "2025-05-01", "end": "2025-05-03", "timezone": "UTC"}, settings
    ).json()
    assert (answered["summary"]["flagged_users"], answered["summary"]["worsened_users"]) == (
        flagged,
        worse,
    )
    assert (len(answered["flagged"]), len(answered["worsened"])) == (flagged, worse)
    note = messages.message(
        result.window, result.summary, result.previous, result.flagged, result.worsened
    )
    assert f"- Users failing significantly more than the rest: {flagged} of 30 judged" in note.body
    assert f"- Got worse since the previous 2 days: {worse} of 30 compared" in note.body
    assert note.title.endswith(f"— {flagged} flagged users")


def test_a_lone_user_is_told_there_is_no_one_to_compare_with():
    rates, summary = table([(1, "solo", 20, 30)], [(1, "solo", 2, 30)])
    page = parsed(answer.flagged_html(flagged_users(rates, 10), summary, 10, 0.05))
    assert "Only one user had 10 or more sessions in this window: there is no one else to " in (
        page.plain
    )
    assert "nobody can be judged" not in page.plain and "too few" not in page.plain


def test_an_all_clear_is_not_drawn_in_alarm_red():
    rates, summary = table([(1, "a", 2, 20), (2, "b", 3, 20)], [])
    html = answer.flagged_html(flagged_users(rates, 10), summary, 10, 0.05)
    assert "No user fails significantly more" in html and "ufs-alarm" not in html
    rates, summary = table(NOW, BEFORE)
    assert 'class="ufs-alarm"' in answer.flagged_html(flagged_users(rates, 10), summary, 10, 0.05)
