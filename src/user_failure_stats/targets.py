"""Publish targets: folder URLs checked, described without credentials, and their settings.

Pure: nothing here reaches a storage service (``publish`` does).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from user_failure_stats.errors import ConfigError
from user_failure_stats.text import visible

# Scheme -> the package that provides it (fsspec's own for file://).
PROTOCOLS = {"file": "fsspec", "az": "adlfs", "abfs": "adlfs", "s3": "s3fs"}
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

    Accepted: ``file:///absolute/folder``, ``az|abfs://container[/prefix]``, ``s3://bucket[/prefix]``.
    Refused: other schemes, a user, password, query or fragment (credentials belong in the
    environment), control characters, over 2,000 characters. Nothing secret is echoed.
    """
    text = str(url).strip()
    if not text:
        raise ConfigError(f"{field_name} is empty: give a folder URL or leave it out", field_name)
    try:  # what the storage is given: %2F is "/", %2E%2E is ".."
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{field_name} holds percent-encoded bytes that are not UTF-8: name the folder in "
            "UTF-8 (%C3%A9 for é)",
            field_name,
        ) from None
    if len(text) > URL_LIMIT or visible(text) != text or visible(decoded) != decoded:
        raise ConfigError(
            f"{field_name} must be one line of at most {URL_LIMIT:,} characters, without "
            "control characters",
            field_name,
        )
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    if not rest or scheme not in PROTOCOLS:
        got = repr(text.partition("://")[0][:20] + "://") if "://" in text else "no '://'"
        raise ConfigError(
            f"{field_name} must be a folder URL: file:///path, az://container/prefix or "
            f"s3://bucket/prefix (got {got})",
            field_name,
        )
    try:
        parts = urlsplit(text)
    except ValueError:  # "Invalid IPv6 URL": a [ or ] out of place
        raise ConfigError(
            f"{field_name} is not a URL that can be read ([ or ] out of place)", field_name
        ) from None
    if "::" in decoded:  # fsspec chains URLs at "::": the files would go to another one
        raise ConfigError(
            f"{field_name} must be one folder URL, not a chain of them (::)", field_name
        )
    if "\\" in decoded:  # a storage may read it as "/": a..\..\x would climb out
        raise ConfigError(
            f"{field_name} must not hold a backslash: separate folders with /", field_name
        )
    if "@" in parts.netloc or parts.query or parts.fragment or "?" in text or "#" in text:
        raise ConfigError(
            f"{field_name} must not carry credentials, a query or a fragment: put them in the "
            "environment or .env (AZURE_STORAGE_CONNECTION_STRING, AWS_ACCESS_KEY_ID, ...)",
            field_name,
        )
    if "?" in decoded or "#" in decoded:  # the storage would read a version id or a query
        raise ConfigError(f"{field_name}: a folder name must not hold ? or #", field_name)
    # The container or bucket too: the storage reads them decoded, and resolves dot segments.
    place = storage_path(text)
    if ".." in place.split("/"):
        raise ConfigError(f"{field_name} must not climb out of its folder with ..", field_name)
    if scheme != "file" and parts.netloc and {".", ""} & set(place.rstrip("/").split("/")):
        raise ConfigError(f"{field_name}: a folder name must not be . or empty (//)", field_name)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(
                f"{field_name}: a file URL names an absolute folder: file:///srv/www/reports",
                field_name,
            )
        if not posixpath.normpath(unquote(parts.path)).strip("/"):  # file:///. too
            raise ConfigError(f"{field_name}: name a folder, not the root /", field_name)
    elif not parts.netloc:
        raise ConfigError(f"{field_name}: {scheme}:// needs a container or bucket", field_name)
    return f"{scheme}://{rest}"


def storage_path(url: str) -> str:
    """Return the folder as the storage reads it: decoded, with the container or bucket.

    ``az://c/my%20reports`` is ``c/my reports``; ``file:///srv/my%20reports`` is
    ``/srv/my reports`` (its host, empty or ``localhost``, left out).
    """
    parts = urlsplit(url)
    return unquote(parts.path if parts.scheme.lower() == "file" else parts.netloc + parts.path)


def describe(url: str | None) -> str:
    """Return the target for messages: the URL without any trailing slash, control escaped.

    A checked URL holds no credentials; anything after ``?``/``#`` or before ``@`` goes anyway.
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
            return _mapped(self.storage, AZURE_OPTIONS) | {
                "connection_timeout": CONNECT_TIMEOUT_SECONDS,
                "read_timeout": READ_TIMEOUT_SECONDS,
            }
        if self.protocol == "s3":
            region = self.storage.get("AWS_REGION") or self.storage.get("AWS_DEFAULT_REGION")
            timeouts = {
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "read_timeout": READ_TIMEOUT_SECONDS,
            }
            return _mapped(self.storage, S3_OPTIONS) | {
                "client_kwargs": {"region_name": region} if region else {},
                "config_kwargs": timeouts,
            }
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
