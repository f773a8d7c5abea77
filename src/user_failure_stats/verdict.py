"""What a report's numbers mean for the run: an alert, an empty window, the exit code.

One rule for the command line, the notifications and the endpoint. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from user_failure_stats.errors import EXIT_ALERT, EXIT_DELIVERY, EXIT_EMPTY, EXIT_OK
from user_failure_stats.formats import format_percent, missing

if TYPE_CHECKING:
    from user_failure_stats.stats import Statistics


@dataclass(frozen=True)
class Verdict:
    """The verdict on one report: ``rate`` is None for an empty window, ``fail_above`` if unset."""

    empty: bool
    rate: float | None
    fail_above: float | None = None

    @property
    def above(self) -> bool:
        """True when the overall failure rate is above ``fail_above``."""
        return self.fail_above is not None and self.rate is not None and self.rate > self.fail_above

    @property
    def alert(self) -> str | None:
        """Why the run alerts its readers (``no sessions in the window``...), or None."""
        if self.empty:
            return "no sessions in the window"
        if self.above:
            return (
                f"overall failure rate {format_percent(self.rate)} is above "
                f"{format_percent(self.fail_above)}"
            )
        return None


def verdict(summary: Statistics, fail_above: float | None = None) -> Verdict:
    """Return the verdict on a report from its statistics and the threshold (a rate), if any."""
    rate = summary.overall_failure_rate
    return Verdict(
        empty=not summary.total_sessions,
        rate=None if missing(rate) else float(rate),
        fail_above=fail_above,
    )


def exit_code(verdicts: Iterable[Verdict], failures: int = 0, fail_empty: bool = False) -> int:
    """Return the exit code of a run whose reports were all written.

    A failed delivery (7) wins over an empty window with ``fail_empty`` (6), over a rate above
    ``fail_above`` (5); otherwise 0.
    """
    verdicts = list(verdicts)
    if failures:
        return EXIT_DELIVERY
    if fail_empty and any(v.empty for v in verdicts):
        return EXIT_EMPTY
    if any(v.above for v in verdicts):
        return EXIT_ALERT
    return EXIT_OK
