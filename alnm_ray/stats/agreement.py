"""Paired-call statistics for reader studies: McNemar's test, Cohen's kappa, the reader table.

Zhang 2025 had two radiologists call ALNM on the prospective set without and
then with the model's output, and reported per reader sensitivity,
specificity, accuracy and AUC without/with assistance and the readers'
kappa.  :func:`reader_study` computes that table:

* sensitivity, specificity and accuracy with Wilson 95 % intervals, compared
  without vs with by **McNemar's test** on the paired calls -- among the
  events (sensitivity), among the non-events (specificity), and on the
  correct/incorrect indicator of every patient (accuracy);
* the AUC of the calls (for 0/1 calls, ``(sensitivity + specificity) / 2``)
  with its DeLong interval, compared by the paired **DeLong test**
  (:mod:`alnm_ray.stats.delong`);
* **Cohen's kappa** between every pair of readers, without and with, with
  its asymptotic interval.

McNemar's rule: with ``b`` and ``c`` the discordant counts, the *exact*
binomial test (two-sided, ``p = min(1, 2 P[Bin(b + c, 1/2) <= min(b, c)])``)
is used when ``b + c <`` :data:`MCNEMAR_EXACT_BELOW`, otherwise the
chi-square test with Edwards' continuity correction
``(|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom -- the same formulas as
``statsmodels.stats.contingency_tables.mcnemar(exact=..., correction=True)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom, chi2

from alnm_ray._validation import capped, look_up_option
from alnm_ray.stats.checks import InvalidPredictionsError, check_labels, check_level
from alnm_ray.stats._normal import wald_ci
from alnm_ray.stats._proportion import wilson_interval
from alnm_ray.stats.delong import delong_ci, delong_test

__all__ = ["MCNEMAR_EXACT_BELOW", "READER_STUDY_COLUMNS", "KappaResult", "McNemarResult",
           "cohen_kappa", "mcnemar_test", "reader_study"]

#: Discordant pairs below which McNemar's test is exact (binomial).  A
#: widespread rule of thumb, not a theorem: with fewer than 25 discordant
#: pairs the chi-square approximation is poor.  Override with
#: ``method="exact"`` or ``"chi2"``.
MCNEMAR_EXACT_BELOW = 25
#: McNemar methods: "auto" applies the rule above.
MCNEMAR_METHODS: tuple[str, ...] = ("auto", "exact", "chi2")
#: Columns of :func:`reader_study`'s table, in order.
READER_STUDY_COLUMNS: tuple[str, ...] = (
    "reader", "metric", "n", "without", "without_low", "without_high", "with", "with_low",
    "with_high", "difference", "test", "p")


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test of two paired binary calls.

    Attributes:
        b: Pairs called 1 by ``a`` and 0 by ``b``.
        c: Pairs called 0 by ``a`` and 1 by ``b``.
        statistic: ``min(b, c)`` (exact) or the corrected chi-square.
        p: Two-sided p-value.
        method: ``"exact"`` or ``"chi2"``.
    """

    b: int
    c: int
    statistic: float
    p: float
    method: str


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa with its large-sample standard error and Wald interval.

    Attributes:
        kappa: ``(po - pe) / (1 - pe)``.
        se: Fleiss, Cohen & Everitt (1969) standard error (not under H0).
        low, high: ``kappa +- z se`` clipped to [-1, 1].
        po: Observed agreement.
        pe: Agreement expected by chance from the marginals.
        n: Number of rated items.
        level: Confidence level.
    """

    kappa: float
    se: float
    low: float
    high: float
    po: float
    pe: float
    n: int
    level: float


def _calls(x: Any, name: str, n: int | None = None) -> np.ndarray:
    out = check_labels(x, name=name, require_both=False)
    if n is not None and out.size != n:
        raise InvalidPredictionsError(
            f"{name}: expected {n} calls (one per patient, paired); got {out.size}. Pass both "
            "readings of the same patients in the same order.")
    return out


def _mcnemar_counts(b: int, c: int, method: str) -> McNemarResult:
    look_up_option("mcnemar: method", method, MCNEMAR_METHODS)
    if method == "exact" or (method == "auto" and b + c < MCNEMAR_EXACT_BELOW):
        stat = float(min(b, c))
        p = min(1.0, 2.0 * float(binom.cdf(stat, b + c, 0.5)))
        return McNemarResult(b, c, stat, p, "exact")
    if b + c == 0:
        return McNemarResult(b, c, 0.0, 1.0, "chi2")
    stat = (abs(b - c) - 1.0) ** 2 / (b + c)
    return McNemarResult(b, c, stat, float(chi2.sf(stat, 1)), "chi2")


def mcnemar_test(calls_a: Any, calls_b: Any, *, method: str = "auto") -> McNemarResult:
    """McNemar's test that two paired 0/1 calls are positive equally often.

    Args:
        calls_a: First reading, 0/1, shape ``(n,)``.
        calls_b: Second reading of the same patients, 0/1, shape ``(n,)``.
        method: ``"auto"`` (exact below :data:`MCNEMAR_EXACT_BELOW`
            discordant pairs, else chi-square), ``"exact"`` or ``"chi2"``.

    Returns:
        A :class:`McNemarResult`.

    Raises:
        InvalidPredictionsError: Calls other than 0/1 or lengths that differ.
        ConfigError: Unknown ``method``.

    Example:
        >>> r = mcnemar_test([1, 1, 1, 0, 0, 1, 1, 1], [0, 0, 1, 0, 0, 1, 0, 1])
        >>> (r.b, r.c, r.method, round(r.p, 4))
        (3, 0, 'exact', 0.25)
    """
    a = _calls(calls_a, "calls_a")
    b = _calls(calls_b, "calls_b", a.size)
    return _mcnemar_counts(int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum()),
                           method)


def cohen_kappa(rater_a: Any, rater_b: Any, *, level: float = 0.95) -> KappaResult:
    """Cohen's kappa between two raters with its asymptotic confidence interval.

    The variance is Fleiss, Cohen & Everitt (1969), Psychol. Bull.
    72:323-327, eq. 13 (the "ASE" SAS and statsmodels report)::

        var = [sum_i p_ii (1 - (p_i. + p_.i)(1 - k))^2
               + (1 - k)^2 sum_{i != j} p_ij (p_.i + p_j.)^2
               - (k - pe (1 - k))^2] / (n (1 - pe)^2)

    Args:
        rater_a, rater_b: Categories given by each rater to the same items
            (any hashable labels; here usually 0/1 calls), shape ``(n,)``.
        level: Confidence level.

    Returns:
        A :class:`KappaResult`; kappa is NaN when chance agreement is 1
        (both raters used one and the same category for every item).

    Raises:
        InvalidPredictionsError: Empty input, lengths that differ or missing values.

    Example:
        >>> r = cohen_kappa([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1])
        >>> round(r.kappa, 4), round(r.po, 4)
        (0.3333, 0.6667)
    """
    level = check_level(level)
    a, b = pd.Series(np.asarray(rater_a)), pd.Series(np.asarray(rater_b))
    if a.size == 0 or a.size != b.size:
        raise InvalidPredictionsError(
            f"kappa: expected two non-empty ratings of the same items; got {a.size} and {b.size} "
            "ratings. Pass one rating per item from each rater, same order.")
    if a.isna().any() or b.isna().any():
        raise InvalidPredictionsError(
            f"kappa: expected a rating for every item; found {int(a.isna().sum() + b.isna().sum())}"
            " missing. Remove the unrated items from both raters.")
    cats = sorted(set(a.tolist()) | set(b.tolist()), key=str)
    n = int(a.size)
    table = pd.crosstab(pd.Categorical(a, cats), pd.Categorical(b, cats),
                        dropna=False).to_numpy(dtype=float) / n
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    po = float(np.trace(table))
    pe = float(rows @ cols)
    if pe >= 1.0:
        return KappaResult(math.nan, math.nan, math.nan, math.nan, po, pe, n, level)
    k = (po - pe) / (1.0 - pe)
    diag = np.diag(table)
    term1 = float(np.sum(diag * (1.0 - (rows + cols) * (1.0 - k)) ** 2))
    weight = (cols[:, None] + rows[None, :]) ** 2  # (p_.i + p_j.)^2 for cell (i, j)
    off = table * weight
    term2 = (1.0 - k) ** 2 * float(off.sum() - np.trace(off))
    var = (term1 + term2 - (k - pe * (1.0 - k)) ** 2) / (n * (1.0 - pe) ** 2)
    se = math.sqrt(max(var, 0.0))
    low, high = wald_ci(k, se, level, -1.0, 1.0)
    return KappaResult(float(k), se, low, high, po, pe, n, level)


def _proportion_row(reader: str, metric: str, k0: int, k1: int, n: int, level: float,
                    test: McNemarResult) -> dict[str, Any]:
    w0, w1 = wilson_interval(k0, n, level), wilson_interval(k1, n, level)
    r0, r1 = (k0 / n, k1 / n) if n else (math.nan, math.nan)
    label = "McNemar exact" if test.method == "exact" else "McNemar chi-square (corrected)"
    return {"reader": reader, "metric": metric, "n": n, "without": r0, "without_low": w0[0],
            "without_high": w0[1], "with": r1, "with_low": w1[0], "with_high": w1[1],
            "difference": r1 - r0, "test": label, "p": test.p}


def reader_study(table: pd.DataFrame, reader_columns: Mapping[str, tuple[str, str]],
                 label: str, *, level: float = 0.95, mcnemar_method: str = "auto"
                 ) -> pd.DataFrame:
    """Per-reader performance without and with model assistance, and inter-reader kappa.

    Args:
        table: One row per patient.
        reader_columns: ``{reader: (column without, column with)}``; the
            columns hold 0/1 calls (1 = ALNM called).
        label: Column with the reference standard, 0/1 (1 = ALNM).
        level: Confidence level of every interval.
        mcnemar_method: See :func:`mcnemar_test`.

    Returns:
        A tidy DataFrame (:data:`READER_STUDY_COLUMNS`): per reader the rows
        ``sensitivity``, ``specificity``, ``accuracy`` (Wilson intervals,
        McNemar p) and ``auc`` (DeLong intervals and paired DeLong p); then
        one ``kappa`` row per pair of readers (``reader`` = ``"A vs B"``,
        asymptotic intervals, no test).

    Raises:
        InvalidPredictionsError: Missing columns, calls or labels other than 0/1.

    Example:
        >>> rng = np.random.default_rng(0); y = rng.integers(0, 2, 80)
        >>> noisy = lambda flip: np.where(rng.uniform(size=80) < flip, 1 - y, y)
        >>> df = pd.DataFrame({"y": y, "j0": noisy(.3), "j1": noisy(.15),
        ...                    "s0": noisy(.25), "s1": noisy(.1)})
        >>> out = reader_study(df, {"junior": ("j0", "j1"), "senior": ("s0", "s1")}, "y")
        >>> out["metric"].tolist()[:4], out["reader"].iloc[-1]
        (['sensitivity', 'specificity', 'accuracy', 'auc'], 'junior vs senior')
    """
    level = check_level(level)
    look_up_option("reader_study: mcnemar_method", mcnemar_method, MCNEMAR_METHODS)
    needed = [label] + [c for pair in reader_columns.values() for c in pair]
    absent = sorted({c for c in needed if c not in table.columns})
    if absent:
        raise InvalidPredictionsError(
            f"reader_study: expected columns {capped(sorted(set(needed)))} in the table; missing "
            f"{capped(absent)}. Name each reader's (without, with) call columns and the label.")
    if not reader_columns:
        raise InvalidPredictionsError(
            "reader_study: reader_columns: expected at least one reader; got none. Pass e.g. "
            "{'junior': ('junior_alone', 'junior_ai')}.")
    y = check_labels(table[label].to_numpy(), name=label)
    calls = {r: (_calls(table[c0].to_numpy(), c0, y.size), _calls(table[c1].to_numpy(), c1, y.size))
             for r, (c0, c1) in reader_columns.items()}
    rows = []
    pos, neg = y == 1, y == 0
    for reader, (c0, c1) in calls.items():
        for metric, mask, hit0, hit1 in (
                ("sensitivity", pos, c0 == 1, c1 == 1),
                ("specificity", neg, c0 == 0, c1 == 0),
                ("accuracy", np.ones_like(pos), c0 == y, c1 == y)):
            h0, h1 = hit0[mask], hit1[mask]
            test = _mcnemar_counts(int((h0 & ~h1).sum()), int((~h0 & h1).sum()), mcnemar_method)
            rows.append(_proportion_row(reader, metric, int(h0.sum()), int(h1.sum()),
                                        int(mask.sum()), level, test))
        a0, a1 = delong_ci(y, c0, level=level), delong_ci(y, c1, level=level)
        dl = delong_test(y, c1, c0, level=level)
        rows.append({"reader": reader, "metric": "auc", "n": int(y.size), "without": a0.auc,
                     "without_low": a0.low, "without_high": a0.high, "with": a1.auc,
                     "with_low": a1.low, "with_high": a1.high, "difference": dl.diff,
                     "test": "DeLong (paired)", "p": dl.p})
    for ra, rb in itertools.combinations(calls, 2):
        k0 = cohen_kappa(calls[ra][0], calls[rb][0], level=level)
        k1 = cohen_kappa(calls[ra][1], calls[rb][1], level=level)
        rows.append({"reader": f"{ra} vs {rb}", "metric": "kappa", "n": int(y.size),
                     "without": k0.kappa, "without_low": k0.low, "without_high": k0.high,
                     "with": k1.kappa, "with_low": k1.low, "with_high": k1.high,
                     "difference": k1.kappa - k0.kappa, "test": "", "p": math.nan})
    return pd.DataFrame(rows, columns=list(READER_STUDY_COLUMNS))
