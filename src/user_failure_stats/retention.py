"""Keeping reports: remove the reports generated more than a number of days ago.

A report is known by its hidden summary (``.user_failure_rates_<stamp>.json``), which says
when it was generated (see ``RunSummary.generated_instant``). An expired report goes with
every file a run publishes for its stamp (``outputs.published_names``): the HTML report, the
CSV, the executed notebook and the summary, the summary last, so that a clean-up that is
interrupted is finished by the next one. Nothing else in the folder is touched: no file
without a summary, no link (neither followed nor removed), no folder. It all happens under
the lock the reports index is rebuilt under, and the index is rebuilt before the lock is
let go, so it never lists a report that is gone.

The names removed are also noted in ``.removed-not-yet-published``, so that the next run
that publishes removes them from its target too, even when it was ``prune`` on its own that
removed them, or the publish of the run that pruned failed.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from user_failure_stats.errors import ConfigError, OutputError
from user_failure_stats.files import atomic_write
from user_failure_stats.outputs import (
    HTML_PREFIX,
    STAMP,
    RunSummary,
    published_names,
)
from user_failure_stats.reports_page import LOCK_NAME, write_index
from user_failure_stats.staging import locked

MAX_KEEP_DAYS = 1_000_000
SUMMARY_FILE = re.compile(rf"\.{HTML_PREFIX}({STAMP.pattern})\.json")
PENDING_NAME = ".removed-not-yet-published"
PENDING_LIMIT = 10_000  # names (2,500 reports): older ones are forgotten
PENDING_MAX_BYTES = 1_000_000
NAME_STAMP = re.compile(STAMP.pattern)


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


def prune(
    output_dir: Path | str, keep_days, now: datetime | None = None, *, dry_run: bool = False
) -> list[Path]:
    """Remove the reports in ``output_dir`` generated more than ``keep_days`` days before ``now``.

    A report generated exactly ``keep_days`` days before ``now`` is kept. After removing, the
    reports index is rebuilt (both under ``reports_page.LOCK_NAME``).

    Args:
        output_dir: The output directory.
        keep_days: How many days to keep reports: a whole number, at least 1.
        now: The moment ages are measured from (an aware datetime; default: now).
        dry_run: Remove nothing; return what would be removed.

    Returns:
        The files removed (or that would be), report by report, oldest report first.

    Raises:
        ConfigError: ``keep_days`` is not a whole number of at least 1, or ``output_dir``
            is not a folder.
        OutputError: A file cannot be removed, or the index cannot be written.
    """
    keep_days = check_keep_days(keep_days)
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise ConfigError(f"output directory {output_dir} does not exist")
    try:
        cutoff = (now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=keep_days)
    except OverflowError:  # before the year 1: no report is that old
        return []
    if dry_run:
        return _expired(output_dir, cutoff)
    try:  # a run rebuilding the index waits for us, and we for it
        with locked(output_dir / LOCK_NAME):
            return _remove(output_dir, cutoff)
    except OSError as exc:  # a read-only folder: not even the lock can be made
        raise OutputError(f"cannot prune {output_dir}: {exc.strerror or exc}") from None


def _remove(output_dir: Path, cutoff: datetime) -> list[Path]:
    removed = []
    try:
        for path in _expired(output_dir, cutoff):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot remove {path}: {exc.strerror or exc}") from None
            removed.append(path)
    finally:  # what is gone is noted, even when a later file could not be removed
        if removed:
            names = _read_pending(output_dir) + [path.name for path in removed]
            _write_pending(output_dir, names)
    if removed:
        write_index(output_dir)
    return removed


def removed_not_yet_published(output_dir: Path | str) -> list[str]:
    """Return the names of report files removed here that a publish target may still hold."""
    return _read_pending(Path(output_dir))


def forget_published(output_dir: Path | str, names) -> None:
    """Forget ``names``: the publish target no longer holds them (under the index lock)."""
    output_dir, done = Path(output_dir), set(names)
    with locked(output_dir / LOCK_NAME):
        left = [name for name in _read_pending(output_dir) if name not in done]
        _write_pending(output_dir, left)


def _read_pending(output_dir: Path) -> list[str]:
    """The noted names: a regular file, never through a link; only report files' names."""
    try:
        fd = os.open(
            output_dir / PENDING_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        )
    except OSError:
        return []
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return []
        text = file.read(PENDING_MAX_BYTES).decode("utf-8", errors="replace")
    return [name for name in text.splitlines() if _report_file(name)]


def _report_file(name: str) -> bool:
    match = NAME_STAMP.search(name)
    return match is not None and name in published_names(match.group(0))


def _write_pending(output_dir: Path, names: list[str]) -> None:
    names = list(dict.fromkeys(names))[-PENDING_LIMIT:]
    path = output_dir / PENDING_NAME
    if not names:
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
        return
    atomic_write(path, lambda tmp: tmp.write_text("".join(f"{n}\n" for n in names)))


def _expired(output_dir: Path, cutoff: datetime) -> list[Path]:
    """Return the files of the reports generated before ``cutoff``, oldest report first."""
    reports = []
    for path in output_dir.iterdir():
        match = SUMMARY_FILE.fullmatch(path.name)
        if match is None or not _regular(path):
            continue
        try:
            summary = RunSummary.read(path)  # never through a link
        except (OSError, ValueError):
            continue  # not a summary: not a report's, left alone
        if summary.stamp != match.group(1):  # it speaks for another report: not ours to judge
            continue
        generated = summary.generated_instant()
        if generated < cutoff:
            reports.append((generated, summary.stamp))
    files = []
    for _, stamp in sorted(reports):
        files += [output_dir / n for n in published_names(stamp) if _regular(output_dir / n)]
    return files


def _regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (not a link to one, a folder or a FIFO)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def size_text(size: int) -> str:
    """Return a number of bytes for people: ``512 bytes``, ``3.4 KB``, ``114.0 MB``."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:.1f} MB"
