"""params.choose: the one layering rule of the command line and the HTTP endpoint."""

import pytest

from user_failure_stats.errors import ConfigError
from user_failure_stats.params import choose
from user_failure_stats.settings import Settings

FILE = {"start": "2025-05-01", "end": "2025-05-02", "timezone": "Asia/Kolkata", "title": "File"}
FALLBACK = {"start": "2024-01-01", "end": "2024-01-02", "title": "Fallback", "top_n": 3}


def test_given_values_beat_the_file_and_the_file_beats_the_settings():
    settings = Settings(
        db_url=None, report_timezone="Europe/Berlin", start_date="2025-06-01", end_date="2025-06-02"
    )
    params = choose(settings, {"title": "Flag", "end": "2025-05-03"}, FILE)
    assert (params.start, params.end, params.timezone, params.title) == (
        "2025-05-01",
        "2025-05-03",
        "Asia/Kolkata",
        "Flag",
    )
    assert choose(settings, {}).start == "2025-06-01"
    assert choose(settings, {}).timezone == "Europe/Berlin"


def test_a_given_relative_window_replaces_start_and_end_and_the_other_way_round():
    settings = Settings(db_url=None)
    params = choose(settings, {"window": "yesterday"}, FILE)
    assert (params.window, params.start, params.end) == ("yesterday", None, None)
    params = choose(settings, {"start": "2025-05-10", "end": "2025-05-11"}, {"window": "today"})
    assert (params.window, params.start, params.end) == (None, "2025-05-10", "2025-05-11")
    with pytest.raises(ConfigError, match="either window or start/end"):
        choose(settings, {"window": "today", "start": "2025-05-10"})


def test_the_fallback_counts_only_when_nothing_names_a_window():
    settings = Settings(db_url=None)
    params = choose(settings, {"title": "Flag"}, fallback=FALLBACK)
    assert (params.start, params.title, params.top_n) == ("2024-01-01", "Flag", 3)
    assert choose(settings, {}, FILE, fallback=FALLBACK).title == "File"  # not "Fallback"
    dated = Settings(db_url=None, start_date="2025-06-01", end_date="2025-06-02")
    assert choose(dated, {}, fallback=FALLBACK).top_n == 10
    with pytest.raises(ConfigError, match="no window given"):
        choose(settings, {})


def test_empty_values_are_not_given_but_zero_is():
    settings = Settings(db_url=None, default_window="yesterday")
    params = choose(settings, {"start": "", "window": None}, fallback={"window": "yesterday"})
    assert params.window == "yesterday"
    with pytest.raises(ConfigError) as caught:
        choose(settings, {"top_n": 0}, fallback={"window": "yesterday"})
    assert caught.value.field == "top_n"


def test_the_command_line_and_the_endpoint_choose_alike(monkeypatch):
    from user_failure_stats.arguments import build_parser, choose_parameters
    from user_failure_stats.endpoint import parse_request

    settings = Settings(
        db_url=None, report_timezone="Asia/Kolkata", start_date="2025-05-21", end_date="2025-05-23"
    )
    args = build_parser().parse_args(["run", "--top-n", "4"])
    cli = choose_parameters(args, settings)
    request = parse_request({"top_n": "4"}, settings)
    assert (cli.start, cli.end, cli.timezone, cli.top_n) == (
        "2025-05-21",
        "2025-05-23",
        "Asia/Kolkata",
        4,
    )
    assert request.window.start.isoformat() == "2025-05-21T00:00:00+05:30"
    assert request.top_n == cli.top_n


def test_an_empty_flag_is_refused_not_read_as_absent():
    from user_failure_stats.arguments import build_parser, choose_parameters

    settings = Settings(db_url=None)
    for flags in (["--start", "", "--end", ""], ["--timezone", " "], ["--title", ""]):
        args = build_parser().parse_args(["run", *flags])
        with pytest.raises(ConfigError, match="is empty: give a value or leave it out"):
            choose_parameters(args, settings)
