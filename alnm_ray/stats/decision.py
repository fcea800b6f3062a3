"""Decision-curve analysis and the clinical impact curve.

Net benefit (Vickers & Elkin 2006, Med. Decis. Making 26:565-574) at
threshold probability ``pt``, treating patients with ``p >= pt``::

    NB(pt) = TP / n - FP / n · pt / (1 - pt)

Treat-all: ``prevalence - (1 - prevalence) · pt / (1 - pt)``; treat-none: 0.
The clinical impact curve (Kerr et al. 2016, J. Clin. Oncol. 34:2534-2540)
shows, per ``population`` patients, how many a model calls high risk
(``p >= pt``) and how many of those have the event.
Thresholds must lie in [0, 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alnm_ray.stats.checks import InvalidPredictionsError, check_inputs, check_models

__all__ = ["ClinicalImpact", "DEFAULT_DCA_THRESHOLDS", "DecisionCurve", "clinical_impact",
           "decision_curve", "net_benefit", "treat_all_net_benefit"]

#: Threshold probabilities of a decision curve: 0.01 … 0.99 in steps of 0.01.
DEFAULT_DCA_THRESHOLDS = np.round(np.arange(1, 100) / 100.0, 2)


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit over thresholds; arrays of shape ``(t,)``.

    Attributes:
        thresholds: Threshold probabilities.
        models: ``{name: net benefit}``.
        treat_all: Net benefit of treating everyone.
        treat_none: Net benefit of treating no one (zeros).
    """

    thresholds: np.ndarray
    models: dict[str, np.ndarray]
    treat_all: np.ndarray
    treat_none: np.ndarray = field(repr=False)

    def to_frame(self) -> Any:
        """A pandas DataFrame: ``threshold, treat_all, treat_none, <model>…``."""
        import pandas as pd

        return pd.DataFrame({"threshold": self.thresholds, "treat_all": self.treat_all,
                             "treat_none": self.treat_none, **self.models})


@dataclass(frozen=True)
class ClinicalImpact:
    """Clinical impact curve; arrays of shape ``(t,)``.

    Attributes:
        thresholds: Threshold probabilities.
        n_high_risk: Patients called high risk per ``population``.
        n_high_risk_events: Of those, patients with the event.
        population: The reference population size (e.g. 1000).
    """

    thresholds: np.ndarray
    n_high_risk: np.ndarray
    n_high_risk_events: np.ndarray
    population: int


def _check_thresholds(thresholds: Any) -> np.ndarray:
    t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if t.ndim != 1 or t.size == 0 or not np.all((t >= 0.0) & (t < 1.0)):
        raise InvalidPredictionsError(
            f"thresholds: expected threshold probabilities in [0, 1); got {np.asarray(thresholds)!r}. "
            "Net benefit is undefined at 1; pass e.g. numpy.arange(0.01, 1.0, 0.01)."
        )
    return t


def _called_positive(p_sorted: np.ndarray, t: np.ndarray) -> np.ndarray:
    """How many of the (sorted) probabilities are >= each threshold."""
    return p_sorted.size - np.searchsorted(p_sorted, t, side="left")


def _net_benefit(y: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    n = y.size
    tp = _called_positive(np.sort(p[y == 1]), t)
    fp = _called_positive(np.sort(p[y == 0]), t)
    return tp / n - fp / n * (t / (1.0 - t))


def net_benefit(y: Any, p: Any, thresholds: Any) -> np.ndarray:
    """Net benefit of treating patients with ``p >= pt`` at each threshold.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities, shape ``(n,)``.
        thresholds: Threshold probabilities in [0, 1), shape ``(t,)``.

    Returns:
        Net benefit, shape ``(t,)``.

    Raises:
        InvalidPredictionsError: Bad inputs or thresholds.

    Example:
        >>> net_benefit([1, 1, 0, 0, 0], [0.9, 0.4, 0.6, 0.2, 0.1], [0.5]).round(4).tolist()
        [0.0]
    """
    yy, pp = check_inputs(y, p)
    return _net_benefit(yy, pp, _check_thresholds(thresholds))


def treat_all_net_benefit(y: Any, thresholds: Any) -> np.ndarray:
    """Net benefit of treating every patient, shape ``(t,)``.

    Example:
        >>> treat_all_net_benefit([1, 1, 0, 0, 0], [0.25]).round(4).tolist()
        [0.2]
    """
    from alnm_ray.stats.checks import check_labels

    yy = check_labels(y)
    t = _check_thresholds(thresholds)
    prev = yy.mean()
    return prev - (1.0 - prev) * t / (1.0 - t)


def decision_curve(y: Any, models: Mapping[str, Any], thresholds: Any = None) -> DecisionCurve:
    """Net benefit of several models, treat-all and treat-none over thresholds.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        models: ``{name: probabilities}``, each of shape ``(n,)``.
        thresholds: Threshold probabilities in [0, 1); default
            :data:`DEFAULT_DCA_THRESHOLDS`.

    Returns:
        A :class:`DecisionCurve`.

    Raises:
        InvalidPredictionsError: Bad inputs or thresholds.
    """
    yy, probs = check_models(y, models)
    t = _check_thresholds(DEFAULT_DCA_THRESHOLDS if thresholds is None else thresholds)
    prev = yy.mean()
    return DecisionCurve(t, {k: _net_benefit(yy, v, t) for k, v in probs.items()},
                         prev - (1.0 - prev) * t / (1.0 - t), np.zeros_like(t))


def clinical_impact(y: Any, p: Any, thresholds: Any = None, *,
                    population: int = 1000) -> ClinicalImpact:
    """Clinical impact curve: high-risk calls and true events per ``population``.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted probabilities, shape ``(n,)``.
        thresholds: Threshold probabilities in [0, 1); default
            :data:`DEFAULT_DCA_THRESHOLDS`.
        population: Size of the reference population the counts are scaled to.

    Returns:
        A :class:`ClinicalImpact`.

    Raises:
        InvalidPredictionsError: Bad inputs, thresholds or population.

    Example:
        >>> c = clinical_impact([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.2], [0.5], population=100)
        >>> c.n_high_risk.tolist(), c.n_high_risk_events.tolist()
        ([50.0], [25.0])
    """
    yy, pp = check_inputs(y, p)
    t = _check_thresholds(DEFAULT_DCA_THRESHOLDS if thresholds is None else thresholds)
    if int(population) != population or population < 1:
        raise InvalidPredictionsError(
            f"population: expected a positive integer (e.g. 1000); got {population!r}.")
    n = yy.size
    high = _called_positive(np.sort(pp), t) * (population / n)
    events = _called_positive(np.sort(pp[yy == 1]), t) * (population / n)
    return ClinicalImpact(t, high.astype(np.float64), events.astype(np.float64), int(population))
