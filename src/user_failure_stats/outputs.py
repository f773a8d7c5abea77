"""What the notebook writes: the per-user CSV and the run's summary, each atomically."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from user_failure_stats import coerce, store
from user_failure_stats.errors import ConfigError
from user_failure_stats.files import atomic_write
from user_failure_stats.names import check_stamp, csv_name, html_name, summary_name
from user_failure_stats.params import Parameters
from user_failure_stats.summary import RunSummary
from user_failure_stats.text import FORMULA_START, visible

if TYPE_CHECKING:
    import pandas as pd

    from user_failure_stats.pipeline import ReportData

# RFC 4180: CRLF between rows, so a field holding a bare CR or LF is quoted and read back whole.
CSV_OPTIONS = {"index": False, "lineterminator": "\r\n"}


def csv_safe(rates: pd.DataFrame) -> pd.DataFrame:
    """Return the table with every text cell safe for spreadsheets (see ``text.csv_cell``).

    Texts starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (after spaces
    or line breaks too) get a leading ``'``.
    """
    safe = rates.copy(deep=False)
    for column in safe.columns:
        values = safe[column]
        if values.dtype.kind not in "OSU" and str(values.dtype) != "string":
            continue  # numbers, booleans and dates are never formulas
        try:  # vectorised: which cells are text starting like a formula
            risky = values.str.match(FORMULA_START.pattern, na=False).astype(bool)
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

    Rows end in CRLF (RFC 4180), so every name reads back as written; see :func:`csv_safe`.
    """
    safe = csv_safe(rates)
    return atomic_write(Path(path), lambda tmp: safe.to_csv(tmp, encoding="utf-8", **CSV_OPTIONS))


def export_csv(rates: pd.DataFrame, output_dir: Path | str, stamp: str) -> Path:
    """Write ``user_failure_stats_<stamp>.csv`` into ``output_dir`` and return its path."""
    return write_csv(rates, Path(output_dir) / csv_name(stamp))


def export_summary(
    output_dir: Path | str,
    stamp: str,
    params: Parameters,
    data: ReportData,
    generated: str,
    generated_at: datetime | None = None,
) -> Path:
    """Write the run's summary beside the CSV (``generated_at``: when ``generated`` shows)."""
    text = RunSummary.of(stamp, params, data, generated, generated_at).to_json()
    path = Path(output_dir) / summary_name(stamp)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def export_report(
    export: bool,
    data: ReportData,
    output_dir: Path | str,
    stamp: str,
    params: Parameters,
    generated: str,
    generated_at: datetime | None = None,
) -> Path | None:
    """Write the CSV and the run's summary if ``export``; return the CSV's path, or None.

    A notebook explored in JupyterLab leaves ``export`` False and writes nothing. The folder
    is made if missing; ConfigError if it cannot be, if ``stamp`` is no stamp, or if it is
    taken (a report of that stamp is in the folder, or a run holds its lock).
    """
    if not coerce.yes_no(export, "export"):
        return None
    stamp = check_stamp(stamp)
    if not isinstance(output_dir, str | os.PathLike):
        raise ConfigError(
            f"output_dir must be a folder's path, got {visible(str(output_dir)[:40])}",
            field="output_dir",
        )
    output_dir = store.prepare(output_dir)
    # A stamp given by hand (papermill -r stamp ...) never replaces another report's files.
    taken = (html_name(stamp), csv_name(stamp), summary_name(stamp), store.stamp_lock_name(stamp))
    if any(os.path.lexists(output_dir / name) for name in taken):
        raise ConfigError(
            f"stamp {stamp} is taken in {output_dir}: a report of that stamp is there, or a run "
            "is writing it; leave stamp empty (now) or give another",
            field="stamp",
        )
    path = export_csv(data.rates, output_dir, stamp)
    export_summary(output_dir, stamp, params, data, generated, generated_at)
    return path
