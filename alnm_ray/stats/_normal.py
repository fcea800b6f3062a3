"""Normal-theory helpers: Z statistic with two-sided p, Wald interval."""

from __future__ import annotations

import math

from scipy.stats import norm


def z_test(estimate: float, se: float) -> tuple[float, float]:
    """Z = estimate / se and its two-sided p-value.

    A zero standard error with a zero estimate (e.g. a model compared with
    itself) gives ``Z = 0, p = 1``; with a non-zero estimate ``Z = ±inf,
    p = 0``; a NaN standard error gives NaN.

    Example:
        >>> z, p = z_test(1.959963984540054, 1.0)
        >>> round(p, 6)
        0.05
    """
    if not math.isfinite(se) or not math.isfinite(estimate):
        return math.nan, math.nan
    if se > 0.0:
        z = estimate / se
        return float(z), float(2.0 * norm.sf(abs(z)))
    if estimate == 0.0:
        return 0.0, 1.0
    return math.copysign(math.inf, estimate), 0.0


def wald_ci(estimate: float, se: float, level: float, low: float = -math.inf,
            high: float = math.inf) -> tuple[float, float]:
    """``estimate ± z_{(1+level)/2} * se``, clipped to ``[low, high]``.

    Example:
        >>> [round(v, 4) for v in wald_ci(0.5, 0.1, 0.95, 0.0, 1.0)]
        [0.304, 0.696]
    """
    half = float(norm.ppf(0.5 + level / 2.0)) * se
    return float(min(max(estimate - half, low), high)), float(max(min(estimate + half, high), low))
