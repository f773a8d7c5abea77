"""A run's summary: what it found, written as JSON beside its report, read back through a schema.

The console, index, retention and publishing read it, as untrusted text: :data:`SCHEMA` bounds
every size, type and number, and the files it names must be its own stamp's.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from user_failure_stats.formats import plain
from user_failure_stats.names import STAMP, csv_name, html_name, stamp_key
from user_failure_stats.stats import Statistics
from user_failure_stats.text import bounded

if TYPE_CHECKING:
    import pandas as pd

    from user_failure_stats.params import Parameters
    from user_failure_stats.pipeline import ReportData

MAX_BYTES = 1_000_000
NAME_LIMIT = 200  # a user name in the summary (the CSV keeps it whole)
# The columns of the flagged users that the console summary and the notification show ...
FLAGGED_FIELDS = (
    "rank",
    "user_name",
    "failed_sessions",
    "total_sessions",
    "failure_rate_percent",
    "failure_rate_ci_low",
    "failure_rate_ci_high",
    "q_value",
    "note",
)
# ... and of the users who got worse.
WORSENED_FIELDS = (
    *FLAGGED_FIELDS,
    "previous_failed_sessions",
    "previous_total_sessions",
    "previous_failure_rate",
    "change_points",
)

_TEXT = {"type": "string", "maxLength": 20_000}  # shown bounded
_COUNT = {"type": ["integer", "null"], "minimum": 0, "maximum": 10**15}
_STATISTICS = {
    "type": "object",
    "maxProperties": 100,
    "patternProperties": {"(rate|^fdr)$": {"type": ["number", "null"], "minimum": 0, "maximum": 1}},
    "additionalProperties": _COUNT,
}
_CELL = {  # the length bounds text, the range numbers
    "type": ["string", "number", "null", "boolean"],
    "maxLength": 1000,
    "minimum": -(10**15),
    "maximum": 10**15,
}
_ROW = {"type": "object", "maxProperties": 50, "additionalProperties": _CELL}
_ROWS = {"type": "array", "maxItems": 1000, "items": _ROW}
SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "user-failure-stats run summary",
    "type": "object",
    "required": ["stamp", "title", "generated", "window", "parameters", "summary", "previous"],
    "properties": {
        "stamp": {"type": "string", "pattern": f"^{STAMP.pattern}$"},
        "title": _TEXT,
        "generated": _TEXT,
        "generated_at": {"type": ["string", "null"], "maxLength": 40},
        "window": {
            "type": "object",
            "required": ["start", "end", "timezone"],
            "properties": {"start": _TEXT, "end": _TEXT, "timezone": _TEXT},
        },
        "parameters": {"type": "object", "maxProperties": 100},
        "summary": _STATISTICS | {"required": ["total_sessions", "overall_failure_rate"]},
        "previous": _STATISTICS,
        "files": {"type": "object", "required": ["html", "csv"]},
        "notes": {"type": "array", "maxItems": 50, "items": {"type": "string", "maxLength": 2000}},
        "flagged": _ROWS,
        "worsened": _ROWS,
    },
}


@dataclass(frozen=True)
class RunSummary:
    """What a run found, written as JSON beside its report (``.<html name>.json``).

    Attributes:
        generated: When the report was generated, as the report shows it.
        window: See ``Window.as_dict``.
        previous: The same statistics for the previous window of the same length.
        files: ``{"html": ..., "csv": ...}``.
        notes: What the reader must know about the window (a bound in a repeated hour).
        flagged: The first ``top_n`` flagged users, most significant first (see
            :data:`FLAGGED_FIELDS`; names cut to :data:`NAME_LIMIT` characters).
        worsened: The first ``top_n`` users who got worse, largest change first.
        generated_at: When generated, ISO 8601 in UTC; None from older versions.
    """

    stamp: str
    title: str
    generated: str
    window: dict
    parameters: dict
    summary: Statistics
    previous: Statistics
    files: dict
    notes: tuple[str, ...] = ()
    flagged: tuple[dict, ...] = ()
    worsened: tuple[dict, ...] = ()
    generated_at: str | None = None

    @classmethod
    def of(
        cls,
        stamp: str,
        params: Parameters,
        data: ReportData,
        generated: str,
        generated_at: datetime | None = None,
    ) -> RunSummary:
        """Return the summary of a report's ``data``, generated at ``generated_at`` (now)."""
        return cls(
            stamp=stamp,
            title=params.title,
            generated=generated,
            generated_at=utc_text(generated_at or datetime.now(UTC)),
            window=data.window.as_dict(),
            parameters=params.as_notebook_parameters(),
            summary=data.summary,
            previous=data.previous,
            files={"html": html_name(stamp), "csv": csv_name(stamp)},
            notes=tuple(data.notes),
            flagged=_rows(data.flagged, params.top_n, FLAGGED_FIELDS),
            worsened=_rows(data.worsened, params.top_n, WORSENED_FIELDS),
        )

    def to_json(self) -> str:
        """Return the summary as JSON (NaN as null)."""
        record = asdict(self)
        for key in ("summary", "previous"):
            record[key] = {k: plain(v) for k, v in getattr(self, key).as_dict().items()}
        return json.dumps(record, indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunSummary:
        """Read :meth:`to_json`'s text through :data:`SCHEMA`; ValueError names what is wrong."""
        from fastjsonschema import JsonSchemaValueException

        if len(text) > MAX_BYTES:
            raise ValueError("not a run summary: too large")
        try:  # as written: UTF-8 (not UTF-16), no NaN, no lone surrogate ("\ud800")
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            record = json.loads(text, parse_constant=_no_constant)
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except (ValueError, RecursionError):
            raise ValueError("not a run summary: not JSON in UTF-8") from None
        try:
            _validator()(record)
        except JsonSchemaValueException as exc:
            where = str(exc.name).removeprefix("data").lstrip(".")[:60] or "top"
            raise ValueError(f"not a run summary: {where}: {exc.rule} check failed") from None
        values = {f.name: record.get(f.name, f.default) for f in fields(cls)}
        values |= {k: tuple(values[k]) for k in ("notes", "flagged", "worsened")}
        values |= {k: Statistics.from_dict(values[k]) for k in ("summary", "previous")}
        summary = cls(**values)
        if summary.files != {"html": html_name(summary.stamp), "csv": csv_name(summary.stamp)}:
            raise ValueError("not a run summary: files are not this run's")
        try:
            summary.generated_instant()
        except (ValueError, OverflowError):
            raise ValueError("not a run summary: generated_at is not a time") from None
        return summary

    def generated_instant(self) -> datetime:
        """Return the instant the report was generated, in UTC.

        From ``generated_at``; in older summaries, from ``generated`` in the report's zone (see
        :func:`_instant_of_text`); failing that, from the stamp, on this host's clock (as made).
        ValueError if ``generated_at`` is not an ISO 8601 time with an offset.
        """
        if self.generated_at is not None:
            moment = datetime.fromisoformat(self.generated_at)
            if moment.tzinfo is None:
                raise ValueError("generated_at has no offset")
            return moment.astimezone(UTC)
        moment = _instant_of_text(self.generated, self.window.get("timezone"))
        return moment or datetime.strptime(self.stamp[:15], "%Y%m%d_%H%M%S").astimezone(UTC)

    def newest_key(self) -> tuple[datetime, str, int]:
        """Sort key: when generated, then the stamp (the later stamp of one second last)."""
        return (self.generated_instant(), *stamp_key(self.stamp))


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


@functools.cache
def _validator():
    """:data:`SCHEMA` compiled once (fastjsonschema: a 600 KB summary in milliseconds)."""
    import fastjsonschema

    return fastjsonschema.compile(SCHEMA)


GENERATED_TEXT = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ([A-Za-z0-9+-]{1,10})")


def _instant_of_text(text: str, timezone) -> datetime | None:
    """Read ``2025-05-23 10:00:00 IST`` (``sections.generated_text``) in ``timezone``, or None.

    The abbreviation must be the zone's at that wall time (``IST`` is also Israel's and
    Ireland's: the zone says which); ``UTC`` and ``GMT`` need no zone.
    """
    from zoneinfo import ZoneInfo

    match = GENERATED_TEXT.fullmatch(text.strip())
    if match is None:
        return None
    try:
        wall = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
        if match.group(2) in ("UTC", "GMT"):
            return wall.replace(tzinfo=UTC)
        zone = ZoneInfo(str(timezone))
        for fold in (0, 1):
            local = wall.replace(tzinfo=zone, fold=fold)
            if local.tzname() == match.group(2):
                return local.astimezone(UTC)
    except (ValueError, OverflowError, OSError, LookupError):  # no such date, or zone
        return None
    return None


def _rows(part: pd.DataFrame, limit: int, columns: tuple[str, ...]) -> tuple[dict, ...]:
    """Return the first ``limit`` rows of ``part`` as plain dicts of ``columns``, names cut."""
    rows = []
    for row in part.head(limit).to_dict("records"):
        cells = {k: plain(v) for k, v in row.items() if k in columns}
        if isinstance(cells.get("user_name"), str):
            cells["user_name"] = bounded(cells["user_name"], NAME_LIMIT)
        rows.append(cells)
    return tuple(rows)


def utc_now() -> datetime:
    """Return the current instant in UTC, to the second: when a report is generated."""
    return datetime.now(UTC).replace(microsecond=0)


def utc_text(moment: datetime) -> str:
    """Return an aware ``moment`` as ISO 8601 in UTC, to the second: ``...T04:30:00+00:00``."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()
