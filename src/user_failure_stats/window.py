"""Time windows: bounds in a time zone, their real length, relative windows, DST rules."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from user_failure_stats.errors import ConfigError
from user_failure_stats.text import bounded

RELATIVE_WINDOWS = {
    "today": "the current local day, midnight to midnight",
    "yesterday": "the local day before today",
    "last_24_hours": "the 24 hours before now",
    "last_7_days": "the 7 whole local days before today",
    "last_30_days": "the 30 whole local days before today",
    "previous_week": "the last whole week, Monday 00:00 to Monday 00:00",
    "previous_month": "the last whole calendar month",
}
EARLIEST_YEAR, LATEST_YEAR = 1900, 2999
MAX_PIECES = 1000  # reports one --each run may write


def real_instant(moment: datetime) -> datetime:
    """Return ``moment`` as a real instant: a wall time in a DST gap moves forward past it."""
    return moment.astimezone(UTC).astimezone(moment.tzinfo)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Return the first instant of ``day`` in ``zone`` (later, if midnight falls in a DST gap)."""
    return real_instant(datetime.combine(day, time(0), tzinfo=zone))


def relative_bounds(name: str, now: datetime) -> tuple[datetime, datetime]:
    """Return ``(start, end)`` of the relative window ``name`` as seen at aware ``now``."""
    if name not in RELATIVE_WINDOWS:
        raise ConfigError(f"window: unknown window {name!r} (known: {', '.join(RELATIVE_WINDOWS)})")
    zone = now.tzinfo
    today = now.date()
    if name == "today":
        return local_midnight(today, zone), local_midnight(today + timedelta(days=1), zone)
    if name == "yesterday":
        return local_midnight(today - timedelta(days=1), zone), local_midnight(today, zone)
    if name == "last_24_hours":
        return (now.astimezone(UTC) - timedelta(hours=24)).astimezone(zone), now
    if name in ("last_7_days", "last_30_days"):
        days = 7 if name == "last_7_days" else 30
        return local_midnight(today - timedelta(days=days), zone), local_midnight(today, zone)
    if name == "previous_week":
        monday = today - timedelta(days=today.weekday())
        return local_midnight(monday - timedelta(days=7), zone), local_midnight(monday, zone)
    first = today.replace(day=1)
    previous_first = (first - timedelta(days=1)).replace(day=1)
    return local_midnight(previous_first, zone), local_midnight(first, zone)


def split(start: datetime, end: datetime, each: str) -> list[tuple[datetime, datetime]]:
    """Cut ``[start, end)`` into local days (``each="day"``) or weeks of 7 days (``"week"``).

    Pieces step by local calendar days from ``start``, so a day is midnight to midnight however
    long daylight saving makes it; the last one ends at ``end``. At most :data:`MAX_PIECES`
    (a backfill of centuries would write as many reports, and send as many notices).
    """
    if each not in ("day", "week"):
        raise ConfigError(f"--each must be day or week, not {each!r}")
    step = 1 if each == "day" else 7
    count = -(-(end.date() - start.date()).days // step)  # local days, rounded up
    if count > MAX_PIECES:
        raise ConfigError(
            f"--each {each} cuts this window into {count:,} reports: at most {MAX_PIECES:,} a "
            f"run (cut the window into parts{', or use --each week' if step == 1 else ''})"
        )
    pieces = []
    day, clock = start.date(), start.timetz().replace(tzinfo=None)
    lower = start
    # Compared as instants: aware datetimes of one zone compare as wall clocks in Python.
    while lower.astimezone(UTC) < end.astimezone(UTC):
        day += timedelta(days=step)
        upper = real_instant(datetime.combine(day, clock, tzinfo=start.tzinfo))
        upper = min(upper, end, key=lambda moment: moment.astimezone(UTC))
        pieces.append((lower, upper))
        lower = upper
    return pieces


def known_window(name: str, field: str) -> str:
    """Return ``name`` if it is a relative window (see :data:`RELATIVE_WINDOWS`), else raise."""
    if name not in RELATIVE_WINDOWS:
        raise ConfigError(
            f"{field}: unknown window {name!r} (known: {', '.join(RELATIVE_WINDOWS)})",
            field=field,
        )
    return name


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones() - {"localtime"})


def check_timezone(name: str, field: str = "timezone") -> ZoneInfo:
    """Return the ZoneInfo for an IANA name, or raise ConfigError naming ``field``."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"{field} must be an IANA time zone name such as Asia/Kolkata", field=field
        )
    try:
        if name.strip() not in _known_zones():  # "localtime", "right/UTC": this machine's own
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"{field}: unknown time zone {name!r} (use an IANA name such as Asia/Kolkata)",
            field=field,
        ) from None


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)``, in the report's zone and in the database's.

    ``start`` and ``end`` are aware, in the report's time zone; ``db_start`` and ``db_end``
    naive, in the database's (the query's bounds). Lengths are real elapsed time: a local day
    of 25 hours is 25 hours long, and the previous window is the same real length before it.
    """

    start: datetime
    end: datetime
    db_start: datetime
    db_end: datetime
    db_timezone: str
    notes: tuple[str, ...] = ()

    @property
    def timezone(self) -> str:
        """The report's time zone name."""
        return str(self.start.tzinfo)

    @property
    def length(self) -> timedelta:
        """The real time between start and end (via UTC: Python subtracts a zone's wall clocks)."""
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)

    @property
    def trend_unit(self) -> str:
        """``"hour"`` for windows of two days or less, else ``"day"``."""
        return "hour" if self.length <= timedelta(days=2) else "day"

    def previous(self) -> Window:
        """Return the window of the same real length just before this one."""
        start = (self.start.astimezone(UTC) - self.length).astimezone(self.start.tzinfo)
        return window_for(start, self.start, self.db_timezone)

    def as_dict(self) -> dict:
        """Return the window as plain JSON data: ISO bounds, zones and length."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
            "db_start": self.db_start.isoformat(),
            "db_end": self.db_end.isoformat(),
            "db_timezone": self.db_timezone,
            "length": self.length_text(),
        }

    def length_text(self) -> str:
        """Return the window's real length in words: ``2 days``, ``1 day``, ``25 hours``."""
        length = self.length
        for unit, size in (("day", timedelta(days=1)), ("hour", timedelta(hours=1))):
            if length % size == timedelta(0):
                count = length // size
                return f"1 {unit}" if count == 1 else f"{count} {unit}s"
        if length < timedelta(minutes=1):
            seconds = round(length / timedelta(seconds=1), 3)
            return "1 second" if seconds == 1 else f"{seconds:g} seconds"
        minutes = round(length / timedelta(minutes=1))
        return "1 minute" if minutes == 1 else f"{minutes} minutes"

    def describe(self) -> str:
        """Return the window in words, with the database bounds it became."""
        return (
            f"{format_local(self.start)} to {format_local(self.end)} {self.timezone} "
            f"(created_on >= {_fmt(self.db_start)} and < {_fmt(self.db_end)} {self.db_timezone})"
        )


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f" if moment.microsecond else "%Y-%m-%d %H:%M:%S")


def format_local(moment: datetime) -> str:
    """Return ``moment`` as wall time, with its zone's abbreviation if that time repeats."""
    if repeated_span(moment.replace(tzinfo=None), moment.tzinfo) is not None:
        return f"{_fmt(moment)} {moment.tzname()}"
    return _fmt(moment)


def repeated_span(wall: datetime, zone) -> tuple[datetime, datetime] | None:
    """Return the span ``[first, end)`` of wall times that occur twice and holds ``wall``, or None.

    When clocks fall back, a span of wall times (01:00 to 02:00 in New York) occurs twice.
    """
    early = wall.replace(tzinfo=zone, fold=0)
    late = wall.replace(tzinfo=zone, fold=1)
    overlap = early.utcoffset() - late.utcoffset()
    if overlap <= timedelta(0) or _wall(early) != wall or _wall(late) != wall:
        return None  # not repeated (a gap gives a negative overlap or moves the wall time)
    # The span's first wall time is wall - k for the largest k still in the span.
    low, high = timedelta(0), overlap  # wall - low is in the span, wall - high is not
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        probe = wall - middle
        inside = (
            probe.replace(tzinfo=zone, fold=0).utcoffset()
            != probe.replace(tzinfo=zone, fold=1).utcoffset()
        )
        low, high = (middle, high) if inside else (low, middle)
    first = (wall - low).replace(microsecond=0)
    return first, first + overlap


def _wall(moment: datetime) -> datetime:
    return moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None)


def parse_bound(value, zone: ZoneInfo, field: str) -> datetime:
    """Turn a date, datetime or ISO string into an aware datetime in ``zone``.

    A date means midnight; a naive datetime is taken in ``zone``; an explicit offset is kept.

    Raises:
        ConfigError: The value is missing or not a date/datetime.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0))
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if len(text) == 10:
                moment = datetime.combine(date.fromisoformat(text), time(0))
            else:
                moment = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(
                f"{field}: {bounded(repr(value), 60)} is not a date (YYYY-MM-DD) or datetime "
                "(YYYY-MM-DD HH:MM:SS)",
                field=field,
            ) from None
    elif value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"{field} is missing: give a date such as 2025-05-21", field=field)
    else:
        raise ConfigError(
            f"{field}: {bounded(repr(value), 60)} is not a date or datetime", field=field
        )
    check_year(moment, field)
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def window_for(start: datetime, end: datetime, db_timezone: str) -> Window:
    """Return the Window ``[start, end)`` for aware bounds, with its database bounds.

    ``created_on`` holds naive wall times in ``db_timezone``. When its clocks fall back, each
    wall time of the repeated hour stands for two instants the database cannot tell apart: a
    bound in a repeated hour is widened to cover all of it, so those rows are counted rather
    than lost, and the window's notes say so.
    """
    db_zone = ZoneInfo(db_timezone)
    db_start = start.astimezone(db_zone).replace(tzinfo=None)
    db_end = end.astimezone(db_zone).replace(tzinfo=None)
    notes = []
    span = repeated_span(db_start, db_zone)
    if span is not None:
        db_start = span[0]
        notes.append(_repeated_note("start", span, db_timezone))
    span = repeated_span(db_end, db_zone)
    if span is not None:
        db_end = span[1]
        notes.append(_repeated_note("end", span, db_timezone))
    return Window(start, end, db_start, db_end, db_timezone, tuple(notes))


def _repeated_note(bound: str, span: tuple[datetime, datetime], db_timezone: str) -> str:
    return (
        f"the window's {bound} falls in {_fmt(span[0])} to {_fmt(span[1])}, wall times that "
        f"occur twice in DB_TIMEZONE {db_timezone} (clocks fall back): created_on cannot tell "
        "them apart, so the database bounds cover all of them"
    )


def check_year(moment: datetime, field: str) -> None:
    """Raise a ConfigError if ``moment`` is outside the years 1900 to 2999."""
    # Checked on the wall time, before any conversion can overflow (years 1 and 9999).
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ConfigError(
            f"{field} ({moment.replace(tzinfo=None).isoformat(sep=' ')}) is outside the years "
            f"{EARLIEST_YEAR} to {LATEST_YEAR} that a report can cover",
            field=field,
        )


def gap_note(moment: datetime) -> str:
    """Explain a wall time that does not exist (clocks sprang forward past it), or ''."""
    real = real_instant(moment)
    if real.replace(tzinfo=None) == moment.replace(tzinfo=None):
        return ""
    return (
        f"; {_fmt(moment)} does not exist in {moment.tzinfo} (clocks spring forward), "
        f"so it is read as {_fmt(real)} {real.tzname()}"
    )
