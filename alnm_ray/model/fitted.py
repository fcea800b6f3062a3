"""Trained models of one feature set, as the hold-out and per-centre evaluations return them.

Every model in :attr:`~alnm_ray.model.holdout.HoldoutOutput.models` follows
one protocol, :class:`FittedClassifier`: it names its feature set and
classifier, carries its threshold, says which feature sets it reads, and
predicts P(ALNM) from those sets' rows.  Two kinds implement it:

* :class:`FittedModel`: the selection pipeline and classifier of a plain set;
* :class:`FittedFusion`: a :class:`~alnm_ray.model.fusion.PostFusionClassifier`
  stacked on several sets' models.

Callers score either kind the same way, without asking which one it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from imblearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

if TYPE_CHECKING:
    from alnm_ray.model.fusion import PostFusionClassifier


@runtime_checkable
class FittedClassifier(Protocol):
    """A trained model of one (plain or post-fusion) feature set.

    Attributes:
        feature_set: The reported feature set name.
        classifier: The classifier name (the base classifier of a post-fusion set).
        threshold: Cut-off on P(ALNM) chosen on the training rows (Youden).
        inputs: The feature sets whose rows :meth:`predict_sets` reads.
    """

    @property
    def feature_set(self) -> str: ...

    @property
    def classifier(self) -> str: ...

    @property
    def threshold(self) -> float: ...

    @property
    def inputs(self) -> tuple[str, ...]: ...

    def predict_sets(self, sets: Mapping[str, pd.DataFrame]) -> np.ndarray:
        """P(ALNM) per row, shape (n,), from ``{set name: rows}`` holding every set of ``inputs``.

        The frames hold the same patients in the same order; extra sets are ignored.
        """
        ...


@dataclass(frozen=True)
class FittedModel:
    """A trained selection + classifier of one plain feature set (a :class:`FittedClassifier`).

    Attributes:
        feature_set, classifier: Names.
        selection: Fitted selection pipeline (imblearn; SMOTE inactive at predict).
        model: Fitted classifier.
        threshold: Youden cut-off from the training predictions.
        features_in: Columns the selection expects.
        selected: Columns the classifier sees.
        metadata: Per-patient metadata the selection steps request
            (``{"batch": centres, ...}`` indexed by patient id, for ComBat);
            empty without harmonisation.
    """

    feature_set: str
    classifier: str
    selection: Any
    model: Any
    threshold: float
    features_in: list[str]
    selected: list[str]
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The one feature set this model reads."""
        return (self.feature_set,)

    def as_pipeline(self) -> Pipeline:
        """One fitted ``imblearn`` Pipeline: selection steps, ``("to_array", ...)``, ``("clf", model)``.

        The classifier was trained on a float array (no column names), so a
        stateless array conversion sits in front of it.
        """
        to_array = FunctionTransformer(np.asarray, kw_args={"dtype": float})
        return Pipeline(list(self.selection.steps) + [("to_array", to_array),
                                                      ("clf", self.model)])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(ALNM) per row, shape (n,), from rows holding :attr:`features_in`."""
        if self.metadata:
            from alnm_ray.select.routing import transform_with_metadata

            Xt = transform_with_metadata(self.selection, X.loc[:, self.features_in],
                                         **self.metadata)
        else:
            Xt = self.selection.transform(X.loc[:, self.features_in])
        return self.model.predict_proba(Xt.to_numpy(dtype=float))[:, 1]

    def predict_sets(self, sets: Mapping[str, pd.DataFrame]) -> np.ndarray:
        """P(ALNM) per row, shape (n,), from ``sets[feature_set]``."""
        return self.predict_proba(sets[self.feature_set])


@dataclass(frozen=True)
class FittedFusion:
    """A trained post-fusion model of one post-fusion set (a :class:`FittedClassifier`).

    Attributes:
        feature_set: The post-fusion set name (e.g. ``"post:clinical+radiomics"``).
        classifier: The base classifier name.
        model: The fitted :class:`~alnm_ray.model.fusion.PostFusionClassifier`.
    """

    feature_set: str
    classifier: str
    model: PostFusionClassifier

    @property
    def threshold(self) -> float:
        """Youden cut-off of the meta model on the training OOF probabilities."""
        return float(self.model.threshold_)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The component feature sets (modalities), in fitting order."""
        return tuple(self.model.selections_)

    def predict_sets(self, sets: Mapping[str, pd.DataFrame]) -> np.ndarray:
        """P(ALNM) per row, shape (n,), from the component sets' rows."""
        return self.model.predict_proba_parts({name: sets[name] for name in self.inputs})[:, 1]
