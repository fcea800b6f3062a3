"""Max-relevance min-redundancy (mRMR) ranking, top K.

Why not call the installed ``mrmr_selection`` package: importing it runs
``warnings.filterwarnings("ignore")`` at module level (``mrmr/main.py``), which
silences *every* warning in the process -- including the
:class:`~alnm_ray.exceptions.FallbackWarning` this package relies on to
report fallbacks -- and it works column by column through pandas/joblib
(``n_jobs=-1`` by default), which is slow inside a 100-fold loop.  This module
implements the same algorithm as its ``mrmr_classif`` defaults ("FCQ"):

* relevance = ANOVA F statistic of the feature against the label;
  features with relevance <= 0 (or NaN) are never selected;
* redundancy = |Pearson r| with an already selected feature, floored at 0.001;
* at each step pick ``argmax relevance / mean(redundancy to the selected)``
  (the first step uses relevance alone; a mean of exactly 1 counts as infinite).

``tests/select/test_mrmr.py`` checks that the selections are identical to
``mrmr.mrmr_classif`` on random data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import f_classif

from alnm_ray._validation import check_range
from alnm_ray.select.base import BaseSelector

#: mrmr_selection's floor on |r| (avoids dividing by zero for uncorrelated features).
REDUNDANCY_FLOOR = 0.001


def mrmr_ranking(values: np.ndarray, y: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """Greedy mRMR order of up to ``k`` columns.

    Args:
        values: Features, shape (n_rows, p).
        y: Binary labels, shape (n_rows,).
        k: Maximum number of features to rank.

    Returns:
        ``(order, relevance)``: column indices in selection order (length
        ``min(k, #relevant)``) and the F statistic of every column (NaN -> 0).
    """
    with np.errstate(all="ignore"):
        relevance = np.nan_to_num(f_classif(values, y)[0], nan=0.0)
    candidates = np.flatnonzero(relevance > 0)
    k = min(int(k), candidates.size)
    if k == 0:
        return [], relevance
    v = values[:, candidates] - values[:, candidates].mean(axis=0)
    with np.errstate(all="ignore"):
        v = v / np.sqrt((v ** 2).sum(axis=0))
    rel = relevance[candidates]
    redundancy_sum = np.zeros(candidates.size)
    chosen: list[int] = []
    available = np.ones(candidates.size, dtype=bool)
    for step in range(k):
        if step == 0:
            score = rel.copy()
        else:
            den = redundancy_sum / step
            den = np.where(den == 1.0, np.inf, den)
            score = rel / den
        score = np.where(available, score, -np.inf)
        best = int(np.argmax(score))
        chosen.append(best)
        available[best] = False
        with np.errstate(all="ignore"):
            r = np.abs(np.nan_to_num(v.T @ v[:, best], nan=0.0))
        redundancy_sum += np.clip(r, REDUNDANCY_FLOOR, None)
    return [int(candidates[c]) for c in chosen], relevance


class MRMRSelector(BaseSelector):
    """Keep the top ``k`` features by mRMR (F-statistic relevance, Pearson redundancy).

    Args:
        k: Number of features to keep (the paper does not state K; the presets
            use 20 -- see :mod:`alnm_ray.select.config`).
        empty_policy, empty_keep: When no feature has positive relevance
            (scores are the F statistics).

    Attributes:
        ranking_: Selected feature names in mRMR order.
        relevance_: F statistic per input feature.

    Example:
        >>> rng = np.random.default_rng(0); y = np.r_[np.zeros(40), np.ones(40)].astype(int)
        >>> X = pd.DataFrame(rng.normal(size=(80, 5)), columns=list("abcde")); X["a"] += y
        >>> MRMRSelector(k=2).fit(X, y).ranking_[0]
        'a'
    """

    _step_name = "mrmr"
    _score_name = "F statistic"

    def __init__(self, k: int = 20, empty_policy: str = "best", empty_keep: int = 1) -> None:
        self.k = k
        self.empty_policy = empty_policy
        self.empty_keep = empty_keep

    def _validate_params(self) -> None:
        check_range("mrmr: k", self.k, 1)

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        assert y is not None  # _requires_y: BaseSelector.fit checked the labels
        order, relevance = mrmr_ranking(X.to_numpy(dtype=float), y, self.k)
        names = [str(c) for c in X.columns]
        self.ranking_ = [names[i] for i in order]
        self.relevance_ = relevance
        keep = np.zeros(len(names), dtype=bool)
        keep[order] = True
        return keep, relevance
