"""Wilson score interval of a binomial proportion.

Wilson (1927), J. Am. Stat. Assoc. 22:209-212; recommended over the Wald
interval for the small counts of a reader study or a risk group by Brown,
Cai & DasGupta (2001), Statist. Sci. 16:101-133.
"""

from __future__ import annotations

import math

from scipy.stats import norm

__all__ = ["wilson_interval"]


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials; NaN when ``n == 0``.

    Example:
        >>> [round(v, 4) for v in wilson_interval(8, 10)]
        [0.4902, 0.9433]
    """
    if n <= 0:
        return math.nan, math.nan
    z = float(norm.ppf(0.5 + level / 2.0))
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)
