"""Publishing: copy a run's report, CSV and summary, then the index, to a folder URL.

The target is an fsspec folder URL: ``file:///srv/www/reports``, ``az://container/prefix``
(Azure Blob Storage, through adlfs) or ``s3://bucket/prefix`` (through s3fs, the ``s3``
extra). Credentials come only from the settings (the environment or ``.env``), never from
the URL: a URL that carries a user, password or query is refused, so it can be shown in
messages as it is.
"""

from __future__ import annotations

import errno
import posixpath
import tempfile
import uuid
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote, urlsplit

from user_failure_stats.errors import PublishError
from user_failure_stats.targets import Target, check_available, describe


def open_target(target: Target):
    """Return ``(filesystem, folder path)`` for the target, through fsspec.

    Raises:
        ConfigError: The protocol's package is not installed (``s3fs`` for ``s3://``).
        PublishError: The storage cannot be set up with the settings given.
    """
    import fsspec

    check_available(target)
    url = target.url
    if target.protocol == "file":  # file:///my%20reports is the folder "my reports"
        url = "file://" + unquote(urlsplit(url).path)
    try:
        filesystem, path = fsspec.core.url_to_fs(url, **target.options())
    except Exception as exc:  # noqa: BLE001 - a bad setting: one line, never its value
        raise PublishError(_failure(target, exc)) from None
    return filesystem, path.rstrip("/")


def publish(target: Target, files: Iterable[Path], *, remove: Iterable[str] = ()) -> list[str]:
    """Copy ``files`` into the target folder, in order; delete the names in ``remove``.

    Each file is written whole: on a local folder through a temporary name moved into
    place, on object storage by one upload (which is whole or absent). Give the index
    last, so it never links to a file not yet there.

    Returns:
        The published files' links (see :meth:`Target.link`), in order.

    Raises:
        PublishError: A file could not be copied or removed; one line naming the target
            and the reason, never a credential.
    """
    filesystem, folder = open_target(target)
    links = []
    try:
        if target.protocol == "file":  # a container or bucket is never created
            filesystem.makedirs(folder, exist_ok=True)
        for source in files:
            _put(filesystem, Path(source), f"{folder}/{Path(source).name}", target.protocol)
            links.append(target.link(Path(source).name))
        remove = list(remove)
        if remove:  # one listing, not one request per name
            present = _names(filesystem, folder)
            for name in remove:
                if name in present:
                    filesystem.rm_file(f"{folder}/{name}")
    except Exception as exc:  # noqa: BLE001 - any storage failure: one line
        raise PublishError(_failure(target, exc)) from None
    return links


def probe(target: Target) -> None:
    """Write a small file into the target folder and remove it: what ``check`` tries.

    It takes the run's own path (the folder made for ``file://``, one upload, one removal),
    so a missing container or bucket, a wrong key or a read-only disk fails here as it would
    in a run.

    Raises:
        PublishError: The folder cannot be written, in one line.
    """
    with tempfile.TemporaryDirectory(prefix="ufs-probe-") as folder:
        path = Path(folder) / f".user-failure-stats-check-{uuid.uuid4().hex[:8]}"
        path.write_text("written by user-failure-stats check; removed at once\n")
        publish(target, [path], remove=[path.name])


def missing(target: Target, names: Iterable[str]) -> list[str]:
    """Return which of ``names`` are not in the target folder (one listing).

    Raises:
        PublishError: The folder cannot be listed.
    """
    filesystem, folder = open_target(target)
    try:
        present = _names(filesystem, folder)
    except Exception as exc:  # noqa: BLE001 - any storage failure: one line
        raise PublishError(_failure(target, exc)) from None
    return [name for name in names if name not in present]


def _names(filesystem, folder: str) -> set[str]:
    """The names in ``folder`` (none when it does not exist yet)."""
    if not filesystem.exists(folder):
        return set()
    return {posixpath.basename(str(p).rstrip("/")) for p in filesystem.ls(folder, detail=False)}


def _put(filesystem, source: Path, path: str, protocol: str) -> None:
    if protocol != "file":
        filesystem.put_file(str(source), path)
        return
    folder, name = posixpath.split(path)
    if filesystem.isdir(path):  # a move would land inside it, and report success
        raise IsADirectoryError(errno.EISDIR, f"a folder is in the way of {name}")
    partial = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        filesystem.put_file(str(source), partial)
        filesystem.mv(partial, path)
    except BaseException:
        if filesystem.exists(partial):
            filesystem.rm_file(partial)
        raise


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _failure(target: Target, exc: BaseException) -> str:
    """One line about a failed publish: the target and the kind of failure, no secret.

    Storage libraries put URLs, account names and signed queries in their messages, so only
    an HTTP status, an operating-system reason (errno) or the exception's kind is shown.
    """
    name = exc.__class__.__name__
    status = getattr(exc, "status_code", None)  # azure-core's HttpResponseError
    if isinstance(status, int) and not isinstance(status, bool):
        reason = f"HTTP {status} {_phrase(status)}".rstrip()
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
