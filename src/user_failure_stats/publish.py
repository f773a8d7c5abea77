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
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from user_failure_stats.errors import ConfigError, PublishError
from user_failure_stats.text import visible

# Scheme -> the package that provides it (fsspec's own for file://).
PROTOCOLS = {
    "file": "fsspec",
    "az": "adlfs",
    "abfs": "adlfs",
    "s3": "s3fs",
}
URL_LIMIT = 2_000
# The storage settings each protocol reads (see settings.STORAGE_KEYS), as fsspec options.
AZURE_OPTIONS = {
    "AZURE_STORAGE_CONNECTION_STRING": "connection_string",
    "AZURE_STORAGE_ACCOUNT_NAME": "account_name",
    "AZURE_STORAGE_ACCOUNT_KEY": "account_key",
    "AZURE_STORAGE_SAS_TOKEN": "sas_token",
    "AZURE_STORAGE_CLIENT_ID": "client_id",
    "AZURE_STORAGE_CLIENT_SECRET": "client_secret",
    "AZURE_STORAGE_TENANT_ID": "tenant_id",
}
S3_OPTIONS = {
    "AWS_ACCESS_KEY_ID": "key",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "token",
    "AWS_ENDPOINT_URL": "endpoint_url",
    "AWS_PROFILE": "profile",
}
# Seconds to wait for a storage service before giving up (connect, then each read).
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60


def check_url(url: str, field_name: str = "publish") -> str:
    """Return the folder URL, stripped, or raise ConfigError saying what is wrong with it.

    Accepted: ``file:///absolute/folder``, ``az://container[/prefix]``,
    ``abfs://container[/prefix]`` and ``s3://bucket[/prefix]``. Refused: other schemes, a
    user name, password, query or fragment (credentials belong in the environment), control
    characters, and URLs longer than 2,000 characters. Nothing secret is echoed.
    """
    text = str(url).strip()
    if not text:
        raise ConfigError(f"{field_name} is empty: give a folder URL or leave it out", field_name)
    if len(text) > URL_LIMIT or visible(text) != text:
        raise ConfigError(
            f"{field_name} must be one line of at most {URL_LIMIT:,} characters, without "
            "control characters",
            field_name,
        )
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    if not rest or scheme not in PROTOCOLS:
        raise ConfigError(
            f"{field_name} must be a folder URL: file:///path, az://container/prefix or "
            f"s3://bucket/prefix (got {_shown_scheme(text)})",
            field_name,
        )
    parts = urlsplit(text)
    if "@" in parts.netloc or parts.query or parts.fragment or "?" in text or "#" in text:
        raise ConfigError(
            f"{field_name} must not carry credentials, a query or a fragment: put them in the "
            "environment or .env (AZURE_STORAGE_CONNECTION_STRING, AWS_ACCESS_KEY_ID, ...)",
            field_name,
        )
    if ".." in parts.path.split("/"):
        raise ConfigError(f"{field_name} must not climb out of its folder with ..", field_name)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(
                f"{field_name}: a file URL names an absolute folder: file:///srv/www/reports",
                field_name,
            )
        if not unquote(parts.path).strip("/"):
            raise ConfigError(f"{field_name}: name a folder, not the root /", field_name)
    elif not parts.netloc:
        raise ConfigError(f"{field_name}: {scheme}:// needs a container or bucket", field_name)
    return f"{scheme}://{rest}"


def _shown_scheme(text: str) -> str:
    scheme, sep, _ = text.partition("://")
    if not sep:
        return "no '://'"
    return repr(scheme[:20] + "://")


def describe(url: str | None) -> str:
    """Return the target for messages: the URL without any trailing slash, control escaped.

    A checked URL (see :func:`check_url`) holds no credentials; anything after a ``?`` or
    ``#`` and before an ``@`` is dropped anyway, whatever the URL.
    """
    if not url:
        return "(none)"
    text = str(url).split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = text.partition("://")
    if sep:
        host, slash, path = rest.partition("/")
        text = f"{scheme}://{host.rsplit('@', 1)[-1]}{slash}{path}"
    return visible(text.rstrip("/")[:200])


@dataclass(frozen=True)
class Target:
    """A checked folder URL and the storage settings to reach it.

    Attributes:
        url: The folder URL (see :func:`check_url`).
        storage: The storage settings from the environment or ``.env`` (secret: never shown).
        link_base: Where readers open the folder (``PUBLISH_LINK_URL``), if not at ``url``.
    """

    url: str
    storage: dict = field(default_factory=dict, repr=False)
    link_base: str | None = None

    @property
    def protocol(self) -> str:
        """The URL's scheme: ``file``, ``az``, ``abfs`` or ``s3``."""
        return self.url.partition("://")[0]

    def link(self, name: str) -> str:
        """Return the address of the published file ``name``, for people and answers."""
        base = (self.link_base or self.url).rstrip("/")
        return f"{base}/{quote(name)}"

    def options(self) -> dict:
        """Return the fsspec options: credentials from the settings, timeouts."""
        if self.protocol in ("az", "abfs"):
            options = _mapped(self.storage, AZURE_OPTIONS)
            return options | {
                "connection_timeout": CONNECT_TIMEOUT_SECONDS,
                "read_timeout": READ_TIMEOUT_SECONDS,
            }
        if self.protocol == "s3":
            options = _mapped(self.storage, S3_OPTIONS)
            region = self.storage.get("AWS_REGION") or self.storage.get("AWS_DEFAULT_REGION")
            config = {
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "read_timeout": READ_TIMEOUT_SECONDS,
            }
            return (
                options
                | {"client_kwargs": {"region_name": region} if region else {}}
                | {"config_kwargs": config}
            )
        return {}


def _mapped(values: dict, names: dict) -> dict:
    return {option: values[key] for key, option in names.items() if values.get(key)}


def check_available(target: Target) -> None:
    """Raise ConfigError when the package of the target's protocol is not installed."""
    from importlib.util import find_spec

    package = PROTOCOLS[target.protocol]
    if find_spec(package) is None:
        extra = " (the s3 extra: see docs/publishing.md)" if package == "s3fs" else ""
        raise ConfigError(
            f"publishing to {target.protocol}:// needs the package {package}{extra}",
            "publish",
        )


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
