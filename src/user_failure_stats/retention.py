"""Keeping reports: which reports are older than the days kept (the store removes them)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from user_failure_stats.errors import ConfigError
from user_failure_stats.summary import RunSummary

MAX_KEEP_DAYS = 1_000_000


def check_keep_days(value) -> int:
    """Return ``value`` as a number of days to keep reports: a whole number, at least 1.

    Raises:
        ConfigError: ``value`` is not a whole number from 1 to 1,000,000 (``0``, ``-3``,
            ``1.5``, ``"a week"``).
    """
    given = value[:40] if isinstance(value, str) else value
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,7}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_KEEP_DAYS:
        raise ConfigError(
            f"keep_days must be a whole number of days from 1 to {MAX_KEEP_DAYS:,}, got {given!r}",
            field="keep_days",
        )
    return value


def expired(reports: list[RunSummary], keep_days: int, now: datetime) -> list[RunSummary]:
    """Return the reports generated more than ``keep_days`` days before ``now``, oldest first.

    ``keep_days`` is checked already (see :func:`check_keep_days`). A report generated exactly
    ``keep_days`` days before ``now`` is kept.
    """
    try:
        cutoff = now.astimezone(UTC) - timedelta(days=keep_days)
    except OverflowError:  # before the year 1: no report is that old
        return []
    old = [report for report in reports if report.generated_instant() < cutoff]
    return sorted(old, key=RunSummary.newest_key)


def size_text(size: int) -> str:
    """Return a number of bytes for people: ``512 bytes``, ``3.4 KB``, ``114.0 MB``."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:.1f} MB"
