"""Settings: where the database is and how long to wait for it, from the environment or ``.env``.

Secrets (``DB_URL``) come only from here: never from parameter files or flags.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from user_failure_stats import coerce
from user_failure_stats.db_url import (
    SHORTEST_HIDDEN,
    check_db_url,
    comparable,
    describe_database,
    joined,
    parse_db_url,
    url_passwords,
)
from user_failure_stats.env_file import read_env_file
from user_failure_stats.errors import ConfigError
from user_failure_stats.libpq_files import (
    SECRET_PARAMETERS,
    possible_passwords,
    service_values,
)
from user_failure_stats.targets import Target, check_url
from user_failure_stats.text import visible
from user_failure_stats.window import check_timezone, known_window

DEFAULT_OUTPUT_DIR = "reports"
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 120.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10


def _project_root() -> Path:
    # The checkout of an editable install, else the working directory.
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


PROJECT_ROOT = _project_root()


# Credentials of the publish target, read by name and handed only to the storage library.
STORAGE_KEYS = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CLIENT_ID",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_STORAGE_TENANT_ID",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@dataclass(frozen=True)
class Settings:
    """Where the data is and how to reach it; read from the environment and ``.env``.

    Each field is the setting of the same name in capitals (docs/configuration.md), except:

    Attributes:
        db_url: SQLAlchemy URL of the database: a secret, never shown.
        db_timezone: IANA time zone of the naive ``created_on`` values.
        default_window: The HTTP endpoint's window when a request gives none.
        env_file: The ``.env`` file read, or None (the environment only).
        notify_urls: The Apprise URLs (``NOTIFY_URLS``): a secret.
        endpoint_key: The key ``serve`` asks every request for (``ENDPOINT_KEY``): a secret.
        storage: The publish target's credentials (the ``STORAGE_KEYS`` set): a secret.
    """

    db_url: str | None
    db_timezone: str = "UTC"
    output_dir: Path = Path(DEFAULT_OUTPUT_DIR)
    statement_timeout_seconds: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS
    connect_timeout_seconds: int = DEFAULT_CONNECT_TIMEOUT_SECONDS
    start_date: str | None = None
    end_date: str | None = None
    report_timezone: str = "UTC"
    default_window: str = "yesterday"
    env_file: Path | None = None
    publish_url: str | None = None
    publish_link_url: str | None = None
    notify_urls: str | None = field(default=None, repr=False)
    endpoint_key: str | None = field(default=None, repr=False)
    storage: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        """Show the settings with the database URL reduced to its host and name."""
        return (
            f"Settings(database={describe_database(self.db_url)!r}, "
            f"db_timezone={self.db_timezone!r}, output_dir={str(self.output_dir)!r})"
        )

    def require_db_url(self) -> str:
        """Return the database URL, or raise ConfigError when it is not set."""
        if not self.db_url:
            raise ConfigError(
                "DB_URL is not set: put it in .env (see .env.example) or in the environment"
            )
        return self.db_url

    def as_environment(self) -> dict[str, str]:
        """Return these settings as environment variables for the kernel, which reads no .env."""
        values = {key: getattr(self, key.lower()) for key in KERNEL_KEYS}
        return {k: str(v) for k, v in values.items() if v is not None} | {FROM_ENVIRONMENT: "1"}

    def refuse_secrets(self, title=None, output_dir=None, publish=None) -> None:
        """ConfigError naming ``title``, ``output_dir`` or ``publish`` when it holds a secret.

        What the report, its index and messages show must hold no password libpq may send
        or key of these settings (``--title "$DB_URL"`` in a crontab), nor be the role's
        name. A title is looked at for passwords as short as descriptions hide
        (:data:`SHORTEST_HIDDEN`); a folder, whose path holds the machine's folder names
        too (``/home/user`` for the password ``user``), and a publish URL, for secrets of 8
        characters or more.
        """
        values = {"DB_URL": self.db_url, "ENDPOINT_KEY": self.endpoint_key}
        values["NOTIFY_URLS"] = self.notify_urls
        passwords, keys, roles = _secrets(values, self.storage, os.environ)
        for name, value, shortest in (
            ("title", title, SHORTEST_HIDDEN),
            ("output_dir", output_dir, LONG_SECRET),
            ("publish", publish, LONG_SECRET),
        ):
            shown = str(value) if isinstance(value, str | Path) else ""
            if shown and _holds(shown, passwords, keys, roles, shortest):
                raise ConfigError(
                    f"{name} holds a secret of the settings (a password or key), which the "
                    "report and its messages would show: give another",
                    field=name,
                )

    def publish_target(self, url: str | None = None) -> Target | None:
        """Return the target for ``url`` (default ``PUBLISH_URL``) with its credentials, or None."""
        url = url or self.publish_url
        return Target(url, self.storage, self.publish_link_url) if url else None

    def describe_source(self) -> str:
        """Say where the settings came from, for ``check``."""
        if self.env_file is None:
            return "settings from the environment (no .env file)"
        return f"settings from {self.env_file} and the environment"


# The settings read from .env and the environment: the fields' names in capitals.
SETTING_KEYS = tuple(
    f.name.upper() for f in fields(Settings) if f.name not in ("env_file", "storage")
)
# What the report's kernel is given: not where to publish, nor whom to notify (a secret).
KERNEL_KEYS = tuple(
    key for key in SETTING_KEYS if not key.startswith(("PUBLISH_", "NOTIFY_", "ENDPOINT_"))
)
# Set in a child's environment by the process that resolved the settings (see as_environment).
FROM_ENVIRONMENT = "USER_FAILURE_STATS_SETTINGS_FROM_ENVIRONMENT"


def find_env_file() -> Path | None:
    """Return the ``.env`` beside ``pyproject.toml`` (else in the working directory), or None.

    No other folder is searched: the tool reads the same settings wherever it is started.
    """
    candidate = PROJECT_ROOT / ".env"
    return candidate if candidate.is_file() else None


def load_settings(env_file: Path | str | None = None, environ: dict | None = None) -> Settings:
    """Read and validate the settings: environment variables override ``.env``.

    ``env_file`` defaults to :func:`find_env_file`; none is read in the report's kernel
    (:data:`FROM_ENVIRONMENT`). A relative ``OUTPUT_DIR`` is taken from the folder of
    ``.env`` (where the command runs when it is a pipe or a descriptor), else from the
    project's checkout.

    Raises:
        ConfigError: A value is malformed (the message names the key).
    """
    environ = os.environ if environ is None else environ
    if env_file:
        path = Path(env_file)
    elif environ.get(FROM_ENVIRONMENT):
        path = None
    else:
        path = find_env_file()
    if env_file and path.is_dir():
        raise ConfigError(f"env file {path} is a folder, not a file")
    if env_file and not path.exists():  # a pipe (<(...)) is fine
        raise ConfigError(f"env file {path} does not exist")
    values: dict[str, Any] = {}
    if path is not None:
        values.update(read_env_file(path))
    values.update({k: environ[k] for k in SETTING_KEYS if environ.get(k) not in (None, "")})
    storage = {k: values[k] for k in STORAGE_KEYS if values.get(k)}
    storage |= {k: environ[k] for k in STORAGE_KEYS if environ.get(k)}
    for key in SETTING_KEYS:  # a .env can hold one: a path or a child's environment cannot
        if "\x00" in str(values.get(key) or ""):
            raise ConfigError(f"{key} must not hold a NUL character", field=key)
        if SURROGATE.search(str(values.get(key) or "")):  # bytes no UTF-8, from the shell
            raise ConfigError(f"{key} must be UTF-8 text", field=key)
    _check_no_secret_shown(values, storage, environ)

    base = PROJECT_ROOT if path is None else Path(os.path.normpath(path.parent.absolute()))
    # A pipe, /dev/null, or /dev/stdin and /proc/self/fd/N (a descriptor, of a regular file
    # too): their folders are the system's, so relative reports go where the command runs.
    if path is not None and (not path.is_file() or base.parts[1:2] in (("dev",), ("proc",))):
        base = Path.cwd()
    output_dir = Path(values.get("OUTPUT_DIR") or DEFAULT_OUTPUT_DIR).expanduser()
    if not output_dir.is_absolute():
        output_dir = base / output_dir

    db_timezone = check_timezone(values.get("DB_TIMEZONE") or "UTC", "DB_TIMEZONE").key
    db_url = values.get("DB_URL") or None
    if db_url:
        check_db_url(db_url)
    return Settings(
        db_url=db_url,
        db_timezone=db_timezone,
        output_dir=output_dir,
        statement_timeout_seconds=_positive_number(
            values, "STATEMENT_TIMEOUT_SECONDS", DEFAULT_STATEMENT_TIMEOUT_SECONDS, float
        ),
        connect_timeout_seconds=_positive_number(
            values, "CONNECT_TIMEOUT_SECONDS", DEFAULT_CONNECT_TIMEOUT_SECONDS, int
        ),
        start_date=values.get("START_DATE") or None,
        end_date=values.get("END_DATE") or None,
        report_timezone=check_timezone(
            values.get("REPORT_TIMEZONE") or "UTC", "REPORT_TIMEZONE"
        ).key,
        default_window=known_window(values.get("DEFAULT_WINDOW") or "yesterday", "DEFAULT_WINDOW"),
        env_file=path.absolute() if path is not None else None,
        publish_url=_publish_url(values.get("PUBLISH_URL")),
        publish_link_url=_link_url(values.get("PUBLISH_LINK_URL")),
        notify_urls=(values.get("NOTIFY_URLS") or "").strip() or None,
        endpoint_key=_endpoint_key(values.get("ENDPOINT_KEY")),
        storage=storage,
    )


# Settings whose values are secrets, whole: never shown, so never compared against.
SECRET_KEYS = ("DB_URL", "NOTIFY_URLS", "ENDPOINT_KEY")
SECRET_STORAGE_KEYS = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


SURROGATE = re.compile("[\ud800-\udfff]")  # how Python holds bytes that are no UTF-8
LONG_SECRET = 8  # the length from which a key or URL is looked for: "2025" is no secret


def _secrets(values: dict, storage: dict, environ: Mapping) -> tuple[set, set, set]:
    """Return the secrets of the settings ``values``: passwords, keys and URLs, role names.

    The passwords libpq may send (``DB_URL``'s as ``user:password@`` or ``?password=``,
    ``PGPASSWORD``, a password or service file's); ``DB_URL`` whole, ``ENDPOINT_KEY``, the
    storage keys and each notification URL; the role's name (the URL's, ``?user=``,
    ``PGUSER``).
    """
    passwords = {str(environ.get("PGPASSWORD") or ""), str(values.get("PGPASSWORD") or "")}
    keys = {str(values.get("ENDPOINT_KEY") or "")}  # a .env's PGPASSWORD, above: expanded
    keys |= {str(storage.get(key) or "") for key in SECRET_STORAGE_KEYS}
    keys |= _notify_urls(values)
    roles = {str(environ.get("PGUSER") or "")}
    url = values.get("DB_URL")
    if isinstance(url, str) and url:
        keys.add(url.strip())
        passwords |= url_passwords(url)
        parsed = parse_db_url(url)
        if parsed is not None:
            roles |= {str(parsed.username or ""), joined(parsed.query.get("user"))}
            passwords |= possible_passwords(parsed.query, environ)
    return passwords - {""}, keys - {""}, roles - {""}


def _shown_parts(url, environ: Mapping) -> list[str]:
    """The parts of ``url`` messages may show: all but its user and passwords.

    Its service's too (the service files' values but passwords: a database, a host).
    """
    parsed = parse_db_url(url) if isinstance(url, str) and url else None
    if parsed is None:
        return []
    parts = [describe_database(url), str(parsed.host or ""), str(parsed.database or "")]
    options = [*parsed.query.items(), *service_values(parsed.query, environ)]
    for name, value in options:
        if name not in SECRET_PARAMETERS:
            parts += [name, joined(value)]
    return parts


def _notify_urls(values: dict) -> set[str]:
    return set(re.split(r"[\s,]+", str(values.get("NOTIFY_URLS") or ""))) - {""}


def _holds(value: str, passwords: set, keys: set, roles: set, shortest: int = LONG_SECRET):
    """Whether ``value`` holds a secret (in any case, decoded, normalised) or is a role.

    Passwords of ``shortest`` characters or more, keys and URLs of :data:`LONG_SECRET`.
    """
    forms = {comparable(value), comparable(unquote(value))}
    secrets = {p for p in passwords if len(p) >= shortest}
    secrets |= {key for key in keys if len(key) >= LONG_SECRET}
    found = any(comparable(secret) in form for secret in secrets for form in forms)
    return found or value.strip() in roles


def _check_no_secret_shown(values: dict, storage: dict, environ: Mapping) -> None:
    """ConfigError naming the first setting that holds another setting's secret.

    python-dotenv expands ``${DB_URL}`` (and the environment's ``${PGPASSWORD}``), and a value
    pasted on the wrong line does the same: the messages and paths that show such a setting
    would show the secret (see :func:`_secrets`), or the role's name as its whole value.
    ``NOTIFY_URLS`` are checked too (they go whole to their services), against the others,
    and ``DB_URL``'s database, host and port (which messages show) against the keys.
    """
    passwords, keys, roles = _secrets(values, storage, environ)
    url = values.get("DB_URL")
    others = keys - {url.strip()} if isinstance(url, str) else keys
    # DB_URL is a secret, but its database, host and port are shown, and libpq repeats its
    # options' names and values when it refuses them: no other key may be there.
    if any(_holds(part, set(), others, set()) for part in _shown_parts(url, environ)):
        raise ConfigError(
            "DB_URL holds a secret of another setting (a key) where messages show it: check "
            "the .env, where ${NAME} takes another setting's value",
            field="DB_URL",
        )
    for key in SETTING_KEYS:
        value = values.get(key)
        if (key in SECRET_KEYS and key != "NOTIFY_URLS") or not isinstance(value, str):
            continue
        # A notification URL goes whole to its service: it must hold no other secret.
        others = keys - _notify_urls(values) if key == "NOTIFY_URLS" else keys
        if _holds(value, passwords, others, roles):
            raise ConfigError(
                f"{key} holds a secret of another setting (a password or key): check the "
                ".env, where ${NAME} takes another setting's value",
                field=key,
            )


ENDPOINT_KEY_LENGTH = (16, 512)


def _endpoint_key(value: str | None) -> str | None:
    """Return ``ENDPOINT_KEY``, or None if unset; ConfigError if it is too weak to guard data."""
    if not value:
        return None
    shortest, longest = ENDPOINT_KEY_LENGTH
    if not shortest <= len(value) <= longest or not value.isascii() or not value.isprintable():
        raise ConfigError(
            f"ENDPOINT_KEY must be {shortest} to {longest} printable ASCII characters; make "
            "one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
            field="ENDPOINT_KEY",
        )
    return value


def _publish_url(value: str | None) -> str | None:
    return check_url(value, "PUBLISH_URL") if value and value.strip() else None


def _link_url(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # "Invalid IPv6 URL": a [ or ] out of place
        parts = urlsplit("")
    bad = len(text) > 2_000 or visible(text) != text or "@" in parts.netloc
    if (
        bad
        or parts.scheme not in ("https", "http")
        or not parts.netloc
        or "?" in text
        or "#" in text
    ):
        raise ConfigError(
            "PUBLISH_LINK_URL must be the http(s):// address where readers open the published "
            "folder, without credentials, a query or a fragment (a signed link's signature is "
            "a secret)",
            field="PUBLISH_LINK_URL",
        )
    return text


MAX_SECONDS = 86_400
UNITS = {int: "a whole number of seconds from 1", float: "a number of seconds above 0, up"}


def _positive_number(values: dict, key: str, default, kind):
    raw = values.get(key)
    if raw in (None, ""):
        return default
    number = coerce.decimal(str(raw))
    if number is None or (kind is int and "." in str(raw)):
        number = -1
    number = kind(number)
    # NaN and infinity are floats, but no timeout: up to a day is allowed.
    if not (0 < number <= MAX_SECONDS):
        raise ConfigError(
            f"{key} must be {UNITS[kind]} to {MAX_SECONDS:,}, got {str(raw)[:40]!r}",
            field=key,
        )
    return number
