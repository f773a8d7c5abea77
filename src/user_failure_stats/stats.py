"""A window's summary statistics, typed: what the console, the report and the index show."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

NAN = float("nan")


@dataclass(frozen=True)
class Statistics:
    """A window's summary statistics (see ``analysis.summary_statistics``).

    Rates are fractions, NaN when undefined (no sessions; ``std`` with one user): the pooled
    ``overall_failure_rate`` (failures / sessions), then the ``average``, ``median``, ``max``,
    ``min`` and ``std`` (sample, ddof=1) of the per-user rates. A count of flagged users is
    None (not a 0 read as "nobody") when the table has no flags; ``too_few_users`` only with
    ``min_sessions``; ``fdr`` is the false discovery rate the flags were made at.
    """

    total_users: int = 0
    total_sessions: int = 0
    total_failures: int = 0
    overall_failure_rate: float = NAN
    average_failure_rate: float = NAN
    median_failure_rate: float = NAN
    max_failure_rate: float = NAN
    min_failure_rate: float = NAN
    std_failure_rate: float = NAN
    sessions_without_user_record: int = 0
    tested_users: int | None = None
    flagged_users: int | None = None
    compared_users: int | None = None
    worsened_users: int | None = None
    new_users: int | None = None
    too_few_users: int | None = None
    fdr: float | None = None

    def as_dict(self) -> dict:
        """Return the statistics as a dict, without the counts that are None."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, values: dict) -> Statistics:
        """Return the statistics of a dict such as :meth:`as_dict` gives (None rates: NaN)."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        return cls(**{k: NAN if v is None and k.endswith("_rate") else v for k, v in kept.items()})
