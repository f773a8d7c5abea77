"""Report parameters: the window and the report's options, validated.

They come from parameter files, flags, the notebook's parameters cell or an HTTP request.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from user_failure_stats import coerce
from user_failure_stats.errors import ConfigError
from user_failure_stats.formats import DEFAULT_FDR
from user_failure_stats.targets import check_url
from user_failure_stats.text import bounded
from user_failure_stats.window import (
    Window,
    check_timezone,
    check_year,
    format_local,
    gap_note,
    known_window,
    parse_bound,
    relative_bounds,
    window_for,
)

if TYPE_CHECKING:
    from user_failure_stats.settings import Settings

DEFAULT_TITLE = "User failure rates"
DEFAULT_TOP_N = 10
DEFAULT_MIN_SESSIONS = 10
# Shipped with the package (``parameters/default.yaml`` of the checkout).
DEFAULT_PARAMETERS_FILE = Path(
    str(files("user_failure_stats") / "data" / "parameters" / "default.yaml")
)


@dataclass(frozen=True)
class Policy:
    """What a run does once its report is written: the notebook never sees these.

    Attributes:
        fail_above: Alert when the overall failure rate is above this rate (0 to 1), or None.
        fail_empty: Exit with a distinct code when the window has no sessions (a dead feed).
        publish: The folder URL to publish the report to, or None.
        notify: ``always``, ``alert`` or ``never``; None for ``alert`` when ``NOTIFY_URLS``
            is set.
        keep_days: Remove the reports generated more than this many days ago, or None.
    """

    fail_above: float | None = None
    fail_empty: bool = False
    publish: str | None = None
    notify: str | None = None
    keep_days: int | None = None

    def validated(self) -> Policy:
        """Check the values; raise ConfigError naming the first bad one."""
        return Policy(
            fail_above=coerce.rate(self.fail_above, "fail_above"),
            fail_empty=coerce.yes_no(self.fail_empty, "fail_empty"),
            publish=check_url(self.publish) if self.publish not in (None, "") else None,
            notify=coerce.notify_mode(self.notify),
            keep_days=(
                None
                if self.keep_days in (None, "")
                else coerce.whole_number(self.keep_days, "keep_days", 1)
            ),
        )


POLICY_NAMES = tuple(f.name for f in fields(Policy))


@dataclass(frozen=True)
class Parameters:
    """The report's parameters: the window, the notebook's options and the run's policy.

    Attributes:
        start: Window start (inclusive): a date, a datetime, or an ISO string.
        end: Window end (exclusive).
        timezone: IANA time zone of ``start``/``end`` and of the report.
        min_sessions: Users with fewer sessions are "too few to judge" and not ranked.
        fdr: Of the users flagged (or marked as worse), at most this fraction are expected
            to be chance; above 0 and below 1.
        window: A relative window (``yesterday``...) instead of ``start``/``end``.
        export: Whether the notebook writes the CSV and the run's summary (``run`` needs
            them; the notebook's own default, for exploring, is not to).
    """

    start: Any = None
    end: Any = None
    timezone: str = "UTC"
    top_n: int = DEFAULT_TOP_N
    title: str = DEFAULT_TITLE
    min_sessions: int = DEFAULT_MIN_SESSIONS
    fdr: float = DEFAULT_FDR
    window: str | None = None
    export: bool = True
    policy: Policy = Policy()

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Return the parameter names a file may set (the notebook takes all but the policy's)."""
        return tuple(f.name for f in fields(cls) if f.name != "policy") + POLICY_NAMES

    @property
    def given_title(self):
        """The title a user gave; None for the tool's own, which no secret is looked for in."""
        return None if self.title in (None, "", DEFAULT_TITLE) else self.title

    def updated(self, values: dict) -> Parameters:
        """Return a copy with the non-None ``values`` applied, validated."""
        unknown = sorted(set(values) - set(self.names()))
        if unknown:
            raise ConfigError(
                f"unknown parameter {bounded(str(unknown[0]), 40)!r} "
                f"(known: {', '.join(self.names())})",
                field=unknown[0],
            )
        changes = {k: v for k, v in values.items() if v is not None}
        policy = {k: changes.pop(k) for k in POLICY_NAMES if k in changes}
        return replace(self, policy=replace(self.policy, **policy), **changes).validated()

    def validated(self) -> Parameters:
        """Check the values; raise ConfigError naming the first bad one."""
        timezone = check_timezone(self.timezone, "timezone").key
        top_n = coerce.whole_number(self.top_n, "top_n", 1)
        min_sessions = coerce.whole_number(self.min_sessions, "min_sessions", 1)
        title = coerce.title_text(self.title)
        window = str(self.window).strip() if self.window not in (None, "") else None
        if window is not None:
            known_window(window, "window")
        return replace(
            self,
            timezone=timezone,
            top_n=top_n,
            min_sessions=min_sessions,
            fdr=coerce.fdr_rate(self.fdr),
            title=title or DEFAULT_TITLE,
            window=window,
            export=coerce.yes_no(self.export, "export"),
            policy=self.policy.validated(),
        )

    def as_notebook_parameters(self) -> dict:
        """Return the notebook's values as plain strings and numbers, for papermill.

        The runner resolves ``window`` into ``start``/``end`` and applies the policy itself.
        """
        return {
            "start": _plain(self.start),
            "end": _plain(self.end),
            "timezone": self.timezone,
            "top_n": self.top_n,
            "title": self.title,
            "min_sessions": self.min_sessions,
            "fdr": self.fdr,
            "export": self.export,
        }


def _plain(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


MAX_PARAMETER_FILE_BYTES = 64 * 1024


def load_parameters(path: Path | str) -> dict:
    """Read a YAML parameter file, a flat mapping of names to values, into a dict.

    A file over 64 KiB, not UTF-8, with YAML aliases (``*name``: billions of values from a
    small file), tags or nested values is refused before anything is built from it.

    Raises:
        ConfigError: Naming what is wrong with the file.
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
            f"parameter file {path}: unknown parameter {bounded(unknown[0], 40)!r} "
            f"(known: {', '.join(Parameters.names())})"
        )
    if values.get("window") is not None and (
        values.get("start") is not None or values.get("end") is not None
    ):
        raise ConfigError(f"parameter file {path}: give either window or start/end, not both")
    return values


def _check_flat_yaml(text: str, path: Path) -> None:
    """Refuse tags, aliases, repeated keys and nested values from the YAML's events.

    The first nested collection stops the reading: 30,000 nested brackets cost no more than one.
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


WINDOW_KEYS = ("start", "end", "window")


def choose(
    settings: Settings,
    given: dict,
    file_values: dict | None = None,
    fallback: dict | None = None,
) -> Parameters:
    """Layer the parameters: the one rule the command line and the HTTP endpoint share.

    From lowest to highest: ``REPORT_TIMEZONE`` and ``PUBLISH_URL``;
    ``START_DATE``/``END_DATE``; a parameter file (``file_values``); what the caller gives.
    ``None`` and ``""`` mean "not given". The highest layer that names ``window``, ``start``
    or ``end`` decides whether the window is relative; ``start`` and ``end`` each come from
    the highest layer that gives them. With no window in any layer, ``fallback`` (the CLI's
    ``parameters/default.yaml``, the endpoint's ``DEFAULT_WINDOW``) stands in for the file.

    Raises:
        ConfigError: Naming the first bad parameter, or no window at all.
    """
    given = _present(given)
    if given.get("window") is not None and ("start" in given or "end" in given):
        raise ConfigError("give either window or start/end, not both", field="window")
    dates = _present({"start": settings.start_date, "end": settings.end_date})
    lowest = {"timezone": settings.report_timezone, "publish": settings.publish_url}
    layers = [_present(lowest), dates, _present(file_values or {}), given]
    if not any(key in layer for layer in layers for key in WINDOW_KEYS):
        if fallback is None:
            raise ConfigError(
                "no window given: use a parameter file, start/end or window, or set "
                "START_DATE/END_DATE",
                field="start",
            )
        layers.insert(2, _present(fallback))
    top = next(layer for layer in reversed(layers) if any(key in layer for key in WINDOW_KEYS))
    values = {}
    for layer in layers:
        values |= {k: v for k, v in layer.items() if k not in WINDOW_KEYS}
    if "window" in top:
        values["window"] = top["window"]
    else:
        for key in ("start", "end"):
            values[key] = next(
                (
                    layer[key]
                    for layer in reversed(layers)
                    if key in layer and "window" not in layer
                ),
                None,
            )
    return Parameters().updated(values)


def _present(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None and v != ""}


def resolve_window(params: Parameters, db_timezone: str = "UTC", now=None) -> Window:
    """Convert the parameters' window into query bounds in the database's zone.

    Example: ``start=2025-05-21``, ``end=2025-05-23`` in ``Asia/Kolkata`` with the database in
    UTC selects ``created_on >= 2025-05-20 18:30:00`` and ``< 2025-05-22 18:30:00``. A
    relative ``window`` is seen from ``now`` (naive: in the report's zone; default: now).

    Raises:
        ConfigError: A bound or zone is bad, or end is not after start.
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
        check_year(moment, bound)
    if end.astimezone(UTC) <= start.astimezone(UTC):  # instants, not wall clocks
        gaps = "".join(gap_note(moment) for moment in (start, end))
        raise ConfigError(
            f"end ({format_local(end)}) must be after start ({format_local(start)}){gaps}",
            field="end",
        )
    return window_for(start, end, db_timezone)
