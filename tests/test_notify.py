"""Notifications: real services on 127.0.0.1 (a JSON web hook, an SMTP server), no mocks."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from tests.helpers import docs_text
from user_failure_stats import children, messages, notify
from user_failure_stats.errors import ConfigError, NotifyError
from user_failure_stats.stats import Statistics
from user_failure_stats.text import markdown_text
from user_failure_stats.verdict import verdict
from user_failure_stats.window import window_for

SECRET = "s3cr3t-Pa55"  # a password or token that must never be shown

SUMMARY = Statistics(
    total_users=40,
    total_sessions=1_600,
    total_failures=200,
    overall_failure_rate=0.125,
    flagged_users=3,
    tested_users=38,
    worsened_users=4,
    compared_users=30,
    fdr=0.05,
)
PREVIOUS = Statistics(
    total_users=38,
    total_sessions=1_500,
    total_failures=141,
    overall_failure_rate=0.094,
    flagged_users=1,
)
FLAGGED = [
    {
        "rank": 1,
        "user_name": "Alice",
        "failed_sessions": 14,
        "total_sessions": 20,
        "failure_rate_percent": "70.00%",
        "note": "▲ flagged",
    },
    {
        "rank": 2,
        "user_name": "Bob",
        "failed_sessions": 9,
        "total_sessions": 18,
        "failure_rate_percent": "50.00%",
        "note": "▲ flagged",
    },
    {
        "rank": 3,
        "user_name": "Carol",
        "failed_sessions": 30,
        "total_sessions": 75,
        "failure_rate_percent": "40.00%",
        "note": "▲ flagged ↑ worse",
    },
]
WORSENED = [
    dict(FLAGGED[2], rank=1, previous_failure_rate=0.1, change_points=30.0),
    {
        "rank": 2,
        "user_name": "Dave",
        "failed_sessions": 5,
        "total_sessions": 20,
        "failure_rate_percent": "25.00%",
        "previous_failure_rate": 0.05,
        "change_points": 20.0,
        "note": "↑ worse",
    },
    {
        "rank": 3,
        "user_name": "Erin",
        "failed_sessions": 6,
        "total_sessions": 30,
        "failure_rate_percent": "20.00%",
        "previous_failure_rate": 0.02,
        "change_points": 18.0,
        "note": "↑ worse",
    },
    {
        "rank": 4,
        "user_name": "Frank",
        "failed_sessions": 4,
        "total_sessions": 40,
        "failure_rate_percent": "10.00%",
        "previous_failure_rate": 0.0,
        "change_points": 10.0,
        "note": "↑ worse",
    },
]
WINDOW = "2025-05-01 to 2025-05-08 UTC"
TITLE = "User failure rates: 2025-05-01 to 2025-05-08 UTC — 3 flagged users"
LINK = "https://reports.example.com/user_failure_rates_20250508_010000.html"
ALERT = "overall failure rate 12.50% is above 10.00%"
REPORT_BODY = (
    "- Window: 2025-05-01 to 2025-05-08 UTC\n"
    "- Overall failure rate: 12.50%, +3.10 pts vs the previous 7 days (more than chance)\n"
    "- Sessions: 1,600\n"
    "- Users failing significantly more than the rest: 3 of 38 judged (with a 5% false "
    "discovery rate, fewer than 1 of them may be chance)\n"
    "- Got worse since the previous 7 days: 4 of 30 compared (with a 5% false discovery "
    "rate, fewer than 1 of them may be chance)\n"
    "\n"
    "Flagged users, most significant first:\n"
    "\n"
    "1. Alice: 14/20 failed (70.00%)\n"
    "2. Bob: 9/18 failed (50.00%)\n"
    "3. Carol: 30/75 failed (40.00%)\n"
    "\n"
    "Largest changes:\n"
    "\n"
    "1. Carol: 10.00% to 40.00% (+30.00 pts)\n"
    "2. Dave: 5.00% to 25.00% (+20.00 pts)\n"
    "3. Erin: 2.00% to 20.00% (+18.00 pts)\n"
    "\n"
    f"Report: <{LINK}>"
)
# The same for a service that shows plain text: no Markdown, and no escapes.
REPORT_TEXT = REPORT_BODY.replace(f"<{LINK}>", LINK)


def report_message(**changes):
    values = {
        "previous": PREVIOUS,
        "flagged": FLAGGED,
        "worsened": WORSENED,
        "length": "7 days",
        "link": LINK,
    } | changes
    return messages.message(WINDOW, SUMMARY, **values)


# --- local services -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hook:
    """A JSON web hook on 127.0.0.1 that records each POST (path, headers, JSON)."""

    def __init__(self):
        self.posts = []
        self.headers = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                hook.posts.append((self.path, json.loads(self.rfile.read(length))))
                hook.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):  # keep the test's stderr clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path="/hooks/run", auth=f"reports:{SECRET}@"):
        return f"json://{auth}127.0.0.1:{self.port}{path}"


@pytest.fixture
def hook():
    receiver = Hook()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def redirecting_port(hook):
    """A web hook that answers every POST with 307 to the ``hook`` under another host name."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(307)
            self.send_header("Location", f"http://localhost:{hook.port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class Mailbox:
    """aiosmtpd's handler: keeps each message with how its session was secured."""

    def __init__(self):
        self.mails = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "tls": session.ssl is not None,
                "authenticated": bool(session.authenticated),
                "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
            }
        )
        return "250 OK"


@pytest.fixture
def smtp():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.port = controller.port
    yield mailbox
    controller.stop()


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "user_failure_rates_20250508_010000.html"
    path.write_bytes(b"<!DOCTYPE html><html><body><h1>Report \xe2\x9c\x93</h1></body></html>\n")
    return path


# --- sending ---------------------------------------------------------------------------------


def test_a_json_hook_receives_the_message_and_no_attachment(hook, report, capfd):
    note = report_message(alert=ALERT)
    notify.send([hook.url()], note, [report])
    assert hook.posts == [
        (
            "/hooks/run",
            {
                "version": "1.0",
                "title": TITLE,
                "message": f"Alert: {ALERT}\n\n{REPORT_TEXT}",  # plain text: no Markdown
                "attachments": [],
                "type": "warning",
            },
        )
    ]
    assert capfd.readouterr() == ("", "")


def test_an_email_goes_to_a_plain_local_server_with_the_report_attached(smtp, report, capfd):
    url = (
        f"mailto://localhost?smtp=127.0.0.1&port={smtp.port}"
        "&from=reports@example.com&to=team@example.com"
    )
    assert notify.parse_urls(url) == (url,)
    notify.send([url], report_message(), [report])
    [mail] = smtp.mails
    assert (mail["from"], mail["to"]) == ("reports@example.com", ["team@example.com"])
    assert (mail["tls"], mail["authenticated"]) == (False, False)  # no STARTTLS, no login
    message = mail["message"]
    assert message["Subject"] == TITLE
    assert message["To"] == "team@example.com"
    text = message.get_body(("plain",)).get_content()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for expected in (
        "Window: 2025-05-01 to 2025-05-08 UTC",
        "Overall failure rate: 12.50%, +3.10 pts vs the previous 7 days (more than chance)",
        "Users failing significantly more than the rest: 3 of 38 judged",
        f"Report: {LINK}",
    ):
        assert expected in " ".join(lines)
    html = message.get_body(("html",)).get_content()
    assert "<li>Alice: 14/20 failed (70.00%)</li>" in html
    assert f'<a href="{LINK}">{LINK}</a>' in html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == report.name
    assert attachment.get_content_type() == "text/html"
    assert attachment.get_payload(decode=True) == report.read_bytes()
    assert capfd.readouterr() == ("", "")


def test_a_refused_login_is_one_masked_line_and_no_mail(smtp, capfd):
    url = f"mailto://reports:{SECRET}@example.com?smtp=127.0.0.1&port={smtp.port}&to=t@example.com"
    with pytest.raises(NotifyError) as caught:  # the server offers no AUTH: login fails
        notify.send([url], report_message())
    assert str(caught.value) == (
        f"notification not sent to 1 of 1 service: mailto://127.0.0.1:{smtp.port}"
    )
    assert smtp.mails == []
    assert capfd.readouterr() == ("", "")


def test_every_url_gets_the_message_and_only_emails_the_report(hook, smtp, report):
    mail_url = f"mailto://localhost?smtp=127.0.0.1&port={smtp.port}&from=r@example.com"
    notify.send([hook.url(), mail_url], report_message(), [report])
    assert [post[1]["attachments"] for post in hook.posts] == [[]]
    assert [len(list(mail["message"].iter_attachments())) for mail in smtp.mails] == [1]
    assert smtp.mails[0]["to"] == ["r@example.com"]  # no to=: the sender itself


def test_a_closed_port_is_one_masked_line_quickly_and_nothing_printed(capfd):
    url = f"json://reports:{SECRET}@127.0.0.1:{free_port()}/hooks/{SECRET}?token={SECRET}"
    began = time.monotonic()
    with pytest.raises(NotifyError) as caught:
        notify.send([url], report_message())
    assert time.monotonic() - began < 5
    port = url.split(":")[3].split("/")[0]
    assert str(caught.value) == f"notification not sent to 1 of 1 service: json://127.0.0.1:{port}"
    assert caught.value.exit_code == 7
    assert capfd.readouterr() == ("", "")


def test_a_closed_smtp_port_fails_quickly_too(capfd):
    port = free_port()
    url = f"mailto://reports:{SECRET}@example.com?smtp=127.0.0.1&port={port}&mode=insecure"
    began = time.monotonic()
    with pytest.raises(
        NotifyError,
        match=rf"^notification not sent to 1 of 1 service: mailto://127\.0\.0\.1:{port}$",
    ):
        notify.send([url], report_message())
    assert time.monotonic() - began < 5
    assert capfd.readouterr() == ("", "")


def test_a_service_that_never_answers_is_given_up_after_the_timeout(silent_port, capfd):
    url = f"json://127.0.0.1:{silent_port}/hook?token={SECRET}"
    began = time.monotonic()
    with pytest.raises(NotifyError) as caught:
        notify.send([url], report_message(), timeout=1)
    assert 1 <= time.monotonic() - began < 3
    assert str(caught.value) == (
        f"notification not sent to 1 of 1 service: json://127.0.0.1:{silent_port} "
        "(no answer within 1 s)"
    )
    assert capfd.readouterr() == ("", "")


def test_several_services_share_one_deadline(hook, capfd):
    # Three silent services and one that answers: the wait is one timeout, not three, every
    # silent one is named in order, and the one that answers still gets the message.
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(3):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            ports.append(sock.getsockname()[1])
        urls = [f"json://127.0.0.1:{port}/hook" for port in ports]
        began = time.monotonic()
        with pytest.raises(NotifyError) as caught:
            notify.send([urls[0], hook.url(), *urls[1:]], report_message(), timeout=1)
        assert 1 <= time.monotonic() - began < 1.9
    assert str(caught.value) == "notification not sent to 3 of 4 services: " + ", ".join(
        f"json://127.0.0.1:{port} (no answer within 1 s)" for port in ports
    )
    assert len(hook.posts) == 1
    assert capfd.readouterr() == ("", "")


def test_apprise_timeouts_end_a_silent_service_in_seconds(silent_port, capfd):
    began = time.monotonic()
    with pytest.raises(NotifyError) as caught:  # Apprise's own read timeout: 4 s
        notify.send([f"json://127.0.0.1:{silent_port}/hook"], report_message())
    assert time.monotonic() - began < 10
    assert str(caught.value) == (
        f"notification not sent to 1 of 1 service: json://127.0.0.1:{silent_port}"
    )
    assert capfd.readouterr() == ("", "")


def test_a_receiver_answering_a_byte_at_a_time_is_stopped_at_the_deadline(trickle_port):
    # Each byte restarts Apprise's read timeout: the command must still end at the deadline,
    # the process included (Apprise's threads are waited for when a process exits).
    code = (
        "import time\n"
        "from user_failure_stats import notify\n"
        "from user_failure_stats.messages import failure_message\n"
        "began = time.monotonic()\n"
        "try:\n"
        f"    notify.send(['json://127.0.0.1:{trickle_port}/hook'], failure_message('x'), "
        "timeout=2)\n"
        "except notify.NotifyError as exc:\n"
        "    print(exc)\n"
    )
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert time.monotonic() - began < 8
    assert result.stdout == (
        f"notification not sent to 1 of 1 service: json://127.0.0.1:{trickle_port} "
        "(no answer within 2 s)\n"
    )
    assert result.stderr == ""


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_apprise_logs_reach_no_handler_even_when_the_root_logger_prints(capfd):
    root = logging.getLogger()
    printer, records = logging.StreamHandler(sys.stderr), Records()
    printer.setLevel(logging.WARNING)
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(printer)
    root.addHandler(records)
    url = f"json://reports:{SECRET}@127.0.0.1:{free_port()}/hooks/{SECRET}"
    try:
        with pytest.raises(NotifyError):
            notify.send([url], report_message())
        with pytest.raises(ConfigError):
            notify.parse_urls(f"slack://{SECRET}")
    finally:
        root.removeHandler(printer)
        root.removeHandler(records)
        root.setLevel(level)
    assert [r.name for r in records.records if r.name.startswith("apprise")] == []
    assert capfd.readouterr() == ("", "")


def test_one_failed_service_is_named_and_the_others_are_sent(hook, capfd):
    dead = f"jsons://user:{SECRET}@127.0.0.1:{free_port()}/x"
    with pytest.raises(NotifyError) as caught:
        notify.send([hook.url(), dead], report_message())
    assert str(caught.value) == (f"notification not sent to 1 of 2 services: {notify.mask(dead)}")
    assert SECRET not in str(caught.value)
    assert len(hook.posts) == 1
    assert capfd.readouterr() == ("", "")


def test_an_attachment_that_is_not_the_file_itself_is_left_out_and_the_rest_sent(
    smtp, hook, tmp_path
):
    import os

    secret = tmp_path / "secret.env"
    secret.write_text(f"DB_URL=postgresql://u:{SECRET}@db/x\n")
    planted = tmp_path / "user_failure_stats_20250523_010000.csv"
    planted.symlink_to(secret)  # planted in the output folder in place of the CSV
    fifo = tmp_path / "user_failure_rates_20250523_010000.html"
    os.mkfifo(fifo)
    report = tmp_path / "report.html"
    report.write_text("<html></html>")
    url = f"mailto://localhost?smtp=127.0.0.1&port={smtp.port}&from=r@example.com"
    notify.send([url, hook.url()], report_message(), [planted, fifo, tmp_path / "gone", report])
    (mail,) = smtp.mails
    attached = {
        a.get_filename(): a.get_payload(decode=True) for a in mail["message"].iter_attachments()
    }
    assert attached == {"report.html": b"<html></html>"}
    assert SECRET.encode() not in mail["message"].as_bytes()
    assert len(hook.posts) == 1  # the alert still goes out


def test_no_urls_send_nothing():
    assert notify.send([], report_message()) == []


def test_a_failed_run_is_announced_in_one_line(hook):
    notify.send_failure([hook.url()], "could not connect to db.example.com:5432/telephony\r\nboom")
    assert hook.posts == [
        (
            "/hooks/run",
            {
                "version": "1.0",
                "title": "User failure rates: run failed",
                "message": "could not connect to db[.]example[.]com:5432/telephony\\r\\nboom",
                "attachments": [],
                "type": "failure",
            },
        )
    ]


# --- hostile names ---------------------------------------------------------------------------

HOSTILE = [
    ("<script>alert(1)</script>", "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"),
    ("*bold* _it_ `code`", "\\*bold\\* \\_it\\_ \\`code\\`"),
    ("[link](http://x)", "\\[link\\]\\(http\\[:\\]//x\\)"),
    ("![img](http://x/i.png)", "\\!\\[img\\]\\(http\\[:\\]//x/i\\[.\\]png\\)"),
    ("line\r\nbreak", "line\\\\r\\\\nbreak"),
    ("\x1b[2J\x1b]8;;http://x\x07click", "\\\\x1b\\[2J\\\\x1b\\]8;;http\\[:\\]//x\\\\x07click"),
    ("# heading", "\\# heading"),
    ("- item", "\\- item"),
    ("1. first", "1\\. first"),
    ("a & b &amp; c", "a &amp; b &amp;amp; c"),
    ("\u202eevil", "\\\\u202eevil"),
    ("😀 Zoë", "😀 Zoë"),
    ("x" * 10_000, "x" * 59 + "…"),
]


@pytest.mark.parametrize(("raw", "expected"), HOSTILE)
def test_hostile_names_arrive_visible_escaped_and_bounded(raw, expected):
    flagged = [dict(FLAGGED[0], user_name=raw)]
    body = report_message(flagged=flagged, worsened=()).body
    assert f"1. {expected}: 14/20 failed (70.00%)" in body.splitlines()


def test_hostile_names_reach_a_hook_as_one_line_each(hook):
    names = [raw for raw, _ in HOSTILE[:3]]
    flagged = [dict(FLAGGED[0], rank=n + 1, user_name=name) for n, name in enumerate(names)]
    notify.send([hook.url()], report_message(flagged=flagged, worsened=()))
    body = hook.posts[0][1]["message"]  # a JSON hook shows plain text: visible and defanged
    assert [line for line in body.splitlines() if line[:3] in ("1. ", "2. ", "3. ")] == [
        "1. <script>alert(1)</script>: 14/20 failed (70.00%)",
        "2. *bold* _it_ `code`: 14/20 failed (70.00%)",
        "3. [link](http[:]//x): 14/20 failed (70.00%)",
    ]
    assert "\\" not in body  # no Markdown escapes


def test_hostile_names_reach_an_email_as_text(smtp):
    names = ["<script>alert(1)</script>", "*bold* _it_ `code`", "[a](http://x) ![i](http://x/i)"]
    flagged = [dict(FLAGGED[0], rank=n + 1, user_name=name) for n, name in enumerate(names)]
    url = f"mailto://localhost?smtp=127.0.0.1&port={smtp.port}&from=r@example.com"
    notify.send([url], report_message(flagged=flagged, worsened=()))
    html = smtp.mails[0]["message"].get_body(("html",)).get_content().replace("\r\n", "\n")
    assert (
        "<ol>\n"
        "<li>&lt;script&gt;alert(1)&lt;/script&gt;: 14/20 failed (70.00%)</li>\n"
        "<li>*bold* _it_ `code`: 14/20 failed (70.00%)</li>\n"
        "<li>[a](http[:]//x) ![i](http[:]//x/i): 14/20 failed (70.00%)</li>\n"
        "</ol>"
    ) in html
    assert "<script" not in html and 'href="http://x' not in html and "<img" not in html


def test_markdown_text_leaves_plain_text_alone():
    assert markdown_text("O'Brien 3.5 - x, ok?") == "O'Brien 3.5 - x, ok?"


# --- the message -----------------------------------------------------------------------------


def test_the_report_message_names_window_rate_change_flagged_worst_and_link():
    note = report_message()
    assert note.title == TITLE
    assert note.body == REPORT_BODY
    assert note.kind == "info"


def test_without_previous_data_a_local_file_and_one_flagged_user():
    note = messages.message(
        WINDOW,
        replace(SUMMARY, flagged_users=1, worsened_users=0, overall_failure_rate=0.0825),
        None,
        FLAGGED[2:],
        link="/srv/reports/user_failure_rates_20250508_010000.html",
    )
    assert note.title == "User failure rates: 2025-05-01 to 2025-05-08 UTC — 1 flagged user"
    assert note.body.splitlines() == [
        "- Window: 2025-05-01 to 2025-05-08 UTC",
        "- Overall failure rate: 8.25% (no previous data)",
        "- Sessions: 1,600",
        "- Users failing significantly more than the rest: 1 of 38 judged (with a 5% false "
        "discovery rate, fewer than 1 of them may be chance)",
        "- Got worse since the previous window: 0 of 30 compared (at a 5% false discovery rate)",
        "",
        "Flagged users, most significant first:",
        "",
        "1. Carol: 30/75 failed (40.00%)",
        "",
        "Report: user\\_failure\\_rates\\_20250508\\_010000.html",
    ]


@pytest.mark.parametrize(
    ("link", "line"),
    [
        (
            f"https://user:{SECRET}@acct.blob.core.windows.net/reports/r.html?sv=1&sig={SECRET}#x",
            "Report: <https://acct.blob.core.windows.net/reports/r.html>",
        ),
        (
            "HTTPS://reports.example.com/a%20b.html",
            "Report: <https://reports.example.com/a%20b.html>",
        ),
        ("https://reports.example.com/<script>.html", "Report: &lt;script&gt;.html"),
        ("C:\\reports\\user_failure_rates_1.html", "Report: user\\_failure\\_rates\\_1.html"),
        ("reports/[x](http://evil).html", "Report: evil\\).html"),
    ],
)
def test_the_report_link_never_carries_a_credential_or_markup(link, line):
    assert report_message(link=link).body.splitlines()[-1] == line


def test_an_empty_window_alerts_and_says_so():
    empty = replace(SUMMARY, total_users=0, total_sessions=0, total_failures=0, flagged_users=0)
    empty = replace(empty, overall_failure_rate=float("nan"))
    reason = verdict(empty, fail_above=0.1).alert
    assert reason == "no sessions in the window"
    note = messages.message(WINDOW, empty, PREVIOUS, [], length="7 days", alert=reason)
    assert note.kind == "warning"
    assert note.body.splitlines() == [
        "**Alert: no sessions in the window**",
        "",
        "- Window: 2025-05-01 to 2025-05-08 UTC",
        "- Overall failure rate: n/a (no sessions in the previous 7 days)",
        "- Sessions: 0",
        "- Users failing significantly more than the rest: 0 of 38 judged (at a 5% false "
        "discovery rate)",
        "- Got worse since the previous 7 days: 4 of 30 compared (with a 5% false discovery "
        "rate, fewer than 1 of them may be chance)",
    ]


def test_a_rate_down_is_shown_with_its_sign():
    note = messages.message(WINDOW, PREVIOUS, SUMMARY, length="7 days")
    assert (
        "- Overall failure rate: 9.40%, -3.10 pts vs the previous 7 days (more than chance)"
        in note.body
    )


def test_window_label_shows_dates_or_times():
    zone = ZoneInfo("Asia/Kolkata")
    days = window_for(datetime(2025, 5, 1, tzinfo=zone), datetime(2025, 5, 8, tzinfo=zone), "UTC")
    assert messages.window_label(days) == "2025-05-01 to 2025-05-08 Asia/Kolkata"
    start, end = datetime(2025, 5, 1, 6, 30), datetime(2025, 5, 1, 18, 0, 15)
    hours = window_for(start.replace(tzinfo=zone), end.replace(tzinfo=zone), "UTC")
    assert messages.window_label(hours) == "2025-05-01 06:30 to 2025-05-01 18:00:15 Asia/Kolkata"


def test_a_window_gives_its_label_and_length():
    zone = ZoneInfo("UTC")
    window = window_for(datetime(2025, 5, 1, tzinfo=zone), datetime(2025, 5, 8, tzinfo=zone), "UTC")
    note = messages.message(window, SUMMARY, PREVIOUS, FLAGGED, WORSENED, link=LINK)
    assert (note.title, note.body) == (TITLE, REPORT_BODY)


def test_a_failure_notice_is_one_visible_bounded_line():
    note = messages.failure_message("bad *thing*\n\x1b[31m" + "y" * 1_000)
    assert note.title == "User failure rates: run failed"
    assert note.kind == "failure"
    assert "\n" not in note.body and "\x1b" not in note.body
    assert note.body.startswith("bad \\*thing\\*\\\\n\\\\x1b\\[31my")
    assert note.body.endswith("y…")
    assert len(note.body) == 500 + 5  # bounded to 500, then escaped: \* \* \\ \\ \[
    # A server's words in it become no link or mention either (a view's RAISE says anything).
    said = "query failed: calllog moved, see https://evil.example/login or www.evil.com @channel"
    note = messages.failure_message(said)
    assert note.text == (
        "query failed: calllog moved, see https[:]//evil[.]example/login or www[.]evil[.]com "
        "@\u200bchannel"
    )
    assert "https://" not in note.body and "evil.com" not in note.body


# --- modes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "alert", "expected"),
    [
        ("always", False, True),
        ("always", True, True),
        ("alert", False, False),
        ("alert", True, True),
        ("never", False, False),
        ("never", True, False),
    ],
)
def test_should_notify(mode, alert, expected):
    assert notify.should_notify(mode, alert) is expected


def test_the_default_mode_depends_on_urls():
    assert (notify.default_mode(("json://h/x",)), notify.default_mode(())) == ("alert", "never")


# --- masking and parsing ---------------------------------------------------------------------

MASKED = [
    (f"mailto://reports:{SECRET}@gmail.com", "mailto://gmail.com"),
    (
        f"mailtos://reports%40example.com:{SECRET}@smtp.example.com:465?to=team@example.com",
        "mailtos://smtp.example.com:465",
    ),
    (
        f"mailto://user:{SECRET}@example.com?smtp=smtp.example.com&port=2525&pass={SECRET}",
        "mailto://smtp.example.com:2525",
    ),
    (f"mailto://{SECRET}:{SECRET}@example.com/team@example.com", "mailto://…"),  # @ in the path
    # A relay's URL as docs/notifications.md writes it: the query's @ encoded, the relay shown.
    (
        "mailto://example.com?smtp=relay.example.com&port=25&from=r%40example.com&to=t%40x.org",
        "mailto://relay.example.com:25",
    ),
    ("mailto://example.com?smtp=relay.example.com&from=r@example.com", "mailto://…"),
    (f"json://user:{SECRET}@127.0.0.1:8080/hooks/{SECRET}?token={SECRET}", "json://127.0.0.1:8080"),
    (
        f"jsons://hooks.example.com/{SECRET}?+Authorization=Bearer%20{SECRET}",
        "jsons://hooks.example.com",
    ),
    (f"json://hooks.example.com/x?:token={SECRET}&-version=", "json://hooks.example.com"),
    (f"json://user:{SECRET}@host@evil.example/x", "json://…"),  # Apprise sends to "host"
    (f"json://admin:{SECRET}@host.example:8080?x=y", "json://host.example:8080"),
    ("json://admin:12345?x=y@host.example/x", "json://…"),  # unencoded ? in a password
    ("json://admin:12345#x@host.example/x", "json://…"),
    ("json://admin:12345/x@host.example/x", "json://…"),
    (f"jsons://admin:{SECRET}@HOST.example", "jsons://host.example"),
    (f"mailtos://user:{SECRET}@gmail.com?from=me@example.com", "mailtos://gmail.com"),
    (f"mailtos://user:{SECRET}@gmail.com?smtp=smtp.example.com", "mailtos://smtp.example.com"),
    (f"mailtos://user:{SECRET}@gmail.com:2525?smtp={SECRET}:1", "mailtos://gmail.com:2525"),
    (f"json://[::1]:8080/{SECRET}", "json://[::1]:8080"),
    (f"json://user:ab/{SECRET}@host.example/x", "json://…"),  # unencoded / in the password
    (f"json://user:12?{SECRET}@host.example/x", "json://…"),  # unencoded ? in the password
    (f"slack://T1JJ3T3L2/A1BRTD4JD/{SECRET}/#general", "slack://…"),
    (f"slack://xoxb-{SECRET}/#general", "slack://…"),
    (f"msteams://team/{SECRET}/{SECRET}/{SECRET}/", "msteams://…"),
    (
        f"workflows://prod-12.westeurope.logic.azure.com:443/{SECRET}/{SECRET}",
        "workflows://prod-12.westeurope.logic.azure.com:443",
    ),
    (f"https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/{SECRET}", "https://hooks.slack.com"),
    (f"{SECRET}", "(not a URL)"),
    (f"tg://{SECRET}/", "tg://…"),
]


@pytest.mark.parametrize(("url", "expected"), MASKED)
def test_mask_shows_scheme_and_host_only(url, expected):
    assert notify.mask(url) == expected
    assert SECRET not in notify.mask(url)


def test_describe_lists_the_services_masked():
    urls = (f"mailtos://u:{SECRET}@smtp.example.com?to=t@example.com", f"slack://a/b/{SECRET}")
    assert notify.describe(urls) == "2 services: mailtos://smtp.example.com, slack://…"
    assert notify.describe(urls[:1]) == "1 service: mailtos://smtp.example.com"
    assert notify.describe(()) == "no services (NOTIFY_URLS is not set)"


def test_parse_urls_splits_like_apprise():
    text = (
        "json://127.0.0.1:8080/a, json://127.0.0.1:8081/b "
        "mailto://u:p@example.com?to=a@example.org,b@example.org;\n"
        "\n  https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ  \n"
    )
    assert notify.parse_urls(text) == (
        "json://127.0.0.1:8080/a",
        "json://127.0.0.1:8081/b",
        "mailto://u:p@example.com?to=a@example.org,b@example.org",
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
    )
    assert notify.parse_urls("") == ()
    assert notify.parse_urls(" ,\n ") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{SECRET} json://h/x",
            "NOTIFY_URLS: URL 1 is not a URL: expected scheme://..., as in json://host/path",
        ),
        (
            f"json://h/x, json://h/y {SECRET}",
            "NOTIFY_URLS: URL 2 (json://h) holds a space: separate URLs by spaces, commas or new "
            "lines, each starting with its scheme://, and percent-encode a space in a URL as %20",
        ),
        (
            f"json://h/x\nnope://{SECRET}@host",
            "NOTIFY_URLS: URL 2 has a scheme Apprise does not know: nope://",
        ),
        (
            f"json://u:{SECRET}@h@host.example/x",
            "NOTIFY_URLS: URL 1 (json://…) is ambiguous: it has more than one '@' "
            "before the host; percent-encode '@' in the user name or password as %40",
        ),
        (
            f"slack://{SECRET}",
            "NOTIFY_URLS: URL 1 (slack://…) is not a valid slack:// URL for Apprise: see "
            "https://github.com/caronc/apprise/wiki for its syntax",
        ),
        (
            f"https://example.com/{SECRET}",
            "NOTIFY_URLS: URL 1 has a scheme Apprise does not know: https://",
        ),
    ],
)
def test_parse_urls_errors_name_the_position_never_the_secret(text, message, capfd):
    with pytest.raises(ConfigError) as caught:
        notify.parse_urls(text)
    assert str(caught.value) == message
    assert caught.value.field == "NOTIFY_URLS"
    assert capfd.readouterr() == ("", "")


def test_the_readme_examples_are_valid_urls_shown_masked():
    readme = docs_text()
    [block] = re.findall(r'```dotenv\nNOTIFY_URLS="\n(.*?)"\n```', readme, flags=re.S)
    assert [notify.mask(url) for url in notify.parse_urls(block)] == [
        "mailtos://smtp.example.com",
        "https://hooks.slack.com",
        "workflows://prod-00.westeurope.logic.azure.com:443",
        "jsons://hooks.example.com",
    ]


# --- end to end: the command line publishes, then notifies ------------------------------------


def run_cli(args, env, cwd):
    from tests.helpers import SEED_WINDOW, run_cli

    return run_cli(["run", *SEED_WINDOW, *args], env, cwd)


def test_an_alert_is_announced_with_the_published_link(pg, cli_env, tmp_path, hook):
    pg.seed()
    www = tmp_path / "www"
    env = cli_env(
        pg.url, NOTIFY_URLS=hook.url(), PUBLISH_LINK_URL="https://reports.example.com/calls"
    )
    out = tmp_path / "out"
    args = ["--output-dir", str(out), "--publish", www.as_uri(), "--fail-above", "20%"]
    result = run_cli(args, env, tmp_path)
    assert result.returncode == 5, result.stderr  # the alert's code: the message was sent
    assert f"Notified: json://127.0.0.1:{hook.port}\n" in result.stdout
    (html,) = out.glob("user_failure_rates_*.html")
    (csv,) = out.glob("user_failure_stats_*.csv")
    ((path, posted),) = hook.posts
    assert path == "/hooks/run"
    assert posted["type"] == "warning"
    assert (
        posted["title"]
        == "User failure rates: 2025-05-21 to 2025-05-23 Asia/Kolkata — 0 flagged users"
    )
    lines = posted["message"].splitlines()  # plain text, as a JSON hook shows it
    assert lines[0] == "Alert: overall failure rate 24.05% is above 20.00%"
    assert "- Sessions: 341" in lines
    assert lines[-2:] == [
        f"Report: https://reports.example.com/calls/{html.name}",
        f"CSV: https://reports.example.com/calls/{csv.name}",
    ]
    assert SECRET not in result.stdout + result.stderr
    for path in [*out.iterdir(), *www.iterdir()]:  # nor in the notebook, report or summary
        assert SECRET.encode() not in path.read_bytes(), path.name


def test_a_quiet_run_sends_nothing_by_default(pg, cli_env, tmp_path, hook):
    pg.seed()
    result = run_cli(
        ["--output-dir", str(tmp_path / "out")], cli_env(pg.url, NOTIFY_URLS=hook.url()), tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert hook.posts == []  # --notify alert is the default, and nothing alerted
    assert "Notified" not in result.stdout


def test_always_emails_the_report_and_the_csv_attached(pg, cli_env, tmp_path, smtp):
    pg.seed()
    url = (
        f"mailto://localhost?smtp=127.0.0.1&port={smtp.port}"
        "&from=reports@example.com&to=team@example.com"
    )
    out = tmp_path / "out"
    result = run_cli(
        ["--output-dir", str(out), "--notify", "always"], cli_env(pg.url, NOTIFY_URLS=url), tmp_path
    )
    assert result.returncode == 0, result.stderr
    (html,) = out.glob("user_failure_rates_*.html")
    (csv,) = out.glob("user_failure_stats_*.csv")
    (mail,) = smtp.mails
    assert mail["to"] == ["team@example.com"]
    message = mail["message"]
    assert (
        message["Subject"]
        == "User failure rates: 2025-05-21 to 2025-05-23 Asia/Kolkata — 0 flagged users"
    )
    # Not published: the report itself and the CSV travel with the email.
    attached = {a.get_filename(): a.get_payload(decode=True) for a in message.iter_attachments()}
    assert attached == {html.name: html.read_bytes(), csv.name: csv.read_bytes()}
    text = message.get_body(("plain",)).get_content()
    assert f"Report: {html.name}" in text and f"CSV: {csv.name}" in text


def test_a_published_report_is_emailed_as_its_link_with_the_csv(pg, cli_env, tmp_path, smtp):
    pg.seed()
    url = f"mailto://localhost?smtp=127.0.0.1&port={smtp.port}&from=r@example.com"
    env = cli_env(pg.url, NOTIFY_URLS=url, PUBLISH_LINK_URL="https://reports.example.com/calls")
    out = tmp_path / "out"
    args = [
        "--output-dir",
        str(out),
        "--notify",
        "always",
        "--publish",
        (tmp_path / "www").as_uri(),
    ]
    result = run_cli(args, env, tmp_path)
    assert result.returncode == 0, result.stderr
    (html,) = out.glob("user_failure_rates_*.html")
    (csv,) = out.glob("user_failure_stats_*.csv")
    (mail,) = smtp.mails
    attached = {
        a.get_filename(): a.get_payload(decode=True) for a in mail["message"].iter_attachments()
    }
    assert attached == {csv.name: csv.read_bytes()}  # the report is a link away
    size = len(mail["message"].as_bytes())
    assert size < 3 * len(csv.read_bytes()) + 20_000 < html.stat().st_size, size
    html_body = mail["message"].get_body(("html",)).get_content()
    link = f"https://reports.example.com/calls/{html.name}"
    assert f'<a href="{link}">{link}</a>' in html_body


def test_an_attachment_others_may_have_changed_is_left_out(tmp_path):
    # A file renamed over the report's in a folder others may write is not mailed out.
    ours, theirs = tmp_path / "report.html", tmp_path / "users.csv"
    ours.write_text("ours")
    ours.chmod(0o644)
    theirs.write_text("=HYPERLINK(evil)")
    theirs.chmod(0o666)
    (tmp_path / "copies").mkdir()
    chosen = notify.private_copies([ours, theirs], tmp_path / "copies")
    assert [p.name for p in chosen] == [ours.name]


def test_emails_carry_attachments_up_to_the_budget_and_name_every_file(smtp, tmp_path):
    big, small = tmp_path / "report.html", tmp_path / "users.csv"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    big.write_bytes(b"x" * (notify.EMAIL_BUDGET - 10))
    small.write_bytes(b"y" * 100)
    url = f"mailto://localhost?smtp=127.0.0.1&port={smtp.port}&from=r@example.com"
    assert [p.name for p in notify.private_copies([big, small], tmp_path / "a")] == [big.name]
    assert [p.name for p in notify.private_copies([small, big], tmp_path / "b")] == [small.name]
    notify.send([url], report_message(link=str(big), csv_link=str(small)), [small, big])
    (mail,) = smtp.mails
    assert [a.get_filename() for a in mail["message"].iter_attachments()] == ["users.csv"]
    text = mail["message"].get_body(("plain",)).get_content()
    assert "Report: report.html" in text and "CSV: users.csv" in text


def test_a_failed_notification_exits_7_after_the_report(pg, cli_env, tmp_path):
    pg.seed()
    out = tmp_path / "out"
    port = free_port()
    url = f"json://reports:{SECRET}@127.0.0.1:{port}/x"
    env = cli_env(pg.url, NOTIFY_URLS=url)
    result = run_cli(["--output-dir", str(out), "--notify", "always"], env, tmp_path)
    assert result.returncode == 7
    assert "Notified" not in result.stdout
    assert result.stderr.splitlines() == [
        "user-failure-stats: error: notification not sent to 1 of 1 service: "
        f"json://127.0.0.1:{port} (the report was written)"
    ]
    assert len(list(out.glob("user_failure_rates_*.html"))) == 1
    assert SECRET not in result.stdout + result.stderr


def test_a_failed_run_is_announced(cli_env, tmp_path, hook):
    env = cli_env("postgresql://ufs:pw@127.0.0.1:1/none", NOTIFY_URLS=hook.url())
    result = run_cli(["--output-dir", str(tmp_path / "out")], env, tmp_path)
    assert result.returncode == 3
    ((_, posted),) = hook.posts
    assert posted["title"] == "User failure rates: run failed"
    assert posted["type"] == "failure"
    (error,) = result.stderr.splitlines()
    said = messages.defanged(error.removeprefix("user-failure-stats: error: "))
    assert said == "cannot connect to the database 127[.]0[.]0[.]1:1/none: connection refused"
    assert said in posted["message"].replace("\\", "")
    assert "pw" not in posted["message"]


def test_notify_without_urls_is_refused_before_the_run(cli_env, tmp_path):
    result = run_cli(
        ["--output-dir", str(tmp_path / "out"), "--notify", "always"],
        cli_env("postgresql://u:p@127.0.0.1:1/x"),
        tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "user-failure-stats: error: --notify always needs NOTIFY_URLS in the environment or .env"
    ]
    assert not (tmp_path / "out").exists()


def test_check_names_the_services_masked(pg, cli_env, tmp_path, hook):
    from tests.helpers import SEED_WINDOW, run_cli

    pg.seed()
    result = run_cli(["check", *SEED_WINDOW], cli_env(pg.url, NOTIFY_URLS=hook.url()), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"[ok]   notifications: 1 service: json://127.0.0.1:{hook.port}; sent on alerts "
        "(--notify alert)"
    )
    assert SECRET not in result.stdout


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://evil.example/x", "https[:]//evil[.]example/x"),
        ("see HTTP://x.y and ftp://z", "see HTTP[:]//x.y and ftp[:]//z"),
        ("www.evil.example", "www[.]evil[.]example"),
        ("@channel @here", "@\u200bchannel @\u200bhere"),
        ("Asha Rao", "Asha Rao"),
        # Bare domains: chat and mail clients link them too, full-width dots and punycode too.
        ("evil-domain.com/login", "evil-domain[.]com/login"),
        ("login at bank.co.uk now", "login at bank[.]co[.]uk now"),
        ("xn--80ak6aa92e.com", "xn--80ak6aa92e[.]com"),
        ("evil．com and evil。org", "evil[.]com and evil[.]org"),
        ("J. R. Rao, 10.0.0.1", "J. R. Rao, 10.0.0.1"),
        # Look-alikes a linker may still take: a domain run into more text, an address with
        # a path or port, a one-dot leader.
        ("evil.com_x www.evil.com_x", "evil[.]com_x www[.]evil[.]com_x"),
        ("evil.com1/login", "evil[.]com1/login"),
        ("1.2.3.4/login and 10.0.0.1:8080", "1[.]2[.]3[.]4/login and 10[.]0[.]0[.]1:8080"),
        ("evil\u2024com and evil\ufe52org", "evil[.]com and evil[.]org"),
        ("1.2.3.4?x=1 \uff20channel", "1[.]2[.]3[.]4?x=1 \uff20\u200bchannel"),
    ],
)
def test_names_never_become_links_or_mentions(raw, expected):
    assert messages.defanged(raw) == expected


def _allocate_after_bounding(result) -> None:
    children.bound_memory()
    try:
        bytearray(2 * children.CHILD_MEMORY)  # as an endless answer would grow
        result.put("allocated")
    except MemoryError:
        result.put("refused")


def test_the_sending_child_cannot_take_gigabytes():
    import multiprocessing

    context = multiprocessing.get_context("fork")
    result = context.Queue()
    child = context.Process(target=_allocate_after_bounding, args=(result,))
    child.start()
    child.join(60)
    assert result.get(timeout=5) == "refused"


def test_a_redirect_is_not_followed_with_the_hooks_headers(redirecting_port, hook, capfd):
    # Apprise follows redirects by default, with the URL's own headers, to any host.
    url = f"json://127.0.0.1:{redirecting_port}/hook?+X-Token={SECRET}"
    with pytest.raises(NotifyError) as caught:
        notify.send([url], report_message(), timeout=10)
    assert str(caught.value) == (
        f"notification not sent to 1 of 1 service: json://127.0.0.1:{redirecting_port}"
    )
    assert hook.posts == []
    # Asked for in the URL, a redirect is followed.
    notify.send([url + "&redirect=yes"], report_message(), timeout=10)
    assert [path for path, _ in hook.posts] == ["/elsewhere"]
    assert hook.headers[0]["X-Token"] == SECRET
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("url", "plain"),
    [
        ("json://127.0.0.1/hook", True),
        ("xmls://example.com/hook", True),
        ("form://example.com/hook", True),
        # Slack: Apprise escapes plain text for it and turns its markup off.
        ("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", True),
        # Discord and Mattermost show Markdown although Apprise declares plain text first.
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", False),
        ("mmost://chat.example.com/3ccdd113474722377935511fc85d3dd4", False),
        ("mailtos://user:pass@example.com", False),
        ("workflows://host.logic.azure.com:443/workflow1/signature2", False),
    ],
)
def test_only_services_known_to_show_text_as_it_is_get_plain_text(url, plain):
    import apprise

    assert notify.shows_plain_text(apprise.Apprise.instantiate(url)) is plain


def test_hostile_names_reach_mattermost_escaped(hook):
    names = ["<script>alert(1)</script>", "*bold* _it_ `code`", "[x](//evil) ![i](//x/i)"]
    flagged = [dict(FLAGGED[0], rank=n + 1, user_name=name) for n, name in enumerate(names)]
    notify.send([f"mmost://127.0.0.1:{hook.port}/token123"], report_message(flagged=flagged))
    path, posted = hook.posts[0]
    assert path == "/hooks/token123"
    assert [line for line in posted["text"].splitlines() if line[:3] in ("1. ", "2. ", "3. ")][
        :3
    ] == [
        "1. &lt;script&gt;alert\\(1\\)&lt;/script&gt;: 14/20 failed (70.00%)",
        "2. \\*bold\\* \\_it\\_ \\`code\\`: 14/20 failed (70.00%)",
        "3. \\[x\\]\\(//evil\\) \\!\\[i\\]\\(//x/i\\): 14/20 failed (70.00%)",
    ]
