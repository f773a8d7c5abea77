"""Which users fail more than chance explains: exact tests and false-discovery control.

Pure vectorised functions on numpy arrays, one value per user. A user with enough sessions
is **flagged** when failing more than the other users (:func:`excess_p_values`), and
**worsened** when failing more than in the previous window (:func:`worse_p_values`). At 5%,
one ordinary user in twenty would pass a test by chance, so each question's p-values are
adjusted across its users (Benjamini-Hochberg) and a user is marked when the q-value is at
most ``fdr``: at most that fraction of marked users is expected to be chance.
"""

from __future__ import annotations

import math

import numpy as np


def excess_p_values(failed, total, tested) -> np.ndarray:
    """Return each user's one-sided p-value of failing more than the rest of the users.

    ``P(X >= failed)``, ``X ~ Binomial(total, the other users' pooled rate)``: 6 of 10 when
    the others failed 100 of 1,000 gives 0.000147. NaN if not ``tested`` or no other sessions.
    """
    from scipy import stats

    failed, total = (np.asarray(v, dtype="float64") for v in (failed, total))
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

    Fisher's exact test, "greater": ``P(X >= failed)`` for the hypergeometric ``X`` of both
    windows' failures falling in this window. 5 of 10 now, 1 of 10 before gives 0.0704. NaN
    if not ``tested``.
    """
    from scipy import stats

    failed, total, before_failed, before_total = (
        np.asarray(v, dtype="float64") for v in (failed, total, before_failed, before_total)
    )
    ok = np.asarray(tested, dtype=bool)
    p = np.full(len(failed), np.nan)
    p[ok] = stats.hypergeom.sf(
        failed[ok] - 1, total[ok] + before_total[ok], failed[ok] + before_failed[ok], total[ok]
    )
    return np.clip(p, 0.0, 1.0)


def q_values(p) -> np.ndarray:
    """Return the Benjamini-Hochberg adjusted p-values (q-values); NaN ones are not tests.

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

    The largest marked p-value; with none marked, ``fdr / m`` (``m`` tests); NaN if no tests.
    """
    p = np.asarray(p, dtype="float64")
    found = discoveries(q, fdr)
    if found.any():
        return float(p[found].max())
    tests = int((~np.isnan(p)).sum())
    return fdr / tests if tests else float("nan")


def flag_line(sessions, all_failed: int, all_sessions: int, cut: float) -> np.ndarray:
    """Return, for each number of sessions, the lowest failure rate that is flagged.

    ``f / n`` for the fewest failures ``f`` whose p-value is at most ``cut`` (:func:`p_cut`),
    found by bisection: the p-value falls as ``f`` grows. NaN where even ``n`` of ``n`` is not.
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
