"""Files written whole or not at all, locked, and read back never through a link."""

from __future__ import annotations

import fcntl
import os
import select
import stat
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from user_failure_stats.errors import OutputError


def atomic_write(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place.

    The move replaces a link at ``path`` rather than writing through it. OutputError if the
    file cannot be written (a read-only folder, a full disk).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path


def open_no_follow(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """Open ``path`` without following a symbolic link; a planted link is replaced by a file."""
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if not Path(path).is_symlink():
            raise
        Path(path).unlink()  # a link where our file belongs: ours is a plain file
        try:
            return os.open(path, flags | os.O_EXCL, 0o644)
        except FileExistsError:
            raise exc from None


LOCK_WAIT_SECONDS = 120.0


@contextmanager
def locked(path: Path, wait: float = LOCK_WAIT_SECONDS):
    """Hold an exclusive lock on the file ``path`` (created, never through a link).

    OutputError if the lock cannot be made (a folder under its name, a read-only folder) or
    another process held it for ``wait`` seconds.
    """
    try:
        fd = open_no_follow(path)
    except OSError as exc:
        raise OutputError(f"cannot lock {path}: {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + wait
        while not try_lock(fd):
            if time.monotonic() >= deadline:
                raise OutputError(
                    f"another process has held {path} for {wait:g} seconds: "
                    "is a run or prune stuck?"
                )
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def try_lock(fd: int) -> bool:
    """Lock ``fd`` exclusively if nobody holds it; whether it was free."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def read_regular(
    path: Path, limit: int, *, own: bool = False, follow: bool = False
) -> bytes | None:
    """Return ``path``'s bytes if a regular file of at most ``limit`` bytes (no link, no FIFO).

    With ``own``, only if the file opened is this user's and no one else may write it (checked
    on the open file: one swapped in after a look at the path is not read). With ``follow``,
    a link is followed to the file it names (as another program reading the path would).
    """
    no_follow = 0 if follow else os.O_NOFOLLOW
    try:
        fd = os.open(path, os.O_RDONLY | no_follow | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:  # a folder, a FIFO...
            return None
        if own and not is_sole_own(info):
            return None
        data = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) <= limit else None


def read_head(path: Path, size: int) -> bytes | None:
    """Return the first ``size`` bytes of ``path`` if a regular file (no link, no FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, size) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except OSError:
        return None
    finally:
        os.close(fd)


def is_sole_own(info: os.stat_result) -> bool:
    """Whether the file ``info`` describes is this user's, and no one else may write it."""
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022


def others_could_write(path: Path) -> str | None:
    """Why ``path`` may hold another user's words: it is theirs, or others may write it.

    None when it is this user's own and only theirs to change, or when there is no such file.
    """
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if info.st_uid != os.geteuid():
        return "belongs to another user"
    if info.st_mode & 0o022:
        return "is writable by other users"
    return None


def is_own_regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself, of the running user's (not another's)."""
    return _is_own(path, stat.S_ISREG)


def is_own_folder(path: Path) -> bool:
    """Whether ``path`` is a folder itself (not a link to one), of the running user's."""
    return _is_own(path, stat.S_ISDIR)


def _is_own(path: Path, kind) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return kind(info.st_mode) and info.st_uid == os.geteuid()


def is_regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (not a link to one, a folder or a FIFO)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_within(path: Path, limit: int, seconds: float) -> bytes:
    """Return what ``path`` holds, a file or a pipe (``<(...)``), up to ``limit`` bytes.

    Raises:
        ValueError: More than ``limit`` bytes (``/dev/zero`` never ends).
        TimeoutError: The end did not come within ``seconds`` (a writer that never closes).
        OSError: It cannot be opened or read.
    """
    ends = time.monotonic() + seconds
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opens at once
    try:
        data = bytearray()
        while len(data) <= limit:
            left = ends - time.monotonic()
            # Linux reports a FIFO that never had a writer as not ready, not as ended.
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(path)
            try:
                chunk = os.read(fd, limit + 1 - len(data))
            except BlockingIOError:
                continue
            if not chunk:
                return bytes(data)
            data += chunk
        raise ValueError(path)
    finally:
        os.close(fd)
