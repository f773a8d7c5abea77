"""The report store: the output folder, which runs write into and everything else reads.

A run holds its stamp's lock file ``.<stamp>.lock`` locked (``flock``) while it lives (the
kernel frees a dead process's locks, so a lock that can be taken is a leftover), writes into
``.run-<stamp>-*`` and :func:`commit`s the files into place. A report is known by its hidden
summary; ``index.html`` is rebuilt from them. Pruned reports' names wait in
``.removed-not-yet-published`` until a publish removes them from the target too.

Whatever changes what the index lists happens under ``.index.lock``. Nothing read back is
trusted: files are opened without following links, bounded in size, and skipped unless they
are what the tool wrote.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from user_failure_stats import coerce
from user_failure_stats.errors import ConfigError, NotebookError, OutputError
from user_failure_stats.files import (
    atomic_write,
    is_own_folder,
    is_own_regular,
    is_regular,
    locked,
    others_could_write,
    read_head,
    read_regular,
    try_lock,
)
from user_failure_stats.names import (
    INDEX_HEAD_BYTES,
    INDEX_NAME,
    STAMP,
    html_name,
    is_index_page,
    is_report_file,
    new_stamp,
    published_names,
    summary_name,
)
from user_failure_stats.own_reports import summaries
from user_failure_stats.reports_page import DEFAULT_TIMEZONE, render_index
from user_failure_stats.retention import expired
from user_failure_stats.summary import MAX_BYTES, RunSummary

LOCK_NAME = ".index.lock"
PENDING_NAME = ".removed-not-yet-published"
PENDING_LIMIT = 10_000  # names (2,500 reports): older ones are forgotten
PENDING_MAX_BYTES = 1_000_000
CLAIM_PREFIX = ".claim-"
STAGING_PREFIX = ".run-"
STAMP_LOCK = re.compile(rf"\.({STAMP.pattern})\.lock")
# tempfile's names end in 8 random characters of these: anything else is not the tool's.
RANDOM_PART = "[a-z0-9_]{8}"
STAGING = re.compile(rf"\.run-({STAMP.pattern})-{RANDOM_PART}")
CLAIM = re.compile(rf"\.claim-{RANDOM_PART}")
CLAIM_GRACE_SECONDS = 60  # a claim file lives for microseconds: an older one is a leftover


def _cannot(action: str, exc: OSError) -> OutputError:
    return OutputError(f"cannot {action}: {exc.strerror or exc.__class__.__name__}")


def prepare(output_dir: Path | str) -> Path:
    """Create the output folder if needed; ConfigError if it cannot be created or written."""
    output_dir = coerce.folder_path(Path(output_dir), "output directory")
    try:  # each folder made is the user's to change, whatever the umask (000 would share it)
        for folder in [*reversed(output_dir.parents), output_dir]:
            if not os.path.isdir(folder):
                folder.mkdir(mode=0o755, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create output directory {output_dir}: {exc.strerror or exc}"
        ) from None
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"output directory {output_dir} is not writable")
    return output_dir


@dataclass
class Claim:
    """A run's hold on its stamp: the lock file, kept locked until :meth:`release`."""

    stamp: str
    path: Path
    fd: int

    def release(self) -> None:
        """Remove the lock file and let go of the lock."""
        self.path.unlink(missing_ok=True)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def reserve_stamp(output_dir: Path, now: datetime | None = None) -> Claim:
    """Claim a stamp no other run in ``output_dir`` holds or has published.

    ``new_stamp(now)``, plus ``_2``, ``_3``... when taken (by a run, or any file or link with
    one of its names). OutputError if ``output_dir`` cannot be written.
    """
    base = new_stamp(now)
    try:
        for attempt in range(1, 1000):
            stamp = base if attempt == 1 else f"{base}_{attempt}"
            if any(os.path.lexists(output_dir / name) for name in published_names(stamp)):
                continue
            claim = _claim(output_dir, stamp)
            if claim is not None:
                return claim
    except OSError as exc:
        raise _cannot(f"write into {output_dir}", exc) from None
    raise OutputError(f"cannot find a free file name in {output_dir}: 999 runs this second")


def stamp_lock_name(stamp: str) -> str:
    """The name of the lock file a run writing ``stamp`` holds: ``.<stamp>.lock``."""
    return f".{stamp}.lock"


def _claim(output_dir: Path, stamp: str) -> Claim | None:
    # The lock is taken on a fresh file before it gets its name, so a file named like a
    # lock is always held by a living run or left by a dead one, never free for a moment.
    fd, tmp = tempfile.mkstemp(prefix=CLAIM_PREFIX, dir=output_dir)
    path = output_dir / stamp_lock_name(stamp)
    linked = False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits out a scan that holds it for a moment
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            os.link(tmp, path)
            linked = True
        except (FileExistsError, FileNotFoundError):  # taken; or cleared as a leftover
            os.close(fd)
            return None
        return Claim(stamp, path, fd)
    except BaseException:  # an error, or a signal (see cli) while claiming: no lock is left
        if linked:
            path.unlink(missing_ok=True)
        os.close(fd)
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)


def staging_folder(output_dir: Path, claim: Claim) -> Path:
    """Create the run's staging folder for ``claim`` in ``output_dir``."""
    try:
        return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{claim.stamp}-", dir=output_dir))
    except OSError as exc:
        raise _cannot(f"write into {output_dir}", exc) from None


def staged_summary(folder: Path, stamp: str) -> RunSummary:
    """Return the summary the notebook wrote into ``folder``; NotebookError if none is there."""
    data = read_regular(folder / summary_name(stamp), MAX_BYTES)
    if data is None:
        raise NotebookError("the report notebook did not write its summary (or not as a file)")
    try:
        return RunSummary.from_json(data)
    except ValueError as exc:
        raise NotebookError(f"the report notebook's summary cannot be read: {exc}") from None


def commit(output_dir: Path, files: list[Path]) -> list[Path]:
    """Link the staged ``files`` into ``output_dir``, all or none, never over another file.

    Each is made ``0644`` first: only this user may change a report (:mod:`own_reports`).

    Raises NotebookError if a name is taken, OutputError if the folder cannot be written.
    """
    published: list[Path] = []
    try:
        for source in files:
            target = output_dir / source.name
            os.chmod(source, 0o644)  # whatever the umask (the staging folder is ours alone)
            os.link(source, target)  # fails if the name is taken: no silent overwrite
            published.append(target)
    except BaseException as exc:  # an error or a signal: all files or none
        for path in published:
            path.unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            raise NotebookError(f"cannot publish the report into {output_dir}: {exc}") from None
        if isinstance(exc, OSError):
            raise _cannot(f"publish the report into {output_dir}", exc) from None
        raise
    return published


def leftovers(output_dir: Path, remove: bool = False) -> list[Path]:
    """Return (and with ``remove``, delete) what killed runs left in ``output_dir``.

    Free stamp locks, their staging folders, and stale claim files. A living run's are never
    touched: one scan removes at a time (under :data:`LOCK_NAME`), a lock only while the scan
    holds it and its name still leads to it.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = _scan(output_dir, remove=False)
    if not remove or not found:  # no lock file is made for nothing
        return found
    with locked(output_dir / LOCK_NAME):
        return _scan(output_dir, remove=True)


def _scan(output_dir: Path, remove: bool) -> list[Path]:
    entries = list(output_dir.iterdir())
    live_stamps, found = set(), []
    now = time.time()
    for path in entries:
        match = STAMP_LOCK.fullmatch(path.name)
        claim = CLAIM.fullmatch(path.name) is not None
        if not (match or claim) or path.is_symlink():
            continue
        try:  # never blocks: a FIFO planted under a lock's name opens at once, and is skipped
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                continue  # not a file the tool made, or another user's
            if claim and now - info.st_mtime < CLAIM_GRACE_SECONDS:
                continue  # being claimed right now
            if not try_lock(fd):
                if match:
                    live_stamps.add(match.group(1))
                continue
            found.append(path)
            if remove and _same_file(path, fd):
                path.unlink(missing_ok=True)  # while locked: no run can be claiming it
        finally:
            os.close(fd)
    for path in entries:
        match = STAGING.fullmatch(path.name)
        if match is None or match.group(1) in live_stamps or not is_own_folder(path):
            continue
        found.append(path)
        if remove:
            shutil.rmtree(path, ignore_errors=True)
    return sorted(found)


def _same_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not a newer one)."""
    try:
        return os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(fd))
    except OSError:
        return False


def entries(output_dir: Path | str) -> list[RunSummary]:
    """Return the summaries of the published reports in ``output_dir``, newest first.

    Only this user's own (:mod:`own_reports`); ties go by stamp; summaries whose HTML is gone,
    unreadable or misnamed are skipped.
    """
    output_dir = Path(output_dir)
    found = [e for e in summaries(output_dir) if is_regular(output_dir / html_name(e.stamp))]
    return sorted(found, key=RunSummary.newest_key, reverse=True)


def write_index(
    output_dir: Path, timezone: str = DEFAULT_TIMEZONE
) -> tuple[Path, list[RunSummary]]:
    """Rebuild ``index.html`` in ``output_dir``, for a caller that holds :data:`LOCK_NAME`."""
    path = output_dir / INDEX_NAME
    if os.path.lexists(path) and not is_index_page(read_head(path, INDEX_HEAD_BYTES)):
        raise OutputError(
            f"{path} is not this tool's index: left as it is (give the reports a folder of "
            "their own, or remove it)"
        )
    listed = entries(output_dir)
    page = render_index(listed, timezone)
    atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path, listed


def update_index(
    output_dir: Path | str, timezone: str = DEFAULT_TIMEZONE
) -> tuple[Path, list[RunSummary]]:
    """Rebuild ``index.html`` from the published reports; return its path and its entries.

    Raises ConfigError for an unknown ``timezone``, OutputError if the lock or page cannot be
    written.
    """
    output_dir = Path(output_dir)
    with locked(output_dir / LOCK_NAME):  # never through a planted link
        return write_index(output_dir, timezone)


def prune(
    output_dir: Path | str,
    keep_days: int,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    index: bool = True,
) -> list[Path]:
    """Remove the reports in ``output_dir`` generated more than ``keep_days`` days before ``now``.

    Each goes with every file published for its stamp, the summary last (so the next clean-up
    finishes an interrupted one); the names removed are noted as pending removals and the index
    rebuilt (unless ``index`` is false: the caller rebuilds it next), under :data:`LOCK_NAME`.
    Returns the files removed (or, with ``dry_run``, that
    would be), oldest report first. ConfigError for a bad ``keep_days`` or no folder;
    OutputError if a file cannot be removed or the index written.
    """
    keep_days = coerce.whole_number(keep_days, "keep_days", 1)
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        state = "is not a folder" if os.path.lexists(output_dir) else "does not exist"
        raise ConfigError(f"output directory {output_dir} {state}")
    now = now or datetime.now(UTC)
    if dry_run or not _expired_files(output_dir, keep_days, now):
        # Nothing to remove: no lock file is left in a folder that may hold no reports at all.
        return _expired_files(output_dir, keep_days, now) if dry_run else []
    try:  # a run rebuilding the index waits for us, and we for it
        with locked(output_dir / LOCK_NAME):
            return _remove(output_dir, _expired_files(output_dir, keep_days, now), index)
    except OutputError as exc:
        raise OutputError(f"cannot prune {output_dir}: {exc}") from None


def _expired_files(output_dir: Path, keep_days: int, now: datetime) -> list[Path]:
    # Only the running user's: in a shared folder another user could plant an "old" summary
    # beside files of their own (and prune notes what it removes for the publish target).
    stamps = [entry.stamp for entry in expired(summaries(output_dir), keep_days, now)]
    files = [output_dir / name for stamp in stamps for name in published_names(stamp)]
    return [path for path in files if is_own_regular(path)]


def _remove(output_dir: Path, files: list[Path], index: bool) -> list[Path]:
    removed = {}
    try:
        for path in files:
            try:
                size = path.lstat().st_size  # a target's copy is removed only at this size
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _cannot(f"remove {path}", exc) from None
            removed[path] = size
    finally:  # what is gone is noted, and the index lists what is left, whatever failed
        if removed:
            try:
                gone = {path.name: size for path, size in removed.items()}
                _write_pending(output_dir, pending_removals(output_dir) | gone)
            except OutputError as exc:  # the files are gone: say so, and what stays elsewhere
                raise OutputError(
                    f"{exc}: {len(removed):,} files were removed here, but a publish target "
                    "keeps its copies of them"
                ) from None
            finally:
                if index:
                    write_index(output_dir)
    return list(removed)


def pending_removals(output_dir: Path | str) -> dict[str, int]:
    """Return the removed report files a publish target may still hold, with their sizes.

    Only lines a prune wrote count (a report file's name, a tab, its size); never a live one,
    and none of a list another user wrote or could have changed (:func:`pending_problem`).
    """
    output_dir, found = Path(output_dir), {}
    if pending_problem(output_dir) is not None:
        return {}
    data = read_regular(output_dir / PENDING_NAME, PENDING_MAX_BYTES, own=True) or b""
    for line in data.decode("utf-8", errors="replace").splitlines():
        name, _, size = line.partition("\t")
        if is_report_file(name) and re.fullmatch(r"[0-9]{1,12}", size):
            found[name] = int(size)
    return {n: size for n, size in found.items() if not os.path.lexists(output_dir / n)}


def pending_problem(output_dir: Path | str) -> str | None:
    """Why the pending removals in ``output_dir`` are ignored, in one line; None if they are not.

    The list removes files from the publish target, so one that belongs to another user, or
    that other users may write, is not read.
    """
    path = Path(output_dir) / PENDING_NAME
    reason = others_could_write(path)
    if reason is None:
        return None
    return (
        f"{path} {reason}: ignored, and the publish target keeps the reports it names (remove it)"
    )


def forget_published(output_dir: Path | str, names) -> None:
    """Forget ``names``: the publish target no longer holds them (under the index lock)."""
    output_dir, done = Path(output_dir), set(names)
    with locked(output_dir / LOCK_NAME):
        left = {n: size for n, size in pending_removals(output_dir).items() if n not in done}
        _write_pending(output_dir, left)


def _write_pending(output_dir: Path, sizes: dict[str, int]) -> None:
    kept = list(sizes.items())[-PENDING_LIMIT:]
    path = output_dir / PENDING_NAME
    if kept:
        atomic_write(path, lambda tmp: tmp.write_text("".join(f"{n}\t{s}\n" for n, s in kept)))
    elif is_regular(path):
        path.unlink(missing_ok=True)
