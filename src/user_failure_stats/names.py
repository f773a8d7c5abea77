"""What a run's files are called: one stamp pattern, one name per file.

A stamp is the run's local start time ``YYYYMMDD_HHMMSS``, plus ``_2`` ... ``_999`` if taken.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from user_failure_stats.errors import ConfigError
from user_failure_stats.text import bounded, visible

STAMP = re.compile(r"[0-9]{8}_[0-9]{6}(?:_[0-9]{1,3})?")
CSV_PREFIX = "user_failure_stats_"
HTML_PREFIX = "user_failure_rates_"
SUMMARY_FILE = re.compile(rf"\.{HTML_PREFIX}({STAMP.pattern})\.json")
# How far a run's time may be from its stamp: the host's zone (UTC-12 to UTC+14) and a day.
STAMP_DRIFT = timedelta(days=2)


def new_stamp(now: datetime | None = None) -> str:
    """Return the stamp for ``now`` (default: now, on this host's clock)."""
    return f"{now or datetime.now():%Y%m%d_%H%M%S}"


def stamp_or_now(stamp: str = "") -> str:
    """Return ``stamp`` once checked, or a new one if it is empty.

    A stamp given (the notebook's parameter) must be one (:func:`check_stamp`), a real time,
    and at most :data:`STAMP_DRIFT` from now: the index and ``prune`` read a report only so
    close to its stamp, and would leave another for ever.
    """
    if not stamp:
        return new_stamp()
    check_stamp(stamp)
    try:
        moment = datetime.strptime(stamp[:15], "%Y%m%d_%H%M%S")
    except ValueError:
        raise ConfigError(
            f"stamp {stamp} is no real time: leave it empty for now", field="stamp"
        ) from None
    if abs(moment - datetime.now()) > STAMP_DRIFT:
        raise ConfigError(
            f"stamp {stamp} is more than two days from now, and the index would never list "
            "its report: leave it empty for now",
            field="stamp",
        )
    return stamp


def check_stamp(stamp) -> str:
    """Return ``stamp`` if it is one (``20250521_093000``, ``20250521_093000_2``).

    Raises:
        ConfigError: It is anything else; a file name made from it could point anywhere.
    """
    if not isinstance(stamp, str) or not STAMP.fullmatch(stamp):
        number = "" if isinstance(stamp, str) else " (a number: give it as text, papermill -r)"
        raise ConfigError(
            f"stamp {visible(bounded(str(stamp), 40))!s} is not YYYYMMDD_HHMMSS (optionally "
            f"with _2 to _999){number}: leave it empty for now",
            field="stamp",
        )
    return stamp


def csv_name(stamp: str) -> str:
    """Return the CSV's file name for a run stamp."""
    return f"{CSV_PREFIX}{stamp}.csv"


INDEX_NAME = "index.html"  # the reports index, in the output folder and the target
# Every index the tool has written holds this in its first lines; a page without it is not ours.
INDEX_MARK = b"<title>User failure reports</title>"
INDEX_HEAD_BYTES = 4096


def is_index_page(head: bytes | None) -> bool:
    """Whether ``head``, the first bytes of an ``index.html``, is of an index this tool wrote."""
    return head is not None and INDEX_MARK in head[:INDEX_HEAD_BYTES]


def html_name(stamp: str) -> str:
    """Return the HTML report's file name for a run stamp."""
    return f"{HTML_PREFIX}{stamp}.html"


def notebook_name(stamp: str) -> str:
    """Return the executed notebook's file name for a run stamp."""
    return f"{HTML_PREFIX}{stamp}.ipynb"


def summary_name(stamp: str) -> str:
    """Return the (hidden) JSON summary's file name for a run stamp; the index reads it."""
    return f".{HTML_PREFIX}{stamp}.json"


def published_names(stamp: str) -> tuple[str, ...]:
    """Return the names of the files a run with ``stamp`` publishes, the summary last."""
    return csv_name(stamp), html_name(stamp), notebook_name(stamp), summary_name(stamp)


def is_report_file(name: str) -> bool:
    """Whether ``name`` is the name of a file some run publishes."""
    match = STAMP.search(name)
    return match is not None and name in published_names(match.group(0))


def stamp_key(stamp: str) -> tuple[str, int]:
    """Return a key that sorts stamps in the order taken: ``..._010000``, ``_2``, ``_10``."""
    base, _, suffix = stamp[:15], stamp[15:16], stamp[16:]
    return base, int(suffix) if suffix.isdigit() else 1
