"""Declarative clinical variables of a study shape, and drawing one patient's values.

A :class:`Variable` says how one column of ``clinical.csv`` is generated:

* **measured** — filled in from reader A's mask after the images are made
  (diameter, volume): it follows the size trait, hence the label only
  through what the images show;
* **driven** by a tumour trait (or the lymph node's involvement): an ordinal
  cut of ``loading * driver + sqrt(1 - loading²) * noise`` at the marginal's
  quantiles (categorical) or ``mean + sd * (…)`` (numeric).  At ``signal = 0``
  the label is independent of every trait, so these are too;
* **label-linked** through an odds ratio (a binary variable's ALNM+ vs ALNM−
  odds): drawn given the label, with the probabilities pulled toward the
  pooled marginal as ``min(signal, 1) → 0``;
* otherwise drawn from its marginal, independent of everything.

Example:
    >>> import numpy as np
    >>> v = Variable("er", levels=("Negative", "Positive"), marginal=(0.2, 0.8))
    >>> draw_variables((v,), label=1, drivers={}, signal=1.0, prevalence=0.4,
    ...                rng=np.random.default_rng(0))["er"] in v.levels
    True
    >>> p1, p0 = conditional_probabilities(0.3, 4.0, 0.4)
    >>> round(0.4 * p1 + 0.6 * p0, 6)  # the marginal is kept
    0.3
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np
from scipy.optimize import brentq


@dataclass(frozen=True)
class Variable:
    """How one clinical column is generated (see the module docstring).

    Args:
        name: Column name in ``clinical.csv``.
        levels: Categories, in ordinal order for driven variables; empty for numbers.
        marginal: P(level), pooled over labels (sums to 1).
        odds_ratio: Binary label-linked variables: odds of the last level in
            ALNM+ over ALNM− (1 = not label-linked).
        driver: ``"size"``, ``"irregularity"``, ``"heterogeneity"``,
            ``"enhancement"``, ``"restriction"`` or ``"node"`` (lymph-node involvement).
        loading: Correlation of the underlying score with the driver (0–1).
        mean: Numeric variables: population mean.
        sd: Numeric variables: population SD.
        low: Numeric variables: smallest value (clipped).
        high: Numeric variables: largest value (clipped).
        digits: Numeric variables: decimals kept (0 writes integers).
        measured_on: Sequence whose reader-A mask gives the value (no random
            draw); ``None`` for drawn variables.
        measure: What is measured: ``"diameter_cm"`` (largest distance between
            mask voxel centres) or ``"volume_cm3"``.
        source: Where the figures come from (paper table, or "assumed").
    """

    name: str
    levels: tuple[str, ...] = ()
    marginal: tuple[float, ...] = ()
    odds_ratio: float = 1.0
    driver: str | None = None
    loading: float = 0.0
    mean: float = 0.0
    sd: float = 0.0
    low: float = -np.inf
    high: float = np.inf
    digits: int = 0
    measured_on: str | None = None
    measure: str = "diameter_cm"
    source: str = ""

    @property
    def measured(self) -> bool:
        """Whether the value comes from a mask rather than a random draw."""
        return self.measured_on is not None

    def __post_init__(self) -> None:
        if self.levels and (len(self.levels) != len(self.marginal) or abs(sum(self.marginal) - 1) > 1e-6):
            raise ValueError(f"variable {self.name!r}: expected one marginal probability per level, summing "
                             f"to 1; got {len(self.marginal)} for {len(self.levels)} levels (sum "
                             f"{sum(self.marginal):.4f}). Fix the study's variable list.")
        if self.odds_ratio != 1.0 and len(self.levels) != 2:
            raise ValueError(f"variable {self.name!r}: an odds ratio needs a binary variable; got "
                             f"{len(self.levels)} levels. Drop odds_ratio or use two levels.")


@lru_cache(maxsize=256)
def conditional_probabilities(marginal: float, odds_ratio: float, prevalence: float) -> tuple[float, float]:
    """P(yes | ALNM+) and P(yes | ALNM−) with the given pooled ``marginal`` and odds ratio."""
    def p1_of(p0: float) -> float:
        return odds_ratio * p0 / (1.0 - p0 + odds_ratio * p0)

    p0 = float(brentq(lambda q: prevalence * p1_of(q) + (1 - prevalence) * q - marginal,
                      1e-12, 1 - 1e-12, xtol=1e-14))
    return p1_of(p0), p0


def _cuts(marginal: tuple[float, ...]) -> np.ndarray:
    return np.array([NormalDist().inv_cdf(min(max(q, 1e-9), 1 - 1e-9)) for q in np.cumsum(marginal)[:-1]])


def draw_variables(variables: tuple[Variable, ...], *, label: int, drivers: dict[str, float], signal: float,
                   prevalence: float, rng: np.random.Generator) -> dict[str, Any]:
    """One patient's values of every non-measured variable, in list order.

    Args:
        variables: The study's variables.
        label: ALNM status (0/1).
        drivers: Values of the traits (standard normal) and of ``"node"``.
        signal: Label-association strength of label-linked variables (``min(signal, 1)``).
        prevalence: Weight of ALNM+ in the pooled marginals.
        rng: The patient's clinical stream.

    Returns:
        ``{name: value}``; measured variables are left out.
    """
    s = min(float(signal), 1.0)
    out: dict[str, Any] = {}
    for var in variables:
        if var.measured:
            continue
        z = float(rng.standard_normal())  # one draw per variable keeps the stream aligned
        u = float(rng.random())
        if var.driver is not None:
            z = var.loading * drivers[var.driver] + np.sqrt(1.0 - var.loading ** 2) * z
        if not var.levels:
            value = float(np.clip(var.mean + var.sd * z, var.low, var.high))
            out[var.name] = int(round(value)) if var.digits == 0 else round(value, var.digits)
        elif var.driver is not None:
            out[var.name] = var.levels[int(np.searchsorted(_cuts(var.marginal), z))]
        else:
            p = np.asarray(var.marginal, float)
            if var.odds_ratio != 1.0:
                p1, p0 = conditional_probabilities(float(p[1]), var.odds_ratio, prevalence)
                pooled = float(p[1])
                yes = pooled + s * ((p1 if label else p0) - pooled)
                p = np.array([1.0 - yes, yes])
            out[var.name] = var.levels[int(np.searchsorted(np.cumsum(p)[:-1], u, side="right"))]
    return out


__all__ = ["Variable", "conditional_probabilities", "draw_variables"]
