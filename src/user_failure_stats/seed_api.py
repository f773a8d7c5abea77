"""The seed's API over per-call rows (``analyze_failure_data``), kept for code written for it.

It puts the layers together as the seed did: counting (``analysis``), the CSV (``outputs``)
and the figure (``plots``). New code uses those modules directly.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from user_failure_stats.analysis import counts_from_calls, failure_rates, summary_statistics
from user_failure_stats.outputs import write_csv
from user_failure_stats.plots import distribution_figure


class FailureAnalyzer:
    """The seed's analyzer over per-call rows, kept for code written against it.

    New code should use :func:`failure_rates` on the database's per-user counts instead.
    """

    def __init__(self, data: pd.DataFrame, output_dir: str | Path = "reports"):
        self.data = data
        self.output_dir = Path(output_dir)
        self._rates: pd.DataFrame | None = None

    def calculate_failure_rates(self) -> pd.DataFrame:
        """Return the per-user table (see :func:`failure_rates`)."""
        if self._rates is None:
            self._rates = failure_rates(counts_from_calls(self.data))
        return self._rates

    def get_summary_statistics(self) -> dict:
        """Return the summary statistics (see :func:`summary_statistics`)."""
        return summary_statistics(self.calculate_failure_rates()).as_dict()

    def export_to_csv(self, filename: str | None = None) -> Path:
        """Write the per-user table to ``output_dir`` and return its path.

        The default name is ``user_failure_stats_YYYYMMDD_HHMMSS.csv``.
        """
        name = filename or f"user_failure_stats_{datetime.now():%Y%m%d_%H%M%S}.csv"
        return write_csv(self.calculate_failure_rates(), self.output_dir / name)

    def create_interactive_bar_plot(self):
        """Return the failure-rate distribution as a plotly ``Figure``, as the seed did."""
        return distribution_figure(self.calculate_failure_rates())


def analyze_failure_data(data: pd.DataFrame, output_dir: str | Path = "reports") -> FailureAnalyzer:
    """Return a :class:`FailureAnalyzer` over per-call rows, as the seed did."""
    return FailureAnalyzer(data, output_dir)
