"""Fitting on one training set: the selection once, then every classifier on its output.

Used by :mod:`~alnm_ray.model.cv`, :mod:`~alnm_ray.model.holdout`,
:mod:`~alnm_ray.model.fusion`, the tune trials and ``alnm-ray train``.  Nothing
here looks at test labels except the metric computation at the very end.

* :func:`fit_selection` -> :class:`FoldSelection` (the fitted pipeline and its output);
* :func:`fit_predict` -> :class:`ClassifierFit` (one classifier and its probabilities);
* :func:`evaluate_classifiers`: every classifier of a fold, scored;
* :func:`prediction_frame`: the per-patient prediction rows (:data:`OOF_COLUMNS`).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray.exceptions import FallbackWarning
from alnm_ray.model.classifiers import make_classifier
from alnm_ray.model.metrics import binary_metrics, youden_threshold
from alnm_ray.select.columns import kinds_of
from alnm_ray.select.config import SelectionConfig
from alnm_ray.select.encode import needs_encoding
from alnm_ray.select.pipeline import build_selection_pipeline, resolve_config
from alnm_ray.select.routing import collect_fallbacks, requested_params, transform_with_metadata

logger = logging.getLogger(__name__)

#: Columns of the per-patient prediction rows (out-of-fold, hold-out test).
OOF_COLUMNS: tuple[str, ...] = ("feature_set", "classifier", "repeat", "fold", "patient_id",
                                "y_true", "prob", "pred")


@dataclass
class FoldSelection:
    """A selection pipeline fitted on one training fold, with its output.

    Attributes:
        pipeline: The fitted ``imblearn`` Pipeline.
        X_train: Transformed (resampled) training rows the classifiers train on.
        y_train: Their labels (SMOTE rows included).
        selected: Output feature names.
        fallbacks: Fallback texts recorded by the steps.
        step_seconds: Wall seconds per step.
        seconds: Total wall seconds.
        metadata: Per-patient metadata the steps request (``batch``: centre per
            patient, ``covariates``: a frame), indexed by patient id and covering
            every row this selection transforms; empty without harmonisation.
    """

    pipeline: Any
    X_train: pd.DataFrame
    y_train: np.ndarray
    selected: list[str]
    fallbacks: list[str] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Apply the fitted steps to new rows (SMOTE is skipped).

        Rows from centres unseen in training are handled by the ComBat step's
        policy; what it did is added to :attr:`fallbacks` (once per text).
        """
        if not self.metadata:
            return self.pipeline.transform(X)
        out = transform_with_metadata(self.pipeline, X, **self.metadata)
        for _, step in self.pipeline.steps:
            for centre, what in sorted(getattr(step, "unseen_", {}).items()):
                text = f"combat: centre {centre!r} unseen in training: {what}"
                if text not in self.fallbacks:
                    self.fallbacks.append(text)
        return out


def fit_selection(X: pd.DataFrame, y: np.ndarray, config: SelectionConfig, *,
                  reader_table: Any = None, seed: int = 0,
                  metadata: Mapping[str, Any] | None = None) -> FoldSelection:
    """Fit the configured selection pipeline on training rows, step by step (timed).

    Args:
        X: Training rows (patients x features), index = patient ids.
        y: 0/1 labels, shape (n,).
        config: Selection configuration.
        reader_table: Long radiomics table with readers' rows (for ICC).
        seed: Seed of the stochastic steps.
        metadata: ``{"batch": centres, "covariates": frame}`` indexed by patient
            id (see :func:`alnm_ray.model.inputs.prepare_metadata`); each step
            gets what it requests (ComBat: both).  Kept on the result so test
            rows are transformed with their own centres.

    Returns:
        A :class:`FoldSelection`.
    """
    config = resolve_config(config)
    meta = {k: v for k, v in (metadata or {}).items() if v is not None}
    if config.harmonize is not None and "batch" not in meta:
        from alnm_ray.exceptions import ConfigError

        raise ConfigError(
            f"fit_selection: harmonize={config.harmonize!r} needs each patient's centre; got no "
            "metadata['batch']. Pass metadata=prepare_metadata(config, ids, centers) "
            "(alnm_ray.model.inputs), or set harmonize to None.")
    pipe = build_selection_pipeline(config, kinds=kinds_of(X.columns), encode=needs_encoding(X), seed=seed)
    if "icc" in pipe.named_steps and reader_table is None:
        from alnm_ray.exceptions import ConfigError

        raise ConfigError(
            f"selection {config.name!r}: the ICC filter (icc_threshold={config.icc_threshold}) needs "
            "the readers' rows; got reader_table=None. Pass reader_table=<long radiomics "
            "table with readers A, B, A2> or use a config with icc_threshold=None.")
    # Data the steps request through metadata routing: centres for ComBat, readers' rows for ICC.
    fit_meta = {**meta, "reader_table": reader_table}
    Xt: Any = X
    yt = np.asarray(y).astype(int)
    times: dict[str, float] = {}
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FallbackWarning)
        for name, step in pipe.steps:
            t0 = time.perf_counter()
            if hasattr(step, "fit_resample"):
                Xt, yt = step.fit_resample(Xt, yt)
            else:
                Xt = step.fit_transform(Xt, yt, **requested_params(step, "fit", fit_meta))
            times[name] = time.perf_counter() - t0
    for w in caught:  # fallbacks are recorded on the steps; re-emit anything else
        if not issubclass(w.category, FallbackWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    fallbacks = [text for _, step in pipe.steps for text in collect_fallbacks(step)]
    return FoldSelection(pipe, Xt, np.asarray(yt).astype(int), [str(c) for c in Xt.columns],
                         fallbacks, times, time.perf_counter() - start, meta)


@dataclass(frozen=True)
class ClassifierFit:
    """One classifier fitted on training rows, with its probabilities of ALNM.

    Attributes:
        model: The fitted classifier (scikit-learn API).
        p_train: P(ALNM) of the training rows it was asked to score, shape (n_train,).
        p_eval: P(ALNM) of each evaluation frame, in the order given, each shape (n_i,).
        warning_texts: Distinct warnings raised while fitting and predicting
            (``"Category: message"``, sorted, each cut at 120 characters).
        seconds: Wall seconds of the fit and the predictions.

    Example:
        >>> import pandas as pd
        >>> X = pd.DataFrame({"f": [0.1, 0.4, 0.35, 0.8, 0.9, 0.2]})
        >>> fit = fit_predict("lr", {}, 0, X, [0, 0, 1, 1, 1, 0], X, [X.iloc[:2]])
        >>> fit.p_train.shape, len(fit.p_eval), fit.p_eval[0].shape
        ((6,), 1, (2,))
    """

    model: Any
    p_train: np.ndarray
    p_eval: tuple[np.ndarray, ...]
    warning_texts: tuple[str, ...]
    seconds: float


def fit_predict(name: str, params: Mapping[str, Any], seed: int, X_fit: pd.DataFrame,
                y_fit: Any, X_train: pd.DataFrame, X_eval: Sequence[pd.DataFrame]
                ) -> ClassifierFit:
    """Fit one classifier; predict the training rows and each evaluation frame.

    Args:
        name: Classifier name (see :data:`~alnm_ray.model.classifiers.CLASSIFIERS`).
        params: Overrides of its defaults.
        seed: Its random seed.
        X_fit, y_fit: The rows it is fitted on (the selection output, SMOTE rows included).
        X_train: Training rows to score (without SMOTE rows), for the threshold.
        X_eval: Frames to score (test fold, inner validation fold ...).

    Returns:
        A :class:`ClassifierFit`.
    """
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = make_classifier(name, seed=seed, **params)
        model.fit(X_fit.to_numpy(dtype=float), np.asarray(y_fit))
        p_train = model.predict_proba(X_train.to_numpy(dtype=float))[:, 1]
        p_eval = tuple(model.predict_proba(X.to_numpy(dtype=float))[:, 1] for X in X_eval)
    texts = tuple(sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught}))
    return ClassifierFit(model, p_train, p_eval, texts, time.perf_counter() - t0)


def evaluate_classifiers(selection: FoldSelection, X_train: pd.DataFrame, y_train: np.ndarray,
                         X_test: pd.DataFrame, y_test: np.ndarray,
                         classifiers: Mapping[str, Mapping[str, Any]], seed: int,
                         keep_models: bool = False
                         ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray],
                                    dict[str, ClassifierFit]]:
    """Train every classifier on one fold's selection output and score the test rows.

    Returns:
        ``(rows, test_probs, fits)``: one metrics dict per classifier
        (see :data:`~alnm_ray.model.metrics.METRICS` plus bookkeeping; its
        ``threshold`` is Youden's on the training rows), the test
        probabilities per classifier, and each classifier's
        :class:`ClassifierFit` when ``keep_models`` (else empty).
    """
    Xtr = selection.transform(X_train)
    Xte = selection.transform(X_test)
    rows, probs, fits = [], {}, {}
    for name, params in classifiers.items():
        fit = fit_predict(name, params, seed, selection.X_train, selection.y_train, Xtr, [Xte])
        (p_te,) = fit.p_eval
        thr = youden_threshold(y_train, fit.p_train)
        row = {"classifier": name, **binary_metrics(y_test, p_te, thr),
               "train_auc": binary_metrics(y_train, fit.p_train, thr)["auc"],
               "fit_seconds": fit.seconds, "classifier_warnings": json.dumps(list(fit.warning_texts)),
               "params": json.dumps(params, sort_keys=True, default=str)}
        rows.append(row)
        probs[name] = p_te
        if keep_models:
            fits[name] = fit
    return rows, probs, fits


def prediction_frame(feature_set: str, classifier: str, repeat: int, fold: int, index: pd.Index,
                     y: np.ndarray, prob: np.ndarray, threshold: float) -> pd.DataFrame:
    """Per-patient prediction rows with the columns of :data:`OOF_COLUMNS`.

    Args:
        feature_set, classifier: Names.
        repeat, fold: CV position (-1 for a hold-out or held-out centre).
        index: Patient ids of the scored rows.
        y: Their 0/1 labels.
        prob: Their P(ALNM).
        threshold: Cut-off of the ``pred`` column (``prob >= threshold``).

    Example:
        >>> df = prediction_frame("radiomics", "lr", 0, 1, pd.Index(["P1", "P2"]),
        ...                       np.array([1, 0]), np.array([0.7, 0.4]), 0.5)
        >>> df["pred"].tolist(), tuple(df.columns) == OOF_COLUMNS
        ([1, 0], True)
    """
    return pd.DataFrame({"feature_set": feature_set, "classifier": classifier, "repeat": repeat,
                         "fold": fold, "patient_id": [str(i) for i in index],
                         "y_true": np.asarray(y).astype(int), "prob": prob,
                         "pred": (np.asarray(prob) >= threshold).astype(int)})
