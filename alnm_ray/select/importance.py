"""Gradient-boosting importance: keep the top-k features (Gu 2025's deep-feature ranking).

Gu et al. ranked deep features by gradient-boosting (GBM) importance and kept
the top k, choosing k from "the performance ... in relation to the number of
selected features" (their Fig 3C: AUC rose from k = 1 to 3 and was highest at
3).  scikit-learn's ``GradientBoostingClassifier`` is used; with all 3 072
deep features considered at every split one fit takes ~11 s on one core
(measured, 250 rows), so the default considers ``sqrt(p)`` random features per
split (stochastic gradient boosting, Friedman 2002), ~0.3 s per fit.  Set
``max_features=None`` for the exhaustive version.

``k="curve"`` picks k from that performance curve, computed on the training
rows passed to ``fit`` only: a stratified ``curve_folds``-fold inner CV
(seeded) in which each inner training part ranks the features with its own GBM
and a logistic regression on its top k is scored by AUC on the inner held-out
part, for k = 1 ... ``curve_max_k``.  The curve is stored in ``curve_``.
*Assumed* (the paper states neither): the curve's model is L2 logistic
regression (C = 1; the paper plots its CNN, which has no stated form for k
inputs), and the rule is ``"max"`` -- the smallest k with the highest mean AUC,
as the paper took the peak -- with ``"1se"`` (smallest k within one standard
error of the peak, Breiman et al. 1984) available.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.exceptions import ConfigError, FallbackWarning
from alnm_ray.select.base import BaseSelector

#: ``k`` value that chooses k from the inner-CV performance curve.
K_CURVE = "curve"
#: Rules that pick k from the curve (see the module docstring).
CURVE_RULES: tuple[str, ...] = ("max", "1se")
#: Largest k on the curve; Gu's curve peaked at 3, and 20 keeps a classifier's
#: input near n/10 for ~200 training patients.
CURVE_MAX_K = 20
#: Inner folds of the curve (the study's own model selection used 5-fold CV).
CURVE_FOLDS = 5


def check_k(name: str, k: int | str) -> int | str:
    """Validate an importance ``k``: a positive int or ``"curve"``.

    Raises:
        ConfigError: Otherwise (strings get a "did you mean").
    """
    if isinstance(k, str):
        return look_up_option(name, k, (K_CURVE,))
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ConfigError(f"{name}: expected a positive int or {K_CURVE!r}; got {k!r}. "
                          f"Write e.g. 20, or {K_CURVE!r} to choose k from the performance curve.")
    check_range(name, int(k), 1)
    return k


class ImportanceSelector(BaseSelector):
    """Keep the ``k`` features with the largest impurity importance (importance > 0).

    Args:
        k: Number of features to keep, or ``"curve"`` to choose it by inner CV
            on the training rows (see the module docstring).
        n_estimators, max_depth, learning_rate, subsample, max_features:
            Passed to ``GradientBoostingClassifier``.
        curve_max_k: Largest k tried on the curve (capped at the number of features).
        curve_folds: Inner stratified folds of the curve (reduced to the
            minority-class count when smaller, at least 2).
        curve_rule: "max" (smallest k with the best mean AUC) or "1se".
        seed: Random state of the booster and of the inner folds.
        empty_policy, empty_keep: When every importance is 0 (scores are the
            importances, so "best" keeps by column order among ties).

    Attributes:
        importances_: Importance per input feature (GBM on all training rows),
            shape (n_features,).
        k_: The k applied.
        curve_: DataFrame with columns ``k``, ``auc`` (mean inner-CV AUC) and
            ``auc_se`` (its standard error over folds), one row per k; None for a fixed k.

    Example:
        >>> rng = np.random.default_rng(0); y = rng.integers(0, 2, 120)
        >>> X = pd.DataFrame(rng.normal(size=(120, 8)), columns=list("abcdefgh")); X["c"] += 2 * y
        >>> ImportanceSelector(k=1, seed=0).fit(X, y).selected_features_
        ['c']
    """

    _step_name = "importance"
    _score_name = "gradient-boosting importance"

    def __init__(self, k: int | str = 20, n_estimators: int = 100, max_depth: int = 3,
                 learning_rate: float = 0.1, subsample: float = 1.0,
                 max_features: str | float | None = "sqrt", curve_max_k: int = CURVE_MAX_K,
                 curve_folds: int = CURVE_FOLDS, curve_rule: str = "max", seed: int = 0,
                 empty_policy: str = "best", empty_keep: int = 1) -> None:
        self.k = k
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.max_features = max_features
        self.curve_max_k = curve_max_k
        self.curve_folds = curve_folds
        self.curve_rule = curve_rule
        self.seed = seed
        self.empty_policy = empty_policy
        self.empty_keep = empty_keep

    def _validate_params(self) -> None:
        check_k("importance: k", self.k)
        check_range("importance: n_estimators", self.n_estimators, 1)
        check_range("importance: curve_max_k", self.curve_max_k, 1)
        check_range("importance: curve_folds", self.curve_folds, 2)
        look_up_option("importance: curve_rule", self.curve_rule, CURVE_RULES)

    def _importances(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        model = GradientBoostingClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth,
            learning_rate=self.learning_rate, subsample=self.subsample,
            max_features=self.max_features, random_state=self.seed)
        model.fit(X, y)
        return np.asarray(model.feature_importances_, dtype=float)

    def _curve(self, X: np.ndarray, y: np.ndarray) -> pd.DataFrame | None:
        """Inner-CV AUC per k (ranking refitted inside each inner fold); None if CV is impossible."""
        folds = min(int(self.curve_folds), int(np.bincount(y, minlength=2).min()))
        if folds < 2:
            return None
        ks = np.arange(1, min(int(self.curve_max_k), X.shape[1]) + 1)
        aucs = np.empty((folds, ks.size))
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        for f, (tr, va) in enumerate(cv.split(X, y)):
            order = np.argsort(-self._importances(X[tr], y[tr]), kind="stable")
            for j, k in enumerate(ks):
                cols = order[:k]
                clf = LogisticRegression(C=1.0, max_iter=1000).fit(X[np.ix_(tr, cols)], y[tr])
                aucs[f, j] = roc_auc_score(y[va], clf.predict_proba(X[np.ix_(va, cols)])[:, 1])
        return pd.DataFrame({"k": ks, "auc": aucs.mean(axis=0),
                             "auc_se": aucs.std(axis=0, ddof=1) / np.sqrt(folds)})

    def _pick_k(self, curve: pd.DataFrame) -> int:
        best = int(np.argmax(curve["auc"].to_numpy()))  # first maximum = smallest k
        if self.curve_rule == "max":
            return int(curve["k"].iloc[best])
        floor = curve["auc"].iloc[best] - curve["auc_se"].iloc[best]
        return int(curve["k"][curve["auc"] >= floor].iloc[0])

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        values = X.to_numpy(dtype=float)
        assert y is not None  # _requires_y: BaseSelector.fit checked the labels
        imp = self._importances(values, y)
        self.importances_ = imp
        self.curve_ = None
        if self.k == K_CURVE:
            self.curve_ = self._curve(values, y)
            if self.curve_ is None:
                self.k_ = min(int(self.curve_max_k), imp.size)
                self.fallback_ = (f"importance: fewer than 2 training rows in a class, no inner CV "
                                  f"for the k curve; kept the top curve_max_k={self.k_}")
                warnings.warn(self.fallback_, FallbackWarning, stacklevel=4)
            else:
                self.k_ = self._pick_k(self.curve_)
        else:
            self.k_ = int(self.k)
        order = np.argsort(-imp, kind="stable")[: self.k_]
        keep = np.zeros(imp.size, dtype=bool)
        keep[order] = True
        keep &= imp > 0
        return keep, imp
