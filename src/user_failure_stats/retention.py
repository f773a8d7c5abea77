"""Keeping reports: which reports are older than the days kept (the store removes them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from user_failure_stats.summary import RunSummary


def expired(reports: list[RunSummary], keep_days: int, now: datetime) -> list[RunSummary]:
    """Return the reports generated more than ``keep_days`` days before ``now``, oldest first.

    ``keep_days`` is already checked; a report exactly ``keep_days`` days old is kept.
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
