"""Publishing: copy a run's report, CSV and summary, then the index, to a folder URL.

The target is an fsspec folder URL: ``file:///srv/www/reports``, ``az://container/prefix``
(Azure Blob Storage, adlfs) or ``s3://bucket/prefix`` (s3fs, the ``s3`` extra). Credentials
come only from the settings: a URL carrying any is refused, so URLs can be shown as they are.

Each call to the storage runs in a child process killed at a deadline (:mod:`children`): the
storage libraries' timeouts restart with every byte, so a service answering one byte a second
would otherwise keep a run waiting for as long as it likes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import re
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from pathlib import Path

from user_failure_stats.children import gather
from user_failure_stats.errors import PublishError
from user_failure_stats.files import is_sole_own, read_head
from user_failure_stats.names import INDEX_HEAD_BYTES, INDEX_NAME, is_index_page, is_report_file
from user_failure_stats.targets import Target, check_available, describe, storage_path

HTTP_PHRASES = {status.value: status.phrase for status in HTTPStatus}
# A publish still going after this long is stopped: two minutes (Azure's client retries an
# unreachable service for about a minute and a half), and a second more per 100 kB to copy.
DEADLINE_SECONDS = 120.0
BYTES_PER_SECOND = 100_000
# A local copy is written to ``.<name>.<8 hex>.tmp`` and moved into place. One a publish killed
# at its deadline left is removed by a later publish once it is this old (a younger one may be
# another run's copy in progress).
PARTIAL_NAME = re.compile(r"\.([^/]+)\.[0-9a-f]{8}\.tmp")
STALE_PARTIAL_SECONDS = 3600.0


def open_target(target: Target):
    """Return ``(filesystem, folder path)`` for the target, through fsspec.

    Raises ConfigError if the protocol's package is not installed, PublishError if the storage
    cannot be set up with the settings given.
    """
    import fsspec

    check_available(target)
    url = f"{target.protocol}://{storage_path(target.url)}"  # decoded for every storage
    try:
        filesystem, path = fsspec.core.url_to_fs(url, **target.options())
    except Exception as exc:  # noqa: BLE001 - a bad setting: one line, never its value
        raise PublishError(_failure(target, exc)) from None
    return filesystem, path.rstrip("/")


def publish(
    target: Target,
    files: Iterable[Path],
    *,
    remove: Mapping[str, int | None] | None = None,
    timeout: float | None = None,
) -> list[str]:
    """Copy ``files`` into the target folder, in order; delete the files named in ``remove``.

    A name in ``remove`` is deleted only if the target's file has the size given with it (None:
    any): the size this folder's copy had, so a name planted in the list deletes nothing.

    Each file is written whole (locally through a temporary name, on object storage by one
    upload); give the index last, so it never links to a file not yet there. Returns the links
    (see :meth:`Target.link`), in order; PublishError (one line, no credential) on failure, or
    when it has not ended after ``timeout`` seconds (default: :func:`deadline` of the files).
    """
    files = [Path(source) for source in files]
    limit = deadline(files) if timeout is None else timeout
    return _in_child(target, _publish_here, (target, files, remove), limit)


def deadline(files: Iterable[Path]) -> float:
    """Seconds a publish of ``files`` may take: :data:`DEADLINE_SECONDS` and one per 100 kB."""
    size = 0
    for path in files:
        try:
            size += os.lstat(path).st_size
        except OSError:  # the copy itself says what is wrong with it
            pass
    return DEADLINE_SECONDS + size / BYTES_PER_SECOND


def _in_child(target: Target, work, args: tuple, timeout: float):
    """Return ``work(*args)`` done in a child process, or raise PublishError (late: stopped)."""
    check_available(target)  # a missing package is a ConfigError, said here
    items, timed_out = gather(_answer, (target, work, args), expected=1, timeout=timeout)
    if items:
        done, value = items[0]
        if done:
            return value
        raise PublishError(value)
    where = describe(target.url)
    if timed_out:
        raise PublishError(
            f"cannot publish to {where}: no answer within {timeout:.0f} s, stopped "
            "(is the storage service reachable?)"
        )
    raise PublishError(f"cannot publish to {where}: the publishing process ended unexpectedly")


def _answer(send, target: Target, work, args: tuple) -> None:
    """In the child: send ``(True, result)``, or ``(False, one line)`` for any failure."""
    import fsspec.asyn

    # What fsspec's reset_lock is for: a forked child must not wait on the parent's event
    # loop, whose thread it lacks (fsspec before 2025 does not reset it on its own).
    fsspec.asyn.reset_lock()
    try:
        result = work(*args)
    except PublishError as exc:
        send((False, str(exc)))
    except Exception as exc:  # noqa: BLE001 - any failure: one line, never a traceback
        send((False, _failure(target, exc)))
    else:
        send((True, result))


def _publish_here(
    target: Target, files: list[Path], remove: Mapping[str, int | None] | None
) -> list[str]:
    filesystem, folder = open_target(target)
    links = []
    try:
        if target.protocol == "file":  # a container or bucket is never created
            filesystem.makedirs(folder, exist_ok=True)
            _remove_stale_partials(folder)
        for source in files:
            _put(filesystem, source, f"{folder}/{source.name}", target.protocol)
            links.append(target.link(source.name))
        present = _sizes(filesystem, folder) if remove else {}  # one listing, not one per name
        for name, size in (remove or {}).items():
            if name in present and size in (None, present[name]):
                filesystem.rm_file(f"{folder}/{name}")
    except PublishError as exc:  # what the target holds is not what we may replace
        raise PublishError(f"cannot publish to {describe(target.url)}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any storage failure: one line
        raise PublishError(_failure(target, exc)) from None
    return links


def probe(target: Target) -> Path | None:
    """Write a small file into the target folder and remove it: what ``check`` tries.

    It takes a run's own path, so a missing container, a wrong key or a read-only disk raises
    PublishError as in a run. A local folder that does not exist yet is not made: the folder
    a run would make it in is returned, once found writable.
    """
    if target.protocol == "file" and not os.path.lexists(storage_path(target.url)):
        return _where_made(target)
    with tempfile.TemporaryDirectory(prefix="ufs-probe-") as folder:
        path = Path(folder) / f".user-failure-stats-check-{uuid.uuid4().hex[:8]}"
        path.write_text("written by user-failure-stats check; removed at once\n")
        publish(target, [path], remove={path.name: None})
    return None


def _where_made(target: Target) -> Path:
    """The nearest existing folder above a local target; PublishError unless it is writable."""
    folder = Path(storage_path(target.url))
    above = next(p for p in folder.parents if os.path.lexists(p))
    if not above.is_dir():  # what a run is told when it tries to make the folder
        raise PublishError(_failure(target, NotADirectoryError(errno.ENOTDIR, "Not a directory")))
    if not os.access(above, os.W_OK | os.X_OK):
        raise PublishError(_failure(target, PermissionError(errno.EACCES, "Permission denied")))
    return above


def missing(target: Target, names: Iterable[str]) -> list[str]:
    """Return which of ``names`` are not in the target folder (one listing), or PublishError.

    Stopped, as a publish is, after :data:`DEADLINE_SECONDS`.
    """
    return _in_child(target, _missing_here, (target, list(names)), DEADLINE_SECONDS)


def _missing_here(target: Target, names: list[str]) -> list[str]:
    filesystem, folder = open_target(target)
    try:
        present = _names(filesystem, folder)
    except Exception as exc:  # noqa: BLE001 - any storage failure: one line
        raise PublishError(_failure(target, exc)) from None
    return [name for name in names if name not in present]


def _names(filesystem, folder: str) -> set[str]:
    """The names in ``folder`` (none when it does not exist yet)."""
    return set(_sizes(filesystem, folder))


def _sizes(filesystem, folder: str) -> dict[str, int | None]:
    """The names in ``folder`` and their sizes (none when it does not exist yet)."""
    if not filesystem.exists(folder):
        return {}
    listed = filesystem.ls(folder, detail=True)
    return {posixpath.basename(str(i["name"]).rstrip("/")): i.get("size") for i in listed}


def _put(filesystem, source: Path, path: str, protocol: str) -> None:
    # What is copied is what was opened: never through a link, even one swapped in just now,
    # and only the running user's own file that no one else may write.
    with tempfile.TemporaryDirectory(prefix="ufs-publish-") as private:
        copy = Path(private) / source.name
        with open(os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise OSError(errno.EINVAL, f"{source.name} is not a regular file")
            if not is_sole_own(info):  # another's swapped in since the run looked
                raise PublishError(
                    f"{source.name} is another user's file, or others may write it: not published"
                )
            with open(copy, "wb") as out:
                shutil.copyfileobj(handle, out)
        _put_copy(filesystem, copy, path, protocol)


def _put_copy(filesystem, source: Path, path: str, protocol: str) -> None:
    folder, name = posixpath.split(path)
    if protocol == "file" and filesystem.isdir(path):  # a move would land inside it
        raise IsADirectoryError(errno.EISDIR, f"a folder is in the way of {name}")
    if source.name == INDEX_NAME and not _ours_or_none(filesystem, path, protocol):
        raise PublishError(
            "its index.html is not this tool's index: left as it is (publish into a "
            "folder of its own, or remove it)"
        )
    if protocol != "file":
        filesystem.put_file(str(source), path)
        return
    if os.path.lexists(path) and os.lstat(path).st_uid != os.geteuid():  # a shared folder
        raise PublishError(f"another user's {name} is there: left as it is")
    partial = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        filesystem.put_file(str(source), partial)
        filesystem.mv(partial, path)
    except BaseException:
        if filesystem.exists(partial):
            filesystem.rm_file(partial)
        raise


def _ours_or_none(filesystem, path: str, protocol: str) -> bool:
    """Whether nothing is at ``path``, or an index this tool wrote (a website's home page?).

    Locally anything there counts, a FIFO or a link (dangling or not) too: only a regular file
    that begins as the tool's index is the tool's.
    """
    if protocol == "file":
        return not os.path.lexists(path) or is_index_page(read_head(Path(path), INDEX_HEAD_BYTES))
    if not filesystem.exists(path):
        return True
    return filesystem.isfile(path) and is_index_page(
        filesystem.cat_file(path, start=0, end=INDEX_HEAD_BYTES)
    )


def _remove_stale_partials(folder: str) -> None:
    """Remove the partial copies in a local ``folder`` older than an hour.

    Only this user's regular files named as :func:`_put_copy` names the copy of a report's
    file or of the index: anything else, however named, is somebody's own.
    """
    now = time.time()
    with os.scandir(folder) as entries:
        for entry in entries:
            match = PARTIAL_NAME.fullmatch(entry.name)
            if match is None or not (is_report_file(match[1]) or match[1] == INDEX_NAME):
                continue  # a copy of a report's file or the index only: others are not ours
            info = entry.stat(follow_symlinks=False)
            if (
                stat.S_ISREG(info.st_mode)
                and info.st_uid == os.geteuid()
                and now - info.st_mtime > STALE_PARTIAL_SECONDS
            ):
                with contextlib.suppress(FileNotFoundError):  # another run removed it first
                    os.unlink(entry.path)


def _failure(target: Target, exc: BaseException) -> str:
    """One line about a failed publish: the target and the kind of failure, no secret.

    Storage libraries put URLs, account names and signed queries in their messages, so only
    an HTTP status, an operating-system reason (errno) or the exception's kind is shown.
    """
    name = exc.__class__.__name__
    status = getattr(exc, "status_code", None)  # azure-core's HttpResponseError
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        reason = f"HTTP {status} {HTTP_PHRASES.get(status, '')}".rstrip()
    elif isinstance(status, int) and not isinstance(status, bool):  # a redirect followed...
        reason = f"an unexpected answer (HTTP {status})"
    elif isinstance(exc, FileExistsError):
        reason = "a file stands where the folder should be"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    elif isinstance(exc, FileNotFoundError):
        reason = "not found"
    elif isinstance(exc, ValueError):  # adlfs: no usable account, key or connection string
        reason = "the storage settings are missing or malformed"
    else:
        reason = name
    hint = ""
    if any(word in name for word in ("Auth", "Signing", "Credential")) or status in (401, 403):
        hint = " (check the storage credentials in the environment or .env)"
    elif isinstance(exc, PermissionError):
        hint = " (check the folder's permissions)"
    elif isinstance(exc, ValueError):
        hint = " (see docs/publishing.md: AZURE_STORAGE_*, AWS_* in the environment or .env)"
    elif "Connect" in name or "Timeout" in name or "ServiceRequest" in name:
        hint = " (is the storage service reachable?)"
    elif reason == "not found" and target.protocol != "file":
        hint = " (does the container or bucket exist?)"
    return f"cannot publish to {describe(target.url)}: {reason}{hint}"
