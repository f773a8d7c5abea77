"""Relative windows for scheduled runs: ``yesterday``, ``previous_week`` and the rest.

Every window is resolved from one "now", in the report's time zone, on local calendar days:
a local day is midnight to midnight even when daylight saving makes it 23 or 25 hours long.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from user_failure_stats.errors import ConfigError

RELATIVE_WINDOWS = {
    "today": "the current local day, midnight to midnight",
    "yesterday": "the local day before today",
    "last_24_hours": "the 24 hours before now",
    "last_7_days": "the 7 whole local days before today",
    "last_30_days": "the 30 whole local days before today",
    "previous_week": "the last whole week, Monday 00:00 to Monday 00:00",
    "previous_month": "the last whole calendar month",
}


def real_instant(moment: datetime) -> datetime:
    """Return ``moment`` as a real instant in its zone.

    Wall-clock arithmetic, or a date's midnight, can land on a time that does not exist (a
    DST gap); the round trip through UTC moves it forward to the instant that does.
    """
    return moment.astimezone(UTC).astimezone(moment.tzinfo)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Return the first instant of ``day`` in ``zone`` (later, if midnight falls in a DST gap)."""
    return real_instant(datetime.combine(day, time(0), tzinfo=zone))


def relative_bounds(name: str, now: datetime) -> tuple[datetime, datetime]:
    """Return ``(start, end)`` of the relative window ``name`` as seen at ``now``.

    Args:
        name: One of :data:`RELATIVE_WINDOWS`.
        now: An aware datetime in the report's time zone.

    Raises:
        ConfigError: ``name`` is not a known window.
    """
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

    The pieces start at ``start`` and step by local calendar days, so each piece of a day is
    midnight to midnight however long daylight saving makes it; the last one ends at ``end``.
    """
    if each not in ("day", "week"):
        raise ConfigError(f"--each must be day or week, not {each!r}")
    step = 1 if each == "day" else 7
    zone = start.tzinfo
    pieces = []
    day, clock = start.date(), start.timetz().replace(tzinfo=None)
    lower = start
    # Compared as instants: aware datetimes of one zone compare as wall clocks in Python.
    while lower.astimezone(UTC) < end.astimezone(UTC):
        day += timedelta(days=step)
        upper = real_instant(datetime.combine(day, clock, tzinfo=zone))
        upper = min(upper, end, key=lambda moment: moment.astimezone(UTC))
        pieces.append((lower, upper))
        lower = upper
    return pieces
