from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import docs_text
from user_failure_stats.errors import ConfigError
from user_failure_stats.params import Parameters, Policy, load_parameters, resolve_window
from user_failure_stats.window import (
    RELATIVE_WINDOWS,
    relative_bounds,
    repeated_span,
    split,
    window_for,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(*args, zone=BERLIN):
    return datetime(*args, tzinfo=zone)


def bounds(name, now):
    start, end = relative_bounds(name, now)
    return start.isoformat(), end.isoformat()


# Monday 31 March 2025, the day after Berlin's clocks went forward (30 March has 23 hours).
AFTER_SPRING = at(2025, 3, 31, 10, 0)
# Monday 27 October 2025, the day after Berlin's clocks went back (26 October has 25 hours).
AFTER_AUTUMN = at(2025, 10, 27, 1, 30)


@pytest.mark.parametrize(
    ("name", "now", "expected"),
    [
        ("today", AFTER_SPRING, ("2025-03-31T00:00:00+02:00", "2025-04-01T00:00:00+02:00")),
        ("yesterday", AFTER_SPRING, ("2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00")),
        ("last_24_hours", AFTER_SPRING, ("2025-03-30T10:00:00+02:00", "2025-03-31T10:00:00+02:00")),
        ("last_7_days", AFTER_SPRING, ("2025-03-24T00:00:00+01:00", "2025-03-31T00:00:00+02:00")),
        ("last_30_days", AFTER_SPRING, ("2025-03-01T00:00:00+01:00", "2025-03-31T00:00:00+02:00")),
        ("previous_week", AFTER_SPRING, ("2025-03-24T00:00:00+01:00", "2025-03-31T00:00:00+02:00")),
        (
            "previous_month",
            AFTER_SPRING,
            ("2025-02-01T00:00:00+01:00", "2025-03-01T00:00:00+01:00"),
        ),
        ("yesterday", AFTER_AUTUMN, ("2025-10-26T00:00:00+02:00", "2025-10-27T00:00:00+01:00")),
        ("today", AFTER_AUTUMN, ("2025-10-27T00:00:00+01:00", "2025-10-28T00:00:00+01:00")),
        (
            "last_24_hours",
            at(2025, 10, 26, 12, 0),
            ("2025-10-25T13:00:00+02:00", "2025-10-26T12:00:00+01:00"),
        ),
        ("previous_week", AFTER_AUTUMN, ("2025-10-20T00:00:00+02:00", "2025-10-27T00:00:00+01:00")),
        # Month and year ends.
        (
            "previous_month",
            at(2025, 3, 31, 23, 59),
            ("2025-02-01T00:00:00+01:00", "2025-03-01T00:00:00+01:00"),
        ),
        (
            "previous_month",
            at(2025, 1, 1, 0, 0),
            ("2024-12-01T00:00:00+01:00", "2025-01-01T00:00:00+01:00"),
        ),
        (
            "yesterday",
            at(2025, 1, 1, 0, 0),
            ("2024-12-31T00:00:00+01:00", "2025-01-01T00:00:00+01:00"),
        ),
        (
            "last_30_days",
            at(2025, 3, 1, 6, 0),
            ("2025-01-30T00:00:00+01:00", "2025-03-01T00:00:00+01:00"),
        ),
        # A Sunday still belongs to the current week: the previous one ended last Monday.
        (
            "previous_week",
            at(2025, 3, 30, 12, 0),
            ("2025-03-17T00:00:00+01:00", "2025-03-24T00:00:00+01:00"),
        ),
    ],
)
def test_relative_windows_at_fixed_moments(name, now, expected):
    assert bounds(name, now) == expected


def hours(start, end):
    # Aware datetimes in one zone subtract as wall clocks: compare instants in UTC.
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600


def test_local_days_can_be_23_or_25_hours_long():
    assert hours(*relative_bounds("yesterday", AFTER_SPRING)) == 23
    assert hours(*relative_bounds("yesterday", AFTER_AUTUMN)) == 25
    assert hours(*relative_bounds("last_24_hours", at(2025, 10, 26, 12, 0))) == 24


def test_every_window_is_documented_and_resolves_to_its_bounds():
    # Monday 31 March 2025, 10:00 in Berlin, the day after clocks sprang forward.
    expected = {
        "today": ("2025-03-31T00:00:00+02:00", "2025-04-01T00:00:00+02:00"),
        "yesterday": ("2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00"),
        "last_24_hours": ("2025-03-30T10:00:00+02:00", "2025-03-31T10:00:00+02:00"),
        "last_7_days": ("2025-03-24T00:00:00+01:00", "2025-03-31T00:00:00+02:00"),
        "last_30_days": ("2025-03-01T00:00:00+01:00", "2025-03-31T00:00:00+02:00"),
        "previous_week": ("2025-03-24T00:00:00+01:00", "2025-03-31T00:00:00+02:00"),
        "previous_month": ("2025-02-01T00:00:00+01:00", "2025-03-01T00:00:00+01:00"),
    }
    assert {name: bounds(name, AFTER_SPRING) for name in RELATIVE_WINDOWS} == expected
    readme = docs_text()
    for name in RELATIVE_WINDOWS:
        assert f"`{name}`" in readme, name


def test_now_is_read_in_the_report_time_zone():
    params = Parameters(window="yesterday", timezone="Asia/Kolkata").validated()
    window = resolve_window(params, "UTC", now="2025-05-23")
    assert (window.db_start, window.db_end) == (
        datetime(2025, 5, 21, 18, 30),
        datetime(2025, 5, 22, 18, 30),
    )


def test_window_and_start_end_are_exclusive(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("window: yesterday\nstart: '2025-05-21'\n")
    with pytest.raises(ConfigError, match="give either window or start/end, not both"):
        load_parameters(path)
    params = Parameters(window="yesterday", start="2025-05-21").validated()
    with pytest.raises(ConfigError, match="give either window or start/end, not both"):
        resolve_window(params)


def test_unknown_window_is_named():
    with pytest.raises(ConfigError, match="window: unknown window 'fortnight'"):
        Parameters(window="fortnight").validated()


def test_split_into_local_days_across_a_dst_change():
    pieces = split(at(2025, 3, 29), at(2025, 4, 1), "day")
    assert [(a.isoformat(), b.isoformat()) for a, b in pieces] == [
        ("2025-03-29T00:00:00+01:00", "2025-03-30T00:00:00+01:00"),
        ("2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00"),
        ("2025-03-31T00:00:00+02:00", "2025-04-01T00:00:00+02:00"),
    ]


def test_split_keeps_a_partial_last_piece():
    pieces = split(at(2025, 5, 1), at(2025, 5, 10), "week")
    assert [(a.day, b.day) for a, b in pieces] == [(1, 8), (8, 10)]


@pytest.mark.parametrize(
    ("value", "rate"), [("0.25", 0.25), ("25%", 0.25), (0.5, 0.5), ("100%", 1.0), (None, None)]
)
def test_fail_above_accepts_rates_and_percentages(value, rate):
    assert Parameters(policy=Policy(fail_above=value)).validated().policy.fail_above == rate


@pytest.mark.parametrize("value", ["1.5", "-1", "lots", "150%", True])
def test_fail_above_rejects_what_is_not_a_rate(value):
    with pytest.raises(ConfigError, match="fail_above must be a rate from 0 to 1"):
        Parameters(policy=Policy(fail_above=value)).validated()


NEW_YORK = ZoneInfo("America/New_York")


def test_last_24_hours_on_a_fall_back_day_is_24_real_hours():
    params = Parameters(window="last_24_hours", timezone="America/New_York")
    window = resolve_window(params, "UTC", now="2025-11-02 12:00")
    assert window.length == timedelta(hours=24)
    assert window.length_text() == "1 day"  # not "23 hours"
    assert window.previous().length == timedelta(hours=24)
    assert window.previous().end == window.start


def test_a_window_across_the_fall_back_is_measured_in_real_minutes():
    # 01:30 EDT to 01:40 EST: 70 real minutes, though the wall clocks are 10 minutes apart.
    params = Parameters(
        start="2025-11-02 01:30-04:00", end="2025-11-02 01:40-05:00", timezone="America/New_York"
    )
    window = resolve_window(params, "UTC")
    assert window.length_text() == "70 minutes"
    assert window.previous().length == timedelta(minutes=70)
    assert (window.db_start, window.db_end) == (
        datetime(2025, 11, 2, 5, 30),
        datetime(2025, 11, 2, 6, 40),
    )
    assert "01:30:00 EDT to 2025-11-02 01:40:00 EST America/New_York" in window.describe()


def test_a_forty_minute_window_across_the_fall_back_is_accepted():
    params = Parameters(
        start="2025-11-02 01:50-04:00", end="2025-11-02 01:30-05:00", timezone="America/New_York"
    )
    assert resolve_window(params, "UTC").length == timedelta(minutes=40)
    backwards = Parameters(
        start="2025-11-02 01:30-05:00", end="2025-11-02 01:50-04:00", timezone="America/New_York"
    )
    with pytest.raises(ConfigError, match="end .* must be after start"):
        resolve_window(backwards, "UTC")


def test_a_25_hour_local_day_is_labelled_by_its_real_length():
    params = Parameters(start="2025-11-02", end="2025-11-03", timezone="America/New_York")
    window = resolve_window(params, "UTC")
    assert window.length_text() == "25 hours"
    assert window.previous().start.astimezone(UTC) == datetime(2025, 11, 1, 3, 0, tzinfo=UTC)


def test_split_compares_instants_across_the_fall_back():
    start = datetime(2025, 11, 2, 1, 50, tzinfo=NEW_YORK)  # EDT
    end = datetime(2025, 11, 2, 1, 30, tzinfo=NEW_YORK, fold=1)  # EST, 40 minutes later
    assert split(start, end, "day") == [(start, end)]


def test_repeated_hours_of_the_database_zone_are_named_and_covered():
    assert repeated_span(datetime(2025, 11, 2, 1, 30), NEW_YORK) == (
        datetime(2025, 11, 2, 1, 0),
        datetime(2025, 11, 2, 2, 0),
    )
    assert repeated_span(datetime(2025, 11, 2, 2, 0), NEW_YORK) is None
    assert repeated_span(datetime(2025, 3, 9, 2, 30), NEW_YORK) is None  # a gap, not a repeat
    lord_howe = ZoneInfo("Australia/Lord_Howe")  # clocks fall back 30 minutes
    assert repeated_span(datetime(2025, 4, 6, 1, 45), lord_howe) == (
        datetime(2025, 4, 6, 1, 30),
        datetime(2025, 4, 6, 2, 0),
    )
    # 01:30 EDT to 01:10 EST in a database on New York time: naive 01:30 to 01:10 would be
    # empty; both bounds are in the repeated hour, which is covered whole, with a note.
    start = datetime(2025, 11, 2, 5, 30, tzinfo=UTC)
    window = window_for(start, start + timedelta(minutes=40), "America/New_York")
    assert (window.db_start, window.db_end) == (
        datetime(2025, 11, 2, 1, 0),
        datetime(2025, 11, 2, 2, 0),
    )
    assert len(window.notes) == 2
    assert "occur twice in DB_TIMEZONE America/New_York" in window.notes[0]
    assert (
        window_for(start - timedelta(hours=3), start - timedelta(hours=2), "America/New_York").notes
        == ()
    )


@pytest.mark.parametrize(
    ("length", "text"),
    [
        (timedelta(days=1), "1 day"),
        (timedelta(days=2), "2 days"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=49), "49 hours"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=61), "61 minutes"),
        (timedelta(seconds=90), "2 minutes"),  # rounded to whole minutes
        (timedelta(seconds=1), "1 second"),
        (timedelta(milliseconds=1500), "1.5 seconds"),
        (timedelta(microseconds=1_000_400), "1 second"),  # to the millisecond
        (timedelta(seconds=59), "59 seconds"),
    ],
)
def test_every_length_reads_in_words(length, text):
    start = datetime(2025, 5, 21, tzinfo=UTC)
    assert window_for(start, start + length, "UTC").length_text() == text


def test_a_window_as_plain_data_has_its_bounds_zones_and_length():
    zone = ZoneInfo("Asia/Kolkata")
    window = window_for(
        datetime(2025, 5, 21, tzinfo=zone), datetime(2025, 5, 23, tzinfo=zone), "UTC"
    )
    assert window.as_dict() == {
        "start": "2025-05-21T00:00:00+05:30",
        "end": "2025-05-23T00:00:00+05:30",
        "timezone": "Asia/Kolkata",
        "db_start": "2025-05-20T18:30:00",
        "db_end": "2025-05-22T18:30:00",
        "db_timezone": "UTC",
        "length": "2 days",
    }


def test_bounds_are_read_from_dates_datetimes_and_text_in_the_zone():
    from datetime import date

    from user_failure_stats.window import parse_bound

    zone = ZoneInfo("Asia/Kolkata")
    aware = datetime(2025, 5, 21, 6, 0, tzinfo=UTC)
    assert parse_bound(aware, zone, "start") == aware  # an instant is kept, shown in the zone
    assert parse_bound(aware, zone, "start").tzinfo is zone
    assert parse_bound(date(2025, 5, 21), zone, "start") == datetime(2025, 5, 21, tzinfo=zone)
    assert parse_bound(datetime(2025, 5, 21, 9), zone, "end") == datetime(
        2025, 5, 21, 9, tzinfo=zone
    )
    assert parse_bound(" 2025-05-21 ", zone, "end") == datetime(2025, 5, 21, tzinfo=zone)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "start is missing: give a date such as 2025-05-21"),
        ("  ", "start is missing: give a date such as 2025-05-21"),
        (None, "start is missing: give a date such as 2025-05-21"),
        (3.5, "start: 3.5 is not a date or datetime"),
        (
            "21/05/2025",
            "start: '21/05/2025' is not a date (YYYY-MM-DD) or datetime (YYYY-MM-DD HH:MM:SS)",
        ),
        ("1899-12-31", "start (1899-12-31 00:00:00) is outside the years 1900 to 2999 that a "),
    ],
)
def test_a_bad_bound_is_one_line_naming_its_field(value, message):
    from user_failure_stats.window import parse_bound

    with pytest.raises(ConfigError) as caught:
        parse_bound(value, ZoneInfo("UTC"), "start")
    assert str(caught.value).startswith(message) and caught.value.field == "start"


def test_the_first_and_last_years_a_report_can_cover_are_accepted():
    from user_failure_stats.window import check_year

    check_year(datetime(1900, 1, 1), "start")
    check_year(datetime(2999, 12, 31), "end")
    with pytest.raises(ConfigError, match=r"^end \(3000-01-01 00:00:00\) is outside .* cover$"):
        check_year(datetime(3000, 1, 1), "end")


def test_unknown_zones_and_windows_name_their_field():
    from user_failure_stats.window import check_timezone, known_window

    with pytest.raises(ConfigError) as caught:
        check_timezone("", "DB_TIMEZONE")
    assert caught.value.field == "DB_TIMEZONE"
    assert str(caught.value) == "DB_TIMEZONE must be an IANA time zone name such as Asia/Kolkata"
    with pytest.raises(ConfigError) as caught:
        known_window("fortnight", "window")
    assert caught.value.field == "window"
    assert str(caught.value) == (
        f"window: unknown window 'fortnight' (known: {', '.join(RELATIVE_WINDOWS)})"
    )
    with pytest.raises(ConfigError) as caught:
        relative_bounds("fortnight", datetime(2025, 5, 21, tzinfo=UTC))
    assert str(caught.value) == (
        f"window: unknown window 'fortnight' (known: {', '.join(RELATIVE_WINDOWS)})"
    )
    with pytest.raises(ConfigError, match=r"^--each must be day or week, not 'month'$"):
        split(datetime(2025, 5, 21, tzinfo=UTC), datetime(2025, 5, 23, tzinfo=UTC), "month")


def test_a_wall_time_that_does_not_exist_is_explained():
    from user_failure_stats.window import gap_note

    assert gap_note(datetime(2025, 3, 30, 1, 30, tzinfo=BERLIN)) == ""
    assert gap_note(datetime(2025, 3, 30, 2, 30, tzinfo=BERLIN)) == (
        "; 2025-03-30 02:30:00 does not exist in Europe/Berlin (clocks spring forward), "
        "so it is read as 2025-03-30 03:30:00 CEST"
    )


def test_the_previous_window_keeps_the_zone_and_describe_shows_fractions():
    zone = ZoneInfo("Asia/Kolkata")
    start = datetime(2025, 5, 21, 0, 0, 0, 500_000, tzinfo=zone)
    window = window_for(start, start + timedelta(days=1), "UTC")
    previous = window.previous()
    assert previous.start.tzinfo is zone and previous.start == start - timedelta(days=1)
    assert "(created_on >= 2025-05-20 18:30:00.500000 and < 2025-05-21 18:30:00.500000 UTC)" in (
        window.describe()
    )


def test_a_bound_in_a_repeated_hour_is_noted_with_its_span():
    start = datetime(2025, 11, 2, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    window = window_for(start, start + timedelta(hours=3), "America/New_York")
    assert window.notes[0] == (
        "the window's start falls in 2025-11-02 01:00:00 to 2025-11-02 02:00:00, wall times "
        "that occur twice in DB_TIMEZONE America/New_York (clocks fall back): created_on "
        "cannot tell them apart, so the database bounds cover all of them"
    )


def test_an_end_in_a_repeated_hour_is_noted_as_the_end():
    end = datetime(2025, 11, 2, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    window = window_for(end - timedelta(hours=3), end, "America/New_York")
    assert window.notes == (
        "the window's end falls in 2025-11-02 01:00:00 to 2025-11-02 02:00:00, wall times "
        "that occur twice in DB_TIMEZONE America/New_York (clocks fall back): created_on "
        "cannot tell them apart, so the database bounds cover all of them",
    )


def test_a_backfill_of_more_than_a_thousand_pieces_is_refused_at_once():
    # --each day from 1900 to 2999 would write 400,000 reports and as many notices.
    start = datetime(2023, 1, 1, tzinfo=UTC)
    assert len(split(start, start + timedelta(days=1000), "day")) == 1000
    with pytest.raises(ConfigError) as caught:
        split(datetime(1900, 1, 1, tzinfo=UTC), datetime(2999, 1, 1, tzinfo=UTC), "day")
    assert str(caught.value) == (
        "--each day cuts this window into 401,402 reports: at most 1,000 a run (cut the "
        "window into parts, or use --each week)"
    )
    assert (
        len(split(datetime(2000, 1, 1, tzinfo=UTC), datetime(2019, 1, 1, tzinfo=UTC), "week"))
        == 992
    )
