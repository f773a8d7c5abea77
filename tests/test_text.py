import unicodedata

import pandas as pd
import pytest

from user_failure_stats import outputs
from user_failure_stats.text import (
    bounded,
    csv_cell,
    html_text,
    plotly_text,
    shown,
    shown_all,
    visible,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Anushka", "Anushka"),
        ("evil\rOVERWRITTEN", "evil\\rOVERWRITTEN"),
        ("line\nbreak\ttab", "line\\nbreak\\ttab"),
        ("\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07"),
        ("\x1b]8;;http://evil.example\x1b\\link", "\\x1b]8;;http://evil.example\\x1b\\link"),
        ("rtl\u202eevil\u2066x", "rtl\\u202eevil\\u2066x"),
        ("c1\x9bcontrol\x7f", "c1\\x9bcontrol\\x7f"),
        ("para\u2029line\u2028", "para\\u2029line\\u2028"),
        (
            "zero\u200bwidth\ufeffbom\U000e0041tag\u00adsoft",
            "zero\\u200bwidth\\ufeffbom\\U000e0041tag\\xadsoft",
        ),
        # A lone surrogate cannot be written to a terminal or a UTF-8 file: escaped too.
        ("lone\ud800high\udcfflow", "lone\\ud800high\\udcfflow"),
        # Emoji (with zero-width joiners), accents and other scripts are text, kept as they are.
        ("😀 👨\u200d👩\u200d👧 Zoë Ångström हिन्दी", "😀 👨\u200d👩\u200d👧 Zoë Ångström हिन्दी"),
    ],
)
def test_visible_escapes_control_and_bidi_characters(raw, expected):
    assert visible(raw) == expected


def test_visible_leaves_no_control_character_of_any_kind():
    every = "".join(chr(c) for c in range(0x3000))
    for char in visible(every):
        assert unicodedata.category(char) not in ("Cc", "Zl", "Zp"), hex(ord(char))
        assert char not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
        assert unicodedata.category(char) != "Cf" or char in "\u200c\u200d"


def test_shown_is_one_bounded_line():
    assert shown("x" * 10_000) == "x" * 99 + "…"
    assert len(shown("x" * 10_000, 20)) == 20
    assert shown("a\nb") == "a\\nb"
    assert bounded("abc", 3) == "abc"


def test_html_text_escapes_markup_and_quotes():
    assert html_text('<img src=x onerror="alert(7)">') == (
        "&lt;img src=x onerror=&quot;alert(7)&quot;&gt;"
    )


def test_plotly_text_escapes_once_and_keeps_quotes():
    # plotly.js decodes &amp; &lt; &gt; but shows &quot; as it is.
    assert plotly_text('"RK" & <b>x</b>') == '"RK" &amp; &lt;b&gt;x&lt;/b&gt;'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+SUM(1,1)", "'+SUM(1,1)"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("\rCR", "'\rCR"),
        # A spreadsheet may trim what comes first: spaces and line breaks before a formula.
        (" =1+1", "' =1+1"),
        ("\n=cmd", "'\n=cmd"),
        ("\u3000 \u00a0@SUM(A1)", "'\u3000 \u00a0@SUM(A1)"),
        (" Anushka", " Anushka"),
        ("Anushka", "Anushka"),
        ("a=b", "a=b"),
        (-3, -3),
        (None, None),
    ],
)
def test_csv_cell_neutralises_formulas_only(raw, expected):
    assert csv_cell(raw) == expected
    if not isinstance(raw, str):
        return
    # The CSV file's table, neutralised a column at a time, does the same.
    frame = pd.DataFrame({"user_name": [raw, "Asha"], "sessions": [1, 2]})
    assert outputs.csv_safe(frame)["user_name"].tolist() == [expected, "Asha"]


def test_bounded_to_one_character_is_the_ellipsis_alone():
    assert bounded("abc", 1) == "…"
    assert bounded("abc", 2) == "a…"
    assert bounded("", 0) == ""


def test_shown_all_is_shown_of_each_value_whatever_its_type():
    values = ["x" * 100, "x" * 101, 5, None, "a\nb", "Zoë 😀"]
    assert shown_all(values) == [shown(v) for v in values]
    assert shown_all(values)[:3] == ["x" * 100, "x" * 99 + "…", "5"]
