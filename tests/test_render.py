"""What the report shows: figures drawn from their mimetype, and the all-users table."""

import base64
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.helpers import ROOT, notebook_with, readme_block
from tests.helpers import run_cli as cli
from tests.seed import SEED_USERS
from user_failure_stats import plots, render, sections, users_table, view
from user_failure_stats.analysis import failure_rates
from user_failure_stats.db_url import describe_database


def rates_for(rows, min_sessions=1):
    counts = pd.DataFrame(rows, columns=["user_id", "name", "failed_sessions", "total_sessions"])
    return failure_rates(counts, min_sessions)


def page_of(bundles, tmp_path) -> str:
    """The report page of a notebook whose one cell displays ``bundles``."""
    notebook = notebook_with(bundles, tmp_path)
    return render.render_html(notebook, tmp_path / "page.html", "T").read_text()


def unpacked(table_html: str) -> dict:
    """The rows a users table embeds (see ``users_table.users_json``)."""
    data = table_html.split('data-encoding="base64">', 1)[1].split("</script>", 1)[0]
    return json.loads(gzip.decompress(base64.b64decode(data)))


def test_rendered_report_embeds_plotlyjs_exactly_once(tmp_path):
    html = page_of([{"text/html": "<p>figure</p>"}], tmp_path)
    assert html.count("plotly.js v") == 1
    assert '<script src="http' not in html and "cdnjs" not in html


def test_a_figure_is_stored_once_in_the_notebook_as_plotlys_mimetype():
    bundle = view.figure_bundle(plots.distribution_figure(rates_for(SEED_USERS)))
    assert set(bundle) == {view.PLOTLY_MIMETYPE, "text/plain"}
    assert bundle["text/plain"] == (
        "Plotly figure: Failure-rate distribution (shown in JupyterLab and in the report)"
    )


def test_the_report_draws_each_figure_from_its_mimetype_with_its_data_once(tmp_path):
    rows = [(1, "Zed Unique-Name", 3, 4), (2, "B", 1, 4)]
    figure = view.figure_bundle(plots.distribution_figure(rates_for(rows)))
    html = page_of([figure], tmp_path)
    assert html.count("Zed Unique-Name") == 1  # in the figure's JSON, once
    assert html.count('class="plotly-graph-div"') == 1
    assert 'style="height:420px; width:100%;"' in html
    assert "Plotly.newPlot(" in html and '"showSendToCloud": false' in html


def test_a_figures_config_is_the_reports_own_whatever_the_notebook_says(tmp_path):
    # An executed notebook edited by someone else: no share link, no server of theirs.
    figure = view.figure_bundle(plots.distribution_figure(rates_for([(1, "A", 1, 2)])))
    figure[view.PLOTLY_MIMETYPE]["config"] = {
        "showLink": True,
        "plotlyServerURL": "https://evil.example",
        "showSendToCloud": True,
    }
    html = page_of([figure], tmp_path)
    assert "evil.example" not in html and '"showSendToCloud": false' in html


def test_figure_data_cannot_break_out_of_its_script(tmp_path):
    rows = [(1, "</script><script>alert(1)</script><!--<script>", 3, 4)]
    figure = view.figure_bundle(plots.distribution_figure(rates_for(rows)))
    html = page_of([figure], tmp_path)
    body = html.split("</head>", 1)[1]
    assert "<script>alert" not in body and "<!--<script>" not in body
    # plotly's own escape for its hover (&lt;), then Jinja's tojson for the page (\u003c).
    assert "\\u0026lt;/script\\u0026gt;\\u0026lt;script\\u0026gt;alert(1)" in body
    # Every <script> opened in the body is closed by its own </script>.
    assert body.count("<script") == body.count("</script>")


def test_the_users_table_embeds_every_row_once_in_the_reports_order():
    rows = [(7, "Asha", 1, 4), (8, None, 3, 4), (9, "=cmd|' /C calc'!A0", 0, 5)]
    rates = rates_for(rows)
    html = users_table.users_table_html(rates, "user_failure_stats_X.csv", preview=2)
    data = unpacked(html)
    assert data == {
        "user": ["user 8", "Asha", "=cmd|' /C calc'!A0"],
        "id": ["8", "7", "9"],
        "sessions": [4, 4, 5],
        "failed": [3, 1, 0],
        "rate": ["75.00%", "25.00%", "0.00%"],
        "ci": ["30.1-95.4%", "4.6-69.9%", "0.0-43.4%"],
        # 3 of 4 against the others' 1 of 9: flagged, with min_sessions 1.
        "flagged": [1, 0, 0],
        "marks": [1, 0, 0],
        "mark_texts": ["", "▲ flagged", "↑ worse", "▲ flagged ↑ worse", "○ too few"],
    }
    assert "The first 2 of 3 users, worst first" in html
    assert "<code>user_failure_stats_X.csv</code> holds every user" in html
    assert html.count("<tr>") == 3  # the heading and the two preview rows


def test_users_table_ids_stay_exact_and_names_are_shown_safely():
    big = 2**63 - 1  # a bigint a JSON number would round in a browser
    rows = [
        (big, "<script>alert(1)</script>", 1, 2),
        (-5, "a\r\n\x1b[2J" + "é😀" * 60, 2, 2),
        (None, None, 1, 1),
    ]
    counts = pd.DataFrame(rows, columns=["user_id", "name", "failed_sessions", "total_sessions"])
    counts["user_id"] = pd.array([big, -5, None], dtype="Int64")
    counts["has_user_record"] = [True, True, False]
    html = users_table.users_table_html(failure_rates(counts), "x.csv")
    data = unpacked(html)
    assert data["id"] == ["-5", None, "9223372036854775807"]
    assert data["user"][0].startswith("a\\r\\n\\x1b[2Jé😀") and len(data["user"][0]) == 100
    assert data["user"][1:] == ["no user id", "<script>alert(1)</script>"]  # text, not markup
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Only the table's own two scripts, each closed once.
    assert html.count("<script") == 2 and html.count("</script>") == 2


def test_an_empty_window_has_no_table_and_says_so():
    html = users_table.users_table_html(rates_for([]), "x.csv")
    assert html == '<p class="ufs-users-note">No users had sessions in this window.</p>'


def test_the_preview_names_the_csv_escaped():
    html = users_table.users_table_html(rates_for([(1, "A", 1, 2)]), '<b>"x".csv')
    assert "<code>&lt;b&gt;&quot;x&quot;.csv</code>" in html


def test_one_user_is_one_user():
    html = users_table.users_table_html(rates_for([(1, "A", 1, 2)]), "x.csv")
    assert "1 user, worst first; <code>x.csv</code> holds every user." in html
    assert 'data-ready-note="1 user, worst first.' in html


def test_a_figure_without_a_title_is_named_by_its_first_heading():
    figure = plots.figure([], {"annotations": [{"text": "Users per failure-rate bracket"}]})
    text = view.figure_bundle(figure)["text/plain"]
    assert text.startswith("Plotly figure: Users per failure-rate bracket")


def cells(table_html: str, name: str) -> list[list[str]]:
    """The text of each body cell of the table of class ``name``, HTML entities decoded."""
    import html
    import re

    body = table_html.split(f'class="{name}"', 1)[1].split("<tbody>", 1)[1].split("</tbody>")[0]
    return [
        [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def test_top_users_table_ranks_judged_users_only_and_marks_flagged_ones():
    from user_failure_stats.analysis import summary_statistics
    from user_failure_stats.flags import top_users

    rates = rates_for([(1, "tiny", 1, 1), (2, "Big", 30, 50), (3, "Low", 6, 140)], 10)
    html = sections.side_tables_html(
        top_users(rates, 2, min_sessions=10), summary_statistics(rates)
    )
    assert cells(html, "ufs-top-users") == [
        ["1", "Big", "30/50", "60.00%", "46.2-72.4%", "▲ flagged"],
        ["2", "Low", "6/140", "4.29%", "2.0-9.0%", ""],
    ]
    assert cells(html, "ufs-summary")[:4] == [
        ["Users", "3"],
        ["Sessions", "191"],
        ["Failures", "37"],
        ["Overall failure rate", "19.37%"],
    ]
    assert len(cells(html, "ufs-summary")) == 11
    # Each table in a box of its own, which scrolls sideways on a narrow screen.
    assert html.count('<div class="ufs-table-box">') == 2
    assert ".ufs-table-box { max-width: 100%; overflow-x: auto; }" in html


def test_without_users_there_is_no_top_table_but_a_line_that_says_so():
    from user_failure_stats.analysis import summary_statistics
    from user_failure_stats.flags import top_users

    rates = rates_for([])
    html = sections.side_tables_html(top_users(rates, 5), summary_statistics(rates))
    assert "ufs-top-users" not in html.split("</style>")[1]
    assert '<p class="ufs-top-none">No user had enough sessions to rank.</p>' in html
    assert cells(html, "ufs-summary")[:2] == [["Users", "0"], ["Sessions", "0"]]


def test_top_users_table_shows_names_as_text_on_one_bounded_line():
    from user_failure_stats.analysis import summary_statistics
    from user_failure_stats.flags import top_users

    rates = rates_for([(1, '"RK" & <b>x</b>\r\x1b[2J', 1, 2), (2, "y" * 500, 1, 2)])
    html = sections.side_tables_html(top_users(rates, 5), summary_statistics(rates))
    assert [row[1] for row in cells(html, "ufs-top-users")] == [
        '"RK" & <b>x</b>\\r\\x1b[2J',
        "y" * 99 + "…",
    ]
    assert "<b>x" not in html and "&#34;RK&#34; &amp; &lt;b&gt;x&lt;/b&gt;" in html
    assert html.count("<script") == 0


def window(start, end, zone="Asia/Kolkata"):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from user_failure_stats.window import window_for

    tz = ZoneInfo(zone)
    return window_for(
        datetime.fromisoformat(start).replace(tzinfo=tz),
        datetime.fromisoformat(end).replace(tzinfo=tz),
        "UTC",
    )


def test_the_page_title_names_the_window():
    days = window("2025-05-01", "2025-05-08")
    assert sections.page_title("User failure rates", days) == (
        "User failure rates · 2025-05-01 to 2025-05-08 (Asia/Kolkata)"
    )
    hours = window("2025-05-21 09:30", "2025-05-21 18:00", "UTC")
    assert sections.page_title("T", hours) == "T · 2025-05-21 09:30 to 2025-05-21 18:00 (UTC)"


def test_a_long_title_is_cut_and_the_window_still_shows():
    title = sections.page_title("x" * 200, window("2025-05-01", "2025-05-08"))
    assert len(title) == sections.PAGE_TITLE_LIMIT
    assert title.endswith("x… · 2025-05-01 to 2025-05-08 (Asia/Kolkata)")


def notebook_titled(page_title, tmp_path):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    metadata = {} if page_title is None else {sections.PAGE_TITLE_KEY: page_title}
    data = {"text/html": "<h1>Heading</h1>", "text/plain": "Heading"}
    cell.outputs = [nbformat.v4.new_output("display_data", data=data, metadata=metadata)]
    notebook.cells = [cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(notebook, path)
    return path


def test_the_page_title_comes_from_the_heading_escaped(tmp_path):
    hostile = '<b onclick=alert(2)>"T"</b> & \x1b · 2025-05-01 to 2025-05-08 (UTC)'
    page = render.render_html(notebook_titled(hostile, tmp_path), tmp_path / "p.html", "Fallback")
    html = page.read_text()
    assert title_of(html) == (
        '&lt;b onclick=alert(2)&gt;"T"&lt;/b&gt; &amp; \\x1b · 2025-05-01 to 2025-05-08 (UTC)'
    )
    assert "<b onclick" not in html


def title_of(html: str) -> str:
    """The text of the page's <title> element, as written (its first, in the head)."""
    return html.split("<title>", 1)[1].split("</title>", 1)[0]


def test_without_a_named_title_the_page_takes_the_given_one(tmp_path):
    page = render.render_html(notebook_titled(None, tmp_path), tmp_path / "p.html", "Fallback")
    assert title_of(page.read_text()) == "Fallback"
    long = render.render_html(notebook_titled("z" * 5000, tmp_path), tmp_path / "q.html", "F")
    assert title_of(long.read_text()) == "z" * (sections.PAGE_TITLE_LIMIT - 1) + "…"


def test_the_heading_names_the_page_title_in_its_outputs_metadata():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from user_failure_stats.params import Parameters

    InteractiveShell.instance()  # a shell to display into, as in a kernel
    params = Parameters(title="Calls <b>").validated()
    days = window("2025-05-01", "2025-05-08")
    with capture_output() as captured:
        sections.show_header(params, days, describe_database("postgresql://u:pw@h/db"), "now")
    ((data, metadata),) = [(o.data, o.metadata) for o in captured.outputs]
    title = "Calls <b> · 2025-05-01 to 2025-05-08 (Asia/Kolkata)"
    assert metadata == {sections.PAGE_TITLE_KEY: title}
    assert data["text/plain"] == title
    assert "<h1>Calls &lt;b&gt;</h1>" in data["text/html"]


def test_the_users_rows_read_back_the_same_in_any_number_of_parts(monkeypatch):
    rows = [(i, f"u{i}", i % 4, 5) for i in range(1, 8)]
    whole = unpacked(users_table.users_table_html(rates_for(rows), "x.csv"))
    monkeypatch.setattr(users_table, "JSON_ROWS", 3)  # parts of 3, 3 and 1 rows
    assert unpacked(users_table.users_table_html(rates_for(rows), "x.csv")) == whole
    assert whole["user"] == ["u3", "u7", "u2", "u6", "u1", "u5", "u4"]


def _comparable(page: str) -> str:
    """A report page without what differs between two runs: ids, stamps and clock times."""
    page = re.sub(r"ufs-figure-[0-9a-f-]{36}", "FIGURE", page)
    page = re.sub(r"cell-id=[0-9a-f-]+", "CELL", page)
    page = re.sub(r"\d{8}_\d{6}(_\d+)?", "STAMP", page)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]+", "TIME", page)


def test_papermill_and_nbconvert_alone_give_the_report_run_gives(
    notebook_db_url, cli_env, tmp_path
):
    papermill, nbconvert, opening = readme_block("--to user_failure_report")
    assert opening.startswith("xdg-open reports/explored.html")
    env = cli_env(notebook_db_url, OUTPUT_DIR=str(tmp_path / "reports"))
    (tmp_path / "reports").mkdir()  # as the checkout has it
    for command in (papermill, nbconvert):  # as written, in this test's folder and venv
        command = command.replace("reports/", f"{tmp_path}/reports/")
        command = command.replace(".venv/bin/", f"{Path(sys.executable).parent}/")
        done = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, command + done.stderr[-2000:]
    (csv,) = (tmp_path / "reports").glob("user_failure_stats_*.csv")  # export: true
    link = f'<a class="ufs-csv-link" download="" href="{csv.name}">{csv.name}</a>, beside'
    page = (tmp_path / "reports" / "explored.html").read_text(encoding="utf-8")  # beside it
    assert page.count("plotly.js v") == 1 and page.count('class="plotly-graph-div"') == 3
    assert "<title>User failure rates · 2025-05-21 to 2025-05-23 (Asia/Kolkata)</title>" in page
    assert link in page  # relative: it works from a copy of the folder and from a target
    markup = re.sub(r"(<script[^>]*>).*?</script>", r"\1", page, flags=re.S)  # their code out
    assert not re.search(r"\b(src|href)=\"(https?:)?//", markup)  # no require.js, MathJax, CDN
    parameters = str(ROOT / "parameters" / "default.yaml")
    ran = cli(["run", "-f", parameters, "--output-dir", "out", "-q"], env, tmp_path)
    assert ran.returncode == 0, ran.stderr
    (report,) = (tmp_path / "out").glob("user_failure_rates_*.html")
    assert _comparable(page) == _comparable(report.read_text(encoding="utf-8"))
    assert csv.read_bytes() == next((tmp_path / "out").glob("*.csv")).read_bytes()


def test_the_notebook_explored_without_export_writes_nothing(notebook_db_url, cli_env, tmp_path):
    env = cli_env(notebook_db_url, OUTPUT_DIR=str(tmp_path / "reports"))
    command = [str(ROOT / ".venv" / "bin" / "papermill"), "--log-level", "ERROR"]
    notebook = str(ROOT / "notebooks" / "user_failure_rates.ipynb")
    done = subprocess.run(
        [*command, notebook, str(tmp_path / "x.ipynb")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "reports").exists()
    executed = (tmp_path / "x.ipynb").read_text(encoding="utf-8")
    assert "No CSV file goes with this report: its notebook ran without export" in executed
    assert "holds every user" not in executed


def test_run_refuses_export_false(cli_env, tmp_path):
    (tmp_path / "p.yaml").write_text("start: '2025-05-21'\nend: '2025-05-23'\nexport: false\n")
    ran = cli(
        ["run", "-f", "p.yaml", "--output-dir", "out"], cli_env("postgresql://h/db"), tmp_path
    )
    assert (ran.returncode, ran.stderr) == (
        2,
        "user-failure-stats: error: export: false writes no CSV, and run is for writing "
        "reports: remove it from the parameters (it is for executing the notebook with "
        "papermill without files)\n",
    )
    assert not (tmp_path / "out").exists()
