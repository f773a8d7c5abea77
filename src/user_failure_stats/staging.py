"""The output directory's bookkeeping: run stamps, staging folders, and what killed runs left.

A run claims its stamp with a hidden lock file ``.<stamp>.lock`` that it holds locked
(``flock``) for as long as it lives, and stages its files in ``.run-<stamp>-*``. The kernel
releases a dead process's locks, so a lock that can be taken belongs to a run that is gone:
its staging folder and lock are leftovers, which the next run removes and ``check`` reports.
Lock files are opened without following symbolic links.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from user_failure_stats.errors import NotebookError, OutputError

STAMP_LOCK = re.compile(r"^\.(\d{8}_\d{6}(?:_\d+)?)\.lock$")
CLAIM_PREFIX = ".claim-"
STAGING_PREFIX = ".run-"
# Held while leftovers are removed (and while the reports index is rebuilt, see index).
SCAN_LOCK = ".index.lock"


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


def open_no_follow(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """Open ``path`` without following a symbolic link; a planted link is replaced by a file.

    Raises:
        OSError: The file cannot be opened or created.
    """
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if not Path(path).is_symlink():
            raise
        Path(path).unlink()  # a link where our lock belongs: ours is a plain file
        try:
            return os.open(path, flags | os.O_EXCL, 0o644)
        except FileExistsError:
            raise exc from None


def _taken(fd: int) -> bool:
    """Lock ``fd`` if nobody holds it; True when it was free (its owner is gone)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def reserve_stamp(output_dir: Path, names, now: datetime | None = None) -> Claim:
    """Claim a run stamp no other run in ``output_dir`` holds or has published.

    The stamp is ``YYYYMMDD_HHMMSS``, with ``_2``, ``_3``... added when another run took the
    same second or a file (or a link, even a dangling one) already has one of its names.

    Args:
        output_dir: The output directory.
        names: A function from a stamp to the file names a run with it publishes.
        now: The moment the stamp is taken from (default: now).

    Returns:
        The claim; the caller releases it when the run ends.

    Raises:
        OutputError: ``output_dir`` cannot be written.
    """
    base = f"{now or datetime.now():%Y%m%d_%H%M%S}"
    try:
        for attempt in range(1, 1000):
            stamp = base if attempt == 1 else f"{base}_{attempt}"
            if any(os.path.lexists(output_dir / name) for name in names(stamp)):
                continue
            claim = _claim(output_dir, stamp)
            if claim is not None:
                return claim
    except OSError as exc:
        raise OutputError(
            f"cannot write into {output_dir}: {exc.strerror or exc.__class__.__name__}"
        ) from None
    raise NotebookError(f"cannot find a free file name in {output_dir}")


def _claim(output_dir: Path, stamp: str) -> Claim | None:
    # The lock is taken on a fresh file before it gets its name, so a file named like a
    # lock is always held by a living run or left by a dead one, never free for a moment.
    fd, tmp = tempfile.mkstemp(prefix=CLAIM_PREFIX, dir=output_dir)
    path = output_dir / f".{stamp}.lock"
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
        raise OutputError(
            f"cannot write into {output_dir}: {exc.strerror or exc.__class__.__name__}"
        ) from None


def _stamp_of_staging(name: str) -> str | None:
    match = re.match(r"^\.run-(\d{8}_\d{6}(?:_\d+)?)-", name)
    return match.group(1) if match else None


CLAIM_GRACE_SECONDS = 60  # a claim file lives for microseconds: an older one is a leftover


@contextmanager
def locked(path: Path):
    """Hold an exclusive lock on the file ``path`` (created, never through a link)."""
    fd = open_no_follow(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def leftovers(output_dir: Path, remove: bool = False) -> list[Path]:
    """Return (and with ``remove``, delete) what runs that were killed left in ``output_dir``.

    That is: stamp locks nobody holds, staging folders whose run holds no lock, and claim
    files of a run killed while claiming. A living run's files are never touched: removals
    happen one scan at a time (under ``.index.lock``), and a lock is removed only while this
    scan holds it and its name still leads to it.
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = _scan(output_dir, remove=False)
    if not remove or not found:  # nothing to do: no lock file is made for it
        return found
    with locked(output_dir / SCAN_LOCK):
        return _scan(output_dir, remove=True)


def _scan(output_dir: Path, remove: bool) -> list[Path]:
    entries = list(output_dir.iterdir())
    live_stamps, found = set(), []
    now = time.time()
    for path in entries:
        match = STAMP_LOCK.match(path.name)
        claim = path.name.startswith(CLAIM_PREFIX)
        if not (match or claim) or path.is_symlink():
            continue
        try:  # never blocks: a FIFO planted under a lock's name opens at once, and is skipped
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            if claim and now - os.fstat(fd).st_mtime < CLAIM_GRACE_SECONDS:
                continue  # being claimed right now
            if not _taken(fd):
                if match:
                    live_stamps.add(match.group(1))
                continue
            found.append(path)
            if remove and _same_file(path, fd):
                path.unlink(missing_ok=True)  # while locked: no run can be claiming it
        finally:
            os.close(fd)
    for path in entries:
        stamp = _stamp_of_staging(path.name)
        if stamp is None or stamp in live_stamps or not path.is_dir() or path.is_symlink():
            continue
        found.append(path)
        if remove:
            shutil.rmtree(path, ignore_errors=True)
    return sorted(found)


def _same_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not a newer one)."""
    try:
        named, opened = os.stat(path, follow_symlinks=False), os.fstat(fd)
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
