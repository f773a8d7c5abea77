"""The running user's own reports in an output folder, read back from their run summaries.

A folder may be shared: another user's summary (or one anyone may edit) could list a page of
theirs in the index, publish it as one of ours, or have ``prune`` take a new report for an
old one. Only reports whose summary and HTML are this user's, and no one else may write,
count; the others are left alone and named in one line (:func:`problem`).
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from user_failure_stats.files import others_could_write, read_regular
from user_failure_stats.formats import plural
from user_failure_stats.names import STAMP_DRIFT, SUMMARY_FILE, html_name, summary_name
from user_failure_stats.summary import MAX_BYTES, RunSummary


def summaries(output_dir: Path) -> list[RunSummary]:
    """Return the summaries of this user's reports in ``output_dir``, with or without HTML.

    Not what a run wrote, and skipped: one of another user's, or one others may write (or
    whose HTML is so); one generated more than a day from now (it would top the index), or
    more than :data:`STAMP_DRIFT` from its stamp (its stamp is the time it ran on the host's
    clock, in any zone: a summary dated long before its stamp would be pruned as old).
    """
    found, latest = [], datetime.now(UTC) + timedelta(days=1)
    for path in output_dir.iterdir():
        match = SUMMARY_FILE.fullmatch(path.name)
        data = read_regular(path, MAX_BYTES, own=True) if match else None
        if data is None or others_could_write(output_dir / html_name(match.group(1))):
            continue
        try:
            entry = RunSummary.from_json(data)
            generated = entry.generated_instant()
            stamped = datetime.strptime(entry.stamp[:15], "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            continue  # not what a run wrote: left alone
        if generated > latest or abs(generated - stamped) > STAMP_DRIFT:
            continue
        if entry.stamp == match.group(1):  # not one speaking for another report
            found.append(entry)
    return found


def problem(output_dir: Path | str) -> str | None:
    """Say in one line how many reports in ``output_dir`` are not this user's own; else None."""
    output_dir = Path(output_dir)
    try:
        names = [SUMMARY_FILE.fullmatch(path.name) for path in output_dir.iterdir()]
    except OSError:
        return None
    stamps = [match.group(1) for match in names if match]
    foreign = [
        stamp
        for stamp in stamps
        if others_could_write(output_dir / summary_name(stamp))
        or others_could_write(output_dir / html_name(stamp))
    ]
    if not foreign:
        return None
    return (
        f"{plural(len(foreign), 'report')} in {output_dir} left out (not listed, published or "
        "pruned): files of another user's, or that others may write (give each user a folder "
        "of their own, or chmod go-w the files)"
    )


def folder_problem(output_dir: Path | str) -> str | None:
    """Say in one line whether others may replace the files in ``output_dir``; else None.

    The folder's owner may rename any file in it, and so may anyone who may write into it
    unless it has the sticky bit (as ``/tmp``): a report's files could be swapped for theirs.
    """
    try:
        info = os.stat(output_dir)
    except OSError:
        return None
    shared = info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX
    if info.st_uid == os.geteuid() and not shared:
        return None
    return (
        f"others may replace the files in {output_dir} (it is another user's, or others may "
        "write into it without the sticky bit): give the reports a folder of your own"
    )
