"""The report's pipeline: settings and parameters in, the report's data out."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from user_failure_stats import analysis, database, flags, queries
from user_failure_stats.formats import DEFAULT_FDR
from user_failure_stats.params import DEFAULT_MIN_SESSIONS, Parameters, resolve_window
from user_failure_stats.queries import WindowCounts
from user_failure_stats.settings import Settings, load_settings
from user_failure_stats.window import Window

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy as sa

    from user_failure_stats.stats import Statistics


def setup(
    start,
    end,
    timezone: str,
    top_n,
    title: str,
    min_sessions=DEFAULT_MIN_SESSIONS,
    env_file: str | None = None,
    fdr=DEFAULT_FDR,
    output_dir: str = "",
) -> tuple[Settings, Parameters, Window]:
    """Validate the notebook's parameters and read the settings; resolve the window."""
    settings = load_settings(env_file or None)
    params = Parameters().updated(
        {
            "start": start,
            "end": end,
            "timezone": timezone,
            "top_n": top_n,
            "title": title,
            "min_sessions": min_sessions,
            "fdr": fdr,
        }
    )
    settings.refuse_secrets(title=params.given_title, output_dir=output_dir)  # shown, and a path
    return settings, params, resolve_window(params, settings.db_timezone)


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, computed from one aggregate query.

    ``rates`` is the per-user table compared with the previous window, whose summary
    statistics are ``previous``; ``top`` the top users among those judged, ranked; ``trend``
    sessions and failure rate per day or hour; ``flagged`` every flagged user, most
    significant first; ``worsened`` every user who got worse, largest change first;
    ``database`` where the counts come from, without user or password (``database.describe``).
    """

    window: Window
    counts: WindowCounts
    rates: pd.DataFrame
    summary: Statistics
    previous: Statistics
    top: pd.DataFrame
    trend: pd.DataFrame
    flagged: pd.DataFrame
    worsened: pd.DataFrame
    fdr: float = DEFAULT_FDR
    database: str = ""

    @property
    def notes(self) -> tuple[str, ...]:
        """What the reader must know about the window (a bound in a repeated hour)."""
        return self.counts.notes


def compute(source: Settings | sa.Engine, window: Window, params: Parameters) -> ReportData:
    """Query the database once for ``window`` and compute the report's data (or DatabaseError)."""
    data = from_counts(queries.fetch_window_counts(source, window), window, params)
    url = source.db_url if isinstance(source, Settings) else source.url
    return replace(data, database=database.describe(url))


def from_counts(counts: WindowCounts, window: Window, params: Parameters) -> ReportData:
    """Compute the report's data from what the database returned (see :func:`compute`)."""
    minimum, fdr = params.min_sessions, params.fdr
    rates = analysis.failure_rates(counts.current, minimum, fdr)
    rates = flags.compare_windows(rates, counts.previous, minimum, fdr)
    previous = analysis.user_rates(counts.previous)  # its totals only: no tests
    return ReportData(
        window=window,
        counts=counts,
        rates=rates,
        summary=replace(analysis.summary_statistics(rates, minimum), fdr=fdr),
        previous=analysis.summary_statistics(previous, minimum),
        top=flags.top_users(rates, params.top_n, minimum),
        trend=analysis.trend(counts.trend, window),
        flagged=flags.flagged_users(rates, minimum),
        worsened=flags.worsened_users(rates, minimum),
        fdr=fdr,
    )
