"""Settings from the environment and ``.env``, report parameters, and the time window.

Settings (the database URL and other secrets) come only from the environment or ``.env``.
Parameters (the window and report options) come from YAML parameter files, flags or the
notebook's ``parameters`` cell, and never hold secrets.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from user_failure_stats.errors import ConfigError
from user_failure_stats.text import visible
from user_failure_stats.windows import RELATIVE_WINDOWS, real_instant, relative_bounds

DEFAULT_TITLE = "User failure rates"
DEFAULT_TOP_N = 10
DEFAULT_MIN_SESSIONS = 10
DEFAULT_OUTPUT_DIR = "reports"
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 120.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10


def _project_root() -> Path:
    # The checkout this package is installed from (editable install), else the working
    # directory: a relative OUTPUT_DIR or parameter file is found there.
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


PROJECT_ROOT = _project_root()
DEFAULT_PARAMETERS_FILE = PROJECT_ROOT / "parameters" / "default.yaml"

SETTING_KEYS = (
    "DB_URL",
    "DB_TIMEZONE",
    "OUTPUT_DIR",
    "STATEMENT_TIMEOUT_SECONDS",
    "CONNECT_TIMEOUT_SECONDS",
    "START_DATE",
    "END_DATE",
    "REPORT_TIMEZONE",
    "DEFAULT_WINDOW",
)


@dataclass(frozen=True)
class Settings:
    """Where the data is and how to reach it; read from the environment and ``.env``.

    Attributes:
        db_url: SQLAlchemy URL of the PostgreSQL database (a secret: never print it).
        db_timezone: IANA time zone of the naive ``created_on`` values.
        output_dir: Directory that receives reports and CSVs.
        statement_timeout_seconds: Server-side limit for any one query.
        connect_timeout_seconds: Limit for opening a connection.
        start_date: Fallback window start (the seed's ``START_DATE``), or None.
        end_date: Fallback window end (the seed's ``END_DATE``), or None.
        report_timezone: The HTTP endpoint's time zone when a request names none.
        default_window: The HTTP endpoint's window when a request gives none (and no
            ``START_DATE``/``END_DATE`` is set).
        env_file: The ``.env`` file the settings were read from, or None (the environment
            only).
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
        """Return these settings as environment variables, for a child process (the kernel).

        The child reads them and nothing else: :data:`FROM_ENVIRONMENT` tells
        :func:`load_settings` to read no ``.env`` file there.
        """
        values = {
            "DB_URL": self.db_url,
            "DB_TIMEZONE": self.db_timezone,
            "OUTPUT_DIR": str(self.output_dir),
            "STATEMENT_TIMEOUT_SECONDS": str(self.statement_timeout_seconds),
            "CONNECT_TIMEOUT_SECONDS": str(self.connect_timeout_seconds),
            "START_DATE": self.start_date,
            "END_DATE": self.end_date,
            "REPORT_TIMEZONE": self.report_timezone,
            "DEFAULT_WINDOW": self.default_window,
        }
        return {k: v for k, v in values.items() if v is not None} | {FROM_ENVIRONMENT: "1"}

    def describe_source(self) -> str:
        """Say where the settings came from, for ``check``."""
        if self.env_file is None:
            return "settings from the environment (no .env file)"
        return f"settings from {self.env_file} and the environment"


# Set in a child's environment by the process that resolved the settings (see as_environment).
FROM_ENVIRONMENT = "USER_FAILURE_STATS_SETTINGS_FROM_ENVIRONMENT"


def find_env_file() -> Path | None:
    """Return the project's ``.env``, or None.

    That is the ``.env`` beside ``pyproject.toml`` (without a checkout: in the working
    directory). No other folder is searched, so the tool reads the same settings wherever it
    is started from.
    """
    candidate = PROJECT_ROOT / ".env"
    return candidate if candidate.is_file() else None


def load_settings(env_file: Path | str | None = None, environ: dict | None = None) -> Settings:
    """Read the settings: environment variables override the values in ``.env``.

    Args:
        env_file: The ``.env`` file to read; by default the project's (see
            :func:`find_env_file`). None is read when the environment says the settings were
            resolved already (:data:`FROM_ENVIRONMENT`: the report's kernel).
        environ: The environment to read (default: ``os.environ``).

    Returns:
        The validated settings. A relative ``OUTPUT_DIR`` is taken relative to the folder
        that holds ``.env``, else to the project's checkout.

    Raises:
        ConfigError: A value is malformed (the message names the key).
    """
    from dotenv import dotenv_values

    environ = os.environ if environ is None else environ
    if env_file:
        path = Path(env_file)
    elif environ.get(FROM_ENVIRONMENT):
        path = None
    else:
        path = find_env_file()
    if env_file and (not path.exists() or path.is_dir()):  # a pipe (<(...)) is fine
        raise ConfigError(f"env file {path} does not exist")
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc.__class__.__name__}") from None
    values.update({k: environ[k] for k in SETTING_KEYS if environ.get(k) not in (None, "")})

    base = path.parent.absolute() if path is not None else PROJECT_ROOT
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
        default_window=_known_window(values.get("DEFAULT_WINDOW") or "yesterday", "DEFAULT_WINDOW"),
        env_file=path.absolute() if path is not None else None,
    )


def _known_window(name: str, field: str) -> str:
    if name not in RELATIVE_WINDOWS:
        raise ConfigError(
            f"{field}: unknown window {name!r} (known: {', '.join(RELATIVE_WINDOWS)})",
            field=field,
        )
    return name


MAX_SECONDS = 86_400


def _positive_number(values: dict, key: str, default, kind):
    raw = values.get(key)
    if raw in (None, ""):
        return default
    try:
        number = kind(str(raw).strip())
    except ValueError:
        number = -1
    # NaN and infinity are floats, but no timeout: up to a day is allowed.
    if not (0 < number <= MAX_SECONDS):
        raise ConfigError(
            f"{key} must be a number of seconds from 0 to {MAX_SECONDS:,}, got {str(raw)[:40]!r}",
            field=key,
        )
    return number


def parse_db_url(url):
    """Return ``url`` parsed by ``sqlalchemy.make_url``, or None where it is not a URL.

    ``url`` is a string or an SQLAlchemy ``URL``. Parsing never echoes the URL.
    """
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError, TypeError, AttributeError):
        return None


def _ambiguous(url) -> bool:
    """Whether an unencoded "@" may have moved part of the password elsewhere.

    Only one "@" may stand unencoded in a URL, the one before the host: with more, part of
    the password can become the host, the database name or the query.
    """
    return isinstance(url, str) and url.count("@") > 1


def check_db_url(url: str) -> None:
    """Raise ConfigError unless ``url`` is a usable PostgreSQL URL (never echoing it).

    An ``@`` in the user name or password must be percent-encoded (``%40``): unencoded,
    part of the password would be taken for the host or the database name.
    """
    parsed = parse_db_url(url)
    if parsed is None:
        raise ConfigError(
            "DB_URL is not a valid database URL (expected postgresql://user:password@host/db; "
            "percent-encode special characters in the password, '@' as %40)",
            field="DB_URL",
        )
    if _ambiguous(url):
        raise ConfigError(
            "DB_URL is ambiguous: it has more than one '@'; percent-encode '@' in the user "
            "name, password or database name as %40",
            field="DB_URL",
        )
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigError(
            f"DB_URL must point to PostgreSQL (postgresql://...), not {parsed.get_backend_name()}",
            field="DB_URL",
        )


def describe_database(url) -> str:
    """Return ``host:port/database`` for messages: never the user name or password.

    ``url`` is a string or an SQLAlchemy ``URL``. Nothing left of the last ``@`` before the
    host is shown, whatever the URL's shape. The result is raw text from the URL: escape it
    for where it is shown (``text`` module).
    """
    if not url:
        return "(not configured)"
    if _ambiguous(url):
        # Only what follows the last "@" is described, as a URL of its own.
        scheme, _, rest = url.partition("://")
        url = f"{scheme}://{rest.rsplit('@', 1)[-1]}"
    parsed = parse_db_url(url)
    if parsed is None:  # a malformed URL must not be echoed
        return "(unparsable DB_URL)"
    host = parsed.host or ("local socket" if parsed.query.get("host") else "localhost")
    port = f":{parsed.port}" if parsed.port else ""
    return f"{host}{port}/{parsed.database or ''}"


def check_timezone(name: str, field: str = "timezone") -> ZoneInfo:
    """Return the ZoneInfo for an IANA name, or raise ConfigError naming ``field``."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f"{field} must be an IANA time zone name such as Asia/Kolkata", field=field
        )
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"{field}: unknown time zone {name!r} (use an IANA name such as Asia/Kolkata)",
            field=field,
        ) from None


@dataclass(frozen=True)
class Parameters:
    """The report's parameters: the window and the report options.

    Attributes:
        start: Window start (inclusive): a date, a datetime, or an ISO string.
        end: Window end (exclusive).
        timezone: IANA time zone of ``start``/``end`` and of the report.
        top_n: Number of users in the top table.
        title: The report's heading.
        min_sessions: Users with fewer sessions are "too few to judge" and not ranked.
        window: A relative window (``yesterday``, ``previous_week``...) instead of
            ``start``/``end``; resolved when the run starts.
        fail_above: Alert (a distinct exit code) when the overall failure rate is above
            this rate, 0 to 1; None for no alert.
        fail_empty: Exit with a distinct code when the window has no sessions (a dead feed).
    """

    start: Any = None
    end: Any = None
    timezone: str = "UTC"
    top_n: int = DEFAULT_TOP_N
    title: str = DEFAULT_TITLE
    min_sessions: int = DEFAULT_MIN_SESSIONS
    window: str | None = None
    fail_above: float | None = None
    fail_empty: bool = False

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Return the parameter names a file or the notebook may set."""
        return tuple(f.name for f in fields(cls))

    def updated(self, values: dict) -> Parameters:
        """Return a copy with the non-None ``values`` applied, validated."""
        unknown = sorted(set(values) - set(self.names()))
        if unknown:
            raise ConfigError(
                f"unknown parameter {unknown[0]!r} (known: {', '.join(self.names())})",
                field=unknown[0],
            )
        changes = {k: v for k, v in values.items() if v is not None}
        return replace(self, **changes).validated()

    def validated(self) -> Parameters:
        """Check the option values; raise ConfigError naming the first bad one."""
        timezone = check_timezone(self.timezone, "timezone").key
        top_n = _whole_number(self.top_n, "top_n", 1)
        min_sessions = _whole_number(self.min_sessions, "min_sessions", 1)
        title = _title(self.title)
        window = str(self.window).strip() if self.window not in (None, "") else None
        if window is not None:
            _known_window(window, "window")
        return replace(
            self,
            timezone=timezone,
            top_n=top_n,
            min_sessions=min_sessions,
            title=title or DEFAULT_TITLE,
            window=window,
            fail_above=parse_rate(self.fail_above, "fail_above"),
            fail_empty=_yes_no(self.fail_empty, "fail_empty"),
        )

    def as_notebook_parameters(self) -> dict:
        """Return the notebook's values as plain strings and numbers, ready for papermill.

        ``window``, ``fail_above`` and ``fail_empty`` are for the runner: it resolves the
        window into ``start``/``end`` before the notebook runs, and raises the alerts after.
        """
        return {
            "start": _plain(self.start),
            "end": _plain(self.end),
            "timezone": self.timezone,
            "top_n": self.top_n,
            "title": self.title,
            "min_sessions": self.min_sessions,
        }


def _yes_no(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    raise ConfigError(f"{field} must be true or false, got {str(value)[:40]!r}", field=field)


def parse_rate(value, field: str) -> float | None:
    """Return a rate in [0, 1] from ``0.25``, ``"0.25"`` or ``"25%"``; None stays None.

    Raises:
        ConfigError: The value is not a rate between 0 and 1 (or 0% and 100%).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        rate = float("nan")
    if isinstance(value, bool) or not 0 <= rate <= 1:
        raise ConfigError(
            f"{field} must be a rate from 0 to 1 (or 0% to 100%), got {value!r}", field=field
        )
    return rate


TITLE_LIMIT = 200


def _title(value) -> str:
    """Return the title, stripped; refuse one that is not one line of text of a sane length."""
    title = str(value).strip() if value is not None else ""
    if len(title) > TITLE_LIMIT or visible(title) != title:
        raise ConfigError(
            f"title must be one line of at most {TITLE_LIMIT} characters, without control "
            "characters",
            field="title",
        )
    return title


MAX_WHOLE_NUMBER = 1_000_000


def _whole_number(value, field: str, minimum: int) -> int:
    # ASCII digits only: "²".isdigit() is True, and int() of 5,000 digits raises.
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,7}\s*", value):
        value = int(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not minimum <= value <= MAX_WHOLE_NUMBER
    ):
        shown = value if not isinstance(value, str) else value[:40]
        raise ConfigError(
            f"{field} must be a whole number from {minimum} to {MAX_WHOLE_NUMBER:,}, got {shown!r}",
            field=field,
        )
    return value


def _plain(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


MAX_PARAMETER_FILE_BYTES = 64 * 1024


def load_parameters(path: Path | str) -> dict:
    """Read a YAML parameter file into a dict of raw values.

    A parameter file holds a few names and values: one larger than 64 KiB, not UTF-8, with
    YAML aliases (``*name``, which can expand a small file into billions of values) or with
    nested lists and mappings is refused before anything is built from it.

    Raises:
        ConfigError: The file cannot be read, is too large, is not UTF-8 or YAML, is not a
            flat mapping, or names an unknown parameter.
    """
    import yaml

    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or a device would block or never end
            raise ConfigError(f"parameter file {path} is not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_PARAMETER_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read parameter file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_PARAMETER_FILE_BYTES:
        raise ConfigError(
            f"parameter file {path} is larger than {MAX_PARAMETER_FILE_BYTES // 1024} KiB: "
            "it should hold a few names and values"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"parameter file {path} is not UTF-8 text") from None
    try:
        _check_flat_yaml(text, path)
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"parameter file {path} is not valid YAML{where}") from None
    except (ValueError, OverflowError) as exc:  # an unquoted date that does not exist
        raise ConfigError(
            f"parameter file {path} holds a date that does not exist ({exc}); "
            'write dates as "YYYY-MM-DD"'
        ) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"parameter file {path} must hold a mapping of name: value")
    unknown = sorted(set(map(str, values)) - set(Parameters.names()))
    if unknown:
        raise ConfigError(
            f"parameter file {path}: unknown parameter {unknown[0]!r} "
            f"(known: {', '.join(Parameters.names())})"
        )
    if values.get("window") is not None and (
        values.get("start") is not None or values.get("end") is not None
    ):
        raise ConfigError(f"parameter file {path}: give either window or start/end, not both")
    return values


def _check_flat_yaml(text: str, path: Path) -> None:
    """Refuse aliases and nested values by reading the YAML's events, before building it.

    The events are read one at a time and the first nested collection stops the reading, so
    a file of 30,000 nested brackets costs no more than one.
    """
    import yaml

    depth, keys, is_key = 0, set(), True
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if getattr(event, "tag", None) is not None:  # !!binary, !!python/..., !custom
            raise ConfigError(
                f"parameter file {path} uses a YAML tag ({event.tag}): write plain values"
            )
        if depth == 1 and isinstance(event, yaml.ScalarEvent):
            if is_key and event.value in keys:
                raise ConfigError(f"parameter file {path} gives {event.value!r} twice")
            if is_key:
                keys.add(event.value)
            is_key = not is_key
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(
                f"parameter file {path} uses a YAML alias (*name): write each value out"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > 1:
                raise ConfigError(
                    f"parameter file {path}: each parameter takes one value, "
                    "not a list or a mapping"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)``, in the report's zone and in the database's.

    Lengths are real elapsed time, across daylight-saving changes too: a local day of 25
    hours is 25 hours long, and the previous window is the same real length before it.

    Attributes:
        start: Aware start in the report's time zone.
        end: Aware end in the report's time zone.
        db_start: Naive start in the database's time zone (the query's bound).
        db_end: Naive end in the database's time zone (the query's bound, excluded).
        db_timezone: The database's time zone name.
        notes: What the reader must know about the bounds (a bound in a repeated hour of the
            database's zone, see :func:`window_for`).
    """

    start: datetime
    end: datetime
    db_start: datetime
    db_end: datetime
    db_timezone: str
    notes: tuple[str, ...] = ()

    @property
    def timezone(self) -> str:
        """The report's time zone name."""
        return str(self.start.tzinfo)

    @property
    def length(self) -> timedelta:
        """The real time between start and end.

        Aware datetimes of one zone subtract as wall clocks in Python: this goes through UTC.
        """
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)

    @property
    def trend_unit(self) -> str:
        """``"hour"`` for windows of two days or less, else ``"day"``."""
        return "hour" if self.length <= timedelta(days=2) else "day"

    def previous(self) -> Window:
        """Return the window of the same real length just before this one."""
        start = (self.start.astimezone(UTC) - self.length).astimezone(self.start.tzinfo)
        return window_for(start, self.start, self.db_timezone)

    def as_dict(self) -> dict:
        """Return the window as plain JSON data: ISO bounds, zones and length."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
            "db_start": self.db_start.isoformat(),
            "db_end": self.db_end.isoformat(),
            "db_timezone": self.db_timezone,
            "length": self.length_text(),
        }

    def length_text(self) -> str:
        """Return the window's real length in words: ``2 days``, ``1 day``, ``25 hours``."""
        length = self.length
        if length % timedelta(days=1) == timedelta(0):
            days = length // timedelta(days=1)
            return "1 day" if days == 1 else f"{days} days"
        if length % timedelta(hours=1) == timedelta(0):
            hours = length // timedelta(hours=1)
            return "1 hour" if hours == 1 else f"{hours} hours"
        if length < timedelta(minutes=1):
            seconds = round(length / timedelta(seconds=1), 3)
            return "1 second" if seconds == 1 else f"{seconds:g} seconds"
        minutes = round(length / timedelta(minutes=1))
        return "1 minute" if minutes == 1 else f"{minutes} minutes"

    def describe(self) -> str:
        """Return the window in words, with the database bounds it became."""
        return (
            f"{_fmt_local(self.start)} to {_fmt_local(self.end)} {self.timezone} "
            f"(created_on >= {_fmt(self.db_start)} and < {_fmt(self.db_end)} {self.db_timezone})"
        )


def _fmt(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text


def _fmt_local(moment: datetime) -> str:
    # A wall time that occurs twice (a fall-back) is told apart by its zone's abbreviation.
    if repeated_span(moment.replace(tzinfo=None), moment.tzinfo) is not None:
        return f"{_fmt(moment)} {moment.tzname()}"
    return _fmt(moment)


def repeated_span(wall: datetime, zone) -> tuple[datetime, datetime] | None:
    """Return the repeated span ``[first, end)`` of naive wall times that holds ``wall``.

    When clocks fall back, a span of wall times (01:00 to 02:00 in New York) occurs twice;
    None when ``wall`` is not in such a span.
    """
    early = wall.replace(tzinfo=zone, fold=0)
    late = wall.replace(tzinfo=zone, fold=1)
    overlap = early.utcoffset() - late.utcoffset()
    if overlap <= timedelta(0) or _wall(early) != wall or _wall(late) != wall:
        return None  # not repeated (a gap gives a negative overlap or moves the wall time)
    # The span's first wall time is wall - k for the largest k still in the span.
    low, high = timedelta(0), overlap  # wall - low is in the span, wall - high is not
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        probe = wall - middle
        inside = (
            probe.replace(tzinfo=zone, fold=0).utcoffset()
            != probe.replace(tzinfo=zone, fold=1).utcoffset()
        )
        low, high = (middle, high) if inside else (low, middle)
    first = (wall - low).replace(microsecond=0)
    return first, first + overlap


def _wall(moment: datetime) -> datetime:
    return moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None)


def parse_bound(value, zone: ZoneInfo, field: str) -> datetime:
    """Turn a date, datetime or ISO string into an aware datetime in ``zone``.

    A date means midnight; a naive datetime is taken in ``zone``; an explicit offset is kept.

    Raises:
        ConfigError: The value is missing or not a date/datetime (the message names ``field``).
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0))
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if len(text) == 10:
                moment = datetime.combine(date.fromisoformat(text), time(0))
            else:
                moment = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(
                f"{field}: {value!r} is not a date (YYYY-MM-DD) or datetime (YYYY-MM-DD HH:MM:SS)",
                field=field,
            ) from None
    elif value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"{field} is missing: give a date such as 2025-05-21", field=field)
    else:
        raise ConfigError(f"{field}: {value!r} is not a date or datetime", field=field)
    _check_year(moment, field)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def window_for(start: datetime, end: datetime, db_timezone: str) -> Window:
    """Return the Window ``[start, end)`` for aware bounds, with its database bounds.

    ``created_on`` holds naive wall times in ``db_timezone``. When its clocks fall back, the
    wall times of the repeated hour stand for two instants each and the database cannot tell
    them apart: a bound that falls in a repeated hour is widened to cover all of it (the
    start to its first wall time, the end to its last), so those rows are counted rather than
    lost, and the window's notes say so.
    """
    db_zone = ZoneInfo(db_timezone)
    db_start = start.astimezone(db_zone).replace(tzinfo=None)
    db_end = end.astimezone(db_zone).replace(tzinfo=None)
    notes = []
    span = repeated_span(db_start, db_zone)
    if span is not None:
        db_start = span[0]
        notes.append(_repeated_note("start", span, db_timezone))
    span = repeated_span(db_end, db_zone)
    if span is not None:
        db_end = span[1]
        notes.append(_repeated_note("end", span, db_timezone))
    return Window(start, end, db_start, db_end, db_timezone, tuple(notes))


def _repeated_note(bound: str, span: tuple[datetime, datetime], db_timezone: str) -> str:
    return (
        f"the window's {bound} falls in {_fmt(span[0])} to {_fmt(span[1])}, wall times that "
        f"occur twice in DB_TIMEZONE {db_timezone} (clocks fall back): created_on cannot tell "
        "them apart, so the database bounds cover all of them"
    )


EARLIEST_YEAR, LATEST_YEAR = 1900, 2999


def resolve_window(params: Parameters, db_timezone: str = "UTC", now=None) -> Window:
    """Convert the parameters' window into query bounds in the database's zone.

    The window is ``start``/``end``, or the relative ``window`` resolved at ``now``.
    Example: ``start=2025-05-21``, ``end=2025-05-23`` in ``Asia/Kolkata`` with the database in
    UTC selects ``created_on >= 2025-05-20 18:30:00`` and ``< 2025-05-22 18:30:00``.

    Args:
        params: The parameters.
        db_timezone: The zone of the naive ``created_on`` values.
        now: For a relative window: the moment it is seen from (a datetime, date or ISO
            string, in the report's zone when naive); default the current time.

    Raises:
        ConfigError: A bound is malformed, a zone is unknown, both a window and start/end
            are given, or end is not after start.
    """
    zone = check_timezone(params.timezone, "timezone")
    check_timezone(db_timezone, "DB_TIMEZONE")
    if params.window:
        if params.start not in (None, "") or params.end not in (None, ""):
            raise ConfigError("give either window or start/end, not both", field="window")
        seen_at = datetime.now(zone) if now is None else parse_bound(now, zone, "--now")
        start, end = relative_bounds(params.window, seen_at)
    else:
        start = parse_bound(params.start, zone, "start")
        end = parse_bound(params.end, zone, "end")
    for bound, moment in (("start", start), ("end", end)):
        _check_year(moment, bound)
    if end.astimezone(UTC) <= start.astimezone(UTC):  # instants, not wall clocks
        gaps = "".join(_gap_note(moment) for moment in (start, end))
        raise ConfigError(
            f"end ({_fmt_local(end)}) must be after start ({_fmt_local(start)}){gaps}",
            field="end",
        )
    return window_for(start, end, db_timezone)


def _check_year(moment: datetime, field: str) -> None:
    # Checked on the wall time, before any conversion can overflow (years 1 and 9999).
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ConfigError(
            f"{field} ({moment.replace(tzinfo=None).isoformat(sep=' ')}) is outside the years "
            f"{EARLIEST_YEAR} to {LATEST_YEAR} "
            "that a report can cover",
            field=field,
        )


def _gap_note(moment: datetime) -> str:
    """Explain a wall time that does not exist (clocks sprang forward past it), or ''."""
    real = real_instant(moment)
    if real.replace(tzinfo=None) == moment.replace(tzinfo=None):
        return ""
    return (
        f"; {_fmt(moment)} does not exist in {moment.tzinfo} (clocks spring forward), "
        f"so it is read as {_fmt(real)} {real.tzname()}"
    )


def notebook_setup(
    start,
    end,
    timezone: str,
    top_n,
    title: str,
    min_sessions=DEFAULT_MIN_SESSIONS,
    env_file: str | None = None,
) -> tuple[Settings, Parameters, Window]:
    """Validate the notebook's parameters and read the settings, in one call.

    Returns:
        The settings, the validated parameters and the resolved window.
    """
    settings = load_settings(env_file or None)
    params = Parameters().updated(
        {
            "start": start,
            "end": end,
            "timezone": timezone,
            "top_n": top_n,
            "title": title,
            "min_sessions": min_sessions,
        }
    )
    return settings, params, resolve_window(params, settings.db_timezone)
