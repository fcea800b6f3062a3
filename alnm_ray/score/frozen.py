"""The object a bundle stores: fitted selection steps + classifier, behind one ``predict_proba``.

The CV and hold-out engines (:mod:`alnm_ray.model.fitting`) fit each
classifier on the selection output *as a float array*; :class:`FrozenModel`
does the same at prediction time, so a bundle's probabilities are computed
exactly as the sweep computed them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from alnm_ray.exceptions import NotFittedError, SchemaMismatchError


class FrozenModel(ClassifierMixin, BaseEstimator):
    """A fitted selection pipeline and classifier used together (already fitted).

    Args:
        selection: Fitted selection pipeline (``transform`` DataFrame -> DataFrame;
            SMOTE inactive at prediction time).
        classifier: Fitted classifier trained on the selection output as floats.
        features_in: Input columns the selection expects, in training order.
        batch_column: Column of ``X`` holding each row's centre, read (not a
            feature) when the selection harmonises centres (ComBat): the learned
            parameters of that centre are applied; centres unseen in training
            follow the step's ``unseen`` policy.  None: no such column.

    Example:
        >>> # FrozenModel(fold.pipeline, clf, list(X.columns)).predict_proba(X_new)[:, 1]
    """

    #: Bundles written before centre harmonisation existed have no such attribute: they read as None.
    batch_column: str | None = None

    def __init__(self, selection: Any = None, classifier: Any = None,
                 features_in: list[str] | None = None, batch_column: str | None = None) -> None:
        self.selection = selection
        self.classifier = classifier
        self.features_in = features_in
        self.batch_column = batch_column

    def fit(self, X: Any = None, y: Any = None) -> FrozenModel:
        """Mark as fitted (the parts were fitted by the training code)."""
        if self.selection is None or self.classifier is None or not self.features_in:
            raise NotFittedError("FrozenModel: expected a fitted selection, classifier and features_in; "
                                 "got None. Build it with alnm_ray.score.train.")
        self.classes_ = np.asarray(getattr(self.classifier, "classes_", [0, 1]))
        return self

    def _check(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "classes_"):
            raise NotFittedError("FrozenModel: call fit() first (alnm_ray.score.train does).")
        if not isinstance(X, pd.DataFrame):
            raise SchemaMismatchError("FrozenModel: X: expected a DataFrame with the bundle's feature "
                                      f"columns; got {type(X).__name__}.")
        features = list(self.features_in or [])
        missing = [c for c in features if c not in X.columns]
        if missing:
            raise SchemaMismatchError(f"FrozenModel: X lacks {len(missing)} feature column(s) "
                                      f"({', '.join(missing[:5])}); expected the training columns.")
        if self.batch_column and self.batch_column not in X.columns:
            raise SchemaMismatchError(
                f"FrozenModel: X lacks the {self.batch_column!r} column; expected each patient's "
                "centre (the model harmonises centres with ComBat learned in training). Score "
                "tables or manifests that carry a centre column.")
        return X.loc[:, features + ([self.batch_column] if self.batch_column else [])]

    def transform_features(self, X: pd.DataFrame) -> pd.DataFrame:
        """The selection output the classifier sees."""
        X = self._check(X)
        if not self.batch_column:
            return self.selection.transform(X)
        from alnm_ray.select.routing import transform_with_metadata

        centres = X[self.batch_column].astype(str).to_numpy()  # by position: ids may repeat
        return transform_with_metadata(self.selection, X.drop(columns=[self.batch_column]),
                                       batch=centres)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, shape ``(n, 2)``; column 1 is P(ALNM)."""
        Xt = self.transform_features(X)
        return np.asarray(self.classifier.predict_proba(np.asarray(Xt, dtype=float)))

    def predict(self, X: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
        """0/1 labels at ``P(ALNM) >= threshold``."""
        return (self.predict_proba(X)[:, 1] >= threshold).astype(int)
