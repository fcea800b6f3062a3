"""Redundancy removal: drop one feature of every highly correlated pair, repeatedly.

Guo 2024: "features with a correlation > 0.9 were randomly removed, repeating
this process until all feature correlations were <= 0.9."

Rule applied here: while the largest |rho| among the remaining features exceeds
``threshold``, take that pair (ties: the first pair in column order) and drop
one of its two features, chosen by ``drop``:

* ``"random"`` (the paper's rule): a coin flip from ``numpy.random.default_rng(seed)``
  -- deterministic for a given seed and column order;
* ``"mean"``: the feature with the larger mean |rho| to the other remaining
  features (caret's ``findCorrelation`` idea); ties drop the later column.

Dropping a feature never changes the correlations among the others, so the
matrix is computed once.  Spearman's rho is Pearson's r of the ranks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.select.base import BaseSelector

CORRELATION_METHODS: tuple[str, ...] = ("spearman", "pearson")
DROP_RULES: tuple[str, ...] = ("random", "mean")


def abs_correlation(values: np.ndarray, method: str = "spearman") -> np.ndarray:
    """Absolute correlation matrix of the columns of ``values`` (n_rows, p); NaN -> 0."""
    look_up_option("correlation method", method, CORRELATION_METHODS)
    v = rankdata(values, axis=0) if method == "spearman" else np.asarray(values, float)
    v = v - v.mean(axis=0)
    norm = np.sqrt((v ** 2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        v = v / norm
    r = np.abs(v.T @ v)
    r = np.nan_to_num(r, nan=0.0)
    np.fill_diagonal(r, 1.0)
    return np.clip(r, 0.0, 1.0)


class CorrelationFilter(BaseSelector):
    """Remove redundant features until no pair has |rho| > ``threshold``.

    Args:
        threshold: |rho| cut-off (0.9 in Guo 2024, 0.75 in Liu 2025).
        method: "spearman" (default) or "pearson".
        drop: Which feature of a pair goes: "random" (seeded) or "mean".
        seed: Seed of the "random" rule.
        empty_policy, empty_keep: Uniform interface; this step always keeps at
            least one feature.

    Attributes:
        drops_: List of ``(dropped, partner, |rho|)`` in the order applied.

    Example:
        >>> rng = np.random.default_rng(0); a = rng.normal(size=50)
        >>> X = pd.DataFrame({"a": a, "a2": a + 1e-3 * rng.normal(size=50), "b": rng.normal(size=50)})
        >>> CorrelationFilter(0.9, drop="mean").fit(X).selected_features_
        ['a', 'b']
    """

    _step_name = "correlation"
    _score_name = "-max |rho|"
    _requires_y = False

    def __init__(self, threshold: float = 0.9, method: str = "spearman", drop: str = "random",
                 seed: int = 0, empty_policy: str = "best", empty_keep: int = 1) -> None:
        self.threshold = threshold
        self.method = method
        self.drop = drop
        self.seed = seed
        self.empty_policy = empty_policy
        self.empty_keep = empty_keep

    def _validate_params(self) -> None:
        check_range("correlation: threshold", self.threshold, 0.0, 1.0)
        look_up_option("correlation: method", self.method, CORRELATION_METHODS)
        look_up_option("correlation: drop", self.drop, DROP_RULES)

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        names = [str(c) for c in X.columns]
        r = abs_correlation(X.to_numpy(dtype=float), self.method)
        p = r.shape[0]
        rng = np.random.default_rng(self.seed)
        work = np.triu(r, k=1)
        alive = np.ones(p, dtype=bool)
        self.drops_: list[tuple[str, str, float]] = []
        while True:
            flat = int(np.argmax(work))
            i, j = divmod(flat, p)
            top = work[i, j]
            if top <= self.threshold:
                break
            if self.drop == "random":
                victim, partner = (i, j) if rng.integers(2) == 0 else (j, i)
            else:
                others = alive.copy()
                others[[i, j]] = False
                mi = r[i, others].mean() if others.any() else 0.0
                mj = r[j, others].mean() if others.any() else 0.0
                victim, partner = (i, j) if mi > mj else (j, i)
            alive[victim] = False
            work[victim, :] = 0.0
            work[:, victim] = 0.0
            self.drops_.append((names[victim], names[partner], float(top)))
        off = r - np.eye(p)
        scores = -np.max(np.where(alive[None, :], off, 0.0), axis=1) if p > 1 else np.zeros(p)
        return alive, scores
