"""The files a run writes: their names, atomic writes, the CSV and the run summary.

Everything is written under a temporary name and moved into place when complete.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from user_failure_stats.errors import ConfigError
from user_failure_stats.files import atomic_write
from user_failure_stats.formats import plain
from user_failure_stats.params import Parameters
from user_failure_stats.text import FORMULA_STARTS

if TYPE_CHECKING:
    import pandas as pd

    from user_failure_stats.pipeline import ReportData


CSV_PREFIX = "user_failure_stats_"


HTML_PREFIX = "user_failure_rates_"


# The columns of the flagged users that the console summary and the notification show.
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


def csv_name(stamp: str) -> str:
    """Return the CSV's file name for a run stamp ``YYYYMMDD_HHMMSS``."""
    return f"{CSV_PREFIX}{stamp}.csv"


def html_name(stamp: str) -> str:
    """Return the HTML report's file name for a run stamp."""
    return f"{HTML_PREFIX}{stamp}.html"


def notebook_name(stamp: str) -> str:
    """Return the executed notebook's file name for a run stamp."""
    return f"{HTML_PREFIX}{stamp}.ipynb"


def summary_name(stamp: str) -> str:
    """Return the (hidden) JSON summary's file name for a run stamp; the index reads it."""
    return f".{HTML_PREFIX}{stamp}.json"


# RFC 4180: CRLF between rows, so a field holding a bare CR or LF is quoted and read back whole.
CSV_OPTIONS = {"index": False, "lineterminator": "\r\n"}


def csv_safe(rates: pd.DataFrame) -> pd.DataFrame:
    """Return the table with every text cell safe for spreadsheets (see ``text.csv_cell``).

    Texts starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading
    ``'``; numbers and every other text are unchanged.
    """
    safe = rates.copy(deep=False)
    for column in safe.columns:
        values = safe[column]
        if values.dtype.kind not in "OSU" and str(values.dtype) != "string":
            continue  # numbers, booleans and dates are never formulas
        # Vectorised: which cells are text starting like a formula (missing and numbers: no).
        try:
            risky = values.str.startswith(FORMULA_STARTS, na=False).astype(bool)
        except AttributeError:  # pandas: no text in this column (numbers in an object column)
            continue
        if risky.any():
            fixed = values.astype(object).copy()
            fixed[risky] = "'" + values[risky].astype(str)
            safe[column] = fixed
    return safe


def csv_text(rates: pd.DataFrame) -> str:
    """Return the per-user table as CSV text, as :func:`write_csv` writes it."""
    return csv_safe(rates).to_csv(**CSV_OPTIONS)


def write_csv(rates: pd.DataFrame, path: Path | str) -> Path:
    """Write the per-user table as UTF-8 CSV, atomically, and return the path.

    Rows end in CRLF (RFC 4180) and cells that a spreadsheet could run as a formula start
    with ``'`` (see :func:`csv_safe`); every name reads back as written.
    """
    safe = csv_safe(rates)
    return atomic_write(Path(path), lambda tmp: safe.to_csv(tmp, encoding="utf-8", **CSV_OPTIONS))


def export_csv(rates: pd.DataFrame, output_dir: Path | str, stamp: str) -> Path:
    """Write ``user_failure_stats_<stamp>.csv`` into ``output_dir`` and return its path."""
    return write_csv(rates, Path(output_dir) / csv_name(stamp))


STAMP = re.compile(r"\d{8}_\d{6}(_\d{1,3})?")
WINDOW_FIELDS = ("start", "end", "timezone")
SUMMARY_FIELDS = ("total_sessions", "overall_failure_rate")
MAX_SUMMARY_BYTES = 1_000_000


@dataclass(frozen=True)
class RunSummary:
    """What a run found, written as JSON beside its report (``.<html name>.json``).

    The runner prints it, the reports page lists it; neither loads pandas for it.

    Attributes:
        stamp: The run's file-name stamp.
        title: The report's title.
        generated: When the report was generated, as the report shows it.
        window: The window (see ``Window.as_dict``).
        parameters: The notebook's parameters.
        summary: The summary statistics (see ``analysis.summary_statistics``); NaN for none.
        previous: The same statistics for the previous window of the same length.
        files: The published files' names: ``{"html": ..., "csv": ...}``.
        notes: What the reader must know about the window (a bound in a repeated hour).
        flagged: The first ``top_n`` flagged users, most significant first: one dict per
            row (see :data:`FLAGGED_FIELDS`).
        worsened: The first ``top_n`` users who got worse, largest change first (see
            :data:`WORSENED_FIELDS`).
        generated_at: The instant the report was generated, ISO 8601 in UTC
            (``2025-05-23T04:30:00+00:00``); None in summaries written by older versions,
            which :meth:`generated_instant` reads from ``generated`` instead.
    """

    stamp: str
    title: str
    generated: str
    window: dict
    parameters: dict
    summary: dict
    previous: dict
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
            summary=dict(data.summary),
            previous=dict(data.previous),
            files={"html": html_name(stamp), "csv": csv_name(stamp)},
            notes=tuple(data.notes),
            flagged=_rows(data.flagged, params.top_n, FLAGGED_FIELDS),
            worsened=_rows(data.worsened, params.top_n, WORSENED_FIELDS),
        )

    def to_json(self) -> str:
        """Return the summary as JSON (NaN as null)."""
        record = asdict(self)
        for key in ("summary", "previous"):
            record[key] = {k: plain(v) for k, v in record[key].items()}
        record["notes"] = list(self.notes)
        record["flagged"], record["worsened"] = list(self.flagged), list(self.worsened)
        return json.dumps(record, indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> RunSummary:
        """Read a summary written by :meth:`to_json`, checking every field's type.

        Raises:
            ValueError: The text is not such a summary (a file planted in the output
                directory, say): wrong types, names that are not this run's files.
        """
        try:
            record = json.loads(text)
        except RecursionError:
            raise ValueError("not a run summary: nested too deeply") from None
        try:
            optional = ("notes", "flagged", "worsened", "generated_at")
            values = {f.name: record[f.name] for f in fields(cls) if f.name not in optional}
            for name in ("notes", "flagged", "worsened"):  # older summaries lack them
                values[name] = tuple(record.get(name, ()))
            values["generated_at"] = record.get("generated_at")
            summary = cls(**values)
            summary._check()
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"not a run summary: {exc}") from None
        restore = {k: float("nan") if v is None else v for k, v in summary.summary.items()}
        previous = {k: float("nan") if v is None else v for k, v in summary.previous.items()}
        return replace(summary, summary=restore, previous=previous)

    def _check(self) -> None:
        if not (isinstance(self.stamp, str) and STAMP.fullmatch(self.stamp)):
            raise ValueError("bad stamp")
        if self.files != {"html": html_name(self.stamp), "csv": csv_name(self.stamp)}:
            raise ValueError("files are not this run's")
        texts = [self.title, self.generated] + [self.window.get(k) for k in WINDOW_FIELDS]
        if not all(isinstance(v, str) for v in texts):
            raise ValueError("title, generated and window must be text")
        for part in (self.summary, self.previous):
            if not isinstance(part, dict) or not all(
                v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                for v in part.values()
            ):
                raise ValueError("statistics must be numbers")
        if not all(key in self.summary for key in SUMMARY_FIELDS):
            raise ValueError("statistics are missing")
        if not (isinstance(self.parameters, dict) and all(isinstance(n, str) for n in self.notes)):
            raise ValueError("bad parameters or notes")
        if not all(isinstance(row, dict) for row in (*self.flagged, *self.worsened)):
            raise ValueError("bad flagged or worsened users")
        if self.generated_at is not None and not isinstance(self.generated_at, str):
            raise ValueError("generated_at must be text")
        try:
            self.generated_instant()
        except (ValueError, OverflowError):
            raise ValueError("generated_at or stamp is not a time") from None

    def generated_instant(self) -> datetime:
        """Return the instant the report was generated, in UTC.

        From ``generated_at``; in a summary written before it existed, from ``generated``
        (``2025-05-23 10:00:00 IST``: a wall time in the report's zone, whose abbreviation
        tells the two wall times of a repeated hour apart); failing that, from the stamp,
        read as this host's local clock (which is what made it).

        Raises:
            ValueError: ``generated_at`` is not an ISO 8601 time with an offset, or the
                stamp is not a date and time.
        """
        if self.generated_at is not None:
            moment = datetime.fromisoformat(self.generated_at)
            if moment.tzinfo is None:
                raise ValueError("generated_at has no offset")
            return moment.astimezone(UTC)
        moment = _instant_of_text(self.generated, self.window.get("timezone"))
        if moment is not None:
            return moment
        return datetime.strptime(self.stamp[:15], "%Y%m%d_%H%M%S").astimezone(UTC)

    def write(self, output_dir: Path | str) -> Path:
        """Write the summary into ``output_dir``, atomically; return its path."""
        text = self.to_json()
        path = Path(output_dir) / summary_name(self.stamp)
        return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    @classmethod
    def read(cls, path: Path | str) -> RunSummary:
        """Read a summary file: a regular file of at most 1 MB, never through a link.

        Raises:
            OSError: It cannot be read.
            ValueError: It is not a run summary (or not a regular file, or too large).
        """
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ValueError("not a run summary: not a regular file")
            if info.st_size > MAX_SUMMARY_BYTES:
                raise ValueError("not a run summary: too large")
            data = file.read(MAX_SUMMARY_BYTES + 1)
        return cls.from_json(data.decode("utf-8"))


GENERATED_TEXT = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ([A-Za-z0-9+-]{1,10})")


def _instant_of_text(text: str, timezone) -> datetime | None:
    """Read ``2025-05-23 10:00:00 IST`` (``sections.generated_text``) in ``timezone``, or None.

    The abbreviation must be the zone's at that wall time (``IST`` is also Israel's and
    Ireland's: the zone, not the abbreviation, says which); ``UTC`` and ``GMT`` need none.
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
    """Return the first ``limit`` rows of ``part`` as plain dicts of ``columns``."""
    head = part.head(limit)
    return tuple(
        {k: plain(v) for k, v in row.items() if k in columns} for row in head.to_dict("records")
    )


def utc_now() -> datetime:
    """Return the current instant in UTC, to the second: when a report is generated."""
    return datetime.now(UTC).replace(microsecond=0)


def utc_text(moment: datetime) -> str:
    """Return an aware ``moment`` as ISO 8601 in UTC, to the second: ``...T04:30:00+00:00``."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def export_summary(
    output_dir: Path | str,
    stamp: str,
    params: Parameters,
    data: ReportData,
    generated: str,
    generated_at: datetime | None = None,
) -> Path:
    """Write the run's summary beside the CSV (for the console and the reports page).

    ``generated_at`` is the instant ``generated`` shows (default: now).
    """
    return RunSummary.of(stamp, params, data, generated, generated_at).write(output_dir)


def run_stamp() -> str:
    """Return a file-name timestamp for now: ``YYYYMMDD_HHMMSS`` (local clock)."""
    return f"{datetime.now():%Y%m%d_%H%M%S}"


def prepare_output_dir(output_dir: Path) -> Path:
    """Create the output directory if needed and check that it can be written."""
    output_dir = Path(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create output directory {output_dir}: {exc.strerror or exc}"
        ) from None
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"output directory {output_dir} is not writable")
    return output_dir


def published_names(stamp: str) -> tuple[str, ...]:
    """Return the names of the files a run with ``stamp`` publishes."""
    return (
        csv_name(stamp),
        html_name(stamp),
        notebook_name(stamp),
        summary_name(stamp),
    )
