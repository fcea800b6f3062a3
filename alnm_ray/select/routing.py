"""Apply different selection steps to different kinds of columns (radiomics/deep/clinical).

Gu 2025 selected radiomics features with LASSO but ranked deep features by
gradient-boosting importance.  :class:`KindRouter` splits the columns by
:func:`~alnm_ray.select.columns.feature_kind`, fits one selector (or an
sklearn ``Pipeline`` of selectors) per kind on that kind's columns, and
concatenates what each keeps.  It holds no sampler: resampling must happen
before it, on all columns together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.metadata_routing import get_routing_for_object

from alnm_ray.exceptions import NotFittedError, SchemaMismatchError
from alnm_ray.select.columns import feature_kind


def requested_params(step: Any, method: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``metadata`` that ``step`` requests for ``method`` ("fit", "transform").

    Reads scikit-learn's metadata-routing requests (e.g. ComBat's class-level
    ``batch``/``covariates`` requests), so no global ``enable_metadata_routing``
    is needed.

    Example:
        >>> from alnm_ray.select.combat import ComBatHarmonizer
        >>> sorted(requested_params(ComBatHarmonizer(), "fit", {"batch": 1, "other": 2}))
        ['batch']
    """
    if not metadata or not hasattr(step, "get_metadata_routing"):
        return {}
    wanted = get_routing_for_object(step).consumes(method, list(metadata))
    return {k: metadata[k] for k in wanted if metadata[k] is not None}


def transform_with_metadata(pipeline: Any, X: Any, **metadata: Any) -> Any:
    """``pipeline.transform(X)`` passing each step the metadata it requests (samplers skipped).

    Example:
        >>> # transform_with_metadata(fitted_pipe, X_test, batch=centres_by_patient)
    """
    Xt = X
    for _, step in getattr(pipeline, "steps", [("only", pipeline)]):
        if step is None or step == "passthrough" or not hasattr(step, "transform"):
            continue  # samplers (SMOTE) act in fit only
        Xt = step.transform(Xt, **requested_params(step, "transform", metadata))
    return Xt


def collect_fallbacks(est: Any) -> list[str]:
    """Fallback texts recorded by ``est`` and any steps nested inside it."""
    found: list[str] = []
    if getattr(est, "fallback_", None):
        found.append(str(est.fallback_))
    for _, sub in getattr(est, "steps", []) or []:
        found += collect_fallbacks(sub)
    for _, sub in getattr(est, "fitted_routes_", {}).items():
        found += collect_fallbacks(sub)
    return found


class KindRouter(TransformerMixin, BaseEstimator):
    """Per-kind selectors over one table.

    Args:
        routes: ``((kind, estimator), ...)``; kinds are "radiomics", "deep",
            "clinical".
        default: Estimator for kinds without a route; None keeps them all.

    Attributes:
        fitted_routes_: Dict kind -> fitted estimator.
        selected_features_: Output names (kinds in first-seen column order).
        fallback_: None (nested fallbacks are read with :func:`collect_fallbacks`).
    """

    _step_name = "router"

    def __init__(self, routes: tuple[tuple[str, Any], ...] = (), default: Any = None) -> None:
        self.routes = routes
        self.default = default

    def fit(self, X: pd.DataFrame, y: Any = None) -> "KindRouter":
        """Fit each kind's selector on that kind's columns."""
        if not isinstance(X, pd.DataFrame):
            raise SchemaMismatchError(
                "router: X: expected a DataFrame with named columns (kinds are read from the "
                "names); got an array. Pass the wide feature DataFrame.")
        routes = dict(self.routes)
        self.groups_: dict[str, list[str]] = {}
        for col in X.columns:
            self.groups_.setdefault(feature_kind(str(col)), []).append(col)
        self.fitted_routes_: dict[str, Any] = {}
        selected: list[str] = []
        for kind, cols in self.groups_.items():
            est = routes.get(kind, self.default)
            if est is None:
                selected += [str(c) for c in cols]
                continue
            fitted = clone(est).fit(X[cols], y)
            self.fitted_routes_[kind] = fitted
            selected += [str(c) for c in fitted.get_feature_names_out()]
        self.selected_features_ = selected
        self.fallback_ = None
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Concatenate each kind's transformed columns."""
        if not hasattr(self, "fitted_routes_"):
            raise NotFittedError("KindRouter: not fitted yet; call fit(X, y) first.")
        parts = []
        for kind, cols in self.groups_.items():
            est = self.fitted_routes_.get(kind)
            parts.append(X[cols] if est is None else est.transform(X[cols]))
        return pd.concat(parts, axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        """Output names."""
        import numpy as np

        return np.asarray(self.selected_features_, dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "fitted_routes_")
