"""Which users fail more than chance explains: exact tests and false-discovery control.

Pure functions on numpy arrays, one value per user, vectorised (no Python loop over users).
Two questions are asked of every user who has enough sessions to be judged:

- **flagged**: does the user fail more often than the rest of the users? A one-sided exact
  binomial test of the user's failures against the pooled failure rate of every *other* user.
- **worsened**: does the user fail more often now than in the previous window of the same
  length? A one-sided Fisher exact test (the hypergeometric tail) of the two windows' counts.

With many users some of them pass any per-user test by chance alone: at 5%, one ordinary
user in twenty would. So each question's p-values are adjusted across all the users it asks
about with the Benjamini-Hochberg procedure, and a user is flagged (or worsened) when the
adjusted value (the q-value) is at most ``fdr``: of the users so marked, at most a fraction
``fdr`` are expected to be ordinary users marked by chance.
"""

from __future__ import annotations

import math

import numpy as np


def excess_p_values(failed, total, tested) -> np.ndarray:
    """Return each user's one-sided p-value of failing more than the rest of the users.

    The p-value is ``P(X >= failed)`` for ``X ~ Binomial(total, rest)``, where ``rest`` is
    the pooled failure rate of every other user: (all failures - the user's) / (all sessions
    - the user's). Example: 6 of 10 failed while the others failed 100 of 1,000 (10%) gives
    ``P(X >= 6) = 0.000147``.

    Args:
        failed: Each user's failed sessions.
        total: Each user's sessions.
        tested: Which users are tested (those with enough sessions to judge).

    Returns:
        The p-values; NaN for users not tested and when no other user has sessions.
    """
    from scipy import stats

    failed = np.asarray(failed, dtype="float64")
    total = np.asarray(total, dtype="float64")
    tested = np.asarray(tested, dtype=bool)
    rest_sessions = total.sum() - total
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = (failed.sum() - failed) / rest_sessions
    ok = tested & (rest_sessions > 0)
    p = np.full(len(failed), np.nan)
    p[ok] = stats.binom.sf(failed[ok] - 1, total[ok], rest[ok])
    return np.clip(p, 0.0, 1.0)


def worse_p_values(failed, total, before_failed, before_total, tested) -> np.ndarray:
    """Return each user's one-sided p-value of failing more now than in the previous window.

    Fisher's exact test of the 2x2 table (failed, succeeded) x (now, before), alternative
    "greater": given the user's failures in both windows together, ``P(X >= failed)`` for
    the hypergeometric ``X`` of how many of them fall in this window's sessions. Example:
    5 of 10 failed now and 1 of 10 before gives 0.0704.

    Returns:
        The p-values; NaN for users not tested.
    """
    from scipy import stats

    failed = np.asarray(failed, dtype="float64")
    total = np.asarray(total, dtype="float64")
    before_failed = np.asarray(before_failed, dtype="float64")
    before_total = np.asarray(before_total, dtype="float64")
    ok = np.asarray(tested, dtype=bool)
    p = np.full(len(failed), np.nan)
    p[ok] = stats.hypergeom.sf(
        failed[ok] - 1,
        total[ok] + before_total[ok],
        failed[ok] + before_failed[ok],
        total[ok],
    )
    return np.clip(p, 0.0, 1.0)


def q_values(p) -> np.ndarray:
    """Return the Benjamini-Hochberg adjusted p-values (q-values) of the defined ``p``.

    Users whose p-value is NaN (not tested) are not counted among the tests and keep NaN.
    Example: p = 0.01, 0.04, 0.03, 0.5 gives q = 0.04, 0.0533, 0.0533, 0.5.
    """
    from scipy import stats

    p = np.asarray(p, dtype="float64")
    q = np.full(len(p), np.nan)
    defined = ~np.isnan(p)
    if defined.any():
        q[defined] = stats.false_discovery_control(p[defined], method="bh")
    return q


def discoveries(q, fdr: float) -> np.ndarray:
    """Return which users are discoveries: a q-value at most ``fdr`` (NaN never is)."""
    q = np.asarray(q, dtype="float64")
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(q, nan=np.inf) <= fdr


def p_cut(p, q, fdr: float) -> float:
    """Return the p-value at or under which a user is a discovery in this run.

    Benjamini-Hochberg marks every test whose p-value is at most the largest p-value of the
    marked ones; when none is marked, a user would need at least ``fdr / m`` (``m`` tests)
    to be the first. NaN when nothing was tested.
    """
    p = np.asarray(p, dtype="float64")
    found = discoveries(q, fdr)
    if found.any():
        return float(p[found].max())
    tests = int((~np.isnan(p)).sum())
    return fdr / tests if tests else float("nan")


def flag_line(sessions, all_failed: int, all_sessions: int, cut: float) -> np.ndarray:
    """Return, for each number of sessions, the lowest failure rate that is flagged.

    That is ``f / n`` for the fewest failures ``f`` of ``n`` sessions whose
    :func:`excess_p_values` is at most ``cut`` (see :func:`p_cut`): a user on or above this
    line is flagged, one below it is not. The p-value falls as ``f`` grows (more failures,
    and a lower rate for the rest), so a bisection over ``f`` finds it. NaN where even
    ``n`` failures of ``n`` would not be flagged.
    """
    from scipy import stats

    n = np.asarray(sessions, dtype="float64")
    if math.isnan(cut) or all_sessions <= 0:
        return np.full(len(n), np.nan)
    rest_sessions = all_sessions - n

    def p_of(f):
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = np.clip((all_failed - f) / rest_sessions, 0.0, 1.0)
        return np.where(rest_sessions > 0, stats.binom.sf(f - 1, n, rest), np.nan)

    low = np.zeros(len(n))  # p(low) > cut unless low is 0 (p = 1 there)
    high = n.copy()
    reachable = p_of(high) <= cut
    for _ in range(int(math.ceil(math.log2(max(float(n.max(initial=1)), 1.0)))) + 2):
        middle = np.floor((low + high) / 2)
        ok = p_of(middle) <= cut
        high = np.where(ok, middle, high)
        low = np.where(ok, low, middle)
        if (high - low <= 1).all():
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(reachable, high / n, np.nan)
