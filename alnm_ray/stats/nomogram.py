"""Nomogram arithmetic: points per predictor, total points (Nomo-score), risk groups.

A fitted logistic model ``logit P = b0 + sum_j c_j(x_j)`` (``c_j`` the
log-odds contribution of predictor ``j``: ``b_j x`` for a continuous one,
the level's dummy coefficient -- 0 at the reference -- for a categorical one)
is drawn the classic way (Harrell's ``rms::nomogram``; Iasonos et al. (2008),
J. Clin. Oncol. 26:1364-1370):

* each predictor's *effect range* is ``max c_j - min c_j`` over its training
  range (continuous) or its levels (categorical);
* the predictor with the largest range ``R`` maps to 0-100 points, every other
  one on the same scale: ``points_j(x) = 100 (c_j(x) - min c_j) / R``;
* the **Nomo-score** is the total of the points (Zhang 2025);
* total points ``T`` map back to the linear predictor
  ``LP = b0 + sum_j min c_j + T R / 100`` and to ``P = 1 / (1 + exp(-LP))``,
  which equals the model's ``predict_proba`` exactly.

Values outside the training range get points beyond 0-100 by the same
linear rule (extrapolation, as a ruler extended past its printed end).

:class:`NomoRiskGroups` learns the Youden cut-off of the Nomo-score on the
training set (Zhang 2025: "the ideal cutoff value ... determined by the
Youden index") and reports high/low-risk groups with their observed ALNM
rates per set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from scipy.special import expit, logit
from scipy.stats import fisher_exact
from sklearn.base import BaseEstimator

from alnm_ray._validation import capped
from alnm_ray.exceptions import ConfigError, NotFittedError, SchemaMismatchError
from alnm_ray.stats.checks import check_labels, check_level, check_probabilities
from alnm_ray.stats._proportion import wilson_interval
from alnm_ray.stats.threshold import YoudenResult, youden_threshold

__all__ = ["MAX_POINTS", "Nomogram", "NomogramAxis", "NomoRiskGroups"]

#: Points given to the predictor with the largest effect range (rms convention).
MAX_POINTS = 100.0
#: Probabilities labelled on the probability axis, where they fall on the total-points range.
DEFAULT_PROBABILITY_TICKS: tuple[float, ...] = (
    0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
#: Number of "nice" tick values on a continuous predictor's axis (matplotlib MaxNLocator).
CONTINUOUS_TICKS = 8


@dataclass(frozen=True)
class NomogramAxis:
    """One predictor's scale.

    Attributes:
        name: Predictor name (the column of ``X``).
        kind: ``"continuous"`` or ``"categorical"``.
        values: ``(low, high)`` training range, or the levels (reference first).
        effects: Log-odds contribution at each of ``values``.
    """

    name: str
    kind: str
    values: tuple[Any, ...]
    effects: tuple[float, ...]

    @property
    def effect_range(self) -> float:
        """``max - min`` of the contribution (log-odds)."""
        return max(self.effects) - min(self.effects)

    @property
    def slope(self) -> float:
        """Log-odds per unit (continuous axes)."""
        low, high = self.values
        return (self.effects[1] - self.effects[0]) / (high - low) if high != low else 0.0

    def effect(self, x: Any) -> np.ndarray:
        """Contribution of each value in ``x`` (a 1-D sequence)."""
        if self.kind == "continuous":
            arr = np.asarray(x, dtype=float)
            return self.effects[0] + self.slope * (arr - self.values[0])
        lookup = {str(v): e for v, e in zip(self.values, self.effects)}
        keys = [str(v) for v in x]
        unseen = sorted(set(keys) - set(lookup))
        if unseen:
            raise SchemaMismatchError(
                f"nomogram: {self.name!r}: expected levels {capped([str(v) for v in self.values])};"
                f" found {capped(unseen)}. Recode to the training levels.")
        return np.array([lookup[k] for k in keys], dtype=float)

    def tick_values(self, max_ticks: int = CONTINUOUS_TICKS) -> list[Any]:
        """Values to label: the levels, or up to about ``max_ticks`` nice numbers in the range."""
        if self.kind == "categorical":
            return list(self.values)
        low, high = self.values
        ticks = MaxNLocator(max(1, int(max_ticks))).tick_values(low, high)
        inside = [float(t) for t in ticks if low - 1e-9 * abs(high - low) <= t <= high + 1e-9 *
                  abs(high - low)]
        return inside if len(inside) >= 2 else [low, high]


@dataclass(frozen=True)
class Nomogram:
    """Points, total points and probabilities of a fitted logistic model.

    Build it with :meth:`from_model`.

    Attributes:
        intercept: ``b0`` of the model.
        axes: One :class:`NomogramAxis` per predictor, in model order.

    Example:
        >>> nomo = Nomogram(-3.0, (NomogramAxis("size", "continuous", (0.0, 5.0), (0.0, 2.0)),
        ...                        NomogramAxis("her2", "categorical", ("neg", "pos"), (0.0, 1.0))))
        >>> X = pd.DataFrame({"size": [5.0, 2.5], "her2": ["pos", "neg"]})
        >>> nomo.score(X).tolist()
        [150.0, 50.0]
        >>> bool(np.allclose(nomo.probability_from_points([150.0]), 1 / (1 + np.exp(-0.0))))
        True
    """

    intercept: float
    axes: tuple[NomogramAxis, ...]

    def __post_init__(self) -> None:
        if not self.axes or self.scale <= 0.0:
            raise ConfigError(
                "nomogram: expected at least one predictor with a non-zero effect over its range; "
                f"got {len(self.axes)} predictor(s) with no spread. Fit the model on data where "
                "the predictors vary.")

    @classmethod
    def from_model(cls, model: Any) -> Nomogram:
        """The nomogram of a fitted :class:`~alnm_ray.stats.logistic.ClinicalLogisticModel`.

        Continuous ranges are the training minimum and maximum; categorical
        axes list every level (reference first, 0 log-odds).

        Raises:
            NotFittedError: ``model`` is not fitted.
        """
        if not hasattr(model, "kept_terms_") or not hasattr(model, "coef_"):
            raise NotFittedError(
                f"nomogram: expected a fitted ClinicalLogisticModel; got {type(model).__name__} "
                "without kept_terms_/coef_. Fit the model first.")
        axes = []
        for t in model.kept_terms_:
            if t.kind == "continuous":
                b = float(model.coef_[t.columns[0]])
                axes.append(NomogramAxis(t.name, "continuous", (t.low, t.high),
                                         (b * t.low, b * t.high)))
            else:
                effects = (0.0,) + tuple(float(model.coef_[c]) for c in t.columns)
                axes.append(NomogramAxis(t.name, "categorical", tuple(t.levels), effects))
        return cls(float(model.intercept_), tuple(axes))

    @property
    def scale(self) -> float:
        """The largest effect range ``R`` (log-odds mapped to :data:`MAX_POINTS`)."""
        return max((a.effect_range for a in self.axes), default=0.0)

    @property
    def max_total_points(self) -> float:
        """Total points when every predictor sits at its highest-points value."""
        return sum(MAX_POINTS * a.effect_range / self.scale for a in self.axes)

    @property
    def _offset(self) -> float:
        return self.intercept + sum(min(a.effects) for a in self.axes)

    def axis_points(self, axis: NomogramAxis, x: Any) -> np.ndarray:
        """Points of ``axis`` at the values ``x``."""
        return MAX_POINTS * (axis.effect(x) - min(axis.effects)) / self.scale

    def points(self, X: pd.DataFrame) -> pd.DataFrame:
        """Points per predictor and their ``total`` for every row of ``X``.

        Raises:
            SchemaMismatchError: Missing predictor columns or unseen levels.
        """
        absent = sorted(a.name for a in self.axes if a.name not in X.columns)
        if absent:
            raise SchemaMismatchError(
                f"nomogram: X: expected the predictors {capped([a.name for a in self.axes])}; "
                f"missing {capped(absent)}. Pass a table with the model's columns.")
        out = pd.DataFrame({a.name: self.axis_points(a, X[a.name].tolist()) for a in self.axes},
                           index=X.index)
        out["total"] = out.sum(axis=1)
        return out

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """The Nomo-score (total points) of every row, shape ``(n,)``."""
        return self.points(X)["total"].to_numpy()

    def linear_predictor_from_points(self, total: Any) -> np.ndarray:
        """Log-odds for total points."""
        return self._offset + np.asarray(total, dtype=float) * self.scale / MAX_POINTS

    def probability_from_points(self, total: Any) -> np.ndarray:
        """Predicted probability for total points (equals the model's ``predict_proba``)."""
        return expit(self.linear_predictor_from_points(total))

    def points_from_probability(self, p: Any) -> np.ndarray:
        """Total points giving probability ``p`` (inverse of :meth:`probability_from_points`)."""
        return (logit(np.asarray(p, dtype=float)) - self._offset) * MAX_POINTS / self.scale

    def points_table(self) -> pd.DataFrame:
        """Points of each labelled predictor value: ``predictor, value, points``.

        Categorical predictors list every level; continuous ones the axis
        ticks (nice values across the training range).
        """
        rows = [{"predictor": a.name, "value": str(v) if a.kind == "categorical" else v,
                 "points": float(self.axis_points(a, [v])[0])}
                for a in self.axes for v in a.tick_values()]
        return pd.DataFrame(rows, columns=["predictor", "value", "points"])

    def probability_table(self, probabilities: Sequence[float] = DEFAULT_PROBABILITY_TICKS
                          ) -> pd.DataFrame:
        """Total points, linear predictor and probability for each reachable probability.

        Only probabilities whose total points fall in ``[0, max_total_points]`` are listed.
        """
        p = np.asarray(probabilities, dtype=float)
        pts = self.points_from_probability(p)
        keep = (pts >= 0.0) & (pts <= self.max_total_points)
        return pd.DataFrame({"total_points": pts[keep],
                             "linear_predictor": self.linear_predictor_from_points(pts[keep]),
                             "probability": p[keep]})


class NomoRiskGroups(BaseEstimator):
    """High/low-risk groups at the Youden cut-off of the Nomo-score on the training set.

    The cut-off is found on the predicted probabilities the Nomo-scores map
    to (:func:`~alnm_ray.stats.threshold.youden_threshold`: an observed value,
    ties to the highest); since that map is increasing, it is the same
    patients' split as a cut-off on the points, and both are reported.

    Args:
        nomogram: The :class:`Nomogram` whose total points are scored.
        level: Confidence level of the Wilson intervals of the observed rates.

    Attributes:
        cutoff_points_: Lowest training Nomo-score called high risk.
        cutoff_probability_: The Youden threshold on the probability scale.
        youden_: The :class:`~alnm_ray.stats.threshold.YoudenResult`.

    Example:
        >>> nomo = Nomogram(-2.0, (NomogramAxis("x", "continuous", (0.0, 4.0), (0.0, 4.0)),))
        >>> scores = np.array([0.0, 20.0, 40.0, 60.0, 80.0, 100.0])
        >>> g = NomoRiskGroups(nomo).fit(scores, [0, 0, 1, 0, 1, 1])
        >>> g.cutoff_points_, g.predict([10.0, 90.0]).tolist()
        (80.0, ['low', 'high'])
    """

    def __init__(self, nomogram: Nomogram, level: float = 0.95) -> None:
        self.nomogram = nomogram
        self.level = level

    def fit(self, scores: Any, y: Any) -> NomoRiskGroups:
        """Learn the cut-off on the training Nomo-scores and outcomes.

        Raises:
            InvalidPredictionsError: Bad scores or labels.
        """
        s = check_probabilities(scores, name="nomo_score", probability=False)
        yy = check_labels(y)
        check_level(self.level)
        p = self.nomogram.probability_from_points(s)
        self.youden_: YoudenResult = youden_threshold(yy, p)
        self.cutoff_probability_ = self.youden_.threshold
        self.cutoff_points_ = float(s[p >= self.cutoff_probability_].min())
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "cutoff_points_"):
            raise NotFittedError(
                "NomoRiskGroups: not fitted yet; expected fit(training scores, y) first. Call fit "
                "on the training set.")

    def predict(self, scores: Any) -> np.ndarray:
        """``"high"`` where the Nomo-score >= :attr:`cutoff_points_`, else ``"low"``."""
        self._check_fitted()
        s = check_probabilities(scores, name="nomo_score", probability=False)
        return np.where(s >= self.cutoff_points_, "high", "low")

    def summary(self, sets: Mapping[str, tuple[Any, Any]]) -> pd.DataFrame:
        """Observed ALNM rate per risk group per set.

        Args:
            sets: ``{set name: (nomo_scores, y)}``, e.g. training, internal,
                external and prospective.

        Returns:
            One row per set and group: ``set, group, n, events, rate,
            rate_low, rate_high`` (Wilson interval), ``p_fisher`` (two-sided
            Fisher exact test of the two groups' rates within the set; NaN
            when a group is empty) and the cut-offs.
        """
        self._check_fitted()
        rows = []
        for name, (scores, y) in sets.items():
            yy = check_labels(y, name=f"{name}: label", require_both=False)
            group = self.predict(scores)
            if group.size != yy.size:
                raise SchemaMismatchError(
                    f"risk groups: set {name!r}: expected one Nomo-score per label ({yy.size}); "
                    f"got {group.size}. Score the same patients in the same order.")
            counts = {g: (int((group == g).sum()), int(yy[group == g].sum())) for g in ("high",
                                                                                      "low")}
            (nh, eh), (nl, el) = counts["high"], counts["low"]
            p_f = (float(fisher_exact([[eh, nh - eh], [el, nl - el]])[1]) if nh and nl
                   else math.nan)
            for g, (n, e) in counts.items():
                low, high = wilson_interval(e, n, self.level)
                rows.append({"set": str(name), "group": g, "n": n, "events": e,
                             "rate": e / n if n else math.nan, "rate_low": low, "rate_high": high,
                             "p_fisher": p_f, "cutoff_points": self.cutoff_points_,
                             "cutoff_probability": self.cutoff_probability_})
        return pd.DataFrame(rows)
